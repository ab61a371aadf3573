//! Parallel load: many creates at once, commands racing on one id, and an
//! exec storm into one container.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{judge_growth, wait_exit, Call, Ctx};

/// Runs `f(i)` for i in 0..n on `width` threads.
fn pool<T: Send>(n: usize, width: usize, f: &(dyn Fn(usize) -> T + Sync)) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<(usize, T)>> = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|s| {
        for _ in 0..width.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let v = f(i);
                out.lock().unwrap_or_else(|e| e.into_inner()).push((i, v));
            });
        }
    });
    let mut v = out.into_inner().unwrap_or_else(|e| e.into_inner());
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, t)| t).collect()
}

/// `n` containers created at once (distinct ids), then deleted at once.
pub fn creates(ctx: &Ctx, n: usize) -> bool {
    if let Err(e) = ctx.write_config(&ctx.config(&["sleep", "1000"])) {
        println!("  parallel creates: {e}");
        return false;
    }
    let before = ctx.snapshot();
    let ids: Vec<String> = (0..n).map(|_| ctx.id("p")).collect();
    let t = Instant::now();
    let created = pool(n, n, &|i| ctx.create(&ids[i]));
    let create_wall = t.elapsed();
    let ok = created.iter().filter(|r| r.is_ok()).count();
    let t = Instant::now();
    let deleted = pool(n, n, &|i| ctx.call(&["delete", "--force", &ids[i]]));
    let delete_wall = t.elapsed();
    for p in created.iter().flatten() {
        wait_exit(*p, Duration::from_secs(5));
    }
    crate::proc::reap_orphans();
    let del_ok = deleted.iter().filter(|c| c.ok()).count();
    println!(
        "  parallel: {ok}/{n} created in {:.2} s, {del_ok}/{n} deleted in {:.2} s",
        create_wall.as_secs_f64(),
        delete_wall.as_secs_f64()
    );
    for e in created.iter().filter_map(|r| r.as_ref().err()).take(3) {
        println!("    {e}");
    }
    let grew = judge_growth("parallel creates", &ctx.growth_since(&before));
    grew && ok == n && del_ok == n
}

/// The commands that race, by index.
fn race_cmd(i: usize, id: &str) -> Vec<String> {
    let v: Vec<&str> = match i % 8 {
        0 => vec!["start", id],
        1 => vec!["kill", id, "KILL"],
        2 => vec!["delete", id],
        3 => vec!["pause", id],
        4 => vec!["resume", id],
        5 => vec!["update", "--pids-limit", "100", id],
        // Detached: an exec that a racing `pause` freezes would wait for the
        // resume, which the race may never send.
        6 => vec!["exec", "--detach", id, "true"],
        _ => vec!["state", id],
    };
    v.into_iter().map(String::from).collect()
}

/// `n` commands racing on one running container (start, kill, delete, pause,
/// resume, update, exec, state). Expected: none hangs or crashes, none
/// reports a corrupt state, `start` never succeeds (it runs already), at most
/// one `delete` succeeds, the state afterwards is readable or gone, `delete
/// --force` finishes it, nothing is left.
pub fn race(ctx: &Ctx, n: usize) -> bool {
    if let Err(e) = ctx.write_config(&ctx.config(&["sleep", "1000"])) {
        println!("  race: {e}");
        return false;
    }
    let before = ctx.snapshot();
    let id = ctx.id("r");
    let pid = match ctx.create(&id) {
        Ok(p) => p,
        Err(e) => {
            println!("  race: {e}");
            return false;
        }
    };
    if !ctx.call(&["start", &id]).ok() {
        println!("  race: start failed");
    }
    let calls: Vec<(Vec<String>, Call)> = pool(n, n, &|i| {
        let args = race_cmd(i, &id);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let c = ctx.call(&refs);
        (args, c)
    });
    let mut problems = Vec::new();
    let mut tally = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for (args, c) in &calls {
        let e = tally.entry(args[0].clone()).or_default();
        if c.ok() {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
        if c.timed_out {
            problems.push(format!("{args:?} hung"));
        } else if c.code.is_none()
            || c.code
                .is_some_and(|x| x > 1 && !(args[0] == "exec" && x == 255))
        {
            problems.push(format!(
                "{args:?} ended with {:?}: {}",
                c.code,
                c.err.trim()
            ));
        }
        let low = c.err.to_lowercase();
        if low.contains("corrupt") || low.contains("panicked") {
            problems.push(format!("{args:?}: {}", c.err.trim()));
        }
    }
    if tally.get("start").is_some_and(|t| t.0 > 0) {
        problems.push("start of a running container succeeded".into());
    }
    if tally.get("delete").is_some_and(|t| t.0 > 1) {
        problems.push("more than one delete succeeded".into());
    }
    let st = ctx.call(&["state", &id]);
    let readable = st.ok() && serde_json::from_str::<serde_json::Value>(&st.out).is_ok();
    let gone = !st.ok() && st.err.contains("not exist");
    if !(readable || gone) {
        problems.push(format!("state afterwards: {}", st.err.trim()));
    }
    let d = ctx.call(&["delete", "--force", &id]);
    if !(d.ok() || d.err.contains("not exist")) {
        problems.push(format!("delete --force afterwards: {}", d.err.trim()));
    }
    wait_exit(pid, Duration::from_secs(5));
    crate::proc::reap_orphans();
    let shown: Vec<String> = tally
        .iter()
        .map(|(k, (o, f))| format!("{k} {o} ok/{f} refused"))
        .collect();
    println!("  race x{n} on one id: {}", shown.join(", "));
    for p in problems.iter().take(8) {
        println!("    {p}");
    }
    let grew = judge_growth("race", &ctx.growth_since(&before));
    grew && problems.is_empty()
}

/// `n` execs into one container, `width` at a time, each exiting with
/// `i % 7`: every exit code right, no zombie or fd growth.
pub fn exec_storm(ctx: &Ctx, n: usize, width: usize) -> bool {
    if let Err(e) = ctx.write_config(&ctx.config(&["sleep", "1000"])) {
        println!("  exec storm: {e}");
        return false;
    }
    let before = ctx.snapshot();
    let id = ctx.id("x");
    let pid = match ctx.create(&id) {
        Ok(p) => p,
        Err(e) => {
            println!("  exec storm: {e}");
            return false;
        }
    };
    let _ = ctx.call(&["start", &id]);
    let t = Instant::now();
    let codes = pool(n, width, &|i| {
        let script = format!("exit {}", i % 7);
        ctx.call(&["exec", &id, "sh", "-c", &script])
    });
    let wall = t.elapsed();
    let wrong: Vec<String> = codes
        .iter()
        .enumerate()
        .filter(|(i, c)| c.code != Some((*i % 7) as i32))
        .map(|(i, c)| format!("exec {i}: {:?} {}", c.code, c.err.trim()))
        .collect();
    let _ = ctx.call(&["delete", "--force", &id]);
    wait_exit(pid, Duration::from_secs(5));
    crate::proc::reap_orphans();
    println!(
        "  exec storm: {n} execs {width} at a time in {:.2} s, {} wrong exit codes",
        wall.as_secs_f64(),
        wrong.len()
    );
    for w in wrong.iter().take(5) {
        println!("    {w}");
    }
    let grew = judge_growth("exec storm", &ctx.growth_since(&before));
    grew && wrong.is_empty()
}
