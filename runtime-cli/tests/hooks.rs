//! Hooks as husk runs them: the environment a hook gets when it sets none, and
//! createContainer hooks seeing a root that is not yet read-only. (Order and state
//! of the runtime-side hooks: the conformance scenarios hooks-*.)

mod common;

use common::*;
use serde_json::{json, Value};

/// A hook `sh -c 'echo "NAME $HOOK_PROBE $IN_CONTAINER" >> LOG' NAME`, with `env`
/// when given.
fn hook(name: &str, log: &str, env: Option<Value>) -> Value {
    let script = format!("echo \"$0 ${{HOOK_PROBE-unset}} ${{IN_CONTAINER-unset}}\" >> {log}");
    let mut h = json!({ "path": "/bin/sh", "args": ["sh", "-c", script, name], "timeout": 10 });
    if let Some(e) = env {
        h["env"] = e;
    }
    h
}

#[test]
fn hooks_without_env_inherit_the_runtime_environment() {
    // runc's hooks are Go commands: a nil Env inherits the runtime's environment, an
    // empty one is empty; startContainer hooks with none (or an empty one) get the
    // container process's environment. createContainer hooks too inherit the
    // runtime's (crun's behaviour; runc's are empty there, as its init clears its
    // own environment first).
    let mut b = Bundle::new("hookenv");
    let log = b.dir.join("hooks.log");
    let host_log = log.to_str().unwrap();
    b.config["root"]["readonly"] = json!(false);
    b.config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("IN_CONTAINER=yes"));
    b.config["hooks"] = json!({
        "prestart": [hook("prestart", host_log, None), hook("prestart-empty", host_log, Some(json!([])))],
        "createContainer": [hook("createContainer", host_log, None)],
        "startContainer": [
            hook("startContainer", "/hooks.log", None),
            hook("startContainer-empty", "/hooks.log", Some(json!([]))),
            hook("startContainer-own", "/hooks.log", Some(json!(["IN_CONTAINER=own"]))),
        ],
        "poststop": [hook("poststop", host_log, None)],
    });
    b.set_args(&["true"]);
    b.write_config();
    let id = b.new_id();
    b.husk_with(&["run", "--bundle", b.dir_str(), &id], |c| {
        c.env("HOOK_PROBE", "runtime");
    })
    .ok();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap_or_default(),
        "prestart runtime unset\nprestart-empty unset unset\n\
         createContainer runtime unset\npoststop runtime unset\n"
    );
    assert_eq!(
        std::fs::read_to_string(b.rootfs.join("hooks.log")).unwrap_or_default(),
        "startContainer unset yes\nstartContainer-empty unset yes\nstartContainer-own unset own\n"
    );
}

#[test]
fn create_container_hooks_run_before_the_root_is_read_only() {
    // A hook that injects a file into the image (and a masked or read-only path),
    // as runc allows: read-only root, masks and read-only paths come after it.
    let mut b = Bundle::new("hookrw");
    let rootfs = b.rootfs.to_str().unwrap().to_string();
    std::fs::create_dir_all(b.rootfs.join("ro")).unwrap();
    b.config["root"]["readonly"] = json!(true);
    b.config["linux"]["readonlyPaths"] = json!(["/ro"]);
    let script = format!("echo injected > {rootfs}/injected && echo in-ro > {rootfs}/ro/f");
    b.config["hooks"] = json!({
        "createContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", script] }],
    });
    let out = b.sh("cat /injected /ro/f; touch /x 2>/dev/null || echo ro-root");
    assert_eq!(out, "injected\nin-ro\nro-root\n");
}
