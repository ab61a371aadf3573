//! Hook scenarios: prestart, createRuntime, poststart and poststop run on the
//! host in order, each with the container state (on stdin) in the status of
//! its phase (prestart and createRuntime: `created`, poststart: `running`,
//! poststop: `stopped`); a failing createRuntime hook fails `create`. A hook
//! without `env` inherits the runtime's environment (startContainer: the
//! container process's); createContainer hooks can write into a read-only root.

use std::path::Path;

use serde_json::{json, Value};

use super::{SLEEP, WAIT};
use crate::scenario::{expect, expect_eq, fail, Case, Check};

/// A hook running the host's /bin/sh: appends `NAME STATUS` (the `status` of
/// the state JSON on stdin, parsed with shell builtins only) to `log`, then
/// exits with `code`.
fn hook(name: &str, log: &Path, code: i32) -> Value {
    let script = format!(
        "read -r s; t=${{s#*\\\"status\\\"}}; t=${{t#*:}}; t=${{t#*\\\"}}; t=${{t%%\\\"*}}; \
         echo \"$0 $t\" >> '{}'; exit {code}",
        log.display()
    );
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", script, name],
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        "timeout": 10,
    })
}

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

pub(super) fn hooks_order(c: &mut Case) -> Check {
    let log = c.dir.join("hooks.log");
    let b = c.bundle("b", &SLEEP, |cfg, _| {
        cfg["hooks"] = json!({
            "prestart": [hook("prestart", &log, 0)],
            "createRuntime": [hook("createRuntime", &log, 0)],
            "poststart": [hook("poststart", &log, 0)],
            "poststop": [hook("poststop", &log, 0)],
        });
    })?;
    let id = c.id("");
    c.create(&b, &id)?;
    // Steps 3 and 4 of the spec's lifecycle, after step 2 (status `creating`)
    // has finished: the status is `created`.
    let mut want = String::from("prestart created\ncreateRuntime created\n");
    expect_eq("hooks run by create", read_log(&log).as_str(), &want)?;
    c.call_ok(&["start", &id])?;
    want.push_str("poststart running\n");
    expect_eq("hooks run by start", read_log(&log).as_str(), &want)?;
    c.call_ok(&["kill", &id, "KILL"])?;
    c.wait_status(&id, "stopped", WAIT)?;
    expect_eq("hooks run when stopped", read_log(&log).as_str(), &want)?;
    c.call_ok(&["delete", &id])?;
    want.push_str("poststop stopped\n");
    expect_eq("hooks run by delete", read_log(&log).as_str(), &want)
}

pub(super) fn hooks_create_fails(c: &mut Case) -> Check {
    let log = c.dir.join("hooks.log");
    let b = c.bundle("b", &["sh", "-c", "echo ran"], |cfg, _| {
        cfg["hooks"] = json!({
            "createRuntime": [hook("createRuntime", &log, 1)],
            "poststart": [hook("poststart", &log, 0)],
        });
    })?;
    let id = c.id("");
    let bs = b.to_string_lossy().into_owned();
    let o = c.call_fails(&["create", "--bundle", &bs, &id])?;
    // Which hooks ran (their status is checked by hooks-order).
    let ran: Vec<String> = read_log(&log)
        .lines()
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect();
    expect_eq("hooks run", ran.join(",").as_str(), "createRuntime")?;
    expect(!o.stdout.contains("ran"), || "the process ran".into())?;
    c.call_fails(&["state", &id])
        .map_err(|_| fail("the container is left after the failed create"))?;
    Ok(())
}

/// A hook running `sh -c script NAME` with no `env` of its own.
fn bare_hook(sh: &str, name: &str, script: &str) -> Value {
    json!({ "path": sh, "args": ["sh", "-c", script, name], "timeout": 10 })
}

/// A hook without `env` inherits the runtime's environment (runc's hooks are Go
/// commands with a nil Env); one with `env` gets exactly that; a startContainer
/// hook, run in the container, gets the container process's environment.
pub(super) fn hooks_env(c: &mut Case) -> Check {
    let log = c.dir.join("hooks.log");
    let probe = "echo \"$0 ${HUSK_HOOK_PROBE-unset} ${IN_CONTAINER-unset} ${ONLY-unset}\" >> ";
    let on_host = |name: &str| bare_hook("/bin/sh", name, &format!("{probe}'{}'", log.display()));
    c.env
        .push(("HUSK_HOOK_PROBE".to_string(), "runtime".to_string()));
    let b = c.bundle("b", &SLEEP, |cfg, _| {
        cfg["root"]["readonly"] = json!(false);
        crate::bundle::push(cfg, &["process", "env"], json!("IN_CONTAINER=container"));
        let mut explicit = on_host("explicit");
        explicit["env"] = json!(["ONLY=this"]);
        cfg["hooks"] = json!({
            "prestart": [on_host("prestart"), explicit],
            "createRuntime": [on_host("createRuntime")],
            "startContainer": [bare_hook("/bin/sh", "startContainer", &format!("{probe}/hooks.log"))],
            "poststart": [on_host("poststart")],
            "poststop": [on_host("poststop")],
        });
    })?;
    let id = c.id("");
    c.create(&b, &id)?;
    c.call_ok(&["start", &id])?;
    c.call_ok(&["kill", &id, "KILL"])?;
    c.wait_status(&id, "stopped", WAIT)?;
    c.call_ok(&["delete", &id])?;
    expect_eq(
        "hooks on the host",
        read_log(&log).as_str(),
        "prestart runtime unset unset\nexplicit unset unset this\n\
         createRuntime runtime unset unset\npoststart runtime unset unset\n\
         poststop runtime unset unset\n",
    )?;
    expect_eq(
        "startContainer hook",
        read_log(&b.join("rootfs/hooks.log")).as_str(),
        "startContainer unset container unset\n",
    )
}

/// createContainer hooks run before the root is made read-only (runc: in
/// prepareRootfs, before finalizeRootfs), so a hook can inject a file.
pub(super) fn hooks_create_container_rw(c: &mut Case) -> Check {
    let b = c.dir.join("b");
    let target = b.join("rootfs/injected");
    let script = "cat /injected; touch /x 2>/dev/null && echo writable || echo read-only";
    let b = c.bundle("b", &["sh", "-c", script], |cfg, _| {
        cfg["root"]["readonly"] = json!(true);
        cfg["hooks"] = json!({
            "createContainer": [bare_hook("/bin/sh", "createContainer", &format!("echo injected > '{}'", target.display()))],
        });
    })?;
    let id = c.id("");
    let o = c.run(&b, &id)?;
    if o.code != Some(0) {
        return Err(fail(format!("`run` failed: {}", o.err_line())));
    }
    expect_eq("output", o.stdout.as_str(), "injected\nread-only\n")
}
