//! Process scenarios: user, env, cwd, capabilities, noNewPrivileges,
//! rlimits, oomScoreAdj, umask, sysctl, the owner of stdio.

use serde_json::{json, Value};

use crate::scenario::{expect_eq, fail, Case, Check};

pub(super) fn process_user(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["process"]["user"] = json!({ "uid": 1000, "gid": 1000, "additionalGids": [10, 20] });
    })?;
    r.expect("uid", "1000")?;
    r.expect("euid", "1000")?;
    r.expect("gid", "1000")?;
    r.expect("egid", "1000")?;
    r.expect("groups", "10,20")
}

pub(super) fn process_env(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        let marker = cfg["process"]["env"][2].clone();
        cfg["process"]["env"] = json!([
            "PATH=/bin:/usr/bin",
            "FOO=bar",
            "EMPTY=",
            "WITH_EQ=a=b=c",
            "HOME=/custom",
            marker
        ]);
    })?;
    r.expect("env.PATH", "/bin:/usr/bin")?;
    r.expect("env.FOO", "bar")?;
    r.expect("env.EMPTY", "")?;
    r.expect("env.WITH_EQ", "a=b=c")?;
    r.expect("env.HOME", "/custom")
}

pub(super) fn process_env_home(c: &mut Case) -> Check {
    let r = c.checker("root", &["report"], |_, _| {})?;
    r.expect("env.HOME", "/root")?;
    let r = c.checker("user", &["report"], |cfg, _| {
        cfg["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    })?;
    r.expect("env.HOME", "/home/husk")
}

/// A variable listed twice in `process.env` is set once, to its last value
/// (runc: the last wins; crun: putenv replaces), so `getenv` sees that value.
pub(super) fn process_env_dedup(c: &mut Case) -> Check {
    let b = c.bundle("b", &["cat", "/proc/self/environ"], |cfg, _| {
        crate::bundle::push(cfg, &["process", "env"], json!("DUP=first"));
        crate::bundle::push(cfg, &["process", "env"], json!("DUP=last"));
    })?;
    let id = c.id("");
    let o = c.run(&b, &id)?;
    if o.code != Some(0) {
        return Err(fail(format!("`run` failed: {}", o.err_line())));
    }
    expect_eq(
        "DUP entries",
        super::exec::entries(&o.stdout, "DUP").join(" ").as_str(),
        "DUP=last",
    )
}

/// HOME comes from the image's /etc/passwd even when that is a symlink: it is
/// resolved inside the container's root (an absolute target names the image's
/// file, not the host's).
pub(super) fn process_env_home_symlink(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, rootfs| {
        let etc = rootfs.join("etc");
        let moved = std::fs::rename(etc.join("passwd"), etc.join("passwd.image"))
            .and_then(|()| std::os::unix::fs::symlink("/etc/passwd.image", etc.join("passwd")));
        if let Err(e) = moved {
            // The run then fails with this in its message.
            cfg["process"]["args"] = json!(["harness: symlink /etc/passwd", e.to_string()]);
        }
        cfg["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    })?;
    r.expect("env.HOME", "/home/husk")
}

/// The stdio a non-root process gets is chowned to its uid (so it can reopen
/// /proc/self/fd/N), except /dev/null, which stays root's (runc's
/// fixStdioPermissions). `create` passes the harness's stdio on as it is (a
/// foreground `runc run` would put pipes in between): /dev/null as stdin,
/// files as stdout and stderr.
pub(super) fn process_stdio_owner(c: &mut Case) -> Check {
    let script = "stat -L -c %u /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; \
                  echo reopened >> /proc/self/fd/1";
    let b = c.bundle("b", &["sh", "-c", script], |cfg, _| {
        cfg["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    })?;
    let id = c.id("");
    let out = c.create(&b, &id)?.stdout_path;
    c.call_ok(&["start", &id])?;
    c.wait_status(&id, "stopped", super::WAIT)?;
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    // /dev/null keeps its host owner, which is not always root (a sandbox may map it).
    let null_owner = std::fs::metadata("/dev/null")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0);
    expect_eq(
        "owners of stdin (/dev/null), stdout, stderr; reopening stdout",
        got.as_str(),
        &format!("{null_owner}\n1000\n1000\nreopened\n"),
    )
}

pub(super) fn process_cwd(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["process"]["cwd"] = json!("/var/lib")
    })?;
    r.expect("cwd", "/var/lib")
}

pub(super) fn caps_default(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |_, _| {})?;
    r.expect("CapBnd", "0000000020000420")?;
    r.expect("CapPrm", "0000000020000420")?;
    r.expect("CapEff", "0000000020000420")?;
    r.expect("CapInh", "0000000000000000")?;
    r.expect("CapAmb", "0000000000000000")
}

pub(super) fn caps_custom(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        let set = json!(["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN"]);
        cfg["process"]["capabilities"] = json!({
            "bounding": set, "effective": set, "permitted": set,
            "inheritable": ["CAP_NET_RAW"], "ambient": ["CAP_NET_RAW"],
        });
    })?;
    r.expect("CapBnd", "0000000000202001")?;
    r.expect("CapPrm", "0000000000202001")?;
    r.expect("CapEff", "0000000000202001")?;
    r.expect("CapInh", "0000000000002000")?;
    r.expect("CapAmb", "0000000000002000")
}

pub(super) fn caps_nonroot(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        let set = json!(["CAP_NET_BIND_SERVICE"]);
        cfg["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
        cfg["process"]["capabilities"] = json!({
            "bounding": set, "effective": set, "permitted": set, "inheritable": set, "ambient": set,
        });
    })?;
    r.expect("uid", "1000")?;
    r.expect("CapBnd", "0000000000000400")?;
    r.expect("CapPrm", "0000000000000400")?;
    r.expect("CapEff", "0000000000000400")?;
    r.expect("CapAmb", "0000000000000400")
}

pub(super) fn no_new_privs(c: &mut Case) -> Check {
    let r = c.checker("on", &["report"], |_, _| {})?;
    r.expect("no_new_privs", "1")?;
    r.expect("NoNewPrivs", "1")?;
    let r = c.checker("off", &["report"], |cfg, _| {
        cfg["process"]["noNewPrivileges"] = json!(false)
    })?;
    r.expect("no_new_privs", "0")
}

pub(super) fn rlimits(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["process"]["rlimits"] = json!([
            { "type": "RLIMIT_NOFILE", "soft": 2048, "hard": 4096 },
            { "type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000 },
            { "type": "RLIMIT_CORE", "soft": 1024, "hard": 2048 },
            { "type": "RLIMIT_MSGQUEUE", "soft": 123456, "hard": 654321 },
        ]);
    })?;
    r.expect("rlimit.RLIMIT_NOFILE", "2048:4096")?;
    r.expect("rlimit.RLIMIT_NPROC", "1000:2000")?;
    r.expect("rlimit.RLIMIT_CORE", "1024:2048")?;
    r.expect("rlimit.RLIMIT_MSGQUEUE", "123456:654321")
}

pub(super) fn oom_score_adj(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["process"]["oomScoreAdj"] = json!(123)
    })?;
    r.expect("oom_score_adj", "123")
}

pub(super) fn umask(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["process"]["user"]["umask"] = json!(0o027)
    })?;
    r.expect("umask", "0027")
}

pub(super) fn sysctl(c: &mut Case) -> Check {
    let r = c.checker(
        "b",
        &[
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
            "/proc/sys/kernel/domainname",
        ],
        |cfg: &mut Value, _| {
            cfg["linux"]["sysctl"] =
                json!({ "net.ipv4.ip_forward": "1", "kernel.domainname": "husk.test" });
        },
    )?;
    r.expect("cat:/proc/sys/net/ipv4/ip_forward", "1\\n")?;
    r.expect("cat:/proc/sys/kernel/domainname", "husk.test\\n")
}
