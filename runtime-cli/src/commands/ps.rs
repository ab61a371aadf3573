//! `husk ps`: the host's `ps` output filtered to the container's processes, or a
//! JSON array of pids (what containerd reads).

use std::process::Command;

use crate::Ctx;

// `ps [--format table|json] ID [PS_ARGS...]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// table or json.
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Container id.
    pub id: String,
    /// Arguments for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    let c = husk::Container::load(&ctx.root, &a.id)?;
    let pids = c.processes()?;
    if a.format == "json" {
        crate::out!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        a.ps_args
    };
    let out = Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| format!("run ps: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or("ps output has no PID column")?;
    crate::out!("{header}");
    for l in lines {
        if let Some(pid) = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&pid) {
                crate::out!("{l}");
            }
        }
    }
    Ok(0)
}
