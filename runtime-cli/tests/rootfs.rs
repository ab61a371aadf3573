//! Rootfs: mounts and their options, propagation, read-only root, pivot and
//! no-pivot, /dev, masked and read-only paths, and symlinks in the image that try
//! to redirect mounts or device nodes onto the host.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::json;

const MOUNTINFO: &str = "cat /proc/self/mountinfo";

#[test]
fn tmpfs_with_options() {
    let mut b = Bundle::new("tmpfsopts");
    b.add_mount(json!({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "noexec", "nodev", "size=1m", "mode=710"]
    }));
    let out = b.sh("stat -c %a /scratch; cp /bin/busybox /scratch/bb && /scratch/bb true; echo rc=$?; cat /proc/self/mountinfo");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("710"), "{out}");
    let rc = out.lines().find(|l| l.starts_with("rc=")).unwrap();
    assert_ne!(rc, "rc=0", "noexec did not stop an exec: {out}");
    let mi = parse_mountinfo(&out);
    let m = mount_at(&mi, "/scratch");
    assert_eq!(m.fstype, "tmpfs");
    for o in ["nosuid", "nodev", "noexec", "rw"] {
        assert!(m.has_opt(o), "{o} missing: {m:?}");
    }
    assert!(m.has_super_opt("size=1024k"), "{m:?}");
    assert!(m.has_super_opt("mode=710"), "{m:?}");
}

#[test]
fn bind_mount_read_only() {
    let mut b = Bundle::new("bindro");
    let src = b.host_dir("src");
    fs::write(src.join("hello.txt"), "hello from the host\n").unwrap();
    b.add_mount(json!({
        "destination": "/mnt/ro", "type": "bind", "source": src.to_str().unwrap(),
        "options": ["bind", "ro"]
    }));
    b.add_mount(json!({
        "destination": "/mnt/rw", "type": "bind", "source": src.to_str().unwrap(),
        "options": ["bind", "rw"]
    }));
    let out = b.sh(
        "cat /mnt/ro/hello.txt; touch /mnt/ro/x 2>&1; touch /mnt/rw/from-rw && echo rw-ok; cat /proc/self/mountinfo",
    );
    assert!(out.starts_with("hello from the host\n"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("rw-ok"), "{out}");
    assert!(src.join("from-rw").exists());
    assert!(!src.join("x").exists());
    let mi = parse_mountinfo(&out);
    assert!(mount_at(&mi, "/mnt/ro").has_opt("ro"));
    assert!(mount_at(&mi, "/mnt/rw").has_opt("rw"));
}

#[test]
fn bind_mount_of_a_file() {
    let mut b = Bundle::new("bindfile");
    let src = b.dir.join("hostfile");
    fs::write(&src, "file-content\n").unwrap();
    b.add_mount(json!({
        "destination": "/etc/hostfile", "type": "none", "source": src.to_str().unwrap(),
        "options": ["bind", "ro"]
    }));
    let out = b.sh("cat /etc/hostfile; stat -c %F /etc/hostfile");
    assert_eq!(out, "file-content\nregular file\n");
}

/// A host directory with a tmpfs and a tmpfs under it (unmounted on drop).
fn host_tree(b: &Bundle) -> PathBuf {
    let src = b.dir.join("tree");
    b.host_tmpfs(&src);
    fs::write(src.join("top.txt"), "top\n").unwrap();
    b.host_tmpfs(&src.join("sub"));
    fs::write(src.join("sub/inner.txt"), "inner\n").unwrap();
    src
}

#[test]
fn rbind_bind_ro_and_rro() {
    let mut b = Bundle::new("rbind");
    let src = host_tree(&b);
    let s = src.to_str().unwrap();
    b.add_mount(json!({"destination": "/rb", "type": "bind", "source": s, "options": ["rbind"]}));
    b.add_mount(json!({"destination": "/nb", "type": "bind", "source": s, "options": ["bind"]}));
    b.add_mount(
        json!({"destination": "/ro", "type": "bind", "source": s, "options": ["rbind", "ro"]}),
    );
    b.add_mount(
        json!({"destination": "/rro", "type": "bind", "source": s, "options": ["rbind", "rro"]}),
    );
    if emulated_kernel().is_some() {
        // Before 5.12 (no mount_setattr) recursive options are refused, clearly.
        b.set_script("true");
        b.run_fg().fails_with(&["rro", "need Linux 5.12+"]);
        return;
    }
    let out = b.sh(
        "cat /rb/sub/inner.txt; ls /nb/sub | wc -l; \
         touch /rro/sub/x 2>&1; touch /ro/sub/ro-sub-writable && echo ro-sub-rw; cat /proc/self/mountinfo",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "inner", "rbind lost the submount: {out}");
    assert_eq!(
        lines[1].trim(),
        "0",
        "bind (not recursive) must not carry submounts: {out}"
    );
    assert!(lines[2].contains("Read-only file system"), "rro: {out}");
    assert_eq!(lines[3], "ro-sub-rw", "plain ro is not recursive: {out}");
    let mi = parse_mountinfo(&out);
    assert!(mi.iter().any(|m| m.mount_point == "/rb/sub"));
    assert!(!mi.iter().any(|m| m.mount_point == "/nb/sub"));
    assert!(mount_at(&mi, "/ro").has_opt("ro"));
    assert!(mount_at(&mi, "/ro/sub").has_opt("rw"));
    assert!(mount_at(&mi, "/rro").has_opt("ro"));
    assert!(mount_at(&mi, "/rro/sub").has_opt("ro"));
}

#[test]
fn mount_propagation_flags() {
    let mut b = Bundle::new("propag");
    // A shared host mount: its binds join its peer group, so "rslave" makes a real slave.
    let src = b.dir.join("p");
    b.host_tmpfs(&src);
    b.host_make_shared(&src);
    let s = src.to_str().unwrap();
    b.add_mount(json!({"destination": "/shared", "type": "bind", "source": s, "options": ["rbind", "rshared"]}));
    b.add_mount(json!({"destination": "/slave", "type": "bind", "source": s, "options": ["rbind", "rslave"]}));
    b.add_mount(json!({"destination": "/private", "type": "bind", "source": s, "options": ["rbind", "rprivate"]}));
    b.add_mount(json!({"destination": "/unbindable", "type": "bind", "source": s, "options": ["rbind", "runbindable"]}));
    let mi = parse_mountinfo(&b.sh(MOUNTINFO));
    let shared = mount_at(&mi, "/shared");
    assert!(shared.has_optional("shared:"), "{shared:?}");
    let slave = mount_at(&mi, "/slave");
    assert!(slave.has_optional("master:"), "{slave:?}");
    assert!(!slave.has_optional("shared:"), "{slave:?}");
    let private = mount_at(&mi, "/private");
    assert!(private.optional.is_empty(), "{private:?}");
    let unbindable = mount_at(&mi, "/unbindable");
    assert!(unbindable.has_optional("unbindable"), "{unbindable:?}");
}

#[test]
fn readonly_root() {
    let mut b = Bundle::new("roroot");
    b.config["root"]["readonly"] = json!(true);
    let out = b.sh("touch /newfile 2>&1; echo rc=$?; touch /tmp/x 2>&1; cat /proc/self/mountinfo");
    assert!(
        out.contains("touch: /newfile: Read-only file system"),
        "{out}"
    );
    assert!(out.contains("rc=1"), "{out}");
    assert!(!b.rootfs.join("newfile").exists());
    let mi = parse_mountinfo(&out);
    assert!(mount_at(&mi, "/").has_opt("ro"));
    // Mounts on top of a read-only root stay writable.
    assert!(mount_at(&mi, "/dev/shm").has_opt("rw"));

    b.config["root"]["readonly"] = json!(false);
    let out = b.sh("touch /newfile && echo ok; cat /proc/self/mountinfo");
    assert!(out.starts_with("ok\n"), "{out}");
    assert!(b.rootfs.join("newfile").exists());
    assert!(mount_at(&parse_mountinfo(&out), "/").has_opt("rw"));
}

#[test]
fn rootfs_propagation() {
    let mut b = Bundle::new("rootprop");
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    let mi = parse_mountinfo(&b.sh(MOUNTINFO));
    assert!(
        mount_at(&mi, "/").has_optional("shared:"),
        "{:?}",
        mount_at(&mi, "/")
    );

    b.config["linux"]["rootfsPropagation"] = json!("rprivate");
    let mi = parse_mountinfo(&b.sh(MOUNTINFO));
    assert!(
        mount_at(&mi, "/").optional.is_empty(),
        "{:?}",
        mount_at(&mi, "/")
    );

    b.config["linux"]["rootfsPropagation"] = json!("runbindable");
    let mi = parse_mountinfo(&b.sh(MOUNTINFO));
    assert!(
        mount_at(&mi, "/").has_optional("unbindable"),
        "{:?}",
        mount_at(&mi, "/")
    );
}

#[test]
fn pivot_root_hides_the_host() {
    let mut b = Bundle::new("pivot");
    fs::write(b.rootfs.join("marker"), "in-rootfs\n").unwrap();
    let out = b.sh("cat /marker; cat /proc/self/mountinfo");
    assert!(out.starts_with("in-rootfs\n"));
    let mi = parse_mountinfo(&out);
    // Only the container's mounts: the host's are detached with the old root.
    assert_eq!(mi[0].mount_point, "/", "{mi:#?}");
    assert!(
        mi.iter()
            .all(|m| !m.mount_point.starts_with("/run") && !m.mount_point.starts_with("/boot")),
        "host mounts leak into the container: {mi:#?}"
    );
    let root = mount_at(&mi, "/");
    assert!(root.root.ends_with("/rootfs"), "{root:?}");
}

#[test]
fn no_pivot() {
    let mut b = Bundle::new("nopivot");
    fs::write(b.rootfs.join("marker"), "in-rootfs\n").unwrap();
    b.set_script("cat /marker; ls /; echo $$");
    b.write_config();
    let id = b.new_id();
    let out = b
        .husk(&["run", "--no-pivot", "--bundle", b.dir_str(), &id])
        .ok();
    let lines = out.lines();
    assert_eq!(lines[0], "in-rootfs");
    assert!(lines.contains(&"bin".to_string()) && lines.contains(&"proc".to_string()));
    assert_eq!(lines.last().unwrap(), "1");
    b.assert_nothing_left(&id);
}

#[test]
fn default_devices() {
    let mut b = Bundle::new("devices");
    let out = b.sh("for d in null zero full random urandom tty; do stat -c '%n %F %t %T %A %u %g' /dev/$d; done");
    let want = [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), want.len(), "{out}");
    for ((name, major, minor), line) in want.iter().zip(&lines) {
        assert_eq!(
            *line,
            format!("/dev/{name} character special file {major:x} {minor:x} crw-rw-rw- 0 0"),
        );
    }
    // They work.
    let out =
        b.sh("echo x > /dev/null && head -c 4 /dev/zero | wc -c; head -c 8 /dev/urandom | wc -c");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["4", "8"]);
}

#[test]
fn extra_device() {
    let mut b = Bundle::new("fuse");
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 384, "uid": 1000, "gid": 1000}
    ]);
    let out = b.sh("stat -c '%F %t %T %A %u %g' /dev/fuse");
    assert_eq!(
        out.trim(),
        "character special file a e5 crw------- 1000 1000"
    );
}

#[test]
fn block_device() {
    let mut b = Bundle::new("blockdev");
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/loopx", "type": "b", "major": 7, "minor": 200, "fileMode": 432, "gid": 6}
    ]);
    let out = b.sh("stat -c '%F %t %T %a %u %g' /dev/loopx");
    assert_eq!(out.trim(), "block special file 7 c8 660 0 6");
}

#[test]
fn fifo_device() {
    let mut b = Bundle::new("fifodev");
    b.config["linux"]["devices"] = json!([{"path": "/dev/myfifo", "type": "p", "fileMode": 420}]);
    assert_eq!(b.sh("stat -c '%F %a' /dev/myfifo").trim(), "fifo 644");
}

#[test]
fn unbuffered_char_device() {
    let mut b = Bundle::new("udev");
    b.config["linux"]["devices"] =
        json!([{"path": "/dev/fuse2", "type": "u", "major": 10, "minor": 229}]);
    assert_eq!(
        b.sh("stat -c '%F %t %T' /dev/fuse2").trim(),
        "character special file a e5"
    );
}

#[test]
fn device_overrides_a_default() {
    let mut b = Bundle::new("devoverride");
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 432, "uid": 0, "gid": 0}
    ]);
    let out = b.sh("stat -c '%t %T %a' /dev/null");
    assert_eq!(out.trim(), "1 3 660");
}

#[test]
fn dev_symlinks() {
    let mut b = Bundle::new("devlinks");
    let out = b.sh("for l in fd stdin stdout stderr ptmx; do echo \"$l $(readlink /dev/$l)\"; done; ls /dev/fd/ | head -3");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..5],
        [
            "fd /proc/self/fd",
            "stdin /proc/self/fd/0",
            "stdout /proc/self/fd/1",
            "stderr /proc/self/fd/2",
            "ptmx pts/ptmx",
        ]
    );
}

#[test]
fn masked_paths() {
    let mut b = Bundle::new("masked");
    fs::write(b.rootfs.join("secret.txt"), "top secret\n").unwrap();
    fs::create_dir_all(b.rootfs.join("secretdir")).unwrap();
    fs::write(b.rootfs.join("secretdir/inner"), "inner secret\n").unwrap();
    let masked = b.config["linux"]["maskedPaths"].as_array_mut().unwrap();
    masked.push(json!("/secret.txt"));
    masked.push(json!("/secretdir"));
    masked.push(json!("/does/not/exist"));
    let out = b.sh(
        "echo \"[$(cat /secret.txt)]\"; echo \"[$(ls -A /secretdir)]\"; echo \"[$(cat /proc/keys 2>&1 | head -c 10)]\"; \
         touch /secretdir/x 2>&1; cat /proc/self/mountinfo",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "[]", "masked file is readable: {out}");
    assert_eq!(lines[1], "[]", "masked dir is not empty: {out}");
    assert_eq!(
        lines[2], "[]",
        "/proc/keys (default spec) is not masked: {out}"
    );
    assert!(lines[3].contains("Read-only file system"), "{out}");
    let mi = parse_mountinfo(&out);
    assert_eq!(mount_at(&mi, "/secretdir").fstype, "tmpfs");
    assert!(mount_at(&mi, "/secretdir").has_opt("ro"));
    // The masked file is the container's /dev/null.
    let out = b.sh("stat -c '%F %t %T' /secret.txt");
    assert_eq!(out.trim(), "character special file 1 3");
}

#[test]
fn readonly_paths() {
    let mut b = Bundle::new("ropaths");
    b.config["root"]["readonly"] = json!(false);
    fs::create_dir_all(b.rootfs.join("rodir")).unwrap();
    fs::create_dir_all(b.rootfs.join("rwdir")).unwrap();
    b.config["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/rodir"));
    let out = b.sh(
        "touch /rodir/x 2>&1; touch /rwdir/y && echo rw-ok; echo 1 > /proc/sys/kernel/domainname 2>&1 || echo sys-ro; cat /proc/self/mountinfo",
    );
    assert!(
        out.contains("touch: /rodir/x: Read-only file system"),
        "{out}"
    );
    assert!(out.contains("rw-ok"), "{out}");
    assert!(out.contains("sys-ro"), "/proc/sys is writable: {out}");
    let mi = parse_mountinfo(&out);
    assert!(mount_at(&mi, "/rodir").has_opt("ro"));
    assert!(mount_at(&mi, "/proc/sys").has_opt("ro"));
}

/// A host path that the test expects never to exist; removed on drop just in case.
fn escape_target(b: &Bundle, what: &str) -> PathBuf {
    let p = PathBuf::from(format!("/tmp/husk-escape-{what}-{}", b.name));
    b.register_host_path(&p);
    assert!(!p.exists());
    p
}

fn in_rootfs(b: &Bundle, host_abs: &Path) -> PathBuf {
    b.rootfs.join(host_abs.strip_prefix("/").unwrap())
}

#[test]
fn symlink_mount_destination_stays_in_rootfs() {
    let mut b = Bundle::new("symmnt");
    b.config["root"]["readonly"] = json!(false);
    // Absolute link whose target exists inside the rootfs (and not on the host).
    let abs = escape_target(&b, "abs");
    fs::create_dir_all(in_rootfs(&b, &abs)).unwrap();
    symlink(&abs, b.rootfs.join("evil")).unwrap();
    // Relative link with more `..` than the rootfs is deep: it points at the host's
    // /tmp when followed from the host.
    let rel = escape_target(&b, "rel");
    fs::create_dir_all(in_rootfs(&b, &rel)).unwrap();
    fs::create_dir_all(b.rootfs.join("a/b")).unwrap();
    let up = "../".repeat(b.rootfs.join("a/b").components().count() + 2);
    symlink(
        format!("{up}{}", rel.strip_prefix("/").unwrap().display()),
        b.rootfs.join("a/b/evilrel"),
    )
    .unwrap();
    b.add_mount(
        json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    b.add_mount(json!({"destination": "/a/b/evilrel/sub", "type": "tmpfs", "source": "tmpfs"}));
    let out = b.sh("touch /evil/through-link /a/b/evilrel/sub/through-rel && echo ok; cat /proc/self/mountinfo");
    assert!(out.starts_with("ok\n"), "{out}");
    let mi = parse_mountinfo(&out);
    let abs_s = abs.to_str().unwrap();
    assert_eq!(mount_at(&mi, abs_s).fstype, "tmpfs");
    assert_eq!(
        mount_at(&mi, &format!("{}/sub", rel.display())).fstype,
        "tmpfs"
    );
    assert!(!abs.exists(), "a mount followed /evil onto the host");
    assert!(!rel.exists(), "a mount followed a ../ link onto the host");
}

#[test]
fn dangling_symlink_mount_destination_is_created_in_rootfs() {
    let mut b = Bundle::new("symdangle");
    b.config["root"]["readonly"] = json!(false);
    let abs = escape_target(&b, "dangling");
    symlink(&abs, b.rootfs.join("evil")).unwrap();
    let rel = escape_target(&b, "danglingrel");
    fs::create_dir_all(b.rootfs.join("a/b")).unwrap();
    let up = "../".repeat(b.rootfs.join("a/b").components().count() + 2);
    symlink(
        format!("{up}{}", rel.strip_prefix("/").unwrap().display()),
        b.rootfs.join("a/b/evilrel"),
    )
    .unwrap();
    b.add_mount(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "/a/b/evilrel/sub", "type": "tmpfs", "source": "tmpfs"}));
    b.set_script("cat /proc/self/mountinfo");
    let out = b.run_fg();
    assert!(!abs.exists(), "a mount followed /evil onto the host");
    assert!(!rel.exists(), "a mount followed a ../ link onto the host");
    let out = out.ok();
    let mi = parse_mountinfo(&out.stdout);
    assert_eq!(mount_at(&mi, abs.to_str().unwrap()).fstype, "tmpfs");
    assert!(
        in_rootfs(&b, &abs).is_dir(),
        "target not created inside the rootfs"
    );
}

#[test]
fn symlink_device_path_stays_in_rootfs() {
    let mut b = Bundle::new("symdev");
    b.config["root"]["readonly"] = json!(false);
    let target = escape_target(&b, "dev");
    fs::create_dir_all(in_rootfs(&b, &target)).unwrap();
    let up = "../".repeat(b.rootfs.components().count() + 1);
    symlink(
        format!("{up}{}", target.strip_prefix("/").unwrap().display()),
        b.rootfs.join("devlink"),
    )
    .unwrap();
    b.config["linux"]["devices"] = json!([
        {"path": "/devlink/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}
    ]);
    let out = b.sh(&format!("stat -c '%F %t %T' {}/fuse", target.display()));
    assert_eq!(out.trim(), "character special file a e5");
    assert!(!target.exists(), "a device node was made on the host");
    let made = fs::symlink_metadata(in_rootfs(&b, &target).join("fuse")).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(made.file_type().is_char_device());
}

#[test]
fn image_dev_symlinks_are_replaced_not_followed() {
    let mut b = Bundle::new("symimgdev");
    b.config["root"]["readonly"] = json!(false);
    // No tmpfs on /dev: the devices are made in the image's own /dev, where the
    // image planted symlinks to host paths.
    b.remove_mount("/dev");
    let null_t = escape_target(&b, "null");
    let zero_t = escape_target(&b, "zero");
    symlink(&null_t, b.rootfs.join("dev/null")).unwrap();
    let up = "../".repeat(b.rootfs.join("dev").components().count() + 1);
    symlink(
        format!("{up}{}", zero_t.strip_prefix("/").unwrap().display()),
        b.rootfs.join("dev/zero"),
    )
    .unwrap();
    let out = b.sh("stat -c '%n %F %t %T' /dev/null /dev/zero");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "/dev/null character special file 1 3",
            "/dev/zero character special file 1 5"
        ]
    );
    assert!(!null_t.exists(), "mknod followed /dev/null onto the host");
    assert!(!zero_t.exists(), "mknod followed /dev/zero onto the host");
}

#[test]
fn symlink_bind_source_inside_config_is_host_path() {
    // The bind *source* is a host path (resolved on the host, as runc): a relative
    // source is relative to the bundle.
    let mut b = Bundle::new("relsrc");
    fs::create_dir_all(b.dir.join("shared")).unwrap();
    fs::write(b.dir.join("shared/f"), "relative-source\n").unwrap();
    b.add_mount(json!({"destination": "/shared", "type": "bind", "source": "shared", "options": ["rbind", "ro"]}));
    assert_eq!(b.sh("cat /shared/f"), "relative-source\n");
}

#[test]
fn masked_symlink_masks_its_target() {
    let mut b = Bundle::new("maskedlink");
    fs::write(b.rootfs.join("secret.txt"), "top secret\n").unwrap();
    symlink("/secret.txt", b.rootfs.join("link-to-secret")).unwrap();
    fs::create_dir_all(b.rootfs.join("secretdir")).unwrap();
    fs::write(b.rootfs.join("secretdir/inner"), "inner secret\n").unwrap();
    symlink("secretdir", b.rootfs.join("link-to-dir")).unwrap();
    let masked = b.config["linux"]["maskedPaths"].as_array_mut().unwrap();
    masked.push(json!("/link-to-secret"));
    masked.push(json!("/link-to-dir"));
    let out = b.sh("echo \"[$(cat /secret.txt)]\"; echo \"[$(ls -A /secretdir)]\"");
    assert_eq!(out, "[]\n[]\n");
}

#[test]
fn readonly_symlink_protects_its_target() {
    let mut b = Bundle::new("rolink");
    b.config["root"]["readonly"] = json!(false);
    fs::create_dir_all(b.rootfs.join("data")).unwrap();
    symlink("data", b.rootfs.join("link-to-data")).unwrap();
    b.config["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/link-to-data"));
    let out = b.sh("touch /data/x 2>&1; true");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!b.rootfs.join("data/x").exists());
}

#[test]
fn sysfs_fallback_keeps_mount_flags() {
    let mut b = Bundle::new("sysfsbind");
    b.remove_namespace("network");
    b.set_namespace("user", None);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    if emulated_kernel().is_some() {
        // Before 5.12 the submounts of the /sys bind cannot be made read-only:
        // refused rather than left writable (CVE-2023-25809).
        b.set_script("true");
        b.run_fg().fails_with(&["/sys", "needs Linux 5.12+"]);
        return;
    }
    let mi = parse_mountinfo(&b.sh(MOUNTINFO));
    let sys = mount_at(&mi, "/sys");
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(sys.has_opt(o), "/sys lacks {o}: {sys:?}");
    }
}
