//! `husk events`: cgroup statistics and OOM notifications as JSON lines, like runc.

use std::time::Duration;

use serde_json::json;

use crate::Ctx;

// `events [--stats] [--interval 5s] ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats events (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Container id.
    pub id: String,
}

/// Parses `5s`, `500ms`, `1m`, `2` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?}")),
    };
    if secs <= 0.0 {
        return Err("duration must be greater than 0".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    let c = husk::Container::load(&ctx.root, &a.id)?;
    if a.stats {
        crate::out!(
            "{}",
            json!({"type": "stats", "id": a.id, "data": c.stats()?})
        );
        return Ok(0);
    }
    let mut ooms = c.oom_kills().unwrap_or(0);
    let tick = Duration::from_millis(100).min(a.interval);
    let mut waited = Duration::ZERO;
    loop {
        let c = match husk::Container::load(&ctx.root, &a.id) {
            Ok(c) if c.status() != husk::Status::Stopped => c,
            _ => return Ok(0),
        };
        if let Some(n) = c.oom_kills() {
            if n > ooms {
                crate::out!("{}", json!({"type": "oom", "id": a.id}));
                ooms = n;
            }
        }
        if waited >= a.interval {
            waited = Duration::ZERO;
            crate::out!(
                "{}",
                json!({"type": "stats", "id": a.id, "data": c.stats()?})
            );
        }
        std::thread::sleep(tick);
        waited += tick;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("x").is_err());
    }
}
