//! "Where the time goes": one husk `run /bin/true` split into the phases husk's
//! `--debug` log times (`create ID: PHASE: DURATION` from the library's create,
//! `run ID: PHASE: DURATION` from the CLI), medians over the iterations, and the
//! rest of the wall time (process start-up: husk's launcher and the CLI from its
//! CVE-2019-5736 copy; argument parsing, exit), which no phase covers.

use std::time::Duration;

use super::operations::Ctx;
use super::results::median;
use super::Options;
use crate::proc;

/// Each phase with its median, in log order.
pub(super) type Phases = Vec<(String, Duration)>;

/// The phases of `--debug` runs, and the median wall time of those runs.
pub(super) fn measure(ctx: &mut Ctx, opts: &Options) -> Result<(Phases, Option<Duration>), String> {
    let mut order: Vec<String> = Vec::new();
    let mut samples: Vec<Vec<Duration>> = Vec::new();
    let mut walls = Vec::new();
    let b = ctx.b_true.to_string_lossy().into_owned();
    for it in 0..opts.warmup + opts.iterations {
        let id = ctx.next_id();
        let log = ctx.dir.join("debug.log");
        let _ = std::fs::remove_file(&log);
        let l = log.to_string_lossy().into_owned();
        let f = ctx.call(&["--debug", "--log", &l, "run", "--bundle", &b, &id])?;
        proc::reap_orphans();
        if it < opts.warmup {
            continue;
        }
        walls.push(f.wall);
        let text = std::fs::read_to_string(&log).map_err(|e| format!("{l}: {e}"))?;
        for (phase, d) in parse(&text, &id) {
            let i = match order.iter().position(|p| *p == phase) {
                Some(i) => i,
                None => {
                    order.push(phase);
                    samples.push(Vec::new());
                    order.len() - 1
                }
            };
            samples[i].push(d);
        }
    }
    let phases = order
        .into_iter()
        .zip(samples)
        .filter_map(|(p, v)| median(v).map(|m| (p, m)))
        .collect();
    Ok((phases, median(walls)))
}

/// The timed phases of container `id` in a `--debug` log (text format):
/// `... msg="create ID: load and plan config.json: 106.2µs"`.
pub(super) fn parse(log: &str, id: &str) -> Vec<(String, Duration)> {
    let mut out = Vec::new();
    for line in log.lines() {
        let Some(msg) = line.split("msg=\"").nth(1) else {
            continue;
        };
        let msg = msg.trim_end().trim_end_matches('"');
        for cmd in ["create", "run"] {
            let Some(rest) = msg.strip_prefix(&format!("{cmd} {id}: ")) else {
                continue;
            };
            let Some((phase, dur)) = rest.rsplit_once(": ") else {
                continue;
            };
            if let Some(d) = parse_duration(dur) {
                out.push((format!("{cmd}: {phase}"), d));
            }
        }
    }
    out
}

/// Rust's `Debug` of a `Duration`: `12ns`, `3.5µs`, `10.056046ms`, `1.2s`.
fn parse_duration(s: &str) -> Option<Duration> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ns") {
        (n, 1e-9)
    } else if let Some(n) = s.strip_suffix("µs") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        return None;
    };
    let v: f64 = num.parse().ok()?;
    Duration::try_from_secs_f64(v * scale).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("12ns"), Some(Duration::from_nanos(12)));
        assert_eq!(parse_duration("3.5µs"), Some(Duration::from_nanos(3500)));
        assert_eq!(parse_duration("2ms"), Some(Duration::from_millis(2)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("fast"), None);
    }

    #[test]
    fn phases_of_one_container() {
        let log = concat!(
            "time=\"t\" level=debug msg=\"create c1: load and plan config.json: 106µs\"\n",
            "time=\"t\" level=debug msg=\"create c2: load and plan config.json: 5ms\"\n",
            "time=\"t\" level=debug msg=\"no immutable copy: x\"\n",
            "time=\"t\" level=debug msg=\"run c1: start: 1.5ms\"\n",
            "time=\"t\" level=debug msg=\"run c1: delete: 2ms\"\n",
        );
        let p = parse(log, "c1");
        assert_eq!(
            p,
            vec![
                (
                    "create: load and plan config.json".to_string(),
                    Duration::from_micros(106)
                ),
                ("run: start".to_string(), Duration::from_micros(1500)),
                ("run: delete".to_string(), Duration::from_millis(2)),
            ]
        );
    }
}
