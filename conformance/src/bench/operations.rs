//! The measured operations: what one sample of each benchmark does on one
//! runtime (create, start, wait, delete, exec, batches of runs), with the
//! per-runtime state kept between samples.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{Options, Sample};
use crate::proc::{self, Finished, Running, Usage};
use crate::runtime::Runtime;

/// Per-runtime state during a benchmark.
pub(super) struct Ctx<'a> {
    pub(super) rt: &'a Runtime,
    pub(super) root: PathBuf,
    pub(super) dir: PathBuf,
    pub(super) b_true: PathBuf,
    pub(super) b_sleep: PathBuf,
    pub(super) prefix: String,
    pub(super) seq: u64,
    /// A container kept across samples (state, exec).
    pub(super) standing: Option<String>,
}

pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl Ctx<'_> {
    pub(super) fn next_id(&mut self) -> String {
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
    pub(super) fn call(&self, args: &[&str]) -> Result<Finished, String> {
        let f = self
            .spawn(args)?
            .wait(CALL_TIMEOUT)
            .map_err(|e| e.to_string())?;
        if !f.success() {
            return Err(self.fail_text(args[0], &f));
        }
        Ok(f)
    }

    /// The peak RSS of one `create` on its own (KiB), measured through this binary's
    /// `maxrss` launcher and not timed; the container is deleted again.
    fn create_rss(&mut self, bundle: &Path) -> Result<u64, String> {
        let id = self.next_id();
        let launcher = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let b = bundle.to_string_lossy().into_owned();
        let mut cmd =
            self.rt
                .measured_command(&launcher, &self.root, ["create", "--bundle", &b, &id]);
        let err = File::create(self.dir.join("stderr")).map_err(|e| e.to_string())?;
        cmd.stdout(Stdio::piped()).stderr(Stdio::from(err));
        let out = cmd.output().map_err(|e| format!("maxrss create: {e}"))?;
        let kib = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u64>()
            .ok();
        let deleted = self.call(&["delete", "--force", &id]);
        crate::proc::reap_orphans();
        match (out.status.success(), kib) {
            (true, Some(k)) => deleted.map(|_| k),
            _ => Err(format!(
                "`create` (measured): {}",
                std::fs::read_to_string(self.dir.join("stderr"))
                    .unwrap_or_default()
                    .trim()
            )),
        }
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

    pub(super) fn cleanup(&mut self) {
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
pub(super) enum Kind {
    Lifecycle,
    Run,
    CreateKillDelete,
    State,
    Exec,
    RunSeq,
    RunPar,
}

pub(super) const BENCHES: [(&str, &str, Kind); 7] = [
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

pub(super) fn sample(ctx: &mut Ctx, kind: Kind, opts: &Options) -> Result<Sample, String> {
    // Not timed: the peak RSS of one `create` on its own (lifecycle only).
    let rss = match kind {
        Kind::Lifecycle => ctx.create_rss(&ctx.b_true.clone())?,
        _ => 0,
    };
    let t0 = Instant::now();
    let mut u = Usage::default();
    let mut init_hwm = 0;
    match kind {
        Kind::Lifecycle => {
            let id = ctx.next_id();
            let b = ctx.b_true.clone();
            let (_, pid, fd) = ctx.create(&b, &id, &mut u)?;
            // Created, not started: the init is blocked before its exec.
            init_hwm = proc::vm_hwm_kib(pid).unwrap_or(0);
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
        init_hwm_kib: init_hwm,
    })
}

pub(super) fn setup_standing(ctx: &mut Ctx, start: bool) -> Result<(), String> {
    let id = ctx.next_id();
    let b = ctx.b_sleep.to_string_lossy().into_owned();
    ctx.call(&["create", "--bundle", &b, &id])?;
    ctx.standing = Some(id.clone());
    if start {
        ctx.call(&["start", &id])?;
    }
    Ok(())
}

pub(super) fn teardown_standing(ctx: &mut Ctx) {
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
