//! Attacks from runc's CVEs, tried against husk on the real kernel (root only).
//! Each test builds its own busybox bundle and state root and removes them.

use std::os::fd::AsRawFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

#[allow(unused_imports)]
mod common;
use common::{husk_command, HUSK};

struct Env {
    dir: PathBuf,
    root: PathBuf,
    ids: Vec<String>,
}

static N: AtomicU32 = AtomicU32::new(0);

impl Env {
    fn new(tag: &str) -> Env {
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("husk-sec-{tag}-{}-{n}", std::process::id()));
        let root = PathBuf::from(format!("/run/husk-sec-test/{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rootfs = dir.join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for a in [
            "sh", "ls", "cat", "echo", "pwd", "sleep", "stat", "readlink", "test", "true",
        ] {
            symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        let out = husk_command()
            .args(["spec", "--bundle"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let mut e = Env {
            dir,
            root,
            ids: Vec::new(),
        };
        e.edit(|c| {
            c["process"]["terminal"] = false.into();
            c["root"]["readonly"] = false.into();
        });
        e.ids.clear();
        e
    }

    fn edit(&mut self, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.dir.join("config.json");
        let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        f(&mut c);
        std::fs::write(&p, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    }

    fn husk(&mut self, args: &[&str]) -> Output {
        husk_command()
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .output()
            .unwrap()
    }

    fn id(&mut self, tag: &str) -> String {
        let id = format!(
            "sec-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        self.ids.push(id.clone());
        id
    }

    fn run(&mut self, tag: &str) -> Output {
        let id = self.id(tag);
        let b = self.dir.to_string_lossy().into_owned();
        self.husk(&["run", "--bundle", &b, &id])
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.ids.clone() {
            let _ = self.husk(&["delete", "--force", &id]);
        }
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_dir_all(&self.dir);
        // The shared parent goes with the last test that used it (fails while not empty).
        if let Some(parent) = self.root.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// CVE-2019-5736: what a container reaches through /proc/<husk pid>/exe must not be
/// writable once that process is gone, and must not be the installed binary.
#[test]
fn cve_2019_5736_runtime_binary_cannot_be_overwritten() {
    let mut e = Env::new("exe");
    e.edit(|c| c["process"]["args"] = serde_json::json!(["sleep", "30"]));
    let id = e.id("exe");
    let b = e.dir.to_string_lossy().into_owned();
    // A detached init inherits stdio: don't wait on pipes it keeps open.
    let st = husk_command()
        .arg("--root")
        .arg(&e.root)
        .args(["create", "--bundle", &b, &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let state: serde_json::Value = serde_json::from_slice(&e.husk(&["state", &id]).stdout).unwrap();
    let pid = state["pid"].as_i64().unwrap();
    // The container's init still runs husk code: grab its exe the way an attacker would.
    let exe = std::fs::File::open(format!("/proc/{pid}/exe")).expect("open init exe");
    let installed = std::fs::metadata(HUSK).unwrap();
    let seen = exe.metadata().unwrap();
    assert_ne!(
        (
            std::os::unix::fs::MetadataExt::ino(&seen),
            std::os::unix::fs::MetadataExt::dev(&seen)
        ),
        (
            std::os::unix::fs::MetadataExt::ino(&installed),
            std::os::unix::fs::MetadataExt::dev(&installed)
        ),
        "the container's init runs the installed husk binary itself"
    );
    let out = e.husk(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let reopen = format!("/proc/self/fd/{}", exe.as_raw_fd());
    // The immutable copy refuses the open; a sealed memfd copy (kernels whose tmpfs
    // has no immutable flag) may be opened but refuses every write.
    let err = match std::fs::OpenOptions::new().write(true).open(&reopen) {
        Err(e) => e,
        Ok(mut f) => std::io::Write::write_all(&mut f, b"#!/bin/evil\n")
            .expect_err("runtime binary writable after exit"),
    };
    assert!(
        matches!(err.raw_os_error(), Some(libc::EPERM) | Some(libc::ETXTBSY)),
        "{err}"
    );
}

/// CVE-2024-21626: a cwd of /proc/self/fd/N must never land the process in a host
/// directory the runtime held open.
#[test]
fn cve_2024_21626_cwd_through_leaked_fd() {
    let mut e = Env::new("cwd");
    for n in 3..=9 {
        e.edit(|c| {
            c["process"]["cwd"] = format!("/proc/self/fd/{n}").into();
            c["process"]["args"] = serde_json::json!(["sh", "-c", "pwd; ls .."]);
        });
        let out = e.run("cwd");
        let t = text(&out);
        if out.status.success() {
            let pwd = String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            assert!(
                pwd.starts_with('/') && !pwd.contains("unreachable"),
                "fd {n}: cwd escaped: {t}"
            );
            assert!(
                !t.contains("husk-sec-cwd"),
                "fd {n}: host directory visible: {t}"
            );
        }
    }
}

/// CVE-2024-21626 (second half): no runtime fd reaches the container process.
#[test]
fn cve_2024_21626_no_leaked_fds() {
    let mut e = Env::new("fds");
    e.edit(|c| c["process"]["args"] = serde_json::json!(["ls", "/proc/self/fd"]));
    let out = e.run("fds");
    assert!(out.status.success(), "{}", text(&out));
    let fds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    // 0, 1, 2 and the directory ls itself opened.
    assert!(fds.len() <= 4, "unexpected fds in the container: {fds:?}");
}

/// CVE-2025-31133: masking must bind the real 1:3 /dev/null, even when the image's
/// /dev/null is a symlink to something else and /dev is not a tmpfs.
#[test]
fn cve_2025_31133_masking_never_uses_a_fake_dev_null() {
    let mut e = Env::new("mask");
    let target = e.dir.join("host-secret");
    std::fs::write(&target, "host data\n").unwrap();
    symlink(&target, e.dir.join("rootfs/dev/null")).unwrap();
    std::fs::write(e.dir.join("rootfs/etc/masked"), "container secret\n").unwrap();
    e.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        c["linux"]["maskedPaths"] = serde_json::json!(["/etc/masked"]);
        c["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "cat /etc/masked; echo end; stat -c %t:%T /dev/null"
        ]);
    });
    let out = e.run("mask");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        !t.contains("container secret") && !t.contains("host data"),
        "{t}"
    );
    assert!(t.contains("1:3"), "{t}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "host data\n");
}

/// CVE-2025-52881: a mount over /proc/sys must not redirect the runtime's sysctl write.
#[test]
fn cve_2025_52881_sysctl_write_not_redirected() {
    let mut e = Env::new("proc");
    let decoy = e.dir.join("decoy");
    std::fs::write(&decoy, "").unwrap();
    e.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/proc/sys/net/ipv4/ip_forward", "type": "bind",
            "source": decoy.to_string_lossy(), "options": ["bind"]
        }));
        c["linux"]["readonlyPaths"] = serde_json::json!([]);
        c["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
        c["process"]["args"] = serde_json::json!(["true"]);
    });
    let out = e.run("proc");
    let _ = out;
    assert_eq!(
        std::fs::read_to_string(&decoy).unwrap(),
        "",
        "the sysctl write went to the decoy on the host"
    );
}

/// A symlink in the image used as a mount destination stays inside the rootfs.
#[test]
fn symlinked_mount_destination_stays_in_rootfs() {
    let mut e = Env::new("link");
    let outside = PathBuf::from(format!("/tmp/husk-escape-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outside);
    symlink(&outside, e.dir.join("rootfs/evil")).unwrap();
    symlink("../../../../../../../../tmp", e.dir.join("rootfs/evil2")).unwrap();
    e.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(serde_json::json!({"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"}));
        m.push(serde_json::json!({"destination": "/evil2/husk-escape-rel", "type": "tmpfs", "source": "tmpfs"}));
        c["process"]["args"] = serde_json::json!(["true"]);
    });
    let out = e.run("link");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !outside.exists(),
        "a mount destination escaped to {}",
        outside.display()
    );
    assert!(
        !Path::new("/tmp/husk-escape-rel").exists(),
        "a relative symlink escaped to /tmp"
    );
    assert!(e
        .dir
        .join("rootfs")
        .join(outside.strip_prefix("/").unwrap())
        .join("x")
        .is_dir());
}

/// The old-kernel emulator's argv for `profile` with extra ENOSYS syscalls, then husk.
/// `husk run` of `e`'s bundle as container `id` through `cmd` (an `under_kernel` husk).
fn run_under(e: &Env, cmd: &mut Command, id: &str) -> Output {
    cmd.arg("--root")
        .arg(&e.root)
        .args(["run", "--bundle"])
        .arg(&e.dir)
        .arg(id)
        .output()
        .unwrap()
}

fn under_kernel(profile: &str, enosys: &[i64]) -> Command {
    let tool = std::path::Path::new(HUSK).with_file_name("husk-conformance");
    assert!(
        tool.exists(),
        "{} is missing (cargo build -p husk-conformance)",
        tool.display()
    );
    let mut c = Command::new(tool);
    c.args(["oldkernel", "--profile", profile]);
    for nr in enosys {
        c.arg("--enosys").arg(nr.to_string());
    }
    c.arg("--").arg(HUSK);
    c
}

/// Under an emulated 5.4 and 4.18 kernel, husk really takes its fallbacks (a run that
/// silently used openat2 would prove nothing), and a container runs with them.
#[test]
fn emulated_old_kernels_take_the_fallbacks() {
    for profile in ["5.4", "4.18"] {
        let out = under_kernel(profile, &[]).arg("features").output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let f: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let a = &f["annotations"];
        let kernel = |k: &str| {
            a[format!("io.github.husk.kernel.{k}")]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        for k in [
            "openat2",
            "close_range_cloexec",
            "pidfd_setns",
            "mount_setattr",
            "immutable_tmpfs",
            "time_namespace",
        ] {
            assert!(
                kernel(k).starts_with("no"),
                "{profile}: {k} = {}",
                kernel(k)
            );
        }
        let has_pidfd = if profile == "5.4" { "yes" } else { "no" };
        assert!(
            kernel("pidfd_open").starts_with(has_pidfd),
            "{profile}: pidfd_open = {}",
            kernel("pidfd_open")
        );
        // The debug log of a run names the fallbacks taken.
        let mut e = Env::new(&format!("k{}", profile.replace('.', "")));
        e.edit(|c| c["process"]["args"] = serde_json::json!(["sh", "-c", "echo ok"]));
        let id = e.id("k");
        let out = run_under(&e, under_kernel(profile, &[]).arg("--debug"), &id);
        let t = text(&out);
        assert!(out.status.success() && t.contains("ok"), "{profile}: {t}");
        assert!(
            t.contains("kernel lacks openat2"),
            "{profile}: no openat2 fallback logged: {t}"
        );
        assert!(
            t.contains("sealed memfd"),
            "{profile}: no memfd guard logged: {t}"
        );
    }
}

/// The CVE-2019-5736 guard fails closed: with neither an immutable copy (4.18's tmpfs)
/// nor a memfd (memfd_create taken away), `run` refuses; the explicit opt-out runs.
#[test]
fn exe_guard_fails_closed_without_any_protection() {
    let mut e = Env::new("closed");
    e.edit(|c| c["process"]["args"] = serde_json::json!(["true"]));
    let id = e.id("closed");
    let out = run_under(
        &e,
        &mut under_kernel("4.18", &[libc::SYS_memfd_create]),
        &id,
    );
    let t = text(&out);
    assert!(!out.status.success(), "ran unprotected: {t}");
    assert!(
        t.contains("CVE-2019-5736") && t.contains("HUSK_NO_EXE_GUARD"),
        "{t}"
    );
    let id = e.id("optout");
    let out = run_under(
        &e,
        under_kernel("4.18", &[libc::SYS_memfd_create]).env("HUSK_NO_EXE_GUARD", "1"),
        &id,
    );
    assert!(out.status.success(), "opt-out refused: {}", text(&out));
}
