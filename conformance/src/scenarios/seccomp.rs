//! Seccomp scenarios: a profile that allows everything but makes mkdir fail
//! with `errnoRet`, seen from inside through the syscall and
//! /proc/self/status (the root is read-only: directories go to /dev/shm).

use serde_json::json;

use crate::scenario::{Case, Check};

/// Allow by default; `mkdir`/`mkdirat` fail with `errno`.
fn mkdir_profile(errno: u32) -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno },
        ],
    })
}

pub(super) fn seccomp_errno(c: &mut Case) -> Check {
    // Without a profile: no filter, mkdir works.
    let r = c.checker("none", &["report", "mkdir", "/dev/shm/d"], |_, _| {})?;
    r.expect("Seccomp", "0")?;
    r.expect("mkdir:/dev/shm/d", "ok")?;
    let r = c.checker(
        "errno",
        &["report", "mkdir", "/dev/shm/d", "create", "/dev/shm/f"],
        |cfg, _| cfg["linux"]["seccomp"] = mkdir_profile(1),
    )?;
    r.expect("Seccomp", "2")?;
    r.expect("mkdir:/dev/shm/d", "EPERM")?;
    // Other syscalls are allowed.
    r.expect("create:/dev/shm/f", "ok")
}

pub(super) fn seccomp_errno_ret(c: &mut Case) -> Check {
    // errnoRet is passed through as is (ENOSPC = 28, not EPERM).
    let r = c.checker("b", &["mkdir", "/dev/shm/d"], |cfg, _| {
        cfg["linux"]["seccomp"] = mkdir_profile(28)
    })?;
    r.expect("mkdir:/dev/shm/d", "ENOSPC")
}
