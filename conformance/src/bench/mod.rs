//! Benchmarks: the same container operations on every runtime, interleaved
//! (each iteration runs every runtime once, in a rotating order) after a
//! warm-up, plus the in-process floor reference.
//!
//! Wall time is measured around the runtime processes; CPU time is user+sys
//! from `wait4` rusage of every runtime process of the operation and of the
//! container init when it is re-parented to us (we are a child subreaper).
//!
//! By file: `operations` is what one sample of each benchmark does on one
//! runtime, `results` the measured data and its statistics, `machine` the
//! facts recorded about the host and the runtimes, `report` the tables and
//! the Markdown report; this file runs it all.

mod machine;
mod operations;
mod phases;
mod report;
mod results;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use crate::bundle::{self, Bundle, Rootfs};
use crate::proc;
use crate::runtime::Runtime;

use machine::{loadavg, machine_info, rt_info};
use operations::{sample, setup_standing, teardown_standing, Ctx, Kind, BENCHES, CALL_TIMEOUT};
use report::wall_cell;
use results::median;

pub use report::{fmt_dur, utc_string};
pub use results::{Results, Row, RtInfo, Sample, Series};

/// Options for [`run_bench`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Working directory; removed at the end.
    pub work: PathBuf,
    /// Measured iterations per benchmark.
    pub iterations: usize,
    /// Discarded iterations first.
    pub warmup: usize,
    /// Measured iterations of the 100-run batches.
    pub batch_iterations: usize,
    /// Runs per batch.
    pub batch: usize,
    /// Runs in flight in the parallel batch.
    pub parallel: usize,
    /// Only benchmarks whose key contains this.
    pub filter: Option<String>,
    /// Progress on stderr.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            work: crate::suite::default_work_dir("bench"),
            iterations: 20,
            warmup: 3,
            batch_iterations: 3,
            batch: 100,
            parallel: 10,
            filter: None,
            progress: true,
        }
    }
}

/// Runs the benchmarks. Runtimes must have been probed.
pub fn run_bench(runtimes: &[Runtime], opts: &Options) -> Result<Results, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the benchmarks need root".into());
    }
    proc::become_subreaper().map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
    let started_at = SystemTime::now();
    let t_start = Instant::now();
    let load_before = loadavg();
    std::fs::create_dir_all(&opts.work).map_err(|e| format!("{}: {e}", opts.work.display()))?;
    let rootfs = Rootfs::build(&opts.work.join("rootfs-template"))?;
    let tag = std::process::id() % 100_000;
    let mut ctxs: Vec<Ctx> = Vec::new();
    for rt in runtimes {
        let dir = opts.work.join(&rt.name);
        let root = dir.join("root");
        std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
        let prefix = format!("hb{tag}-{}", rt.name);
        let mk = |name: &str, args: &[&str]| -> Result<PathBuf, String> {
            let b = Bundle::create(&dir.join(name), &rootfs).map_err(|e| e.to_string())?;
            b.write_config(&bundle::default_config(args, &prefix))
                .map_err(|e| e.to_string())?;
            Ok(b.dir)
        };
        let b_true = mk("bundle-true", &["/bin/true"])?;
        let b_sleep = mk("bundle-sleep", &["sleep", "100000"])?;
        ctxs.push(Ctx {
            rt,
            root,
            dir: dir.clone(),
            b_true,
            b_sleep,
            prefix,
            seq: 0,
            standing: None,
        });
    }
    let hide_overhead = measure_hide_overhead(&ctxs, opts);
    let selected = |key: &str| opts.filter.as_deref().map_or(true, |f| key.contains(f));
    let mut rows = Vec::new();
    for (key, label, kind) in BENCHES {
        if !selected(key) {
            continue;
        }
        let batch = matches!(kind, Kind::RunSeq | Kind::RunPar);
        let (warmup, iterations) = if batch {
            (0, opts.batch_iterations)
        } else {
            (opts.warmup, opts.iterations)
        };
        let mut series = vec![Series::default(); ctxs.len()];
        for (i, ctx) in ctxs.iter_mut().enumerate() {
            let r = match kind {
                Kind::State => setup_standing(ctx, false),
                Kind::Exec if !ctx.rt.supports("exec") => {
                    series[i].na = Some(format!("{} has no exec", ctx.rt.name));
                    Ok(())
                }
                Kind::Exec => setup_standing(ctx, true),
                _ => Ok(()),
            };
            if let Err(e) = r {
                series[i].error = Some(e);
            }
        }
        for it in 0..warmup + iterations {
            let n = ctxs.len();
            for k in 0..n {
                let i = (k + it) % n;
                if series[i].error.is_some() || series[i].na.is_some() {
                    continue;
                }
                match sample(&mut ctxs[i], kind, opts) {
                    Ok(s) if it >= warmup => series[i].samples.push(s),
                    Ok(_) => {}
                    Err(e) => {
                        series[i].error = Some(e);
                        ctxs[i].cleanup();
                    }
                }
                proc::reap_orphans();
            }
            // SAFETY: isatty has no preconditions.
            if opts.progress && unsafe { libc::isatty(2) } == 1 {
                eprint!("\r{key}: {}/{}   ", it + 1, warmup + iterations);
            }
        }
        for ctx in ctxs.iter_mut() {
            teardown_standing(ctx);
            ctx.cleanup();
        }
        if opts.progress {
            let cells: Vec<String> = ctxs
                .iter()
                .zip(&series)
                .map(|(c, s)| format!("{} {}", c.rt.name, wall_cell(s)))
                .collect();
            eprintln!("\r{key}: {}", cells.join(", "));
        }
        rows.push(Row { key, label, series });
    }
    let (mut phases, mut phases_total) = (Vec::new(), None);
    if selected("phases") {
        if let Some(ctx) = ctxs.iter_mut().find(|c| c.rt.name == "husk") {
            match phases::measure(ctx, opts) {
                Ok((p, t)) => (phases, phases_total) = (p, t),
                Err(e) => eprintln!("phases: {e}"),
            }
            ctx.cleanup();
        }
    }
    let mut floor = Vec::new();
    if selected("floor") {
        floor = measure_floor(&ctxs, &rootfs, opts)?;
    }
    for ctx in ctxs.iter_mut() {
        ctx.cleanup();
    }
    let _ = crate::cleanup::remove_tree(&opts.work);
    proc::reap_orphans();
    Ok(Results {
        runtimes: runtimes.iter().map(rt_info).collect(),
        rows,
        floor,
        options: opts.clone(),
        machine: machine_info(runtimes),
        started: utc_string(started_at),
        elapsed: t_start.elapsed(),
        load: (load_before, loadavg()),
        hide_overhead,
        phases,
        phases_total,
    })
}

/// What the hybrid-cgroup workaround costs per call: `RUNTIME --version` with
/// and without it, interleaved.
fn measure_hide_overhead(ctxs: &[Ctx], opts: &Options) -> Vec<(String, Duration, Duration)> {
    let mut out = Vec::new();
    for ctx in ctxs.iter().filter(|c| c.rt.hides_cgroup2()) {
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for it in 0..opts.warmup + opts.iterations {
            let mut hidden = ctx.rt.command(&ctx.root, ["--version"]);
            let mut plain = std::process::Command::new(&ctx.rt.path);
            plain
                .arg("--root")
                .arg(&ctx.root)
                .arg("--version")
                .stdin(Stdio::null());
            for (cmd, v) in [(&mut hidden, &mut with), (&mut plain, &mut without)] {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
                if let Ok(f) = proc::run(cmd, CALL_TIMEOUT) {
                    if it >= opts.warmup && f.success() {
                        v.push(f.wall);
                    }
                }
            }
        }
        if let (Some(w), Some(wo)) = (median(with), median(without)) {
            out.push((ctx.rt.name.clone(), w, wo));
        }
    }
    out
}

fn measure_floor(
    ctxs: &[Ctx],
    rootfs: &Rootfs,
    opts: &Options,
) -> Result<Vec<(&'static str, Series)>, String> {
    let dir = opts.work.join("floor");
    let b = Bundle::create(&dir, rootfs).map_err(|e| e.to_string())?;
    let _ = ctxs;
    let mut fl = crate::floor::Floor::new(&b.rootfs()).map_err(|e| e.to_string())?;
    use crate::floor::Kind;
    let kinds = [
        (
            Kind::Bare,
            "clone (pid, net, ipc, uts, mnt) + pivot_root + mount /proc + exec /bin/true + wait",
        ),
        (
            Kind::Cgroups,
            "the same + a cgroup in every hierarchy, joined and removed",
        ),
        (
            Kind::Config,
            "the same + the rest of the config's kernel work (mounts, devices, masked and read-only paths, read-only root, lo, hostname, capabilities, rlimit, no_new_privs, device rules)",
        ),
    ];
    let mut out: Vec<(&'static str, Series)> =
        kinds.iter().map(|(_, l)| (*l, Series::default())).collect();
    for it in 0..opts.warmup + opts.iterations {
        for k in 0..kinds.len() {
            let i = (k + it) % kinds.len();
            if out[i].1.error.is_some() {
                continue;
            }
            match fl.once(kinds[i].0) {
                Ok((wall, u)) if it >= opts.warmup => out[i].1.samples.push(Sample {
                    wall,
                    cpu: u.cpu(),
                    maxrss_kib: u.maxrss_kib,
                    init_hwm_kib: 0,
                }),
                Ok(_) => {}
                Err(e) => out[i].1.error = Some(e.to_string()),
            }
        }
    }
    if opts.progress {
        let cells: Vec<String> = out.iter().map(|(_, s)| wall_cell(s)).collect();
        eprintln!("floor: {}", cells.join(" / "));
    }
    let _ = crate::cleanup::remove_tree(&dir);
    Ok(out)
}
