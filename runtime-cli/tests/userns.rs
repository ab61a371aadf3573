//! A container with a new user namespace (root mapped to host uid 100000): device
//! binds, devices the host lacks, and bind sources only the host's root can reach.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;
use serde_json::json;

fn userns_bundle(prefix: &str) -> Bundle {
    let mut b = Bundle::new(prefix);
    b.set_namespace("user", None);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b
}

#[test]
fn device_binds_are_nosuid_and_noexec() {
    let mut b = userns_bundle("usernsdev");
    let mi = parse_mountinfo(&b.sh("cat /proc/self/mountinfo"));
    for dev in ["/dev/null", "/dev/zero", "/dev/tty"] {
        let m = mount_at(&mi, dev);
        assert!(m.has_opt("nosuid") && m.has_opt("noexec"), "{dev}: {m:?}");
    }
}

#[test]
fn devices_missing_on_the_host_are_made_or_refused_clearly() {
    // A fifo may be made in a user namespace; a character device may not.
    let mut b = userns_bundle("usernsmknod");
    let fifo = format!("/dev/husk-fifo-{}", b.name);
    b.config["linux"]["devices"] = json!([{"path": fifo, "type": "p", "major": 0, "minor": 0}]);
    let out = b.sh(&format!("test -p {fifo} && echo fifo"));
    assert_eq!(out, "fifo\n");
    let chr = format!("/dev/husk-chr-{}", b.name);
    b.config["linux"]["devices"] = json!([{"path": chr, "type": "c", "major": 1, "minor": 3}]);
    b.set_args(&["true"]);
    b.write_config();
    let id = b.new_id();
    b.create(&id)
        .fails_with(&[&chr, "mknod is not allowed in a user namespace"]);
    b.assert_nothing_left(&id);
}

#[test]
fn bind_sources_below_a_root_only_directory_are_reached() {
    // The container's root is host uid 100000: it may not search /private (0700),
    // but the runtime opens the source before the user namespace takes effect.
    let mut b = userns_bundle("usernssrc");
    let private = b.dir.join("private");
    fs::create_dir_all(private.join("vol")).unwrap();
    fs::write(private.join("vol/file"), "reached\n").unwrap();
    fs::write(private.join("single"), "a file\n").unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(private.join("vol"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(private.join("single"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::create_dir_all(b.rootfs.join("vol")).unwrap();
    fs::write(b.rootfs.join("single"), "").unwrap();
    b.add_mount(json!({"destination": "/vol", "type": "bind",
        "source": private.join("vol").to_str().unwrap(), "options": ["rbind", "ro"]}));
    b.add_mount(json!({"destination": "/single", "type": "bind",
        "source": private.join("single").to_str().unwrap(), "options": ["bind"]}));
    let out = b.sh("cat /vol/file /single; touch /vol/x 2>/dev/null || echo ro");
    assert_eq!(out, "reached\na file\nro\n");
}
