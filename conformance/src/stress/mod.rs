//! `husk-conformance stress`: reliability under load, side by side.
//!
//! - [`cycles`]: thousands of create/start/wait/delete and create/`delete
//!   --force` cycles, with the host's counts ([`leaks::Snapshot`]) before and
//!   after and the time per cycle at the start and at the end;
//!   and creates SIGKILLed at random moments followed by `delete --force`;
//! - [`parallel`]: many creates at once, many commands racing on one id, an
//!   exec storm;
//! - [`hostile`]: malformed and adversarial configs, each refused with a
//!   message naming the field, nothing left behind.
//!
//! Every runtime gets its own state root, bundle and id prefix; a pass needs
//! zero growth of every count for every runtime and every hostile input
//! refused by husk (other runtimes are reported, not judged).

pub mod cycles;
pub mod hostile;
mod hostile_cases;
pub mod leaks;
pub mod parallel;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bundle::{default_config, Bundle, Rootfs, MARKER_ENV};
use crate::runtime::Runtime;

/// How much of each part to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// create/start/wait/delete cycles.
    pub cycles: usize,
    /// create/`delete --force` cycles.
    pub force_cycles: usize,
    /// Containers created at once.
    pub parallel: usize,
    /// Commands racing on one id.
    pub race: usize,
    /// Execs into one container.
    pub execs: usize,
    /// Execs at a time.
    pub exec_width: usize,
    /// Creates SIGKILLed at a random moment, then `delete --force`.
    pub kills: usize,
    /// Run the hostile inputs.
    pub hostile: bool,
    /// Only this many hostile inputs (0: all).
    pub hostile_limit: usize,
    /// Cycles for the runtimes that are not judged (runc takes ~10x husk's
    /// time per cycle): `None` = the same as husk.
    pub other_cycles: Option<usize>,
}

impl Config {
    /// What `make stress` runs (issue 14's numbers).
    pub fn full() -> Config {
        Config {
            cycles: 2000,
            force_cycles: 2000,
            parallel: 100,
            race: 50,
            execs: 500,
            exec_width: 20,
            kills: 200,
            hostile: true,
            hostile_limit: 0,
            other_cycles: None,
        }
    }

    /// The bounded subset `make test` runs.
    pub fn subset() -> Config {
        Config {
            cycles: 30,
            force_cycles: 30,
            parallel: 10,
            race: 16,
            execs: 40,
            exec_width: 8,
            kills: 20,
            hostile: true,
            hostile_limit: 20,
            other_cycles: None,
        }
    }
}

/// One runtime's place for the run: its state root, bundle and ids.
pub struct Ctx {
    /// The runtime.
    pub rt: Runtime,
    /// Its state root.
    pub root: PathBuf,
    /// Scratch directory (bundle, outputs).
    pub work: PathBuf,
    /// The bundle every part uses (its config rewritten per part).
    pub bundle: Bundle,
    /// Start of every container id (and cgroup name) of this runtime's run.
    pub prefix: String,
    /// Marker value in the containers' (and runtime commands') environment.
    pub marker: String,
    seq: AtomicUsize,
}

/// The result of one runtime command.
#[derive(Debug, Clone)]
pub struct Call {
    /// Exit status; `None` when killed by a signal or timed out.
    pub code: Option<i32>,
    /// Timed out (and was killed).
    pub timed_out: bool,
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
    /// Wall time.
    pub wall: Duration,
}

impl Call {
    /// Exited 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// How long a single command may take before it counts as hung.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

impl Ctx {
    /// Sets up `work/<rt.name>` with a bundle.
    pub fn new(rt: Runtime, work: &Path, rootfs: &Rootfs) -> Result<Ctx, String> {
        let dir = work.join(&rt.name);
        let _ = crate::cleanup::remove_tree(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let bundle = Bundle::create(&dir.join("bundle"), rootfs)
            .map_err(|e| format!("bundle in {}: {e}", dir.display()))?;
        let prefix = format!("stress{}{}-", std::process::id(), rt.name);
        // The state root on tmpfs, as /run is on a real node.
        let root = PathBuf::from(format!(
            "/run/husk-stress-{}/{}",
            std::process::id(),
            rt.name
        ));
        Ok(Ctx {
            root,
            marker: prefix.clone(),
            prefix,
            work: dir,
            bundle,
            rt,
            seq: AtomicUsize::new(0),
        })
    }

    /// The default config running `args`.
    pub fn config(&self, args: &[&str]) -> Value {
        default_config(args, &self.marker)
    }

    /// Writes the bundle's config.
    pub fn write_config(&self, cfg: &Value) -> Result<(), String> {
        self.bundle
            .write_config(cfg)
            .map_err(|e| format!("write config: {e}"))
    }

    /// A fresh container id.
    pub fn id(&self, what: &str) -> String {
        format!(
            "{}{what}{}",
            self.prefix,
            self.seq.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// Runs `RUNTIME --root ROOT ARGS` (marked), capturing its output.
    pub fn call(&self, args: &[&str]) -> Call {
        self.call_in(&self.root, args)
    }

    /// Like [`Ctx::call`] with another state root.
    pub fn call_in(&self, root: &Path, args: &[&str]) -> Call {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let out_p = self.work.join(format!(".out-{n}"));
        let err_p = self.work.join(format!(".err-{n}"));
        let start = Instant::now();
        let res = (|| -> std::io::Result<crate::proc::Finished> {
            let mut cmd = self.rt.command(root, args);
            cmd.current_dir(&self.bundle.dir)
                .env(MARKER_ENV, &self.marker)
                .stdout(File::create(&out_p)?)
                .stderr(File::create(&err_p)?);
            crate::proc::run(&mut cmd, CALL_TIMEOUT)
        })();
        let out = std::fs::read_to_string(&out_p).unwrap_or_default();
        let mut err = std::fs::read_to_string(&err_p).unwrap_or_default();
        let _ = std::fs::remove_file(&out_p);
        let _ = std::fs::remove_file(&err_p);
        let (code, timed_out) = match res {
            Ok(f) => (f.code(), f.status == crate::proc::Status::TimedOut),
            Err(e) => {
                err.push_str(&format!("spawn: {e}"));
                (None, false)
            }
        };
        Call {
            code,
            timed_out,
            out,
            err,
            wall: start.elapsed(),
        }
    }

    /// `create --bundle B --pid-file F id`: the init's pid, or the error.
    pub fn create(&self, id: &str) -> Result<i32, String> {
        let pid_file = self.work.join(format!("{id}.pid"));
        let bundle = self.bundle.dir.display().to_string();
        let pf = pid_file.display().to_string();
        let c = self.call(&["create", "--bundle", &bundle, "--pid-file", &pf, id]);
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        let _ = std::fs::remove_file(&pid_file);
        match (c.ok(), pid) {
            (true, Some(p)) => Ok(p),
            _ => Err(format!("create {id}: {:?} {}", c.code, c.err.trim())),
        }
    }

    /// A snapshot of what this runtime could leak.
    pub fn snapshot(&self) -> leaks::Snapshot {
        leaks::Snapshot::take(&self.work, &[&self.root], &self.prefix, &self.marker)
    }

    /// The growth since `before`, after letting the kernel settle: a dying
    /// process releases its keyring (and a zombie its slot) a moment after
    /// it is reaped, so a non-empty growth is measured again for up to 3 s.
    pub fn growth_since(&self, before: &leaks::Snapshot) -> Vec<(String, i64)> {
        let start = Instant::now();
        loop {
            crate::proc::reap_orphans();
            let g = before.growth(&self.snapshot());
            if g.is_empty() || start.elapsed() > Duration::from_secs(3) {
                return g;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Deletes every container left under the root and removes the work dir.
    pub fn teardown(&self) {
        let ids: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let notes = crate::cleanup::cleanup(&self.rt, &self.root, &ids, &self.marker, &self.work);
        for n in notes {
            eprintln!("stress {}: cleanup: {n}", self.rt.name);
        }
        for cg in crate::cleanup::find_cgroups_prefix(&self.prefix) {
            let _ = std::fs::remove_dir(&cg);
        }
        let _ = crate::cleanup::remove_tree(&self.work);
        let _ = std::fs::remove_dir_all(&self.root);
        if let Some(parent) = self.root.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// Waits for `pid` (a container init re-parented to us, the subreaper) to exit.
pub fn wait_exit(pid: i32, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        if crate::proc::wait4(pid, true).is_some() || !crate::proc::alive(pid) {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Mean of durations, in milliseconds.
pub fn mean_ms(d: &[Duration]) -> f64 {
    if d.is_empty() {
        return 0.0;
    }
    d.iter().map(|x| x.as_secs_f64()).sum::<f64>() * 1000.0 / d.len() as f64
}

/// Runs the parts `cfg` asks for against every runtime; prints the report as
/// it goes. Returns whether husk (the runtime named "husk", else the first)
/// passed: zero growth everywhere, every race and storm outcome as expected,
/// every hostile input refused naming its field.
pub fn run(runtimes: &[Runtime], cfg: &Config, work: &Path) -> Result<bool, String> {
    crate::proc::become_subreaper().map_err(|e| format!("subreaper: {e}"))?;
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let rootfs = Rootfs::build(&work.join("rootfs-src"))?;
    let judged = runtimes.iter().position(|r| r.name == "husk").unwrap_or(0);
    let mut pass = true;
    for (i, rt) in runtimes.iter().enumerate() {
        let ctx = Ctx::new(rt.clone(), work, &rootfs)?;
        println!("== {} ({})", rt.name, rt.version);
        let mut cfg = cfg.clone();
        if let (false, Some(n)) = (i == judged, cfg.other_cycles) {
            cfg.cycles = cfg.cycles.min(n);
            cfg.force_cycles = cfg.force_cycles.min(n);
        }
        let ok = run_one(&ctx, &cfg);
        ctx.teardown();
        println!("== {}: {}", rt.name, if ok { "PASS" } else { "FAIL" });
        if i == judged {
            pass &= ok;
        }
    }
    let _ = crate::cleanup::remove_tree(work);
    Ok(pass)
}

fn run_one(ctx: &Ctx, cfg: &Config) -> bool {
    let mut ok = true;
    if cfg.cycles > 0 {
        ok &= cycles::lifecycle(ctx, cfg.cycles).print();
    }
    if cfg.force_cycles > 0 {
        ok &= cycles::force(ctx, cfg.force_cycles).print();
    }
    if cfg.kills > 0 {
        ok &= cycles::random_kills(ctx, cfg.kills);
    }
    if cfg.parallel > 0 {
        ok &= parallel::creates(ctx, cfg.parallel);
    }
    if cfg.race > 0 {
        ok &= parallel::race(ctx, cfg.race);
    }
    if cfg.execs > 0 {
        ok &= parallel::exec_storm(ctx, cfg.execs, cfg.exec_width);
    }
    if cfg.hostile {
        ok &= hostile::run(ctx, cfg.hostile_limit);
    }
    ok
}

/// Prints a growth list; true when empty. `/run/husk-exe` is shared by every
/// husk on the machine: its growth is shown, not judged.
pub fn judge_growth(what: &str, growth: &[(String, i64)]) -> bool {
    if growth.is_empty() {
        println!("  {what}: leak deltas all 0");
        return true;
    }
    let shown: Vec<String> = growth.iter().map(|(k, d)| format!("{k} {d:+}")).collect();
    println!("  {what}: GROWTH {}", shown.join(", "));
    growth.iter().all(|(k, _)| k == "/run/husk-exe copies")
}
