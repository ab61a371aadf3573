//! The bench's floor reference (`husk-conformance bench`, docs/benchmarks.md) does
//! what it claims: each kind of sample runs its container steps to the exec of
//! /bin/true (every failed step exits with its own code, named in the error) and
//! leaves no cgroup and no mount behind. Needs root; under CI (`CI=true`) a run
//! without root fails.

use husk_conformance::bundle::{Bundle, Rootfs};
use husk_conformance::floor::{hierarchies, Floor, Kind};

mod common;

#[test]
fn every_floor_kind_runs_and_leaves_nothing() {
    if !common::root_or_skip("the floor") {
        return;
    }
    let work = std::path::PathBuf::from(format!("/var/tmp/husk-floor-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let rootfs = Rootfs::build(&work.join("template")).expect("busybox rootfs");
    let b = Bundle::create(&work.join("bundle"), &rootfs).expect("bundle");
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    let mut fl = Floor::new(&b.rootfs()).expect("floor");
    for kind in [Kind::Bare, Kind::Cgroups, Kind::Config] {
        for _ in 0..3 {
            let (wall, usage) = fl
                .once(kind)
                .unwrap_or_else(|e| panic!("floor {kind:?}: {e}"));
            assert!(wall.as_nanos() > 0 && usage.cpu().as_nanos() > 0);
        }
    }
    let left: Vec<_> = hierarchies()
        .iter()
        .flat_map(|h| std::fs::read_dir(h).into_iter().flatten().flatten())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("husk-floor-{}-", std::process::id()))
        })
        .map(|e| e.path())
        .collect();
    let mounts_after = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    let _ = std::fs::remove_dir_all(&work);
    assert!(left.is_empty(), "cgroups left: {left:?}");
    assert_eq!(
        mounts_before, mounts_after,
        "the floor changed the host's mounts"
    );
}
