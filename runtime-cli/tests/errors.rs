//! Errors: each bad input fails with exit status 1 and a message that names the
//! config field or path, and leaves nothing behind (no state dir, no cgroup, no
//! process).

mod common;

use std::fs;

use common::*;
use serde_json::{json, Value};

/// `husk create` of the bundle as configured must fail naming `needles`; then
/// nothing may be left. Returns the failed output.
#[track_caller]
fn create_fails(b: &Bundle, needles: &[&str]) -> Out {
    b.write_config();
    create_fails_as_is(b, needles)
}

/// Like [`create_fails`] but with config.json as it is on disk.
#[track_caller]
fn create_fails_as_is(b: &Bundle, needles: &[&str]) -> Out {
    let id = b.new_id();
    let out = b
        .husk(&["create", "--bundle", b.dir_str(), &id])
        .fails_with(needles);
    b.assert_nothing_left(&id);
    assert_eq!(
        b.husk(&["list", "-q"]).ok().stdout,
        "",
        "list shows a container"
    );
    out
}

/// [`create_fails`], then `run` must fail the same way and leave nothing either.
#[track_caller]
fn create_and_run_fail(b: &Bundle, needles: &[&str]) -> Out {
    let out = create_fails(b, needles);
    let id = b.new_id();
    b.husk(&["run", "--bundle", b.dir_str(), &id])
        .fails_with(needles);
    b.assert_nothing_left(&id);
    out
}

fn with_config(prefix: &str, f: impl FnOnce(&mut Value)) -> Bundle {
    let mut b = Bundle::new(prefix);
    b.set_args(&["true"]);
    f(&mut b.config);
    b
}

#[test]
fn unparsable_json() {
    let b = Bundle::new("badjson");
    fs::write(
        b.dir.join("config.json"),
        "{\"ociVersion\": \"1.0.2\", not json",
    )
    .unwrap();
    let out = create_fails_as_is(&b, &["config.json"]);
    assert!(out.stderr.lines().count() <= 2, "{}", out.stderr);
}

#[test]
fn missing_config() {
    let b = Bundle::new("noconfig");
    let id = b.new_id();
    b.husk(&["create", "--bundle", b.dir_str(), &id])
        .fails_with(&["config.json"]);
    b.assert_nothing_left(&id);
}

#[test]
fn wrong_type() {
    let b = with_config("wrongtype", |c| c["process"]["user"]["uid"] = json!("zero"));
    create_and_run_fail(&b, &["process.user.uid"]);
}

#[test]
fn missing_rootfs() {
    let b = with_config("norootfs", |c| c["root"]["path"] = json!("no-such-rootfs"));
    create_fails(&b, &["root.path", "no-such-rootfs"]);
}

#[test]
fn relative_cwd() {
    let b = with_config("relcwd", |c| c["process"]["cwd"] = json!("tmp"));
    create_fails(&b, &["process.cwd", "tmp"]);
}

#[test]
fn relative_mount_destination() {
    let b = with_config("relmnt", |c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "data", "type": "tmpfs", "source": "tmpfs"}))
    });
    let n = b.config["mounts"].as_array().unwrap().len() - 1;
    create_fails(&b, &[&format!("mounts[{n}].destination"), "data"]);
}

#[test]
fn unknown_namespace_type() {
    let b = with_config("nsbogus", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "bogus"}))
    });
    let n = b.config["linux"]["namespaces"].as_array().unwrap().len() - 1;
    create_fails(&b, &[&format!("linux.namespaces[{n}].type"), "bogus"]);
}

#[test]
fn duplicate_namespace() {
    let b = with_config("nsdup", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "pid"}))
    });
    let n = b.config["linux"]["namespaces"].as_array().unwrap().len() - 1;
    create_fails(&b, &[&format!("linux.namespaces[{n}].type"), "pid"]);
}

#[test]
fn relative_namespace_path() {
    let b = with_config("nsrel", |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "network", "path": "proc/1/ns/net"}));
    });
    let n = b.config["linux"]["namespaces"].as_array().unwrap().len() - 1;
    create_fails(&b, &[&format!("linux.namespaces[{n}].path")]);
}

#[test]
fn bind_source_missing() {
    let b = with_config("badbind", |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind",
            "source": "/nonexistent/husk-test-source", "options": ["rbind"]
        }))
    });
    let n = b.config["mounts"].as_array().unwrap().len() - 1;
    let out = create_and_run_fail(&b, &[&format!("mounts[{n}]"), "/data"]);
    assert!(
        out.stderr.contains("No such file or directory") || out.stderr.contains("ENOENT"),
        "{}",
        out.stderr
    );
}

#[test]
fn bind_source_missing_names_the_source() {
    let b = with_config("badbindsrc", |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind",
            "source": "/nonexistent/husk-test-source", "options": ["rbind"]
        }))
    });
    create_fails(&b, &["/nonexistent/husk-test-source"]);
}

#[test]
fn bad_mount_type() {
    let b = with_config("badfstype", |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "no-such-fs", "source": "x"
        }))
    });
    let n = b.config["mounts"].as_array().unwrap().len() - 1;
    create_fails(&b, &[&format!("mounts[{n}]"), "/data"]);
}

#[test]
fn bad_capability_name() {
    let b = with_config("capbogus", |c| {
        c["process"]["capabilities"]["bounding"]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_BOGUS"))
    });
    create_fails(&b, &["process.capabilities.bounding", "CAP_BOGUS"]);
}

#[test]
fn executable_not_found() {
    // runc fails `create` (not `start`) when the executable does not exist.
    let b = with_config("noexe", |c| {
        c["process"]["args"] = json!(["no-such-binary", "x"])
    });
    create_and_run_fail(
        &b,
        &["no-such-binary", "executable file not found in $PATH"],
    );
}

#[test]
fn executable_path_missing() {
    let b = with_config("noexeabs", |c| {
        c["process"]["args"] = json!(["/bin/no-such-binary"])
    });
    create_fails(&b, &["/bin/no-such-binary", "no such file"]);
}

#[test]
fn executable_not_executable() {
    let b = with_config("noexec", |c| c["process"]["args"] = json!(["notexec"]));
    fs::create_dir_all(b.rootfs.join("usr/bin")).unwrap();
    fs::write(b.rootfs.join("usr/bin/notexec"), "#!/bin/sh\n").unwrap();
    create_fails(&b, &["notexec", "executable file not found in $PATH"]);
}

#[test]
fn empty_args() {
    let b = with_config("noargs", |c| c["process"]["args"] = json!([]));
    create_fails(&b, &["process.args"]);
}

#[test]
fn terminal_without_console_socket() {
    let b = with_config("tty", |c| c["process"]["terminal"] = json!(true));
    create_fails(&b, &["tty", "console socket"]);
}

#[test]
fn mappings_without_user_namespace() {
    let b = with_config("maps", |c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1}])
    });
    create_fails(&b, &["linux.uidMappings"]);
}

#[test]
fn rlimit_soft_above_hard() {
    let b = with_config("rlimit", |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}])
    });
    create_fails(&b, &["process.rlimits[0]"]);
}

#[test]
fn unknown_rlimit_type() {
    let b = with_config("rlimittype", |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}])
    });
    create_fails(&b, &["process.rlimits[0].type", "RLIMIT_BOGUS"]);
}

#[test]
fn sysctl_outside_a_namespace() {
    let b = with_config("sysctlhost", |c| {
        c["linux"]["sysctl"] = json!({"vm.swappiness": "1"})
    });
    create_fails(&b, &["linux.sysctl", "vm.swappiness"]);
}

#[test]
fn uts_sysctls_that_conflict_are_refused() {
    // runc: "sysctl \"kernel.hostname\" is not allowed as it conflicts with the OCI
    // \"hostname\" field", even with a UTS namespace (the default config has one).
    let b = with_config("sysctlhostname", |c| {
        c["linux"]["sysctl"] = json!({"kernel.hostname": "other"})
    });
    create_fails(
        &b,
        &["linux.sysctl", "kernel.hostname", "conflicts with the OCI"],
    );
    let b = with_config("sysctldomain", |c| {
        c["domainname"] = json!("a.example");
        c["linux"]["sysctl"] = json!({"kernel.domainname": "b.example"})
    });
    create_fails(&b, &["kernel.domainname", "conflicts with the OCI"]);
    // Without a UTS namespace.
    let b = with_config("sysctlnouts", |c| {
        c["hostname"] = json!(null);
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .retain(|n| n["type"] != "uts");
        c["linux"]["sysctl"] = json!({"kernel.domainname": "b.example"})
    });
    create_fails(&b, &["kernel.domainname", "UTS namespace"]);
}

#[test]
fn sysctl_that_does_not_exist() {
    // Fails inside the init (late): still nothing left.
    let b = with_config("sysctlmissing", |c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.no_such_knob": "1"})
    });
    create_and_run_fail(&b, &["linux.sysctl", "net.ipv4.no_such_knob"]);
}

#[test]
fn unknown_rootfs_propagation() {
    let b = with_config("rootprop", |c| {
        c["linux"]["rootfsPropagation"] = json!("sideways")
    });
    create_fails(&b, &["linux.rootfsPropagation", "sideways"]);
}

#[test]
fn unsupported_oci_version() {
    let b = with_config("ociver", |c| c["ociVersion"] = json!("2.0.0"));
    create_fails(&b, &["ociVersion", "2.0.0"]);
}

#[test]
fn user_in_missing_group_fails_cleanly() {
    // A uid the kernel refuses in a user namespace that does not map it.
    let b = with_config("unmapped", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
        c["process"]["user"] = json!({"uid": 5000, "gid": 0});
    });
    create_and_run_fail(&b, &["process.user.uid", "5000"]);
}

#[test]
fn invalid_container_id() {
    let mut b = Bundle::new("badid");
    b.set_args(&["true"]);
    b.write_config();
    for id in ["../x", "a/b", "..", ".", "bad id", "ü"] {
        let out = b
            .husk(&["create", "--bundle", b.dir_str(), id])
            .fails_with(&["invalid container id"]);
        assert!(out.stderr.contains(id), "{}", out.stderr);
    }
    // Nothing was made, not even next to the state root.
    assert!(!b.root.join("../x").exists());
    assert!(!b.root.exists() || fs::read_dir(&b.root).unwrap().next().is_none());
    for cmd in ["state", "start", "delete"] {
        b.husk(&[cmd, "../x"]).fails_with(&["invalid container id"]);
    }
    b.husk(&["kill", "../x", "KILL"])
        .fails_with(&["invalid container id"]);
    b.husk(&["delete", "--force", "../x"])
        .fails_with(&["invalid container id"]);
}

#[test]
fn existing_id() {
    let mut b = Bundle::new("exists");
    b.set_args(&["sleep", "1000"]);
    let id = b.new_id();
    let pid = b.create_ok(&id);
    let before = fs::read_to_string(b.state_dir(&id).join("state.json")).unwrap();
    b.husk(&["create", "--bundle", b.dir_str(), &id])
        .fails_with(&[&id, "already exists"]);
    let after = fs::read_to_string(b.state_dir(&id).join("state.json")).unwrap();
    assert_eq!(before, after);
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(b.status(&id), "created");
}

#[test]
fn unknown_id() {
    let b = Bundle::new("unknownid");
    let id = b.new_id();
    for args in [
        vec!["state", &id],
        vec!["start", &id],
        vec!["kill", &id],
        vec!["delete", &id],
    ] {
        b.husk(&args).fails_with(&[&id, "does not exist"]);
    }
    assert!(!b.state_dir(&id).exists());
}

#[test]
fn state_root_is_private() {
    let mut b = Bundle::new("rootmode");
    b.set_args(&["sleep", "1000"]);
    let id = b.new_id();
    b.create_ok(&id);
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&b.root).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the state root must be private to root");
}

#[test]
fn hostname_without_uts_namespace() {
    let b = with_config("nouts", |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "uts");
        c["hostname"] = json!("x");
    });
    create_fails(&b, &["hostname", "UTS"]);
}
