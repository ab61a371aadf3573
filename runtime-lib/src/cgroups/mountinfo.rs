//! Pure parsers for `/proc/self/mountinfo` and `/proc/self/cgroup`.
//!
//! Only the cgroup lines matter here; everything else is skipped. The
//! parsers take text so they are unit-tested with fixtures of v1, v2 and
//! hybrid hosts.

use std::path::PathBuf;

/// Controllers a v1 hierarchy can carry. Mount options that are not in this
/// list (`rw`, `xattr`, `clone_children`, `release_agent=...`, ...) are not
/// controllers; `name=X` options are kept as named hierarchies.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// One `cgroup` or `cgroup2` mount found in mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// `true` for `cgroup2`, `false` for a v1 `cgroup` mount.
    pub v2: bool,
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// The cgroup (relative to the hierarchy root) shown at the mount point;
    /// `/` unless we run inside a container without a cgroup namespace.
    pub root: String,
    /// v1: controllers from the super options in kernel order, plus
    /// `name=X` for named hierarchies. v2: empty (read `cgroup.controllers`).
    pub controllers: Vec<String>,
}

/// One line of `/proc/self/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroupEntry {
    /// Hierarchy id; 0 is the v2 hierarchy.
    pub hierarchy_id: u32,
    /// Controllers of that hierarchy (empty for v2).
    pub controllers: Vec<String>,
    /// The process's cgroup inside that hierarchy, always absolute.
    pub path: String,
}

/// Undo the octal escapes (`\040` for a space) mountinfo uses in paths.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let v = u32::from(oct[0] - b'0') * 64
                    + u32::from(oct[1] - b'0') * 8
                    + u32::from(oct[2] - b'0');
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every cgroup mount in a mountinfo text, in file order.
///
/// Hand-written, not `procfs`'s `MountInfo`: that one keeps `\040` escapes in paths,
/// loses the order of the super options (the v1 controllers) in a map, and fails the
/// whole file on one line it cannot read.
///
/// Lines that are malformed or of another filesystem type are skipped:
/// mountinfo is written by the kernel, so a line we cannot read is one we
/// would not use anyway.
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    text.lines().filter_map(parse_mount_line).collect()
}

fn parse_mount_line(line: &str) -> Option<CgroupMount> {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split(' ').collect();
    let right: Vec<&str> = right.split(' ').collect();
    if left.len() < 6 || right.len() < 3 {
        return None;
    }
    let fstype = right[0];
    let v2 = match fstype {
        "cgroup2" => true,
        "cgroup" => false,
        _ => return None,
    };
    let controllers = if v2 {
        Vec::new()
    } else {
        right[2]
            .split(',')
            .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
            .map(str::to_string)
            .collect()
    };
    Some(CgroupMount {
        v2,
        mount_point: PathBuf::from(unescape(left[4])),
        root: unescape(left[3]),
        controllers,
    })
}

/// Every entry of a `/proc/<pid>/cgroup` text.
///
/// Returns `None` for a malformed line: unlike mountinfo, a wrong line here
/// would put the container in the wrong place, so the caller reports it.
pub fn parse_proc_cgroup(text: &str) -> Option<Vec<ProcCgroupEntry>> {
    use procfs::FromBufRead;
    // procfs parses the lines; blank lines (a trailing one) are not entries.
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let parsed = procfs::ProcessCGroups::from_buf_read(lines.join("\n").as_bytes()).ok()?;
    parsed
        .into_iter()
        .map(|c| {
            c.pathname.starts_with('/').then_some(ProcCgroupEntry {
                hierarchy_id: c.hierarchy,
                controllers: c.controllers,
                path: c.pathname,
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! mountinfo and /proc/self/cgroup texts of the three host layouts.

    /// This project's machine: v1 controllers, name=systemd, cgroup2 at unified.
    pub const HYBRID_MOUNTINFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// `/proc/self/cgroup` on the hybrid machine.
    pub const HYBRID_PROC_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/4d07
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    /// A classic systemd v1 host: cpu,cpuacct co-mounted, no cgroup2 at all.
    pub const V1_MOUNTINFO: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
32 25 0:29 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,hugetlb
33 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset,clone_children
34 25 0:31 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,freezer
35 25 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,pids
36 25 0:33 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,devices
37 25 0:34 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup rw,blkio
38 25 0:35 / /sys/fs/cgroup/rdma rw,nosuid,nodev,noexec,relatime shared:22 - cgroup cgroup rw,rdma
";

    /// `/proc/self/cgroup` on the v1 host, inside a systemd service.
    pub const V1_PROC_CGROUP: &str = "\
11:rdma:/
10:blkio:/system.slice/ssh.service
9:devices:/system.slice/ssh.service
8:pids:/system.slice/ssh.service
7:freezer:/
6:cpuset:/
5:hugetlb:/
4:net_cls,net_prio:/
3:memory:/system.slice/ssh.service
2:cpu,cpuacct:/system.slice/ssh.service
1:name=systemd:/system.slice/ssh.service
";

    /// A pure v2 host, with a v1 mount of a named hierarchy that must be
    /// ignored, and a path with an escaped space.
    pub const V2_MOUNTINFO: &str = "\
26 23 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
90 26 0:23 / /tmp/with\\040space rw,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
";

    /// `/proc/self/cgroup` on the v2 host.
    pub const V2_PROC_CGROUP: &str = "0::/user.slice/user-0.slice/session-1.scope\n";

    /// A v1 container without a cgroup namespace: mounts expose a sub-tree.
    pub const NESTED_V1_MOUNTINFO: &str = "\
700 690 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
";

    /// `/proc/self/cgroup` inside that container.
    pub const NESTED_V1_PROC_CGROUP: &str = "4:memory:/docker/abc\n";
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn hybrid_mountinfo_lists_v1_and_unified() {
        let mounts = parse_mountinfo(HYBRID_MOUNTINFO);
        assert_eq!(mounts.len(), 10);
        assert_eq!(mounts[0].mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(mounts[0].controllers, vec!["cpu"]);
        assert_eq!(mounts[8].controllers, vec!["name=systemd"]);
        assert!(mounts[9].v2);
        assert_eq!(
            mounts[9].mount_point,
            PathBuf::from("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn v1_super_options_keep_only_controllers() {
        let mounts = parse_mountinfo(V1_MOUNTINFO);
        assert_eq!(mounts[0].controllers, vec!["name=systemd"]);
        assert_eq!(mounts[1].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(mounts[5].controllers, vec!["cpuset"]);
        assert!(mounts.iter().all(|m| !m.v2));
    }

    #[test]
    fn v2_mountinfo_unescapes_paths() {
        let mounts = parse_mountinfo(V2_MOUNTINFO);
        assert_eq!(mounts.len(), 2);
        assert!(mounts[0].v2 && mounts[0].controllers.is_empty());
        assert_eq!(mounts[1].mount_point, PathBuf::from("/tmp/with space"));
    }

    #[test]
    fn nested_mount_root_is_kept() {
        let mounts = parse_mountinfo(NESTED_V1_MOUNTINFO);
        assert_eq!(mounts[0].root, "/docker/abc");
    }

    #[test]
    fn proc_cgroup_parses_v1_and_v2_lines() {
        let e = parse_proc_cgroup(V1_PROC_CGROUP).unwrap_or_default();
        assert_eq!(e.len(), 11);
        assert_eq!(e[9].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(e[9].path, "/system.slice/ssh.service");
        let e = parse_proc_cgroup(HYBRID_PROC_CGROUP).unwrap_or_default();
        assert_eq!(e.last().map(|x| x.hierarchy_id), Some(0));
        assert_eq!(e.last().map(|x| x.controllers.len()), Some(0));
    }

    #[test]
    fn proc_cgroup_rejects_garbage() {
        assert_eq!(parse_proc_cgroup("x:y\n"), None);
        assert_eq!(parse_proc_cgroup("1:cpu:relative\n"), None);
    }

    #[test]
    fn unescape_handles_octal_and_plain() {
        assert_eq!(unescape("a\\040b"), "a b");
        assert_eq!(unescape("tab\\011"), "tab\t");
        assert_eq!(unescape("plain\\"), "plain\\");
        assert_eq!(unescape("\\99x"), "\\99x");
    }
}
