//! `exec` scenarios: a new process in a running container passes its output
//! and exit status through, joins the container's namespaces (its pid 1 is
//! the container's init), takes --env (replacing the config's value), --cwd and
//! --user, and a stopped container refuses it.

use super::{SLEEP, WAIT};
use crate::bundle::CHECKER_IN_ROOTFS;
use crate::scenario::{code_str, expect, expect_eq, Case, Check, Report, Verdict};

/// Creates and starts a container running `sleep 1000`; returns its id and
/// the init's host pid.
fn running(c: &mut Case) -> Result<(String, i32), Verdict> {
    running_with(c, |_| {})
}

/// [`running`] with the config edited by `edit`.
fn running_with(
    c: &mut Case,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<(String, i32), Verdict> {
    let b = c.bundle("b", &SLEEP, |cfg, _| edit(cfg))?;
    let id = c.id("");
    c.create(&b, &id)?;
    let pid = c.state(&id)?["pid"].as_i64().unwrap_or(0) as i32;
    c.call_ok(&["start", &id])?;
    c.wait_status(&id, "running", WAIT)?;
    Ok((id, pid))
}

fn exec_args<'a>(id: &'a str, opts: &[&'a str], cmd: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["exec"];
    a.extend_from_slice(opts);
    a.push(id);
    a.extend_from_slice(cmd);
    a
}

pub(super) fn exec_output(c: &mut Case) -> Check {
    let (id, _) = running(c)?;
    let o = c.call(&exec_args(
        &id,
        &[],
        &["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"],
    ))?;
    expect_eq("exit status of exec", code_str(o.code).as_str(), "3")?;
    expect_eq("stdout", o.stdout.as_str(), "to-stdout\n")?;
    expect(o.stderr.contains("to-stderr"), || {
        format!("stderr {:?} lacks to-stderr", o.stderr)
    })?;
    let o = c.call_ok(&exec_args(&id, &[], &["true"]))?;
    expect_eq("stdout of true", o.stdout.as_str(), "")?;
    // The exec'd process is gone; the init keeps running.
    c.wait_status(&id, "running", WAIT)
}

pub(super) fn exec_pidns(c: &mut Case) -> Check {
    let (id, init) = running(c)?;
    let o = c.call_ok(&exec_args(
        &id,
        &[],
        &["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$"],
    ))?;
    let mut lines = o.stdout.lines();
    expect_eq(
        "/proc/1/cmdline in exec",
        lines.next().unwrap_or(""),
        "sleep 1000 ",
    )?;
    let own = lines.next().unwrap_or("");
    expect(own.parse::<i32>().is_ok_and(|p| p > 1), || {
        format!("pid of the exec'd shell: got {own:?}, want > 1")
    })?;
    for ns in ["pid", "mnt", "net", "ipc", "uts"] {
        let o = c.call_ok(&exec_args(
            &id,
            &[],
            &["readlink", &format!("/proc/self/ns/{ns}")],
        ))?;
        let host = std::fs::read_link(format!("/proc/{init}/ns/{ns}"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        expect_eq(
            &format!("{ns} namespace of exec"),
            o.stdout.trim(),
            host.as_str(),
        )?;
    }
    Ok(())
}

/// `exec OPTS ID husk-checker report` parsed.
fn exec_report(c: &mut Case, id: &str, opts: &[&str]) -> Result<Report, Verdict> {
    if !c.has_checker() {
        return Err(crate::scenario::no_checker());
    }
    let o = c.call_ok(&exec_args(id, opts, &[CHECKER_IN_ROOTFS, "report"]))?;
    Ok(Report::parse(&o.stdout))
}

pub(super) fn exec_options(c: &mut Case) -> Check {
    let (id, _) = running(c)?;
    // Without options: the process of config.json (root, cwd /, its env).
    let r = exec_report(c, &id, &[])?;
    r.expect("uid", "0")?;
    r.expect("cwd", "/")?;
    r.expect("env.TERM", "xterm")?;
    let r = exec_report(c, &id, &["--env", "FOO=bar", "--env", "TERM=dumb"])?;
    r.expect("env.FOO", "bar")?;
    r.expect("env.TERM", "dumb")?;
    let r = exec_report(c, &id, &["--cwd", "/var/lib"])?;
    r.expect("cwd", "/var/lib")?;
    let r = exec_report(c, &id, &["--user", "1000:1000"])?;
    r.expect("uid", "1000")?;
    r.expect("euid", "1000")?;
    r.expect("gid", "1000")?;
    r.expect("env.HOME", "/home/husk")
}

pub(super) fn exec_stopped(c: &mut Case) -> Check {
    let (id, _) = running(c)?;
    c.call_ok(&["kill", &id, "KILL"])?;
    c.wait_status(&id, "stopped", WAIT)?;
    let o = c.call_fails(&exec_args(&id, &[], &["echo", "ran"]))?;
    expect(!o.stdout.contains("ran"), || {
        "exec ran in a stopped container".into()
    })
}

/// The entries of a NUL-separated environment (`/proc/self/environ`) that set `key`.
pub(super) fn entries<'a>(environ: &'a str, key: &str) -> Vec<&'a str> {
    environ
        .split('\0')
        .filter(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
        .collect()
}

/// `exec --env K=V` replaces a K of `process.env` (runc keeps the last value of
/// each variable): the process has one entry, so `getenv` sees the new value
/// (with two, it would see the config's).
pub(super) fn exec_env_override(c: &mut Case) -> Check {
    let (id, _) = running_with(c, |cfg| {
        crate::bundle::push(cfg, &["process", "env"], serde_json::json!("MY_VAR=config"));
    })?;
    let o = c.call_ok(&exec_args(
        &id,
        &["--env", "MY_VAR=exec", "--env", "PATH=/bin"],
        &["cat", "/proc/self/environ"],
    ))?;
    expect_eq(
        "MY_VAR entries",
        entries(&o.stdout, "MY_VAR").join(" ").as_str(),
        "MY_VAR=exec",
    )?;
    expect_eq(
        "PATH entries",
        entries(&o.stdout, "PATH").join(" ").as_str(),
        "PATH=/bin",
    )
}
