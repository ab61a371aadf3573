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
