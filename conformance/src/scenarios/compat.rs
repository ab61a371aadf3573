//! runc-parity scenarios of issue 11: configs runc refuses up front (a
//! `kernel.hostname` sysctl, a user namespace without mappings) and rootfs
//! details seen from inside (relative masked and read-only paths, ...).

use std::path::Path;

use serde_json::{json, Value};

use crate::scenario::{code_str, expect, fail, Case, Check};

/// Runs `sh -c script` in a fresh container (bundle `name`, edited by `edit`)
/// and returns its stdout; the run must exit 0.
fn sh(
    c: &mut Case,
    name: &str,
    script: &str,
    edit: impl FnOnce(&mut Value, &Path),
) -> Result<String, crate::scenario::Verdict> {
    let b = c.bundle(name, &["sh", "-c", script], edit)?;
    let id = c.id(name);
    let o = c.run(&b, &id)?;
    if o.code != Some(0) {
        return Err(fail(format!(
            "`run` exited {}: {}",
            code_str(o.code),
            o.err_line()
        )));
    }
    Ok(o.stdout)
}

/// `create` of bundle `name` must fail.
fn create_fails(c: &mut Case, name: &str, edit: impl FnOnce(&mut Value, &Path)) -> Check {
    let b = c.bundle(name, &["true"], edit)?;
    let id = c.id(name);
    let bs = b.to_string_lossy().into_owned();
    c.call_fails(&["create", "--bundle", &bs, &id])?;
    c.call_fails(&["state", &id])
        .map_err(|_| fail("state exists after a failed create"))?;
    Ok(())
}

pub(super) fn compat_sysctl_hostname(c: &mut Case) -> Check {
    // The hostname has its own field: the sysctl is refused even with a UTS namespace.
    create_fails(c, "b", |cfg, _| {
        cfg["linux"]["sysctl"] = json!({"kernel.hostname": "other"})
    })
}

pub(super) fn compat_userns_unmapped(c: &mut Case) -> Check {
    create_fails(c, "b", |cfg, _| {
        push_ns(cfg, "user");
    })
}

fn push_ns(cfg: &mut Value, kind: &str) {
    if let Some(a) = cfg["linux"]["namespaces"].as_array_mut() {
        a.push(json!({ "type": kind }));
    }
}

pub(super) fn compat_relative_masked(c: &mut Case) -> Check {
    let out = sh(
        c,
        "b",
        "echo \"[$(cat /etc/husk-secret)]\"; touch /etc/husk-ro/x 2>/dev/null; echo rc=$?",
        |cfg, rootfs| {
            let _ = std::fs::write(rootfs.join("etc/husk-secret"), "hidden\n");
            let _ = std::fs::create_dir_all(rootfs.join("etc/husk-ro"));
            cfg["root"]["readonly"] = json!(false);
            cfg["linux"]["maskedPaths"] = json!(["etc/husk-secret"]);
            cfg["linux"]["readonlyPaths"] = json!(["etc/husk-ro"]);
        },
    )?;
    expect(out == "[]\nrc=1\n", || {
        format!("got {out:?}, want the file masked and the dir read-only")
    })
}

pub(super) fn compat_proc_symlink(c: &mut Case) -> Check {
    // procfs on a symlink in the image would land where programs do not look.
    create_fails(c, "b", |_, rootfs| {
        let _ = std::fs::remove_dir_all(rootfs.join("proc"));
        let _ = std::fs::create_dir_all(rootfs.join("elsewhere"));
        let _ = std::os::unix::fs::symlink("/elsewhere", rootfs.join("proc"));
    })
}

pub(super) fn compat_readonly_no_mntns(c: &mut Case) -> Check {
    // Sharing the host's mounts, the root is not remounted: it stays writable.
    let out = sh(c, "b", "touch /husk-written && echo ok", |cfg, _| {
        cfg["root"]["readonly"] = json!(true);
        // runc needs /proc in the root (it mounts it on the host's mounts here,
        // below the bundle; the harness unmounts it).
        cfg["mounts"] = json!([{ "destination": "/proc", "type": "proc", "source": "proc" }]);
        cfg["linux"]["maskedPaths"] = json!([]);
        cfg["linux"]["readonlyPaths"] = json!([]);
        if let Some(a) = cfg["linux"]["namespaces"].as_array_mut() {
            a.retain(|n| n["type"] != "mount" && n["type"] != "cgroup");
        }
    })?;
    expect(out == "ok\n", || {
        format!("got {out:?}, want a writable root")
    })
}

pub(super) fn compat_readonly_cwd(c: &mut Case) -> Check {
    let out = sh(c, "b", "pwd; touch x 2>/dev/null; echo rc=$?", |cfg, _| {
        cfg["root"]["readonly"] = json!(true);
        cfg["process"]["cwd"] = json!("/husk-work/sub");
    })?;
    expect(out == "/husk-work/sub\nrc=1\n", || {
        format!("got {out:?}, want the missing cwd created on the read-only root")
    })
}

pub(super) fn compat_tmpfs_mode(c: &mut Case) -> Check {
    let out = sh(c, "b", "stat -c %a /husk-data /husk-new", |cfg, rootfs| {
        use std::os::unix::fs::PermissionsExt;
        let d = rootfs.join("husk-data");
        let _ = std::fs::create_dir_all(&d);
        let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o750));
        for dest in ["/husk-data", "/husk-new"] {
            crate::bundle::push(
                cfg,
                &["mounts"],
                json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "size=1m"]}),
            );
        }
    })?;
    expect(out == "750\n1777\n", || {
        format!("got {out:?}, want 750 (the directory's) and 1777 (a new mount point)")
    })
}
