//! Unit tests of the CRIU plan.

use super::*;

fn mount(dest: &str, typ: &str, src: Option<&str>, bind: bool) -> MountOp {
    let opts = if bind {
        vec!["rbind".to_string()]
    } else {
        vec![]
    };
    let m: oci_spec::runtime::Mount = serde_json::from_value(serde_json::json!({
        "destination": dest, "type": typ, "source": src.unwrap_or("none"), "options": opts
    }))
    .expect("mount");
    crate::rootfs::plan::plan_mount(0, &m, Path::new("/bundle")).expect("plan")
}

fn input() -> CriuPlanInput {
    CriuPlanInput {
        mounts: vec![
            mount("/proc", "proc", Some("proc"), false),
            mount("/dev", "tmpfs", Some("tmpfs"), false),
            mount("/data", "bind", Some("/srv/data"), true),
            mount("/sys/fs/cgroup", "cgroup", Some("cgroup"), false),
        ],
        cgroup_sources: vec![
            ("cpu,cpuacct".into(), "/sys/fs/cgroup/cpu,cpuacct/c1".into()),
            ("name=systemd".into(), "/sys/fs/cgroup/systemd/c1".into()),
        ],
        cgroup_ns: false,
        masked: vec!["/proc/kcore".into(), "/proc/acpi".into()],
        device_binds: vec![],
        external_ns: vec![],
    }
}

#[test]
fn dump_describes_binds_cgroup_binds_and_masked_files() {
    let m = dump_ext_mounts(&input(), &["/proc/kcore".into()]);
    assert_eq!(
        m,
        vec![
            ("/data".into(), "/data".into()),
            (
                "/sys/fs/cgroup/cpu,cpuacct".into(),
                "/sys/fs/cgroup/cpu,cpuacct".into()
            ),
            (
                "/sys/fs/cgroup/systemd".into(),
                "/sys/fs/cgroup/systemd".into()
            ),
            ("/proc/kcore".into(), "/dev/null".into()),
        ]
    );
}

#[test]
fn restore_maps_to_sources_and_new_cgroup_dirs() {
    let m = restore_ext_mounts(&input());
    assert_eq!(
        m,
        vec![
            ("/data".into(), "/srv/data".into()),
            (
                "/sys/fs/cgroup/cpu,cpuacct".into(),
                "/sys/fs/cgroup/cpu,cpuacct/c1".into()
            ),
            (
                "/sys/fs/cgroup/systemd".into(),
                "/sys/fs/cgroup/systemd/c1".into()
            ),
            ("/dev/null".into(), "/dev/null".into()),
        ]
    );
}

#[test]
fn v2_cgroup_mount_is_external_only_without_cgroupns() {
    let mut i = input();
    i.cgroup_sources = vec![(String::new(), "/sys/fs/cgroup/c1".into())];
    i.masked.clear();
    assert_eq!(
        restore_ext_mounts(&i),
        vec![
            ("/data".into(), "/srv/data".into()),
            ("/sys/fs/cgroup".into(), "/sys/fs/cgroup/c1".into())
        ]
    );
    i.cgroup_ns = true;
    assert_eq!(
        restore_ext_mounts(&i),
        vec![("/data".into(), "/srv/data".into())]
    );
}

#[test]
fn device_binds_are_external_both_ways() {
    let mut i = input();
    i.mounts.clear();
    i.masked.clear();
    i.device_binds = vec!["/dev/null".into()];
    assert_eq!(
        dump_ext_mounts(&i, &[]),
        vec![("/dev/null".into(), "/dev/null".into())]
    );
    assert_eq!(
        restore_ext_mounts(&i),
        vec![("/dev/null".into(), "/dev/null".into())]
    );
}

#[test]
fn empty_ns_only_network() {
    assert_eq!(
        empty_ns_bits(&["network".into()]).unwrap(),
        libc::CLONE_NEWNET as u32
    );
    assert_eq!(empty_ns_bits(&[]).unwrap(), 0);
    let e = empty_ns_bits(&["pid".into()]).unwrap_err().to_string();
    assert!(e.contains("only leave out the network"), "{e}");
    assert!(empty_ns_bits(&["bogus".into()]).is_err());
}

#[test]
fn stdio_pipes_are_inherited_by_fd_number() {
    let d = vec!["/dev/null".into(), "pipe:[123]".into(), "pipe:[456]".into()];
    assert_eq!(
        stdio_inherits(&d),
        vec![("pipe:[123]".into(), 1), ("pipe:[456]".into(), 2)]
    );
}

#[test]
fn stdio_files_outside_the_container_are_external() {
    let fds = vec![
        StdioFd {
            link: "/dev/null".into(),
            mnt_id: Some(24),
            ino: 5,
        },
        StdioFd {
            link: "pipe:[77]".into(),
            mnt_id: Some(13),
            ino: 77,
        },
        StdioFd {
            link: "/dev/pts/0".into(),
            mnt_id: Some(500),
            ino: 3,
        },
    ];
    let (d, e) = stdio_descriptors(&fds, &[500, 501]);
    assert_eq!(d, vec!["file[18:5]", "pipe:[77]", "/dev/pts/0"]);
    assert_eq!(e, vec!["file[18:5]"]);
    assert_eq!(
        stdio_inherits(&d),
        vec![("file[18:5]".into(), 0), ("pipe:[77]".into(), 1)]
    );
}

#[test]
fn page_server_parsing() {
    assert_eq!(
        parse_page_server("10.0.0.1:27").unwrap(),
        ("10.0.0.1".into(), 27)
    );
    assert_eq!(parse_page_server("[::1]:27").unwrap(), ("::1".into(), 27));
    assert!(parse_page_server("10.0.0.1").is_err());
    assert!(parse_page_server(":27").is_err());
    assert!(parse_page_server("h:0").is_err());
}

#[test]
fn cgroups_mode_parsing() {
    assert_eq!("soft".parse::<CgroupsMode>().unwrap(), CgroupsMode::Soft);
    assert_eq!(
        "ignore".parse::<CgroupsMode>().unwrap(),
        CgroupsMode::Ignore
    );
    assert!("bogus".parse::<CgroupsMode>().is_err());
}

#[test]
fn pre_dump_tracks_memory_and_skips_mounts() {
    let facts = DumpFacts {
        pid: 42,
        root: "/r".into(),
        ns_inodes: vec![("net", EXT_NET_NS_KEY, 4026531992)],
        ..Default::default()
    };
    let o = CheckpointOptions {
        pre_dump: true,
        ..Default::default()
    };
    let r = dump_opts(&input(), &facts, &o, 5, 6).unwrap();
    assert!(r.track_mem() && r.leave_running());
    assert!(r.ext_mnt.is_empty());
    assert_eq!(r.external, vec!["net[4026531992]:extRootNetNS".to_string()]);
    assert_eq!(r.pid(), 42);
    assert_eq!(r.log_file(), DUMP_LOG);
    let o = CheckpointOptions {
        parent_path: Some("../pre".into()),
        ..Default::default()
    };
    let r = dump_opts(&input(), &facts, &o, 5, 6).unwrap();
    assert!(r.track_mem() && !r.leave_running());
    assert_eq!(r.parent_img(), "../pre");
    assert!(!r.ext_mnt.is_empty());
}

#[test]
fn restore_options_carry_inherits_cgroup_roots_and_lsm() {
    let facts = RestoreFacts {
        root: "/run/husk/c1/criu-root".into(),
        inherit: vec![("pipe:[1]".into(), 1)],
        cg_root: vec![(None, "/husk/c1".into())],
    };
    let o = RestoreOptions {
        lsm_profile: Some("apparmor:p".into()),
        tcp_established: true,
        ..Default::default()
    };
    let r = restore_opts(&input(), &facts, &o, 5, 6).unwrap();
    assert!(r.rst_sibling() && r.tcp_established() && r.orphan_pts_master());
    assert_eq!(r.lsm_profile(), "apparmor:p");
    assert_eq!(r.inherit_fd[0].key(), "pipe:[1]");
    assert!(!r.cg_root[0].has_ctrl());
    assert_eq!(r.log_file(), RESTORE_LOG);
}
