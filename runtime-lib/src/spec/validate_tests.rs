//! Unit tests of `validate.rs`.

use super::*;

fn spec(json: &str) -> Spec {
    super::super::from_reader(json.as_bytes(), Path::new("config.json")).unwrap()
}

fn bundle() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("husk-validate-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rootfs")).unwrap();
    dir
}

const BASE: &str = r#""ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"]}"#;

fn check(extra: &str) -> Result<(), SpecError> {
    validate(&spec(&format!("{{{BASE}{extra}}}")), &bundle())
}

#[test]
fn minimal_is_valid() {
    check("").unwrap();
}

#[test]
fn missing_rootfs() {
    let s = spec(
        r#"{"ociVersion":"1.0.2","root":{"path":"nope"},"process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"]}}"#,
    );
    let e = validate(&s, &bundle()).unwrap_err().to_string();
    assert!(e.contains("root.path") && e.contains("nope"), "{e}");
}

#[test]
fn relative_mount_destination() {
    let e = check(r#","mounts":[{"destination":"proc","type":"proc","source":"proc"}]"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("mounts[0].destination"), "{e}");
}

#[test]
fn relative_cwd() {
    let s = spec(
        r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"cwd":"tmp","args":["sh"]}}"#,
    );
    let e = validate(&s, &bundle()).unwrap_err().to_string();
    assert!(e.contains("process.cwd"), "{e}");
}

#[test]
fn duplicate_namespace() {
    let e = check(r#","linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("linux.namespaces[1].type"), "{e}");
}

#[test]
fn relative_namespace_path() {
    let e = check(r#","linux":{"namespaces":[{"type":"network","path":"proc/1/ns/net"}]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("linux.namespaces[0].path"), "{e}");
}

#[test]
fn mappings_without_userns() {
    let e = check(r#","linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("linux.uidMappings"), "{e}");
}

#[test]
fn time_offsets_without_timens() {
    let e = check(r#","linux":{"timeOffsets":{"monotonic":{"secs":1,"nanosecs":0}}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("linux.timeOffsets"), "{e}");
}

#[test]
fn hostname_without_uts() {
    let e = check(r#","hostname":"x","linux":{"namespaces":[{"type":"pid"}]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("hostname"), "{e}");
}

#[test]
fn sysctl_rules() {
    check(r#","linux":{"namespaces":[{"type":"network"}],"sysctl":{"net.ipv4.ip_forward":"1"}}"#)
        .unwrap();
    let e = check(r#","linux":{"namespaces":[],"sysctl":{"net.ipv4.ip_forward":"1"}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("net.ipv4.ip_forward"), "{e}");
    assert!(
        check(r#","linux":{"namespaces":[{"type":"ipc"}],"sysctl":{"vm.swappiness":"1"}}"#)
            .is_err()
    );
}

#[test]
fn empty_args() {
    let s = spec(
        r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"cwd":"/","args":[]}}"#,
    );
    let e = validate(&s, &bundle()).unwrap_err().to_string();
    assert!(e.contains("process.args"), "{e}");
}

#[test]
fn newer_fields_are_checked_before_anything_is_made() {
    for (extra, field) in [
        (
            r#","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"scheduler":{"policy":"SCHED_OTHER","deadline":5}}"#,
            "process.scheduler.deadline",
        ),
        (
            r#","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"ioPriority":{"class":"IOPRIO_CLASS_BE","priority":9}}"#,
            "process.ioPriority.priority",
        ),
        (
            r#","linux":{"memoryPolicy":{"mode":"MPOL_INTERLEAVE"}}"#,
            "linux.memoryPolicy.nodes",
        ),
        (
            r#","linux":{"personality":{"domain":"LINUX","flags":["NOPE"]}}"#,
            "linux.personality.flags[0]",
        ),
        (
            r#","mounts":[{"destination":"/m","source":"/tmp","options":["bind","idmap"]}]"#,
            "mounts[0].uidMappings",
        ),
        (
            r#","linux":{"namespaces":[],"netDevices":{"eth0":{}}}"#,
            "linux.netDevices",
        ),
        (
            r#","linux":{"namespaces":[{"type":"time"}],"timeOffsets":{"realtime":{"secs":1}}}"#,
            "linux.timeOffsets[\"realtime\"]",
        ),
    ] {
        // The later "process" key replaces BASE's.
        let e = check(extra).unwrap_err().to_string();
        assert!(e.contains(field), "{extra}: {e}");
    }
}

#[test]
fn intel_rdt_needs_resctrl() {
    let r = check(r#","linux":{"intelRdt":{"closID":"x"}}"#);
    if crate::intelrdt::check_available().is_err() {
        let e = r.unwrap_err().to_string();
        assert!(e.contains("linux.intelRdt") && e.contains("resctrl"), "{e}");
    }
}

#[test]
fn uts_sysctls_that_conflict_are_refused() {
    // kernel.hostname has its own field: refused even with a UTS namespace (runc).
    let e = check(r#","linux":{"namespaces":[{"type":"uts"}],"sysctl":{"kernel.hostname":"a"}}"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kernel.hostname") && e.contains("\"hostname\" field"),
        "{e}"
    );
    let e = check(r#","linux":{"namespaces":[{"type":"uts"}],"sysctl":{"kernel/hostname":"a"}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("hostname"), "{e}");
    // Without a UTS namespace neither is allowed.
    let e = check(r#","linux":{"namespaces":[],"sysctl":{"kernel.domainname":"a"}}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("kernel.domainname") && e.contains("UTS"), "{e}");
    // kernel.domainname alone, or equal to domainname, is fine; another value is not.
    check(r#","linux":{"namespaces":[{"type":"uts"}],"sysctl":{"kernel.domainname":"a"}}"#)
        .unwrap();
    check(r#","domainname":"a","linux":{"namespaces":[{"type":"uts"}],"sysctl":{"kernel.domainname":"a"}}"#)
        .unwrap();
    let e = check(
        r#","domainname":"b","linux":{"namespaces":[{"type":"uts"}],"sysctl":{"kernel.domainname":"a"}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("\"domainname\" field"), "{e}");
}

#[test]
fn relative_masked_and_readonly_paths_are_accepted() {
    check(r#","linux":{"maskedPaths":["proc/kcore"],"readonlyPaths":["proc/sys"]}"#).unwrap();
    let e = check(r#","linux":{"maskedPaths":[""]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("linux.maskedPaths[0]"), "{e}");
}

#[test]
fn a_new_user_namespace_needs_mappings() {
    let e = check(r#","linux":{"namespaces":[{"type":"user"}]}"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("linux.uidMappings") && e.contains("at least one mapping"),
        "{e}"
    );
    let e = check(
        r#","linux":{"namespaces":[{"type":"user"}],"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("linux.gidMappings"), "{e}");
    check(
        r#","linux":{"namespaces":[{"type":"user"}],"uidMappings":[{"containerID":0,"hostID":1000,"size":1}],"gidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#,
    )
    .unwrap();
}
