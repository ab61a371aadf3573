//! Cgroup scenarios (cgroup v1 files): memory, pids and cpu limits from
//! config.json read back from the host through the init's /proc/PID/cgroup,
//! `update` (flags, then a resources file) changing them on a running
//! container, `pause` / `resume`
//! (freezer state and a process that stops and restarts printing).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{SLEEP, WAIT};
use crate::scenario::{expect_eq, fail, Case, Check, Verdict};

const MEMORY: i64 = 64 << 20;
const PIDS: i64 = 40;
const SHARES: i64 = 512;

/// Creates bundle "b" running `args` with the limits above and creates the
/// container; returns its id, the init's pid and the file the init's stdout
/// goes to. A runtime that refuses this
/// host's cgroup layout (crun: hybrid mode) is a skip, with its message.
fn create_limited(c: &mut Case, args: &[&str]) -> Result<(String, i32, PathBuf), Verdict> {
    if !std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        return Err(Verdict::Skip(
            "the checks read cgroup v1 files; no v1 memory hierarchy".into(),
        ));
    }
    let b = c.bundle("b", args, |cfg, _| {
        let r = &mut cfg["linux"]["resources"];
        r["memory"] = json!({ "limit": MEMORY });
        r["pids"] = json!({ "limit": PIDS });
        r["cpu"] = json!({ "shares": SHARES });
    })?;
    let id = c.id("");
    let bs = b.to_string_lossy().into_owned();
    let o = c.call(&["create", "--bundle", &bs, &id])?;
    if o.code != Some(0) {
        if o.stderr.contains("hybrid mode not supported") {
            return Err(Verdict::Skip(format!(
                "refuses a cgroup v1 hybrid host: {}",
                o.err_line()
            )));
        }
        return Err(fail(format!("`create` failed: {}", o.err_line())));
    }
    let pid = c.state(&id)?["pid"].as_i64().unwrap_or(0) as i32;
    Ok((id, pid, o.stdout_path))
}

/// The host directory of `pid`'s cgroup in the v1 hierarchy of `controller`.
fn cg_dir(pid: i32, controller: &str) -> Result<PathBuf, Verdict> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| fail(format!("/proc/{pid}/cgroup: {e}")))?;
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            Some((f.next()?, f.next()?, f.next()?))
        })
        .find(|(_, ctrls, _)| ctrls.split(',').any(|c| c == controller))
        .map(|(_, ctrls, path)| {
            PathBuf::from(crate::cleanup::CGROUP_ROOT)
                .join(ctrls)
                .join(path.trim_start_matches('/'))
        })
        .ok_or_else(|| fail(format!("the init is in no {controller} cgroup")))
}

/// The first line of `pid`'s cgroup file `file` of `controller`.
fn cg_read(pid: i32, controller: &str, file: &str) -> Result<String, Verdict> {
    let p = cg_dir(pid, controller)?.join(file);
    std::fs::read_to_string(&p)
        .map(|s| s.lines().next().unwrap_or("").trim().to_string())
        .map_err(|e| fail(format!("{}: {e}", p.display())))
}

/// Fails unless memory, pids and cpu limits read back as given.
fn expect_limits(pid: i32, memory: i64, pids: i64, shares: i64) -> Check {
    let m = cg_read(pid, "memory", "memory.limit_in_bytes")?;
    expect_eq(
        "memory.limit_in_bytes",
        m.as_str(),
        memory.to_string().as_str(),
    )?;
    let p = cg_read(pid, "pids", "pids.max")?;
    expect_eq("pids.max", p.as_str(), pids.to_string().as_str())?;
    let s = cg_read(pid, "cpu", "cpu.shares")?;
    expect_eq("cpu.shares", s.as_str(), shares.to_string().as_str())
}

pub(super) fn cgroup_limits(c: &mut Case) -> Check {
    let (id, pid, _) = create_limited(c, &SLEEP)?;
    expect_limits(pid, MEMORY, PIDS, SHARES)?;
    c.call_ok(&["start", &id])?;
    c.wait_status(&id, "running", WAIT)?;
    expect_limits(pid, MEMORY, PIDS, SHARES)
}

pub(super) fn cgroup_update(c: &mut Case) -> Check {
    let (id, pid, _) = create_limited(c, &SLEEP)?;
    c.call_ok(&["start", &id])?;
    let memory = 128 << 20;
    let m = memory.to_string();
    c.call_ok(&["update", "--memory", &m, "--pids-limit", "77", &id])?;
    expect_limits(pid, memory, 77, SHARES)?;
    c.call_ok(&["update", "--cpu-share", "512", &id])?;
    expect_limits(pid, memory, 77, 512)?;
    // The same through a resources file.
    let file = c.dir.join("resources.json");
    std::fs::write(&file, json!({ "cpu": { "shares": 256 } }).to_string())
        .map_err(|e| fail(format!("harness: {}: {e}", file.display())))?;
    let f = file.to_string_lossy().into_owned();
    c.call_ok(&["update", "--resources", &f, &id])?;
    expect_limits(pid, memory, 77, 256)?;
    expect_eq("status after update", c.status(&id)?.as_str(), "running")
}

fn size(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

pub(super) fn cgroup_pause(c: &mut Case) -> Check {
    let (id, pid, out) = create_limited(c, &["sh", "-c", "while :; do echo t; sleep 0.02; done"])?;
    c.call_ok(&["start", &id])?;
    c.wait_output(&out, "t", WAIT)?;
    c.call_ok(&["pause", &id])?;
    expect_eq("status after pause", c.status(&id)?.as_str(), "paused")?;
    expect_eq(
        "freezer.state after pause",
        cg_read(pid, "freezer", "freezer.state")?.as_str(),
        "FROZEN",
    )?;
    let frozen = size(&out);
    std::thread::sleep(Duration::from_millis(300));
    expect_eq("output bytes while paused", &size(&out), &frozen)?;
    c.call_ok(&["resume", &id])?;
    expect_eq("status after resume", c.status(&id)?.as_str(), "running")?;
    expect_eq(
        "freezer.state after resume",
        cg_read(pid, "freezer", "freezer.state")?.as_str(),
        "THAWED",
    )?;
    let end = Instant::now() + WAIT;
    while size(&out) == frozen {
        if Instant::now() > end {
            return Err(fail("no output after resume"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
