//! `husk list`.

use crate::Ctx;

// `list [-q] [--format table|json]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// table or json.
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

/// A container whose state cannot be read is listed with status `unknown` and
/// its error (in the JSON, as `error`; in the table, on stderr), never dropped.
pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    let all = husk::list_all(&ctx.root)?;
    if a.quiet {
        for l in &all {
            crate::out!("{}", l.id);
        }
        return Ok(0);
    }
    if a.format == "json" {
        let v: Vec<serde_json::Value> = all
            .iter()
            .map(|l| match &l.container {
                Ok(c) => serde_json::to_value(c.state()),
                Err(e) => Ok(unreadable(&l.id, e)),
            })
            .collect::<Result<_, _>>()?;
        crate::out!("{}", serde_json::to_string(&v)?);
        return Ok(0);
    }
    let rows: Vec<[String; 6]> = all
        .iter()
        .map(|l| {
            let c = match &l.container {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("husk: list: container {}: {e}", l.id);
                    return [
                        l.id.clone(),
                        "0".into(),
                        "unknown".into(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ];
                }
            };
            let s = c.state();
            let owner = if s.owner.is_empty() {
                dir_owner(&ctx.root.join(&s.id))
            } else {
                s.owner
            };
            [
                s.id,
                s.pid.to_string(),
                s.status.to_string(),
                s.bundle.display().to_string(),
                s.created,
                owner,
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

/// The JSON entry of a container whose state cannot be read.
fn unreadable(id: &str, e: &husk::Error) -> serde_json::Value {
    serde_json::json!({"id": id, "pid": 0, "status": "unknown", "error": e.to_string()})
}

/// The name of the user owning a container's state directory, as runc's `list` shows
/// (the uid when it has no name).
fn dir_owner(dir: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(dir) else {
        return "root".into();
    };
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(m.uid())) {
        Ok(Some(u)) => u.name,
        _ => format!("#{}", m.uid()),
    }
}
