//! Which cgroup hierarchies this host has: v1, v2 or hybrid.
//!
//! [`HostLayout::from_mounts`] is pure (mounts in, layout out);
//! [`HostLayout::detect`] feeds it `/proc/self/mountinfo` and the v2
//! `cgroup.controllers` files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::CgroupError;
use super::fsio;
use super::mountinfo::{parse_mountinfo, CgroupMount};

/// Where mountinfo is read from.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// Only v1 hierarchies.
    V1,
    /// One v2 hierarchy carries every controller.
    V2,
    /// v1 controllers plus a v2 hierarchy (usually `/sys/fs/cgroup/unified`)
    /// that carries whatever controllers no v1 hierarchy took.
    Hybrid,
}

/// The version of one hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HierarchyVersion {
    /// A `cgroup` mount: one directory tree per controller set.
    V1,
    /// A `cgroup2` mount.
    V2,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// v1 or v2.
    pub version: HierarchyVersion,
    /// v1: the mount's controllers (`["cpu", "cpuacct"]`, `["name=systemd"]`);
    /// v2: the root's `cgroup.controllers`.
    pub controllers: Vec<String>,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The cgroup shown at the mount point (`/` outside containers).
    pub mount_root: String,
}

/// All hierarchies a container's cgroup must be created in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLayout {
    /// v1, v2 or hybrid.
    pub mode: CgroupMode,
    /// v1 hierarchies first (in mountinfo order), then the v2 one if any.
    pub hierarchies: Vec<Hierarchy>,
}

impl HostLayout {
    /// Read mountinfo and classify the host.
    pub fn detect() -> Result<Self, CgroupError> {
        let text = fsio::read_string(Path::new(MOUNTINFO))?;
        let mounts = parse_mountinfo(&text);
        Self::from_mounts(&mounts, |mount_point| {
            // A v2 root without cgroup.controllers (very old kernels) simply
            // offers no controllers; that is reported when one is needed.
            fsio::read_string(&mount_point.join("cgroup.controllers"))
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        })
    }

    /// Classify a host from its cgroup mounts. `v2_controllers` returns the
    /// controllers a v2 mount offers (its root `cgroup.controllers`).
    pub fn from_mounts(
        mounts: &[CgroupMount],
        v2_controllers: impl Fn(&Path) -> Vec<String>,
    ) -> Result<Self, CgroupError> {
        // Named-only v1 hierarchies (name=systemd) do not make a host v1: a
        // v2 host may still mount one for old tools.
        let has_v1 = mounts
            .iter()
            .any(|m| !m.v2 && m.controllers.iter().any(|c| !c.starts_with("name=")));
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        if has_v1 {
            for m in mounts.iter().filter(|m| !m.v2 && !m.controllers.is_empty()) {
                let mut set = m.controllers.clone();
                set.sort();
                let existing = hierarchies.iter().position(|h| {
                    let mut other = h.controllers.clone();
                    other.sort();
                    other == set
                });
                let h = Hierarchy {
                    version: HierarchyVersion::V1,
                    controllers: m.controllers.clone(),
                    mount_point: m.mount_point.clone(),
                    mount_root: m.root.clone(),
                };
                match existing {
                    // The same hierarchy bind-mounted twice: prefer the
                    // canonical place, which is what the rest of the system
                    // (and a human reading errors) uses.
                    Some(i)
                        if is_canonical(&m.mount_point)
                            && !is_canonical(&hierarchies[i].mount_point) =>
                    {
                        hierarchies[i] = h
                    }
                    Some(_) => {}
                    None => hierarchies.push(h),
                }
            }
        }
        let v2 = mounts.iter().filter(|m| m.v2).min_by_key(|m| {
            if is_canonical(&m.mount_point) {
                0
            } else {
                1
            }
        });
        if let Some(m) = v2 {
            hierarchies.push(Hierarchy {
                version: HierarchyVersion::V2,
                controllers: v2_controllers(&m.mount_point),
                mount_point: m.mount_point.clone(),
                mount_root: m.root.clone(),
            });
        }
        let mode = match (has_v1, v2.is_some()) {
            (true, true) => CgroupMode::Hybrid,
            (true, false) => CgroupMode::V1,
            (false, true) => CgroupMode::V2,
            (false, false) => {
                return Err(CgroupError::NoHierarchy {
                    mountinfo: PathBuf::from(MOUNTINFO),
                })
            }
        };
        Ok(HostLayout { mode, hierarchies })
    }
}

fn is_canonical(mount_point: &Path) -> bool {
    mount_point.starts_with("/sys/fs/cgroup")
}

#[cfg(test)]
mod tests {
    use super::super::mountinfo::fixtures::*;
    use super::*;

    fn layout(text: &str) -> HostLayout {
        let mounts = parse_mountinfo(text);
        match HostLayout::from_mounts(&mounts, |_| vec!["hugetlb".to_string()]) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn hybrid_host_is_hybrid_with_unified_last() {
        let l = layout(HYBRID_MOUNTINFO);
        assert_eq!(l.mode, CgroupMode::Hybrid);
        assert_eq!(l.hierarchies.len(), 10);
        let last = &l.hierarchies[9];
        assert_eq!(last.version, HierarchyVersion::V2);
        assert_eq!(last.controllers, vec!["hugetlb"]);
        assert_eq!(last.mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn v1_host_is_v1() {
        let l = layout(V1_MOUNTINFO);
        assert_eq!(l.mode, CgroupMode::V1);
        assert_eq!(l.hierarchies.len(), 11);
        assert!(l
            .hierarchies
            .iter()
            .all(|h| h.version == HierarchyVersion::V1));
    }

    #[test]
    fn v2_host_keeps_one_canonical_hierarchy() {
        let l = layout(V2_MOUNTINFO);
        assert_eq!(l.mode, CgroupMode::V2);
        assert_eq!(l.hierarchies.len(), 1);
        assert_eq!(
            l.hierarchies[0].mount_point,
            PathBuf::from("/sys/fs/cgroup")
        );
    }

    #[test]
    fn named_only_v1_does_not_make_a_v1_host() {
        let text = format!(
            "{}50 26 0:40 / /run/systemd-v1 rw - cgroup cgroup rw,name=systemd\n",
            V2_MOUNTINFO
        );
        let l = layout(&text);
        assert_eq!(l.mode, CgroupMode::V2);
        assert_eq!(l.hierarchies.len(), 1);
    }

    #[test]
    fn duplicate_v1_mount_prefers_sys_fs_cgroup() {
        let text = "\
1 0 0:32 / /mnt/mem rw - cgroup cgroup rw,memory
2 0 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let l = layout(text);
        assert_eq!(l.hierarchies.len(), 1);
        assert_eq!(
            l.hierarchies[0].mount_point,
            PathBuf::from("/sys/fs/cgroup/memory")
        );
    }

    #[test]
    fn no_cgroup_mounts_is_an_error() {
        let mounts = parse_mountinfo("1 0 8:1 / / rw - ext4 /dev/sda rw\n");
        let err = HostLayout::from_mounts(&mounts, |_| Vec::new());
        assert!(matches!(err, Err(CgroupError::NoHierarchy { .. })));
    }
}
