//! Rendering results: the plain-text tables, the Markdown report, and the
//! cell formats they share.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::{Results, Series};
use crate::suite::render_table;

/// `YYYY-MM-DD HH:MM UTC`.
pub fn utc_string(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// `12.3 ms` style.
pub fn fmt_dur(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

pub(super) fn wall_cell(s: &Series) -> String {
    if let Some(na) = &s.na {
        return format!("n/a ({na})");
    }
    match (s.wall(), s.range(), &s.error) {
        (Some(m), Some((lo, hi)), _) => {
            let err = if s.error.is_some() {
                " (stopped early)"
            } else {
                ""
            };
            format!("{} ({}–{}){err}", fmt_dur(m), fmt_dur(lo), fmt_dur(hi))
        }
        (_, _, Some(e)) => format!("error: {}", crate::scenario::shorten(e, 80)),
        _ => "–".to_string(),
    }
}

fn cpu_cell(s: &Series) -> String {
    if s.na.is_some() {
        return "n/a".into();
    }
    s.cpu().map(fmt_dur).unwrap_or_else(|| {
        if s.error.is_some() {
            "error".into()
        } else {
            "–".into()
        }
    })
}

fn ratio(a: Option<Duration>, b: Option<Duration>) -> Option<f64> {
    let (a, b) = (a?.as_secs_f64(), b?.as_secs_f64());
    (b > 0.0).then(|| a / b)
}

impl Results {
    fn col(&self, name: &str) -> Option<usize> {
        self.runtimes.iter().position(|r| r.name == name)
    }

    fn header(&self, first: &str) -> Vec<String> {
        std::iter::once(first.to_string())
            .chain(self.runtimes.iter().map(|r| r.name.clone()))
            .collect()
    }

    /// The result tables (Markdown).
    pub fn tables(&self) -> String {
        let mut s = String::new();
        let o = &self.options;
        let _ = writeln!(
            s,
            "Wall time, median (min–max) over {} iterations ({} for the 100-run batches), after {} warm-up iterations:\n",
            o.iterations, o.batch_iterations, o.warmup
        );
        let mut g = vec![self.header("benchmark")];
        for r in &self.rows {
            g.push(
                std::iter::once(r.label.to_string())
                    .chain(r.series.iter().map(wall_cell))
                    .collect(),
            );
        }
        s.push_str(&render_table(&g));
        let _ = writeln!(
            s,
            "\nCPU time (user + sys of the runtime processes and the container init), median:\n"
        );
        let mut g = vec![self.header("benchmark")];
        for r in &self.rows {
            g.push(
                std::iter::once(r.label.to_string())
                    .chain(r.series.iter().map(cpu_cell))
                    .collect(),
            );
        }
        s.push_str(&render_table(&g));
        if let Some(c) = self.col("crun") {
            let _ = writeln!(
                s,
                "\nRatio to crun, wall / CPU (medians; below 1 is faster than crun):\n"
            );
            let mut g = vec![self.header("benchmark")];
            for r in &self.rows {
                let mut line = vec![r.label.to_string()];
                for sr in &r.series {
                    let w = ratio(sr.wall(), r.series[c].wall());
                    let cp = ratio(sr.cpu(), r.series[c].cpu());
                    line.push(match (w, cp) {
                        (Some(w), Some(cp)) => format!("{w:.2}× / {cp:.2}×"),
                        _ => "n/a".into(),
                    });
                }
                g.push(line);
            }
            s.push_str(&render_table(&g));
        }
        let _ = writeln!(s, "\nResources:\n");
        let mut g = vec![self.header("")];
        if let Some(lc) = self.rows.iter().find(|r| r.key == "lifecycle") {
            let mut line = vec!["peak RSS of `create` (ru_maxrss, median)".to_string()];
            line.extend(lc.series.iter().map(|s| {
                s.maxrss_kib()
                    .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                    .unwrap_or_else(|| "–".into())
            }));
            g.push(line);
            let mut line =
                vec!["peak RSS of the container init before exec (VmHWM, median)".to_string()];
            line.extend(lc.series.iter().map(|s| {
                s.init_hwm_kib()
                    .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                    .unwrap_or_else(|| "–".into())
            }));
            g.push(line);
        }
        let mut line = vec!["binary size".to_string()];
        line.extend(self.runtimes.iter().map(|r| {
            let kind = match r.is_static {
                Some(true) => "static",
                Some(false) => "dynamic",
                None => "?",
            };
            let launcher = r
                .launcher
                .map(|l| format!(" + {:.1} KiB launcher", l as f64 / 1024.0))
                .unwrap_or_default();
            format!(
                "{:.2} MiB ({kind}){launcher}",
                r.size as f64 / (1024.0 * 1024.0)
            )
        }));
        g.push(line);
        s.push_str(&render_table(&g));
        s.push_str(&self.phases_table());
        if !self.floor.is_empty() {
            let _ = writeln!(
                s,
                "\nFloor reference (in-process, no runtime; same iterations):\n"
            );
            let mut g = vec![vec![
                "floor".to_string(),
                "wall".to_string(),
                "CPU".to_string(),
            ]];
            for (label, sr) in &self.floor {
                g.push(vec![label.to_string(), wall_cell(sr), cpu_cell(sr)]);
            }
            s.push_str(&render_table(&g));
        }
        let errors: Vec<String> = self
            .rows
            .iter()
            .flat_map(|r| {
                r.series
                    .iter()
                    .zip(&self.runtimes)
                    .filter_map(move |(s, rt)| {
                        s.error
                            .as_ref()
                            .map(|e| format!("- {} / {}: {e}", r.key, rt.name))
                    })
            })
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(s, "\nErrors:\n\n{}", errors.join("\n"));
        }
        s
    }

    /// Where the time of one husk `run` goes (empty without phases).
    fn phases_table(&self) -> String {
        let mut s = String::new();
        let Some(total) = self.phases_total else {
            return s;
        };
        if self.phases.is_empty() {
            return s;
        }
        let _ = writeln!(
            s,
            "\nWhere the time of one husk `run /bin/true` goes (`husk --debug` phase timings, medians over {} runs):\n",
            self.options.iterations
        );
        let mut g = vec![vec!["phase".to_string(), "median".to_string()]];
        let mut sum = Duration::ZERO;
        for (p, d) in &self.phases {
            sum += *d;
            g.push(vec![p.clone(), fmt_dur(*d)]);
        }
        g.push(vec![
            "rest: process start-up (the launcher, then the CLI from its guarded copy), argument parsing, exit (wall − phases)".into(),
            fmt_dur(total.saturating_sub(sum)),
        ]);
        g.push(vec![
            "wall time of the `--debug` run".into(),
            fmt_dur(total),
        ]);
        s.push_str(&render_table(&g));
        s
    }

    /// docs/benchmarks.md: tables, method and machine.
    pub fn markdown(&self, command: &str) -> String {
        let mut s = String::from("# Benchmarks\n\n");
        let _ = writeln!(
            s,
            "Generated on {} by `{command}` ({} s). Do not edit the numbers by hand: re-run the command.\n",
            self.started,
            self.elapsed.as_secs()
        );
        s.push_str("## Results\n\n");
        s.push_str(&self.tables());
        let o = &self.options;
        s.push_str("\n## Method\n\n");
        let _ = writeln!(s, "- Every runtime gets the same bundle: a busybox-static rootfs and the `runc spec` default config (pid, net, ipc, uts and mount namespaces, read-only rootfs, masked and read-only paths, `terminal: false`), with `/bin/true` (or `sleep` for the containers kept running) as the process. Each runtime has its own `--root`.");
        let _ = writeln!(s, "- Interleaved: each iteration runs every runtime once, in an order that rotates between iterations, so load changes hit all runtimes alike. {} warm-up iterations per benchmark are discarded ({} measured; {} for the batches of {} runs).", o.warmup, o.iterations, o.batch_iterations, o.batch);
        let _ = writeln!(s, "- The harness is a child subreaper: after `create`, the container init is re-parented to it, so `wait` is a pidfd poll on the init and its rusage is collected with `wait4`.");
        let _ = writeln!(s, "- lifecycle = `create --pid-file` + `start` + wait for the init to exit + `delete`. create + kill + delete = `create`, `kill KILL`, wait for the init, `delete` (no `--force`). state = one `state` call on a created container. exec = `exec ID /bin/true` into a started container (n/a for runtimes without `exec`).");
        let _ = writeln!(s, "- Batches: {} foreground `run`s of `/bin/true` back to back, and the same with {} in flight at a time; the time is the total.", o.batch, o.parallel);
        let _ = writeln!(s, "- CPU time is user + sys from `wait4` rusage of every runtime process of the operation (which includes the children they reaped, e.g. the container of a foreground `run`) plus the re-parented container init. Peak RSS is `ru_maxrss` of a `create` process (its own and its reaped children's; the container init is not included), from an extra, untimed `create` per lifecycle iteration started by `husk-conformance maxrss`, a small process that forks it: a child the bench spawned itself would report the bench's own peak (a vfork child's exec records its parent's high-water mark); the init's is `VmHWM` from /proc/PID/status of the created container's init, read right after `create` returns (the init then waits before its exec).");
        let _ = writeln!(s, "- Where the time goes: husk `--debug --log FILE run` of the same bundle, {} runs after {} warm-up runs, husk only; each phase is the median of its `create ID: PHASE: DURATION` / `run ID: PHASE: DURATION` debug lines; the rest is the median wall time minus the phases.", o.iterations, o.warmup);
        if self.runtimes.iter().any(|r| r.launcher.is_some()) {
            let _ = writeln!(s, "- husk runs as `make install` lays it out (`make bench`: in target/bench-prefix): `bin/husk` is the launcher, which execs the CLI's immutable CVE-2019-5736 copy in /run/husk-exe (made by the first warm-up call), so every call starts the CLI once; the binary size row gives the CLI and, after the plus, the launcher.");
        }
        let _ = writeln!(s, "- Ratios divide the medians by crun's.");
        let _ = writeln!(s, "- Wall times depend on what else runs on the machine (see the load average below); CPU times much less so. Compare runtimes within one run, not across runs.");
        for (name, with, without) in &self.hide_overhead {
            let _ = writeln!(
                s,
                "- {name} refuses this hybrid cgroup host, so each {name} call runs in a private mount namespace (set up between fork and exec) with an empty file bind-mounted over `/sys/fs/cgroup/unified/cgroup.controllers`. Cost: `{name} --version` takes {} with it and {} without (medians), so {name}'s rows include that difference once per call.",
                fmt_dur(*with),
                fmt_dur(*without)
            );
        }
        let _ = writeln!(s, "- Floor: the bare kernel work of a default container done by the harness itself: `clone` with the default config's namespaces ({}), `MS_PRIVATE` on `/`, bind the rootfs onto itself, `pivot_root`, mount `/proc`, exec `/bin/true`, `wait4`; the second row also creates a cgroup in every mounted hierarchy (copying cpuset.cpus/mems), writes the child into each `cgroup.procs`, and removes them afterwards; the third also does the rest of the kernel work the config asks of any runtime (`conformance/src/floor/config.rs`): the config's device rules in the devices cgroup, its mounts (/proc, /dev with its six nodes and five links, /dev/pts, /dev/shm, /dev/mqueue, /sys read-only, /sys/fs/cgroup as a tmpfs with the container's v1 cgroups bound read-only), the masked and read-only paths, the read-only root, `lo` up, the hostname, the capability bounding set and sets, `RLIMIT_NOFILE` and `no_new_privs`, so a runtime's gap to it is its own cost (its process start, config, state, synchronisation). CPU is the harness's own rusage delta plus the child's.", crate::floor::NAMESPACES);
        s.push_str("\n## Machine\n\n");
        for (k, v) in &self.machine {
            let _ = writeln!(s, "- {k}: {v}");
        }
        let _ = writeln!(
            s,
            "- load average (1/5/15 min) before: {}, after: {}",
            self.load.0, self.load.1
        );
        s
    }
}
