//! Thousands of cycles: create/start/wait/delete of `/bin/true`, and
//! create/`delete --force` of a sleeping container, with the host's counts
//! before and after and the time per cycle at the start and at the end.

use std::time::{Duration, Instant};

use super::{judge_growth, mean_ms, wait_exit, Ctx};

/// What a cycle run measured.
#[derive(Debug, Clone)]
pub struct CycleReport {
    /// Which cycle.
    pub kind: &'static str,
    /// The runtime's name.
    pub runtime: String,
    /// Cycles run.
    pub n: usize,
    /// Cycles with a failed step (the first few errors kept).
    pub failures: Vec<String>,
    /// Failed cycles in all.
    pub failed: usize,
    /// Per-cycle wall times.
    pub times: Vec<Duration>,
    /// Non-zero count changes, after - before.
    pub growth: Vec<(String, i64)>,
}

impl CycleReport {
    /// Mean ms of the first `k` cycles and of the last `k`.
    pub fn first_last(&self, k: usize) -> (f64, f64) {
        let k = k.min(self.times.len());
        (
            mean_ms(&self.times[..k]),
            mean_ms(&self.times[self.times.len() - k..]),
        )
    }

    /// Prints the report; true when nothing failed and nothing grew.
    pub fn print(&self) -> bool {
        let (first, last) = self.first_last(100);
        let total: Duration = self.times.iter().sum();
        println!(
            "  {} x{}: {} failed; ms/cycle first 100 {first:.1}, last 100 {last:.1} (total {:.1} s)",
            self.kind,
            self.n,
            self.failed,
            total.as_secs_f64()
        );
        for f in &self.failures {
            println!("    {f}");
        }
        let ok = judge_growth(self.kind, &self.growth);
        ok && self.failed == 0
    }
}

fn run_cycles(
    ctx: &Ctx,
    kind: &'static str,
    n: usize,
    args: &[&str],
    one: &dyn Fn(&Ctx, &str) -> Result<(), String>,
) -> CycleReport {
    let mut r = CycleReport {
        kind,
        runtime: ctx.rt.name.clone(),
        n,
        failures: Vec::new(),
        failed: 0,
        times: Vec::with_capacity(n),
        growth: Vec::new(),
    };
    if let Err(e) = ctx.write_config(&ctx.config(args)) {
        r.failures.push(e);
        r.failed = n;
        return r;
    }
    let before = ctx.snapshot();
    for _ in 0..n {
        let id = ctx.id("c");
        let t = Instant::now();
        let res = one(ctx, &id);
        r.times.push(t.elapsed());
        if let Err(e) = res {
            r.failed += 1;
            if r.failures.len() < 5 {
                r.failures.push(e);
            }
            let _ = ctx.call(&["delete", "--force", &id]);
        }
        crate::proc::reap_orphans();
    }
    r.growth = ctx.growth_since(&before);
    r
}

/// `n` x (create, start, wait for the exit, delete) of `/bin/true`.
pub fn lifecycle(ctx: &Ctx, n: usize) -> CycleReport {
    run_cycles(ctx, "create/start/wait/delete", n, &["true"], &|ctx, id| {
        let pid = ctx.create(id)?;
        let s = ctx.call(&["start", id]);
        if !s.ok() {
            return Err(format!("start {id}: {}", s.err.trim()));
        }
        if !wait_exit(pid, Duration::from_secs(10)) {
            return Err(format!("{id}: the container did not exit"));
        }
        let d = ctx.call(&["delete", id]);
        if !d.ok() {
            return Err(format!("delete {id}: {}", d.err.trim()));
        }
        Ok(())
    })
}

/// `n` x (create, `delete --force`) of a sleeping container.
pub fn force(ctx: &Ctx, n: usize) -> CycleReport {
    run_cycles(
        ctx,
        "create/delete --force",
        n,
        &["sleep", "1000"],
        &|ctx, id| {
            let pid = ctx.create(id)?;
            let d = ctx.call(&["delete", "--force", id]);
            if !d.ok() {
                return Err(format!("delete --force {id}: {}", d.err.trim()));
            }
            wait_exit(pid, Duration::from_secs(5));
            Ok(())
        },
    )
}

/// `n` creates SIGKILLed at a moment spread over the create's duration
/// (0..40 ms, a different one each time), each followed by `delete --force`.
/// Counts the kills after which something of the container was left (a
/// cgroup directory, a process, a state entry) and the growth over the run.
pub fn random_kills(ctx: &Ctx, n: usize) -> bool {
    use std::process::Stdio;
    if let Err(e) = ctx.write_config(&ctx.config(&["sleep", "1000"])) {
        println!("  random kills: {e}");
        return false;
    }
    let before = ctx.snapshot();
    let bundle = ctx.bundle.dir.display().to_string();
    let mut leaky = Vec::new();
    let mut delete_failed = 0;
    for i in 0..n {
        let id = ctx.id("k");
        let mut cmd = ctx
            .rt
            .command(&ctx.root, ["create", "--bundle", &bundle, &id]);
        cmd.env(crate::bundle::MARKER_ENV, &ctx.marker)
            .current_dir(&ctx.bundle.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let Ok(child) = crate::proc::spawn(&mut cmd) else {
            continue;
        };
        // A spread of moments: 0, 1, 2 ... 39 ms, then again.
        std::thread::sleep(Duration::from_micros(((i * 7919) % 40_000) as u64));
        // SAFETY: killing our own child.
        unsafe { libc::kill(child.pid(), libc::SIGKILL) };
        let _ = child.wait(Duration::from_secs(10));
        let d = ctx.call(&["delete", "--force", &id]);
        if !(d.ok() || d.err.contains("not exist")) {
            delete_failed += 1;
        }
        crate::proc::reap_orphans();
        std::thread::sleep(Duration::from_millis(20));
        crate::proc::reap_orphans();
        let mut left = Vec::new();
        if !crate::cleanup::find_cgroups(&id).is_empty() {
            left.push("cgroup");
        }
        if ctx.root.join(&id).exists() {
            left.push("state");
        }
        if crate::cleanup::kill_leftovers(&ctx.marker, std::slice::from_ref(&id)) > 0 {
            left.push("process");
        }
        if !left.is_empty() {
            leaky.push(format!("{id}: {}", left.join("+")));
            // Clean by hand so the next kill is counted on its own.
            crate::cleanup::remove_cgroups(&id);
            let _ = std::fs::remove_dir_all(ctx.root.join(&id));
        }
    }
    println!(
        "  random kills: {n} creates SIGKILLed at 0-40 ms then delete --force: {} left something, {delete_failed} deletes failed",
        leaky.len()
    );
    for l in leaky.iter().take(5) {
        println!("    {l}");
    }
    let grew = judge_growth("random kills", &ctx.growth_since(&before));
    grew && leaky.is_empty() && delete_failed == 0
}
