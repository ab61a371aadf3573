//! Results: one verdict per (section, check, runtime), printed as side-by-side tables
//! and counted as `N passed, M failed`.

use std::collections::BTreeMap;

/// Every verdict of a run, in the order checks were first recorded.
#[derive(Default)]
pub struct Report {
    /// (section, check) in first-seen order.
    order: Vec<(String, String)>,
    /// (section, check) -> runtime -> Ok or the failure.
    verdicts: BTreeMap<(String, String), BTreeMap<String, Result<(), String>>>,
    /// Runtimes in first-seen order, per section.
    columns: BTreeMap<String, Vec<String>>,
}

impl Report {
    /// Records one verdict and prints it as it comes.
    pub fn record(&mut self, section: &str, check: &str, runtime: &str, r: Result<(), String>) {
        match &r {
            Ok(()) => println!("  ok    {section} / {check} [{runtime}]"),
            Err(e) => println!("  FAIL  {section} / {check} [{runtime}]: {e}"),
        }
        let key = (section.to_string(), check.to_string());
        if !self.verdicts.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.verdicts
            .entry(key)
            .or_default()
            .insert(runtime.to_string(), r);
        let cols = self.columns.entry(section.to_string()).or_default();
        if !cols.iter().any(|c| c == runtime) {
            cols.push(runtime.to_string());
        }
    }

    /// (passed, failed).
    pub fn counts(&self) -> (usize, usize) {
        let all = self.verdicts.values().flat_map(|m| m.values());
        all.fold((0, 0), |(p, f), r| match r {
            Ok(()) => (p + 1, f),
            Err(_) => (p, f + 1),
        })
    }

    /// Markdown tables, one per section, a column per runtime.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for (section, cols) in &self.columns {
            out.push_str(&format!(
                "\n### {section}\n\n| check | {} |\n|---|",
                cols.join(" | ")
            ));
            out.push_str(&"---|".repeat(cols.len()));
            out.push('\n');
            for key in self.order.iter().filter(|(s, _)| s == section) {
                let row = &self.verdicts[key];
                let cells: Vec<String> = cols
                    .iter()
                    .map(|c| match row.get(c) {
                        Some(Ok(())) => "pass".to_string(),
                        Some(Err(e)) => format!("FAIL: {}", e.replace('|', "/").replace('\n', " ")),
                        None => "-".to_string(),
                    })
                    .collect();
                out.push_str(&format!("| {} | {} |\n", key.1, cells.join(" | ")));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_table() {
        let mut r = Report::default();
        r.record("cri", "exec", "husk", Ok(()));
        r.record("cri", "exec", "runc", Err("x|y".into()));
        r.record("cri", "logs", "husk", Ok(()));
        assert_eq!(r.counts(), (2, 1));
        let md = r.markdown();
        assert!(md.contains("| check | husk | runc |"), "{md}");
        assert!(md.contains("| exec | pass | FAIL: x/y |"), "{md}");
        assert!(md.contains("| logs | pass | - |"), "{md}");
    }
}
