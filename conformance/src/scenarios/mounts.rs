//! Mount scenarios: the default mounts, tmpfs and bind mounts, a read-only
//! rootfs.

use serde_json::json;

use crate::bundle::push;
use crate::scenario::{expect, expect_eq, fail, Case, Check};

pub(super) fn mounts_default(c: &mut Case) -> Check {
    let r = c.checker(
        "b",
        &[
            "mount",
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "ro",
            "/sys",
            "/proc",
        ],
        |_, _| {},
    )?;
    for (p, fs) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        let v = r.get(&format!("mount:{p}"))?;
        expect_eq(&format!("{p} type"), v.split('|').next().unwrap_or(""), fs)?;
    }
    r.expect_options("mount:/dev", 1, &["nosuid"])?;
    r.expect_options("mount:/dev", 2, &["mode=755", "size=65536k"])?;
    r.expect_options("mount:/dev/pts", 1, &["nosuid", "noexec"])?;
    r.expect_options("mount:/dev/pts", 2, &["gid=5", "mode=620", "ptmxmode=666"])?;
    r.expect_options("mount:/dev/shm", 1, &["nosuid", "nodev", "noexec"])?;
    r.expect_options("mount:/dev/shm", 2, &["size=65536k"])?;
    r.expect_options("mount:/dev/mqueue", 1, &["nosuid", "nodev", "noexec"])?;
    r.expect_options("mount:/sys", 1, &["ro", "nosuid", "nodev", "noexec"])?;
    r.expect("ro:/sys", "1")?;
    r.expect("ro:/proc", "0")
}

pub(super) fn mounts_tmpfs(c: &mut Case) -> Check {
    let r = c.checker(
        "b",
        &[
            "mount",
            "/mnt/tmpfs",
            "stat",
            "/mnt/tmpfs",
            "write",
            "/mnt/tmpfs",
        ],
        |cfg, _| {
            push(
                cfg,
                &["mounts"],
                json!({
                    "destination": "/mnt/tmpfs", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "nodev", "noexec", "mode=1770", "size=128k"],
                }),
            );
        },
    )?;
    let v = r.get("mount:/mnt/tmpfs")?;
    expect_eq(
        "/mnt/tmpfs type",
        v.split('|').next().unwrap_or(""),
        "tmpfs",
    )?;
    r.expect_options("mount:/mnt/tmpfs", 1, &["nosuid", "nodev", "noexec"])?;
    r.expect_options("mount:/mnt/tmpfs", 2, &["size=128k", "mode=1770"])?;
    r.expect("stat:/mnt/tmpfs", "d 0:0 1770 0:0")?;
    r.expect("write:/mnt/tmpfs", "ok")
}

pub(super) fn mounts_bind(c: &mut Case) -> Check {
    let ro = c.dir.join("shared-ro");
    let rw = c.dir.join("shared-rw");
    let h = |e: std::io::Error| fail(format!("harness: {e}"));
    std::fs::create_dir_all(&ro).map_err(h)?;
    std::fs::create_dir_all(&rw).map_err(h)?;
    std::fs::write(ro.join("hello.txt"), "husk\n").map_err(h)?;
    let (ros, rws) = (
        ro.to_string_lossy().into_owned(),
        rw.to_string_lossy().into_owned(),
    );
    let args = [
        "cat",
        "/mnt/ro/hello.txt",
        "write",
        "/mnt/ro",
        "/mnt/ro/hello.txt",
        "ro",
        "/mnt/ro",
        "/mnt/rw",
        "create",
        "/mnt/rw/from-container",
    ];
    let r = c.checker("b", &args, |cfg, _| {
        push(cfg, &["mounts"], json!({ "destination": "/mnt/ro", "type": "bind", "source": ros, "options": ["rbind", "ro"] }));
        push(cfg, &["mounts"], json!({ "destination": "/mnt/rw", "type": "bind", "source": rws, "options": ["rbind", "rw"] }));
    })?;
    r.expect("cat:/mnt/ro/hello.txt", "husk\\n")?;
    r.expect("write:/mnt/ro", "EROFS")?;
    r.expect("write:/mnt/ro/hello.txt", "EROFS")?;
    r.expect("ro:/mnt/ro", "1")?;
    r.expect("ro:/mnt/rw", "0")?;
    r.expect("create:/mnt/rw/from-container", "ok")?;
    let host = std::fs::read_to_string(rw.join("from-container")).unwrap_or_default();
    expect_eq(
        "host view of /mnt/rw/from-container",
        host.as_str(),
        "husk-checker",
    )
}

pub(super) fn rootfs_readonly(c: &mut Case) -> Check {
    let r = c.checker(
        "ro",
        &["write", "/", "/etc/passwd", "ro", "/", "mount", "/"],
        |_, _| {},
    )?;
    r.expect("write:/", "EROFS")?;
    r.expect("write:/etc/passwd", "EROFS")?;
    r.expect("ro:/", "1")?;
    r.expect_options("mount:/", 1, &["ro"])?;
    let mut rootfs = std::path::PathBuf::new();
    let r = c.checker(
        "rw",
        &["write", "/", "ro", "/", "create", "/created-in-container"],
        |cfg, rf| {
            cfg["root"]["readonly"] = json!(false);
            rootfs = rf.to_path_buf();
        },
    )?;
    r.expect("write:/", "ok")?;
    r.expect("ro:/", "0")?;
    r.expect("create:/created-in-container", "ok")?;
    expect(rootfs.join("created-in-container").exists(), || {
        "the file written to / is not in the bundle's rootfs".into()
    })
}
