//! Idmapped bind mounts, with and without a user namespace of the container's own.

use std::fs;
use std::os::unix::fs::chown;
use std::path::PathBuf;

use serde_json::json;

use crate::common::*;

/// A host directory holding `root-file` (0:0) and `user-file` (1000:1000).
fn source(b: &Bundle, name: &str) -> PathBuf {
    let dir = b.host_dir(name);
    fs::write(dir.join("root-file"), "r").unwrap();
    fs::write(dir.join("user-file"), "u").unwrap();
    chown(dir.join("root-file"), Some(0), Some(0)).unwrap();
    chown(dir.join("user-file"), Some(1000), Some(1000)).unwrap();
    dir
}

fn userns_bundle(prefix: &str) -> Bundle {
    let mut b = Bundle::new(prefix);
    b.set_namespace("user", None);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    // The rootfs belongs to the host's root, unmapped inside: mount points must exist.
    for d in ["idm", "plain", "ridm"] {
        fs::create_dir_all(b.rootfs.join(d)).unwrap();
    }
    b
}

#[test]
fn idmapped_mount_without_a_user_namespace() {
    let mut b = Bundle::new("idmap-nouserns");
    let src = source(&b, "src");
    let s = src.to_str().unwrap();
    b.add_mount(json!({
        "destination": "/idm", "type": "bind", "source": s, "options": ["bind", "idmap", "ro"],
        "uidMappings": [{"containerID": 0, "hostID": 1234, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 4321, "size": 1}]
    }));
    b.add_mount(json!({"destination": "/plain", "type": "bind", "source": s, "options": ["bind"]}));
    let out = b.sh(
        "stat -c %u:%g /idm/root-file /plain/root-file /idm/user-file; \
         touch /idm/x 2>/dev/null && echo writable || echo read-only",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "1234:4321",
        "on-disk 0 is shown as the mapping's host id: {out}"
    );
    assert_eq!(lines[1], "0:0", "a plain bind is not mapped: {out}");
    assert_eq!(
        lines[2], "65534:65534",
        "ids outside the mapping are the overflow id: {out}"
    );
    assert_eq!(
        lines[3], "read-only",
        "the mount's other options still apply: {out}"
    );
}

#[test]
fn idmap_takes_the_container_mappings() {
    let mut b = userns_bundle("idmap-userns");
    let src = source(&b, "src");
    let s = src.to_str().unwrap();
    b.add_mount(
        json!({"destination": "/idm", "type": "bind", "source": s, "options": ["bind", "idmap"]}),
    );
    b.add_mount(json!({"destination": "/plain", "type": "bind", "source": s, "options": ["bind"]}));
    let out = b.sh(
        "id -u; stat -c %u:%g /idm/root-file /idm/user-file /plain/root-file; \
         touch /idm/made-inside && echo touched",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(
        lines[1], "0:0",
        "host root's file is the container root's: {out}"
    );
    assert_eq!(lines[2], "1000:1000", "{out}");
    assert_eq!(
        lines[3], "65534:65534",
        "unmapped through a plain bind: {out}"
    );
    assert_eq!(lines[4], "touched", "{out}");
    // Written as container root (host 100000) through the mapping: stored as 0.
    assert_eq!(owner(&src.join("made-inside")), (0, 0));
}

#[test]
fn mount_mappings_win_over_the_container_mappings() {
    let mut b = userns_bundle("idmap-own");
    let src = source(&b, "src");
    b.add_mount(json!({
        "destination": "/idm", "type": "bind", "source": src.to_str().unwrap(),
        "options": ["bind", "idmap"],
        // On-disk 1000 becomes host 100005: container uid 5.
        "uidMappings": [{"containerID": 1000, "hostID": 100005, "size": 1}],
        "gidMappings": [{"containerID": 1000, "hostID": 100007, "size": 1}]
    }));
    let out = b.sh("stat -c %u:%g /idm/user-file /idm/root-file");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["5:7", "65534:65534"],
        "{out}"
    );
}

#[test]
fn ridmap_maps_submounts_too() {
    let mut b = userns_bundle("ridmap");
    let src = source(&b, "src");
    let sub = src.join("sub");
    b.host_tmpfs(&sub);
    fs::write(sub.join("f"), "x").unwrap();
    let s = src.to_str().unwrap();
    b.add_mount(json!({"destination": "/ridm", "type": "bind", "source": s, "options": ["rbind", "ridmap"]}));
    b.add_mount(
        json!({"destination": "/idm", "type": "bind", "source": s, "options": ["rbind", "idmap"]}),
    );
    let out = b.sh("stat -c %u /ridm/sub/f /idm/sub/f /idm/root-file");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["0", "65534", "0"],
        "ridmap maps the submount, idmap only the top mount: {out}"
    );
}
