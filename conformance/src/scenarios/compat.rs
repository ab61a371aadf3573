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

/// Runs a host command (mount set-up of a scenario); fails the scenario if it fails.
fn host(cmd: &[&str]) -> Check {
    let st = std::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .status()
        .map_err(|e| fail(format!("harness: {}: {e}", cmd[0])))?;
    expect(st.success(), || {
        format!("harness: {} failed", cmd.join(" "))
    })
}

pub(super) fn compat_rshared_volume(c: &mut Case) -> Check {
    // Kubernetes Bidirectional propagation: rootfsPropagation rshared and an
    // rshared bind of a shared host mount.
    let vol = c.dir.join("vol");
    let _ = std::fs::create_dir_all(&vol);
    let v = vol.to_string_lossy().into_owned();
    host(&["mount", "-t", "tmpfs", "husk-vol", &v])?;
    let res = rshared_volume(c, &vol);
    // The container's mount under the volume stays on the host: detach it all.
    let _ = host(&["umount", "-l", &v]);
    res
}

fn rshared_volume(c: &mut Case, vol: &Path) -> Check {
    let v = vol.to_string_lossy().into_owned();
    host(&["mount", "--make-shared", &v])?;
    let script = "cat /vol/h/f > /vol/seen 2>&1; mkdir -p /vol/t && mount -t tmpfs t /vol/t && \
                  echo from-container > /vol/t/f; echo done > /vol/done";
    let b = c.bundle("b", &["sh", "-c", script], |cfg, _| {
        cfg["linux"]["rootfsPropagation"] = json!("rshared");
        crate::bundle::push(
            cfg,
            &["mounts"],
            json!({"destination": "/vol", "type": "bind", "source": v,
                   "options": ["rbind", "rshared"]}),
        );
        for set in ["bounding", "effective", "permitted"] {
            crate::bundle::push(
                cfg,
                &["process", "capabilities", set],
                json!("CAP_SYS_ADMIN"),
            );
        }
    })?;
    let id = c.id("");
    c.create(&b, &id)?;
    let h = vol.join("h");
    let _ = std::fs::create_dir_all(&h);
    host(&["mount", "-t", "tmpfs", "husk-h", &h.to_string_lossy()])?;
    let _ = std::fs::write(h.join("f"), "from-host\n");
    c.call_ok(&["start", &id])?;
    c.wait_output(&vol.join("done"), "done", super::WAIT)?;
    let seen = std::fs::read_to_string(vol.join("seen")).unwrap_or_default();
    expect(seen == "from-host\n", || {
        format!("host -> container: the container read {seen:?}")
    })?;
    let t = std::fs::read_to_string(vol.join("t/f")).unwrap_or_default();
    expect(t == "from-container\n", || {
        "container -> host: the container's tmpfs is not on the host".into()
    })
}
