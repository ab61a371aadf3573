//! `tmpcopyup` (podman `--read-only` mounts its tmpfs dirs with it): the new tmpfs starts
//! with a copy of the image directory it covers — files, modes (setuid included), owners,
//! symlinks, fifos and nested directories — and writes to it never reach the image.
//! Where runc is installed, the same bundle runs under runc and must list the same tree.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::json;

/// Lists a tree as `path type mode uid:gid [-> target | = contents]`, sorted.
const LIST: &str = "cd /srv/data && find . | sort | while read p; do \
    t=$(stat -c '%F %a %u:%g' \"$p\"); \
    if [ -L \"$p\" ]; then echo \"$p $t -> $(readlink \"$p\")\"; \
    elif [ -f \"$p\" ]; then echo \"$p $t = $(cat \"$p\")\"; \
    else echo \"$p $t\"; fi; done";

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).expect("lchown");
}

/// The image directory `/srv/data` of the test rootfs.
fn fill_image(rootfs: &Path) {
    let d = rootfs.join("srv/data");
    fs::create_dir_all(d.join("a/b")).expect("mkdir");
    fs::write(d.join("plain"), "plain").expect("write");
    fs::set_permissions(d.join("plain"), fs::Permissions::from_mode(0o640)).expect("chmod");
    chown(&d.join("plain"), 1000, 1000);
    fs::write(d.join("suid"), "suid").expect("write");
    chown(&d.join("suid"), 0, 1000);
    fs::set_permissions(d.join("suid"), fs::Permissions::from_mode(0o4750)).expect("chmod");
    fs::write(d.join("a/b/deep"), "deep").expect("write");
    chown(&d.join("a/b"), 123, 456);
    fs::set_permissions(d.join("a/b"), fs::Permissions::from_mode(0o711)).expect("chmod");
    fs::set_permissions(d.join("a"), fs::Permissions::from_mode(0o1777)).expect("chmod");
    symlink("../../etc/passwd", d.join("a/link")).expect("symlink");
    chown(&d.join("a/link"), 7, 8);
    symlink("/nowhere", d.join("dangling")).expect("symlink");
    nix::unistd::mkfifo(
        &d.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o620),
    )
    .expect("mkfifo");
    fs::set_permissions(&d, fs::Permissions::from_mode(0o750)).expect("chmod");
    chown(&d, 33, 33);
}

/// A bundle whose process may read every entry (the default spec's root has no
/// CAP_DAC_OVERRIDE, and the image holds entries only their owners may read).
fn bundle(prefix: &str) -> Bundle {
    let mut b = Bundle::new(prefix);
    fill_image(&b.rootfs);
    for set in ["bounding", "effective", "permitted"] {
        let caps = b.config["process"]["capabilities"][set]
            .as_array_mut()
            .expect("capability set");
        caps.push(json!("CAP_DAC_OVERRIDE"));
        caps.push(json!("CAP_DAC_READ_SEARCH"));
    }
    b
}

fn copyup_mount(extra: &[&str]) -> serde_json::Value {
    let mut options = vec!["rw", "nosuid", "nodev", "tmpcopyup"];
    options.extend_from_slice(extra);
    json!({"destination": "/srv/data", "type": "tmpfs", "source": "tmpfs", "options": options})
}

/// The tree as the image holds it, listed on the host with the same script.
fn expected_tree(rootfs: &Path) -> String {
    let out = Command::new("/bin/busybox")
        .args(["chroot", rootfs.to_str().expect("utf-8"), "sh", "-c", LIST])
        .output()
        .expect("busybox chroot");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Drops the `.` line: the tmpfs root itself (its mode comes from the mount's `mode=`).
fn entries(list: &str) -> String {
    list.lines()
        .filter(|l| !l.starts_with(". "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn tmpcopyup_copies_the_image_directory() {
    let mut b = bundle("copyup");
    let want = expected_tree(&b.rootfs);
    b.add_mount(copyup_mount(&[]));
    let out = b.sh(&format!(
        "{LIST}; echo new > /srv/data/new && echo > /srv/data/plain && echo written; \
         grep ' /srv/data ' /proc/self/mounts"
    ));
    let listed: String = out
        .lines()
        .take_while(|l| *l != "written")
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        entries(&listed),
        entries(&want),
        "husk's copy differs:\n{out}"
    );
    assert!(listed.starts_with(". directory 750 0:0\n"), "{out}");
    assert!(out.contains("written"), "{out}");
    assert!(out.contains("/srv/data tmpfs rw"), "not a tmpfs: {out}");
    // The image is untouched.
    assert!(!b.rootfs.join("srv/data/new").exists());
    assert_eq!(
        fs::read_to_string(b.rootfs.join("srv/data/plain")).unwrap(),
        "plain"
    );
}

#[test]
fn tmpcopyup_on_a_read_only_root_and_a_read_only_tmpfs() {
    let mut b = bundle("copyupro");
    let want = expected_tree(&b.rootfs);
    b.config["root"]["readonly"] = json!(true);
    b.add_mount(copyup_mount(&["mode=755"]));
    b.add_mount(
        json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
        "options": ["ro", "tmpcopyup"]}),
    );
    let out = b.sh(&format!(
        "{LIST}; echo ---; touch /srv/data/ok && echo tmpfs-writable; \
         touch /x 2>/dev/null || echo root-ro; \
         grep -c root: /etc/passwd; echo > /etc/passwd 2>/dev/null || echo etc-ro"
    ));
    let (listed, rest) = out.split_once("---\n").expect("marker");
    assert_eq!(entries(listed), entries(&want), "{out}");
    // An explicit mode= wins over the covered directory's 750.
    assert!(listed.starts_with(". directory 755 "), "{out}");
    for needle in ["tmpfs-writable", "root-ro", "1\n", "etc-ro"] {
        assert!(rest.contains(needle), "{needle} missing: {out}");
    }
}

/// runc on the same bundle lists the same entries (skipped where runc is absent).
#[test]
fn tmpcopyup_matches_runc() {
    let runc = Path::new("/usr/sbin/runc");
    if !runc.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "runc is missing under CI"
        );
        eprintln!("SKIP: no runc");
        return;
    }
    let mut b = bundle("copyuprunc");
    // runc 1.1.5's copy fails on a fifo (lchown of a file it did not make).
    fs::remove_file(b.rootfs.join("srv/data/fifo")).expect("rm fifo");
    // runc makes directories through its umask (1777 becomes 1755); husk keeps the
    // image's mode (checked above). Compare on a mode the umask leaves alone.
    fs::set_permissions(
        b.rootfs.join("srv/data/a"),
        fs::Permissions::from_mode(0o1755),
    )
    .expect("chmod");
    b.add_mount(copyup_mount(&[]));
    let ours = b.sh(LIST);
    let root = b.dir.join("runc-root");
    let id = format!("{}-runc", b.name);
    let mut cmd = Command::new(runc);
    cmd.args([
        "--root",
        root.to_str().unwrap(),
        "run",
        "--bundle",
        b.dir_str(),
        &id,
    ]);
    let theirs = exec(cmd, &b.dir);
    assert_eq!(theirs.code, 0, "runc: {}", theirs.stderr);
    assert_eq!(entries(&ours), entries(&theirs.stdout));
    // The tmpfs root gets the mode (not the owner) of the directory it covers, as runc.
    assert_eq!(
        ours.lines().next(),
        theirs.stdout.lines().next(),
        "tmpfs root differs"
    );
}
