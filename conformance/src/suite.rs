//! Runs the scenarios against each runtime and renders the table.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::bundle::Rootfs;
use crate::runtime::Runtime;
use crate::scenario::{shorten, Case, Host, Scenario, Verdict};

/// Options for [`run_suite`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Working directory (bundles, state roots); created, removed at the end
    /// unless `keep`.
    pub work: PathBuf,
    /// Only scenarios whose name contains this.
    pub filter: Option<String>,
    /// Deadline per scenario per runtime.
    pub timeout: Duration,
    /// Keep the working directory.
    pub keep: bool,
    /// Print one progress line per scenario to stderr.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            work: default_work_dir("run"),
            filter: None,
            timeout: Duration::from_secs(30),
            keep: false,
            progress: true,
        }
    }
}

/// `/var/tmp/husk-conformance-KIND-PID`.
pub fn default_work_dir(kind: &str) -> PathBuf {
    PathBuf::from(format!(
        "/var/tmp/husk-conformance-{kind}-{}",
        std::process::id()
    ))
}

/// One cell: a scenario on one runtime.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The verdict.
    pub verdict: Verdict,
    /// What the cleanup had to remove.
    pub notes: Vec<String>,
    /// Time taken.
    pub elapsed: Duration,
}

/// One row: a scenario on every runtime.
#[derive(Debug, Clone)]
pub struct Row {
    /// The scenario.
    pub scenario: Scenario,
    /// One cell per runtime, in [`Results::runtimes`] order.
    pub cells: Vec<Cell>,
}

/// The outcome of a suite run.
#[derive(Debug, Clone)]
pub struct Results {
    /// Runtime names, in column order.
    pub runtimes: Vec<String>,
    /// Runtime versions.
    pub versions: Vec<String>,
    /// The rows.
    pub rows: Vec<Row>,
}

/// Runs every selected scenario on every runtime (scenario-major, so the
/// runtimes see the same conditions). Runtimes must have been probed.
pub fn run_suite(runtimes: &[Runtime], opts: &Options) -> Result<Results, String> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the scenarios need root".into());
    }
    let _ = crate::proc::become_subreaper();
    let scenarios: Vec<Scenario> = crate::scenarios::all()
        .into_iter()
        .filter(|s| opts.filter.as_deref().map_or(true, |f| s.name.contains(f)))
        .collect();
    if scenarios.is_empty() {
        return Err("no scenario matches the filter".into());
    }
    std::fs::create_dir_all(&opts.work).map_err(|e| format!("{}: {e}", opts.work.display()))?;
    let rootfs = Rootfs::build(&opts.work.join("rootfs-template"))?;
    let host = Host::probe();
    let tag = std::process::id() % 100_000;
    let mut rows = Vec::new();
    for (si, s) in scenarios.iter().enumerate() {
        let mut cells = Vec::new();
        for rt in runtimes {
            let dir = opts.work.join(&rt.name).join(s.name);
            let base_id = format!("hc{tag}-{}-{si}", rt.name);
            let start = Instant::now();
            let (verdict, notes) = match Case::new(
                rt,
                &host,
                &rootfs,
                dir.clone(),
                base_id.clone(),
                opts.timeout,
            ) {
                Ok(mut case) => {
                    let verdict = match (s.run)(&mut case) {
                        Ok(()) => Verdict::Pass,
                        Err(v) => v,
                    };
                    let notes =
                        crate::cleanup::cleanup(rt, &case.root, &case.ids, case.marker(), &dir);
                    (verdict, notes)
                }
                Err(e) => (
                    Verdict::Fail(format!("harness: {}: {e}", dir.display())),
                    Vec::new(),
                ),
            };
            if !opts.keep {
                let _ = crate::cleanup::remove_tree(&dir);
            }
            cells.push(Cell {
                verdict,
                notes,
                elapsed: start.elapsed(),
            });
        }
        if opts.progress {
            let summary: Vec<String> = runtimes
                .iter()
                .zip(&cells)
                .map(|(rt, c)| {
                    format!(
                        "{} {} ({:.1} s)",
                        rt.name,
                        shorten(&c.verdict.cell(), 60),
                        c.elapsed.as_secs_f64()
                    )
                })
                .collect();
            eprintln!(
                "[{}/{}] {}: {}",
                si + 1,
                scenarios.len(),
                s.name,
                summary.join(", ")
            );
        }
        rows.push(Row {
            scenario: *s,
            cells,
        });
    }
    if !opts.keep {
        let _ = crate::cleanup::remove_tree(&opts.work);
    }
    crate::proc::reap_orphans();
    Ok(Results {
        runtimes: runtimes.iter().map(|r| r.name.clone()).collect(),
        versions: runtimes.iter().map(|r| r.version.clone()).collect(),
        rows,
    })
}

impl Results {
    /// (passed, failed, skipped, missing a dependency) for runtime column `i`.
    pub fn counts(&self, i: usize) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for r in &self.rows {
            match r.cells[i].verdict {
                Verdict::Pass => c.0 += 1,
                Verdict::Fail(_) => c.1 += 1,
                Verdict::Skip(_) => c.2 += 1,
                Verdict::Missing(_) => c.3 += 1,
            }
        }
        c
    }

    /// `NAME: N passed, M failed, S skipped[, K could not run (missing dependency)]`.
    pub fn summary_line(&self, i: usize) -> String {
        let (p, f, s, m) = self.counts(i);
        let mut line = format!("{}: {p} passed, {f} failed, {s} skipped", self.runtimes[i]);
        if m > 0 {
            let _ = write!(line, ", {m} could not run (missing dependency)");
        }
        line
    }

    /// Scenarios runtime column `i` could not run for a missing dependency, with why.
    pub fn missing(&self, i: usize) -> Vec<String> {
        self.rows
            .iter()
            .filter_map(|r| match &r.cells[i].verdict {
                Verdict::Missing(m) => Some(format!("{}: {m}", r.scenario.name)),
                _ => None,
            })
            .collect()
    }

    /// Column index of a runtime.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.runtimes.iter().position(|r| r == name)
    }

    /// Scenarios that `subject` fails while `baseline` passes them (every
    /// failure of `subject` when there is no baseline).
    pub fn regressions(&self, subject: usize, baseline: Option<usize>) -> Vec<&'static str> {
        self.rows
            .iter()
            .filter(|r| matches!(r.cells[subject].verdict, Verdict::Fail(_)))
            .filter(|r| baseline.map_or(true, |b| r.cells[b].verdict == Verdict::Pass))
            .map(|r| r.scenario.name)
            .collect()
    }

    /// The table (Markdown, aligned), cells cut to `width` characters.
    pub fn table(&self, width: usize) -> String {
        let mut grid: Vec<Vec<String>> = vec![std::iter::once("scenario".to_string())
            .chain(self.runtimes.iter().cloned())
            .collect()];
        for r in &self.rows {
            let mut line = vec![r.scenario.name.to_string()];
            line.extend(
                r.cells
                    .iter()
                    .map(|c| shorten(&c.verdict.cell().replace('|', "\\|"), width)),
            );
            grid.push(line);
        }
        render_table(&grid)
    }

    /// Full failure messages and cleanup notes.
    pub fn details(&self) -> String {
        let mut s = String::new();
        for r in &self.rows {
            for (i, c) in r.cells.iter().enumerate() {
                let rt = &self.runtimes[i];
                if let Verdict::Fail(m) | Verdict::Missing(m) = &c.verdict {
                    let _ = writeln!(s, "- {} / {rt}: {m}", r.scenario.name);
                }
                for n in &c.notes {
                    let _ = writeln!(s, "- {} / {rt}: cleanup: {n}", r.scenario.name);
                }
            }
        }
        s
    }

    /// The whole report as Markdown (table, totals, details, scenario list).
    pub fn markdown(&self) -> String {
        let mut s = String::from("# husk conformance scenarios\n\n");
        let _ = writeln!(s, "Generated by `husk-conformance run`. Runtimes:\n");
        for (n, v) in self.runtimes.iter().zip(&self.versions) {
            let _ = writeln!(s, "- {n}: {v}");
        }
        let _ = writeln!(s, "\n{}", self.table(200));
        for i in 0..self.runtimes.len() {
            let _ = writeln!(s, "{}  ", self.summary_line(i));
        }
        let d = self.details();
        if !d.is_empty() {
            let _ = writeln!(s, "\n## Details\n\n{d}");
        }
        let _ = writeln!(s, "\n## Scenarios\n");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "- `{}` ({}): {}",
                r.scenario.name, r.scenario.area, r.scenario.what
            );
        }
        s
    }
}

/// Renders rows (the first is the header) as an aligned Markdown table.
pub fn render_table(grid: &[Vec<String>]) -> String {
    let cols = grid.iter().map(Vec::len).max().unwrap_or(0);
    let mut w = vec![3usize; cols];
    for row in grid {
        for (i, c) in row.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    for (ri, row) in grid.iter().enumerate() {
        s.push('|');
        for (i, width) in w.iter().enumerate() {
            let c = row.get(i).map(String::as_str).unwrap_or("");
            let pad = width - c.chars().count();
            let _ = write!(s, " {c}{} |", " ".repeat(pad));
        }
        s.push('\n');
        if ri == 0 {
            s.push('|');
            for width in &w {
                let _ = write!(s, "{}|", "-".repeat(width + 2));
            }
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dependencies_are_counted_apart_and_listed() {
        let all = crate::scenarios::all();
        let row = |i: usize, v: Verdict| Row {
            scenario: all[i],
            cells: vec![Cell {
                verdict: v,
                notes: Vec::new(),
                elapsed: Duration::ZERO,
            }],
        };
        let res = Results {
            runtimes: vec!["husk".into()],
            versions: vec![String::new()],
            rows: vec![
                row(0, Verdict::Pass),
                row(1, Verdict::Skip("not here".into())),
                row(2, crate::scenario::no_checker()),
            ],
        };
        assert_eq!(res.counts(0), (1, 0, 1, 1));
        assert!(res
            .summary_line(0)
            .ends_with(", 1 could not run (missing dependency)"));
        let missing = res.missing(0);
        assert_eq!(missing.len(), 1);
        assert!(missing[0].starts_with(all[2].name) && missing[0].contains("husk-checker"));
        assert!(res.regressions(0, None).is_empty());
        assert!(res.details().contains("husk-checker"));
    }
}
