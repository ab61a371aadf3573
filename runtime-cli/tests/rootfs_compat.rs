//! Rootfs configs that runc accepts or refuses in a particular way, seen from inside
//! the container: relative masked and read-only paths, a read-only root without a
//! mount namespace or with a cwd missing from the image, tmpfs without `mode=`, and
//! an image whose /proc or /sys is a symlink.

mod common;

use std::fs;

use common::*;
use serde_json::json;

#[test]
fn relative_masked_and_readonly_paths_are_relative_to_the_root() {
    let mut b = Bundle::new("relmask");
    fs::write(b.rootfs.join("etc/secret"), "hidden\n").unwrap();
    fs::create_dir_all(b.rootfs.join("etc/rodir")).unwrap();
    b.config["linux"]["maskedPaths"] = json!(["etc/secret"]);
    b.config["linux"]["readonlyPaths"] = json!(["etc/rodir"]);
    let out = b.sh("echo \"[$(cat /etc/secret)]\"; touch /etc/rodir/x 2>&1; echo rc=$?");
    assert!(out.starts_with("[]\n"), "not masked: {out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!b.rootfs.join("etc/rodir/x").exists());
}

#[test]
fn read_only_root_without_a_mount_namespace_is_not_remounted() {
    // runc skips the remount when the container shares the host's mounts: the
    // root stays writable (and the host's mounts are never touched).
    let mut b = Bundle::new("ronomnt");
    b.remove_namespace("mount");
    b.config["mounts"] = json!([]);
    b.config["linux"]["maskedPaths"] = json!([]);
    b.config["linux"]["readonlyPaths"] = json!([]);
    b.config["root"]["readonly"] = json!(true);
    let out = b.sh("touch /written && echo ok");
    assert_eq!(out, "ok\n");
    assert!(b.rootfs.join("written").exists());
}

#[test]
fn missing_cwd_is_created_before_the_root_is_read_only() {
    let mut b = Bundle::new("rocwd");
    b.config["root"]["readonly"] = json!(true);
    b.config["process"]["cwd"] = json!("/work/sub");
    let out = b.sh("pwd; touch x 2>&1; echo rc=$?");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/work/sub", "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(b.rootfs.join("work/sub").is_dir());
}

#[test]
fn tmpfs_without_mode_keeps_the_mode_of_its_directory() {
    use std::os::unix::fs::PermissionsExt;
    let mut b = Bundle::new("tmpfsmode");
    fs::create_dir_all(b.rootfs.join("data")).unwrap();
    fs::set_permissions(b.rootfs.join("data"), fs::Permissions::from_mode(0o750)).unwrap();
    for (dest, opts) in [
        ("/data", json!(["nosuid", "size=1m"])),
        ("/data2", json!(["nosuid"])),
        ("/explicit", json!(["mode=711"])),
    ] {
        b.add_mount(
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts}),
        );
    }
    fs::create_dir_all(b.rootfs.join("explicit")).unwrap();
    // /data2 does not exist in the image: the kernel's default (1777), as runc.
    let out = b.sh("stat -c %a /data /data2 /explicit; stat -f -c %T /data");
    assert_eq!(out, "750\n1777\n711\ntmpfs\n");
}

#[test]
fn proc_or_sys_symlinked_in_the_image_is_refused() {
    for (dir, typ) in [("proc", "proc"), ("sys", "sysfs")] {
        let mut b = Bundle::new("procsymlink");
        fs::remove_dir(b.rootfs.join(dir)).unwrap();
        fs::create_dir_all(b.rootfs.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink("/elsewhere", b.rootfs.join(dir)).unwrap();
        b.set_args(&["true"]);
        b.write_config();
        let id = b.new_id();
        // The log escapes the quotes around the type.
        b.create(&id).fails_with(&[
            &format!("/{dir}"),
            typ,
            "must be mounted on an ordinary directory",
        ]);
        b.assert_nothing_left(&id);
    }
}
