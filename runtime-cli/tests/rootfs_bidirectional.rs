//! `linux.rootfsPropagation: rshared` with an `rshared` bind (what containerd's CRI
//! writes for a hostPath with Bidirectional propagation): a mount the container makes
//! below the bind shows on the host, as with runc, while the rootfs bind itself
//! stays out of the host's mount table.

mod common;

use std::fs;

use common::*;
use serde_json::json;

fn host_mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

#[test]
fn rshared_root_propagates_container_mounts_to_the_host() {
    let mut b = Bundle::new("bidi");
    let src = b.dir.join("bidi");
    b.host_tmpfs(&src);
    b.host_make_shared(&src);
    fs::create_dir_all(src.join("sub")).unwrap();
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    b.add_mount(json!({"destination": "/bidi", "type": "bind",
        "source": src.to_str().unwrap(), "options": ["rbind", "rshared", "rw"]}));
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_ADMIN"));
    }
    let out = b.sh("mount -t tmpfs from-the-container /bidi/sub && echo mounted");
    let sub = src.join("sub");
    let sub_s = sub.to_str().unwrap().to_string();
    let seen = host_mount_points().contains(&sub_s);
    let rootfs_leaked = host_mount_points().contains(&b.rootfs.to_str().unwrap().to_string());
    if seen {
        let _ = nix::mount::umount2(&sub, nix::mount::MntFlags::MNT_DETACH);
    }
    assert!(out.contains("mounted"), "{out}");
    assert!(
        seen,
        "the container's mount at /bidi/sub is not on the host"
    );
    assert!(!rootfs_leaked, "the rootfs bind showed on the host");
}
