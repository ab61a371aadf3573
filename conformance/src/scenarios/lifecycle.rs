//! Lifecycle scenarios: create, start, kill, delete (plain and forced), and
//! `run` exit codes and output.

use std::time::Duration;

use serde_json::json;

use super::{SLEEP, WAIT};
use crate::scenario::{code_str, expect, expect_eq, fail, Case, Check};

pub(super) fn lifecycle_create(c: &mut Case) -> Check {
    let b = c.bundle(
        "b",
        &["sh", "-c", "echo started; exec sleep 1000"],
        |cfg, _| {
            cfg["annotations"] = json!({ "org.husk.conformance": "yes" });
        },
    )?;
    let id = c.id("");
    let out = c.create(&b, &id)?;
    let st = c.state(&id)?;
    expect_eq("state.id", st["id"].as_str().unwrap_or(""), id.as_str())?;
    expect_eq(
        "state.status",
        st["status"].as_str().unwrap_or(""),
        "created",
    )?;
    expect(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        || "state.ociVersion missing".into(),
    )?;
    let pid = st["pid"].as_i64().unwrap_or(0) as i32;
    expect(pid > 0, || format!("state.pid: got {}", st["pid"]))?;
    expect(crate::proc::alive(pid), || {
        format!("state.pid {pid} is not alive")
    })?;
    expect_eq(
        "state.bundle",
        st["bundle"].as_str().unwrap_or(""),
        b.to_string_lossy().as_ref(),
    )?;
    expect_eq(
        "state.annotations",
        st["annotations"]["org.husk.conformance"]
            .to_string()
            .as_str(),
        "\"yes\"",
    )?;
    std::thread::sleep(Duration::from_millis(150));
    let early = std::fs::read_to_string(&out.stdout_path).unwrap_or_default();
    expect(!early.contains("started"), || {
        "the process ran before start".into()
    })
}

pub(super) fn lifecycle_start(c: &mut Case) -> Check {
    let b = c.bundle(
        "b",
        &["sh", "-c", "echo started; exec sleep 1000"],
        |_, _| {},
    )?;
    let id = c.id("");
    let out = c.create(&b, &id)?;
    let pid = c.state(&id)?["pid"].as_i64().unwrap_or(0);
    c.call_ok(&["start", &id])?;
    c.wait_output(&out.stdout_path, "started", WAIT)?;
    let st = c.state(&id)?;
    expect_eq(
        "state.status",
        st["status"].as_str().unwrap_or(""),
        "running",
    )?;
    expect_eq(
        "state.pid after start",
        &st["pid"].as_i64().unwrap_or(0),
        &pid,
    )
}

pub(super) fn lifecycle_kill(c: &mut Case) -> Check {
    let script = "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done";
    let b = c.bundle("b", &["sh", "-c", script], |_, _| {})?;
    let id = c.id("");
    let out = c.create(&b, &id)?;
    c.call_ok(&["start", &id])?;
    c.wait_output(&out.stdout_path, "ready", WAIT)?;
    c.call_ok(&["kill", &id, "TERM"])?;
    c.wait_status(&id, "stopped", WAIT)?;
    c.wait_output(&out.stdout_path, "got-term", Duration::from_secs(1))
}

pub(super) fn lifecycle_kill_created(c: &mut Case) -> Check {
    let b = c.bundle("b", &SLEEP, |_, _| {})?;
    let id = c.id("");
    c.create(&b, &id)?;
    c.call_ok(&["kill", &id, "KILL"])?;
    c.wait_status(&id, "stopped", WAIT)?;
    c.call_ok(&["delete", &id])?;
    Ok(())
}

pub(super) fn lifecycle_delete(c: &mut Case) -> Check {
    let b = c.bundle("b", &SLEEP, |_, _| {})?;
    let id = c.id("");
    c.create(&b, &id)?;
    let pid = c.state(&id)?["pid"].as_i64().unwrap_or(0) as i32;
    c.call_ok(&["start", &id])?;
    c.call_ok(&["kill", &id, "KILL"])?;
    c.wait_status(&id, "stopped", WAIT)?;
    c.call_ok(&["delete", &id])?;
    c.call_fails(&["state", &id])?;
    let list = c.call_ok(&["list"])?;
    expect(!list.stdout.contains(&id), || {
        "list still shows the container".into()
    })?;
    expect(!crate::proc::alive(pid), || {
        "the init is still alive".into()
    })?;
    let cgs = crate::cleanup::find_cgroups(&id);
    expect(cgs.is_empty(), || {
        format!("cgroup left behind: {}", cgs[0].display())
    })
}

pub(super) fn lifecycle_delete_force(c: &mut Case) -> Check {
    let b = c.bundle("b", &SLEEP, |_, _| {})?;
    let id = c.id("");
    c.create(&b, &id)?;
    let pid = c.state(&id)?["pid"].as_i64().unwrap_or(0) as i32;
    c.call_ok(&["start", &id])?;
    c.call_ok(&["delete", "--force", &id])?;
    c.call_fails(&["state", &id])?;
    let end = std::time::Instant::now() + Duration::from_secs(2);
    while crate::proc::alive(pid) && std::time::Instant::now() < end {
        crate::proc::reap_orphans();
        std::thread::sleep(Duration::from_millis(10));
    }
    expect(!crate::proc::alive(pid), || {
        "the process survived delete --force".into()
    })
}

pub(super) fn run_exit_code(c: &mut Case) -> Check {
    let b = c.bundle("b", &["sh", "-c", "exit 7"], |_, _| {})?;
    let id = c.id("");
    let o = c.run(&b, &id)?;
    expect_eq("exit status of run", code_str(o.code).as_str(), "7")?;
    c.call_fails(&["state", &id])
        .map_err(|_| fail("the container is left after run"))?;
    Ok(())
}

pub(super) fn run_output(c: &mut Case) -> Check {
    let b = c.bundle(
        "b",
        &["sh", "-c", "echo to-stdout; echo to-stderr >&2"],
        |_, _| {},
    )?;
    let id = c.id("");
    let o = c.run(&b, &id)?;
    expect_eq("exit status of run", code_str(o.code).as_str(), "0")?;
    expect_eq("stdout", o.stdout.as_str(), "to-stdout\n")?;
    expect(o.stderr.contains("to-stderr"), || {
        format!("stderr {:?} lacks to-stderr", o.stderr)
    })
}
