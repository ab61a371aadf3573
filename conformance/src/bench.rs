//! Benchmarks: the same container operations on every runtime, interleaved
//! (each iteration runs every runtime once, in a rotating order) after a
//! warm-up, plus the in-process floor reference.
//!
//! Wall time is measured around the runtime processes; CPU time is user+sys
//! from `wait4` rusage of every runtime process of the operation and of the
//! container init when it is re-parented to us (we are a child subreaper).

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use crate::bundle::{self, Bundle, Rootfs};
use crate::proc::{self, Finished, Running, Usage};
use crate::runtime::Runtime;
use crate::suite::render_table;

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

/// One measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Wall time.
    pub wall: Duration,
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak RSS of the measured process (KiB), where meaningful.
    pub maxrss_kib: u64,
}

/// The samples of one benchmark on one runtime.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Measured samples.
    pub samples: Vec<Sample>,
    /// Why the series stopped, if it failed.
    pub error: Option<String>,
    /// Why it was not measured (e.g. no `exec`).
    pub na: Option<String>,
}

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

impl Series {
    /// Median wall time.
    pub fn wall(&self) -> Option<Duration> {
        median(self.samples.iter().map(|s| s.wall).collect())
    }
    /// Minimum and maximum wall time.
    pub fn range(&self) -> Option<(Duration, Duration)> {
        let min = self.samples.iter().map(|s| s.wall).min()?;
        let max = self.samples.iter().map(|s| s.wall).max()?;
        Some((min, max))
    }
    /// Median CPU time.
    pub fn cpu(&self) -> Option<Duration> {
        median(self.samples.iter().map(|s| s.cpu).collect())
    }
    /// Median peak RSS (KiB).
    pub fn maxrss_kib(&self) -> Option<u64> {
        let mut v: Vec<u64> = self.samples.iter().map(|s| s.maxrss_kib).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        Some(v[v.len() / 2])
    }
}

/// One benchmark row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Short key (for `--filter`).
    pub key: &'static str,
    /// Row label.
    pub label: &'static str,
    /// One series per runtime.
    pub series: Vec<Series>,
}

/// Facts about a runtime binary.
#[derive(Debug, Clone)]
pub struct RtInfo {
    /// Column name.
    pub name: String,
    /// Binary path.
    pub path: PathBuf,
    /// `--version`, first line.
    pub version: String,
    /// File size in bytes.
    pub size: u64,
    /// Statically linked.
    pub is_static: Option<bool>,
}

/// Everything a bench run measured.
#[derive(Debug, Clone)]
pub struct Results {
    /// The runtimes, in column order.
    pub runtimes: Vec<RtInfo>,
    /// Benchmark rows.
    pub rows: Vec<Row>,
    /// Floor rows: label and series.
    pub floor: Vec<(&'static str, Series)>,
    /// Options used.
    pub options: Options,
    /// Machine description lines.
    pub machine: Vec<(String, String)>,
    /// When the run started (UTC).
    pub started: String,
    /// How long it took.
    pub elapsed: Duration,
    /// /proc/loadavg before and after.
    pub load: (String, String),
    /// Runtimes run with cgroup2 hidden: median `--version` wall time with
    /// and without the private mount namespace.
    pub hide_overhead: Vec<(String, Duration, Duration)>,
}

/// Per-runtime state during a benchmark.
struct Ctx<'a> {
    rt: &'a Runtime,
    root: PathBuf,
    dir: PathBuf,
    b_true: PathBuf,
    b_sleep: PathBuf,
    prefix: String,
    seq: u64,
    /// A container kept across samples (state, exec).
    standing: Option<String>,
}

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl Ctx<'_> {
    fn next_id(&mut self) -> String {
        self.seq += 1;
        format!("{}-{}", self.prefix, self.seq)
    }

    fn spawn(&self, args: &[&str]) -> Result<Running, String> {
        let mut cmd = self.rt.command(&self.root, args);
        let err = File::create(self.dir.join("stderr")).map_err(|e| e.to_string())?;
        cmd.stdout(Stdio::null()).stderr(Stdio::from(err));
        proc::spawn(&mut cmd).map_err(|e| format!("{}: {e}", args[0]))
    }

    fn fail_text(&self, what: &str, f: &Finished) -> String {
        let err = std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        let line = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        format!(
            "`{what}` {}: {}",
            f.status,
            crate::scenario::shorten(&line, 100)
        )
    }

    /// Runs a runtime command to completion; fails unless it exits 0.
    fn call(&self, args: &[&str]) -> Result<Finished, String> {
        let f = self
            .spawn(args)?
            .wait(CALL_TIMEOUT)
            .map_err(|e| e.to_string())?;
        if !f.success() {
            return Err(self.fail_text(args[0], &f));
        }
        Ok(f)
    }

    /// `create --pid-file` and a pidfd on the init.
    fn create(
        &mut self,
        bundle: &Path,
        id: &str,
        total: &mut Usage,
    ) -> Result<(Finished, i32, std::os::fd::OwnedFd), String> {
        let pidfile = self.dir.join("pid");
        let _ = std::fs::remove_file(&pidfile);
        let (b, pf) = (
            bundle.to_string_lossy().into_owned(),
            pidfile.to_string_lossy().into_owned(),
        );
        let f = self.call(&["create", "--bundle", &b, "--pid-file", &pf, id])?;
        total.add(&f.usage);
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or("no pid file after create")?;
        let fd = proc::pidfd_open(pid).map_err(|e| format!("pidfd_open({pid}): {e}"))?;
        Ok((f, pid, fd))
    }

    /// Waits for the init to exit and reaps it if it is our child.
    fn wait_init(
        &self,
        pid: i32,
        fd: &std::os::fd::OwnedFd,
        total: &mut Usage,
    ) -> Result<(), String> {
        let ready = proc::poll_fds(&[fd], CALL_TIMEOUT).map_err(|e| e.to_string())?;
        if ready.is_empty() {
            return Err("container process did not exit".into());
        }
        if let Some((_, u)) = proc::wait4(pid, true) {
            total.user += u.user;
            total.sys += u.sys;
        }
        Ok(())
    }

    fn cleanup(&mut self) {
        let leftovers: Vec<String> = std::fs::read_dir(&self.root)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let marker = self.prefix.clone();
        crate::cleanup::cleanup(self.rt, &self.root, &leftovers, &marker, &self.dir);
        for cg in crate::cleanup::find_cgroups_prefix(&format!("{}-", self.prefix)) {
            let _ = std::fs::remove_dir(cg);
        }
    }
}

/// What a benchmark does per sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lifecycle,
    Run,
    CreateKillDelete,
    State,
    Exec,
    RunSeq,
    RunPar,
}

const BENCHES: [(&str, &str, Kind); 7] = [
    (
        "lifecycle",
        "lifecycle: create + start + wait + delete (/bin/true)",
        Kind::Lifecycle,
    ),
    ("run", "run /bin/true (foreground)", Kind::Run),
    (
        "create-kill-delete",
        "create + kill + delete",
        Kind::CreateKillDelete,
    ),
    ("state", "state of a created container", Kind::State),
    (
        "exec",
        "exec /bin/true into a running container",
        Kind::Exec,
    ),
    (
        "run-seq",
        "100 × run /bin/true, sequential (total)",
        Kind::RunSeq,
    ),
    (
        "run-par",
        "100 × run /bin/true, 10 in parallel (total)",
        Kind::RunPar,
    ),
];

fn sample(ctx: &mut Ctx, kind: Kind, opts: &Options) -> Result<Sample, String> {
    let t0 = Instant::now();
    let mut u = Usage::default();
    let mut rss = 0;
    match kind {
        Kind::Lifecycle => {
            let id = ctx.next_id();
            let b = ctx.b_true.clone();
            let (f, pid, fd) = ctx.create(&b, &id, &mut u)?;
            rss = f.usage.maxrss_kib;
            u.add(&ctx.call(&["start", &id])?.usage);
            ctx.wait_init(pid, &fd, &mut u)?;
            u.add(&ctx.call(&["delete", &id])?.usage);
        }
        Kind::Run => {
            let id = ctx.next_id();
            let b = ctx.b_true.to_string_lossy().into_owned();
            u.add(&ctx.call(&["run", "--bundle", &b, &id])?.usage);
        }
        Kind::CreateKillDelete => {
            let id = ctx.next_id();
            let b = ctx.b_sleep.clone();
            let (_, pid, fd) = ctx.create(&b, &id, &mut u)?;
            u.add(&ctx.call(&["kill", &id, "KILL"])?.usage);
            ctx.wait_init(pid, &fd, &mut u)?;
            u.add(&ctx.call(&["delete", &id])?.usage);
        }
        Kind::State => {
            let id = ctx.standing.clone().ok_or("no container")?;
            u.add(&ctx.call(&["state", &id])?.usage);
        }
        Kind::Exec => {
            let id = ctx.standing.clone().ok_or("no container")?;
            u.add(&ctx.call(&["exec", &id, "/bin/true"])?.usage);
        }
        Kind::RunSeq => {
            let b = ctx.b_true.to_string_lossy().into_owned();
            for _ in 0..opts.batch {
                let id = ctx.next_id();
                u.add(&ctx.call(&["run", "--bundle", &b, &id])?.usage);
            }
        }
        Kind::RunPar => {
            let b = ctx.b_true.to_string_lossy().into_owned();
            let mut started = 0;
            let mut inflight: Vec<Running> = Vec::new();
            let mut err = None;
            while started < opts.batch || !inflight.is_empty() {
                while err.is_none() && started < opts.batch && inflight.len() < opts.parallel {
                    let id = ctx.next_id();
                    match ctx.spawn(&["run", "--bundle", &b, &id]) {
                        Ok(r) => inflight.push(r),
                        Err(e) => err = Some(e),
                    }
                    started += 1;
                }
                if inflight.is_empty() {
                    break;
                }
                let fds: Vec<&std::os::fd::OwnedFd> = inflight.iter().map(Running::pidfd).collect();
                let ready = proc::poll_fds(&fds, CALL_TIMEOUT).map_err(|e| e.to_string())?;
                if ready.is_empty() {
                    for r in inflight.drain(..) {
                        let _ = r.wait(Duration::ZERO);
                    }
                    return Err("parallel run timed out".into());
                }
                for i in ready.into_iter().rev() {
                    let f = inflight
                        .swap_remove(i)
                        .finish()
                        .map_err(|e| e.to_string())?;
                    if !f.success() && err.is_none() {
                        err = Some(ctx.fail_text("run", &f));
                    }
                    u.add(&f.usage);
                }
            }
            if let Some(e) = err {
                return Err(e);
            }
        }
    }
    Ok(Sample {
        wall: t0.elapsed(),
        cpu: u.cpu(),
        maxrss_kib: rss,
    })
}

fn setup_standing(ctx: &mut Ctx, start: bool) -> Result<(), String> {
    let id = ctx.next_id();
    let b = ctx.b_sleep.to_string_lossy().into_owned();
    ctx.call(&["create", "--bundle", &b, &id])?;
    ctx.standing = Some(id.clone());
    if start {
        ctx.call(&["start", &id])?;
    }
    Ok(())
}

fn teardown_standing(ctx: &mut Ctx) {
    if let Some(id) = ctx.standing.take() {
        let _ = ctx.call(&["kill", &id, "KILL"]);
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            proc::reap_orphans();
            let mut cmd = ctx.rt.command(&ctx.root, ["state", id.as_str()]);
            cmd.stderr(Stdio::null());
            let out = cmd
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if out.is_empty() || out.contains("\"stopped\"") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = ctx.call(&["delete", &id]);
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
    let labels = [
        "clone (pid, net, ipc, uts, mnt) + pivot_root + mount /proc + exec /bin/true + wait",
        "the same + a cgroup in every hierarchy, joined and removed",
    ];
    let mut out: Vec<(&'static str, Series)> =
        labels.iter().map(|l| (*l, Series::default())).collect();
    for it in 0..opts.warmup + opts.iterations {
        for k in 0..2 {
            let i = (k + it) % 2;
            if out[i].1.error.is_some() {
                continue;
            }
            match fl.once(i == 1) {
                Ok((wall, u)) if it >= opts.warmup => out[i].1.samples.push(Sample {
                    wall,
                    cpu: u.cpu(),
                    maxrss_kib: u.maxrss_kib,
                }),
                Ok(_) => {}
                Err(e) => out[i].1.error = Some(e.to_string()),
            }
        }
    }
    if opts.progress {
        eprintln!("floor: {} / {}", wall_cell(&out[0].1), wall_cell(&out[1].1));
    }
    let _ = crate::cleanup::remove_tree(&dir);
    Ok(out)
}

fn rt_info(rt: &Runtime) -> RtInfo {
    RtInfo {
        name: rt.name.clone(),
        path: rt.path.clone(),
        version: rt.version.clone(),
        size: std::fs::metadata(&rt.path).map(|m| m.len()).unwrap_or(0),
        is_static: crate::runtime::is_static_elf(&rt.path).ok(),
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn first_line_of(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

fn machine_info(runtimes: &[Runtime]) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:").map(|v| {
                v.trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("PRETTY_NAME=")
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let hybrid = std::fs::read_to_string(crate::runtime::UNIFIED_CONTROLLERS).ok();
    let cgroups = match (
        Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        hybrid,
    ) {
        (true, _) => "cgroup v2 (unified)".to_string(),
        (false, Some(c)) => format!(
            "cgroup v1 hybrid (cgroup2 at /sys/fs/cgroup/unified: {})",
            c.trim()
        ),
        (false, None) => "cgroup v1".to_string(),
    };
    let commit = first_line_of("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .stderr(Stdio::null())
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    let mut m = vec![
        (
            "CPU".to_string(),
            format!("{model} ({cores} cores available)"),
        ),
        ("memory".to_string(), format!("{} MiB", mem / 1024)),
        ("OS".to_string(), os),
        ("kernel".to_string(), kernel),
        ("cgroups".to_string(), cgroups),
    ];
    if !commit.is_empty() {
        m.push((
            "husk source".to_string(),
            format!(
                "git {commit}{}",
                if dirty {
                    " (with uncommitted changes)"
                } else {
                    ""
                }
            ),
        ));
    }
    for rt in runtimes {
        let extra = if rt.hides_cgroup2() {
            "; run in a private mount namespace with cgroup.controllers of /sys/fs/cgroup/unified hidden"
        } else {
            ""
        };
        m.push((
            rt.name.clone(),
            format!("{} — {}{extra}", rt.path.display(), rt.version),
        ));
    }
    m
}

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

fn wall_cell(s: &Series) -> String {
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
        }
        let mut line = vec!["binary size".to_string()];
        line.extend(self.runtimes.iter().map(|r| {
            let kind = match r.is_static {
                Some(true) => "static",
                Some(false) => "dynamic",
                None => "?",
            };
            format!("{:.2} MiB ({kind})", r.size as f64 / (1024.0 * 1024.0))
        }));
        g.push(line);
        s.push_str(&render_table(&g));
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
        let _ = writeln!(s, "- CPU time is user + sys from `wait4` rusage of every runtime process of the operation (which includes the children they reaped, e.g. the container of a foreground `run`) plus the re-parented container init. Peak RSS is `ru_maxrss` of the `create` process (its own and its reaped children's; the container init is not included).");
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
        let _ = writeln!(s, "- Floor: the bare kernel work of a default container done by the harness itself: `clone` with the default config's namespaces ({}), `MS_PRIVATE` on `/`, bind the rootfs onto itself, `pivot_root`, mount `/proc`, exec `/bin/true`, `wait4`; the second row also creates a cgroup in every mounted hierarchy (copying cpuset.cpus/mems), writes the child into each `cgroup.procs`, and removes them afterwards. CPU is the harness's own rusage delta plus the child's.", crate::floor::NAMESPACES);
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
