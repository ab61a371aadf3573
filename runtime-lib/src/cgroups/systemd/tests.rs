//! The systemd driver's handle: paths, state round trips, the start/stop bookkeeping.

use super::super::layout::HierarchyVersion;
use super::super::mountinfo::{fixtures::*, parse_mountinfo};
use super::*;
use std::path::PathBuf;

fn handle(mountinfo: &str, path: Option<&str>) -> CgroupHandle {
    let layout = HostLayout::from_mounts(&parse_mountinfo(mountinfo), |_| vec!["hugetlb".into()])
        .unwrap_or_else(|e| panic!("{e}"));
    CgroupHandle::from_layout_systemd(&layout, path, "c1").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn v2_scope_dir_is_the_expanded_slice_plus_unit() {
    let h = handle(V2_MOUNTINFO, Some("a-b.slice:ctr:x"));
    assert_eq!(
        h.v2_dir(),
        Some(PathBuf::from(
            "/sys/fs/cgroup/a.slice/a-b.slice/ctr-x.scope"
        ))
    );
    let sd = h
        .systemd_unit()
        .map(|s| (s.unit.as_str(), s.slice.as_str()));
    assert_eq!(sd, Some(("ctr-x.scope", "a-b.slice")));
    // The caller's own cgroup does not matter: systemd paths are absolute.
    let h = handle(V2_MOUNTINFO, None);
    assert_eq!(
        h.v2_dir(),
        Some(PathBuf::from("/sys/fs/cgroup/system.slice/husk-c1.scope"))
    );
}

#[test]
fn rootless_scope_is_under_the_user_manager() {
    let layout = HostLayout::from_mounts(&parse_mountinfo(V2_MOUNTINFO), |_| vec!["memory".into()])
        .unwrap_or_else(|e| panic!("{e}"));
    let h = CgroupHandle::from_layout_systemd_user(&layout, None, "c1", 1000)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        h.v2_dir(),
        Some(PathBuf::from(
            "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/user.slice/husk-c1.scope"
        ))
    );
    let sd = h
        .systemd_unit()
        .map(|s| (s.slice.as_str(), s.user, s.base.as_str()));
    assert_eq!(
        sd,
        Some((
            "user.slice",
            true,
            "/user.slice/user-1000.slice/user@1000.service"
        ))
    );
}

#[test]
fn hybrid_scope_is_in_every_hierarchy() {
    let h = handle(HYBRID_MOUNTINFO, Some("system.slice:husk:c1"));
    assert_eq!(
        h.dir_for(HierarchyVersion::V1, "memory"),
        Some(Path::new(
            "/sys/fs/cgroup/memory/system.slice/husk-c1.scope"
        ))
    );
    assert_eq!(
        h.unified_dir(),
        Some(PathBuf::from(
            "/sys/fs/cgroup/unified/system.slice/husk-c1.scope"
        ))
    );
}

#[test]
fn handle_round_trips_with_its_unit() {
    let h = handle(V2_MOUNTINFO, None);
    if let Some(sd) = h.systemd_unit() {
        sd.started.store(true, Ordering::SeqCst);
    }
    let json = serde_json::to_string(&h).unwrap_or_default();
    assert!(json.contains(r#""systemd":{"unit":"husk-c1.scope","slice":"system.slice","name":"c1","started":true}"#), "{json}");
    let back: CgroupHandle = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(back, h);
    // A cgroupfs handle has no systemd member at all.
    let layout = HostLayout::from_mounts(&parse_mountinfo(V2_MOUNTINFO), |_| Vec::new())
        .unwrap_or_else(|e| panic!("{e}"));
    let fs =
        CgroupHandle::from_layout(&layout, &[], Some("/a"), "x").unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_string(&fs).unwrap_or_default();
    assert!(!json.contains("systemd"), "{json}");
}

#[test]
fn clones_share_whether_the_unit_was_started() {
    let h = handle(V2_MOUNTINFO, None);
    let undo = h.clone();
    if let Some(sd) = h.systemd_unit() {
        sd.started.store(true, Ordering::SeqCst);
    }
    assert_eq!(undo.systemd_unit().map(SystemdUnit::started), Some(true));
}

#[test]
fn apply_before_the_start_keeps_and_checks_the_resources() {
    let h = handle(V2_MOUNTINFO, None);
    let r: LinuxResources =
        serde_json::from_str(r#"{"pids":{"limit":3}}"#).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(h.apply(&r), Ok(())));
    let kept = h
        .systemd_unit()
        .and_then(|sd| sd.pending.lock().ok().and_then(|p| p.clone()));
    assert_eq!(kept, Some(r));
    let bad: LinuxResources =
        serde_json::from_str(r#"{"cpu":{"cpus":"x"}}"#).unwrap_or_else(|e| panic!("{e}"));
    let e = h
        .apply(&bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.starts_with("linux.resources.cpu.cpus"), "{e}");
}

#[test]
fn a_unit_never_started_is_left_alone() {
    // No systemd here: stopping would fail if it were attempted, and the
    // directories (another container's, after UnitExists) are not touched.
    let h = handle(V2_MOUNTINFO, Some("system.slice:husk-test-never:x"));
    assert!(h.systemd_unit_not_ours());
    assert!(h.systemd_stop().is_ok());
    assert!(h.destroy().is_ok());
    if let Some(sd) = h.systemd_unit() {
        sd.started.store(true, Ordering::SeqCst);
    }
    assert!(!h.systemd_unit_not_ours());
}

#[test]
fn proc_cgroup_lines_are_matched_exactly() {
    let want = "/system.slice/husk-c1.scope";
    assert!(in_cgroup("0::/system.slice/husk-c1.scope\n", want));
    assert!(in_cgroup(
        "12:memory:/system.slice/husk-c1.scope\n1:name=systemd:/system.slice/husk-c1.scope\n0::/x\n",
        want
    ));
    assert!(!in_cgroup("0::/system.slice/husk-c1.scope/sub\n", want));
    assert!(!in_cgroup("0::/system.slice\n", want));
}
