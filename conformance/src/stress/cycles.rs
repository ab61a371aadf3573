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
