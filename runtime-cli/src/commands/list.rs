//! `husk list`.

use crate::Ctx;

/// `list [-q] [--format table|json]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// table or json.
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    let all = husk::list(&ctx.root)?;
    if a.quiet {
        for c in &all {
            crate::out!("{}", c.id());
        }
        return Ok(0);
    }
    if a.format == "json" {
        let v: Vec<_> = all.iter().map(|c| c.state()).collect();
        crate::out!("{}", serde_json::to_string(&v)?);
        return Ok(0);
    }
    let rows: Vec<[String; 6]> = all
        .iter()
        .map(|c| {
            let s = c.state();
            [
                s.id,
                s.pid.to_string(),
                s.status.to_string(),
                s.bundle.display().to_string(),
                s.created,
                if s.owner.is_empty() {
                    "root".into()
                } else {
                    s.owner
                },
            ]
        })
        .collect();
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let mut widths = [0usize; 6];
    for r in std::iter::once(&header).chain(rows.iter()) {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 5 {
                    c.clone()
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        crate::out!("{}", line.join("   "));
    }
    Ok(0)
}
