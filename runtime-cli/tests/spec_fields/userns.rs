//! A user namespace without uid/gid mappings (the runtime-spec allows one).

use std::fs;

use serde_json::json;

use crate::common::*;

#[test]
fn user_namespace_without_mappings_runs_unmapped() {
    let mut b = Bundle::new("userns-nomap");
    b.set_namespace("user", None);
    // Nothing can be created on a filesystem mounted inside an unmapped namespace:
    // keep the mounts whose mount points exist in the rootfs.
    b.config["mounts"] = json!([{"destination": "/proc", "type": "proc", "source": "proc"}]);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let out = b.sh("id -u; id -g; cat /proc/self/uid_map | wc -l; readlink /proc/self/ns/user");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["65534", "65534", "0"], "{out}");
    assert_ne!(lines[3], host_ns("user"));
}

#[test]
fn user_namespace_without_mappings_explains_what_fails() {
    let mut b = Bundle::new("userns-nomap-dev");
    b.set_namespace("user", None);
    // The default config mounts a tmpfs on /dev and creates /dev/pts in it.
    b.set_args(&["true"]);
    b.write_config();
    let id = b.new_id();
    b.create(&id).fails_with(&["no uid/gid mappings", "/dev"]);
    b.assert_nothing_left(&id);
    assert!(fs::read_dir(&b.rootfs).is_ok());
}
