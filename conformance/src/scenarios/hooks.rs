//! Hook scenarios: prestart, createRuntime, poststart and poststop run on the
//! host in order, each with the container state (on stdin) in the status of
//! its phase (prestart and createRuntime: `created`, poststart: `running`,
//! poststop: `stopped`); a failing createRuntime hook fails `create`.

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
