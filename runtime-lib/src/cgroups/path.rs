//! Where a container's cgroup goes in each hierarchy (pure).
//!
//! runc's cgroupfs rules: no `linux.cgroupsPath` means `<own cgroup>/<id>`;
//! a relative path is joined to the caller's own cgroup of that hierarchy;
//! an absolute path starts at the hierarchy root. Paths are cleaned
//! lexically with `..` clamped at the root, so no path escapes a hierarchy.

use std::path::PathBuf;

use super::error::CgroupError;
use super::layout::{Hierarchy, HierarchyVersion};
use super::mountinfo::ProcCgroupEntry;

/// The cgroup asked for, after cleaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// Joined to the caller's own cgroup in each hierarchy (no leading `/`).
    Relative(String),
    /// From each hierarchy's root (leading `/`).
    Absolute(String),
}

/// Clean a cgroup path like runc's `utils.CleanPath`: collapse `.`, `..`
/// and repeated slashes; `..` never climbs above the start.
pub fn clean(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Turn `linux.cgroupsPath` and the container id into a [`Requested`] path.
pub fn requested(cgroups_path: Option<&str>, id: &str) -> Result<Requested, CgroupError> {
    let given = cgroups_path.filter(|p| !p.is_empty());
    let Some(raw) = given else {
        // The id becomes a directory name: refuse anything that would be a
        // path instead (the spec module validates ids too; this keeps the
        // module safe on its own).
        if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
            return Err(CgroupError::BadPath {
                path: String::new(),
                reason: format!(
                    "the container id {id:?} cannot be used as the default cgroup name"
                ),
            });
        }
        return Ok(Requested::Relative(id.to_string()));
    };
    if raw.contains('\0') {
        return Err(bad(raw, "contains a NUL byte"));
    }
    let cleaned = clean(raw);
    if cleaned == "/" {
        return Err(bad(
            raw,
            "resolves to the root of the hierarchy, which cannot hold a container",
        ));
    }
    if cleaned.is_empty() {
        return Err(bad(raw, "resolves to the caller's own cgroup"));
    }
    Ok(if cleaned.starts_with('/') {
        Requested::Absolute(cleaned)
    } else {
        Requested::Relative(cleaned)
    })
}

fn bad(path: &str, reason: &str) -> CgroupError {
    CgroupError::BadPath {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

/// The caller's own cgroup in `h`, from its `/proc/self/cgroup` entries.
pub fn own_cgroup<'a>(h: &Hierarchy, entries: &'a [ProcCgroupEntry]) -> Option<&'a str> {
    let found = match h.version {
        HierarchyVersion::V2 => entries
            .iter()
            .find(|e| e.hierarchy_id == 0 && e.controllers.is_empty()),
        HierarchyVersion::V1 => {
            let mut want = h.controllers.clone();
            want.sort();
            entries.iter().find(|e| {
                let mut have = e.controllers.clone();
                have.sort();
                e.hierarchy_id != 0 && have == want
            })
        }
    };
    found.map(|e| e.path.as_str())
}

/// The absolute cgroup path (inside hierarchy `h`) for `req`, given the
/// caller's own cgroup there.
pub fn cgroup_path(
    req: &Requested,
    own: Option<&str>,
    h: &Hierarchy,
) -> Result<String, CgroupError> {
    match req {
        Requested::Absolute(p) => Ok(p.clone()),
        Requested::Relative(p) => {
            let own = own.ok_or_else(|| CgroupError::BadPath {
                path: p.clone(),
                reason: format!(
                    "the caller's own cgroup in the hierarchy at {} is not listed in /proc/self/cgroup",
                    h.mount_point.display()
                ),
            })?;
            Ok(clean(&format!("{own}/{p}")))
        }
    }
}

/// The host directory of cgroup `path` (absolute inside the hierarchy).
///
/// When the hierarchy is mounted with a root other than `/` (inside a
/// container without a cgroup namespace) only cgroups below that root are
/// reachable.
pub fn host_dir(h: &Hierarchy, path: &str) -> Result<PathBuf, CgroupError> {
    let root = h.mount_root.trim_end_matches('/');
    let rel = if root.is_empty() {
        Some(path.trim_start_matches('/'))
    } else if path == root {
        Some("")
    } else {
        path.strip_prefix(root)
            .and_then(|rest| rest.strip_prefix('/'))
    };
    match rel {
        Some(rel) => Ok(h.mount_point.join(rel)),
        None => Err(CgroupError::BadPath {
            path: path.to_string(),
            reason: format!(
                "is outside the part of the hierarchy mounted at {} (which shows {})",
                h.mount_point.display(),
                h.mount_root
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::HostLayout;
    use super::super::mountinfo::{fixtures::*, parse_mountinfo, parse_proc_cgroup};
    use super::*;

    fn dirs(mountinfo: &str, proc_cgroup: &str, path: Option<&str>, id: &str) -> Vec<PathBuf> {
        let layout = HostLayout::from_mounts(&parse_mountinfo(mountinfo), |_| Vec::new())
            .unwrap_or_else(|e| panic!("{e}"));
        let entries = parse_proc_cgroup(proc_cgroup).unwrap_or_default();
        let req = requested(path, id).unwrap_or_else(|e| panic!("{e}"));
        layout
            .hierarchies
            .iter()
            .map(|h| {
                let p =
                    cgroup_path(&req, own_cgroup(h, &entries), h).unwrap_or_else(|e| panic!("{e}"));
                host_dir(h, &p).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    }

    #[test]
    fn clean_matches_runc() {
        assert_eq!(clean("/a/b/../c//d/."), "/a/c/d");
        assert_eq!(clean("../../x"), "x");
        assert_eq!(clean("/../../x"), "/x");
        assert_eq!(clean("a/../../b"), "b");
        assert_eq!(clean("/"), "/");
        assert_eq!(clean("."), "");
    }

    #[test]
    fn default_is_own_cgroup_plus_id() {
        let d = dirs(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP, None, "ctr1");
        assert_eq!(d[0], PathBuf::from("/sys/fs/cgroup/cpu/ctr1"));
        assert_eq!(
            d[3],
            PathBuf::from("/sys/fs/cgroup/memory/process_api/4d07/ctr1")
        );
        assert_eq!(d[9], PathBuf::from("/sys/fs/cgroup/unified/ctr1"));
    }

    #[test]
    fn relative_joins_own_cgroup_per_hierarchy() {
        let d = dirs(V1_MOUNTINFO, V1_PROC_CGROUP, Some("pod/ctr"), "x");
        assert_eq!(
            d[0],
            PathBuf::from("/sys/fs/cgroup/systemd/system.slice/ssh.service/pod/ctr")
        );
        assert_eq!(
            d[1],
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/system.slice/ssh.service/pod/ctr")
        );
        assert_eq!(
            d[3],
            PathBuf::from("/sys/fs/cgroup/net_cls,net_prio/pod/ctr")
        );
    }

    #[test]
    fn absolute_starts_at_the_root_and_cannot_escape() {
        let d = dirs(
            V2_MOUNTINFO,
            V2_PROC_CGROUP,
            Some("/../../machine/ctr"),
            "x",
        );
        assert_eq!(d, vec![PathBuf::from("/sys/fs/cgroup/machine/ctr")]);
        let d = dirs(V2_MOUNTINFO, V2_PROC_CGROUP, Some("../../../etc"), "x");
        assert_eq!(
            d,
            vec![PathBuf::from(
                "/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope/etc"
            )]
        );
    }

    #[test]
    fn nested_mount_root_is_stripped() {
        let d = dirs(NESTED_V1_MOUNTINFO, NESTED_V1_PROC_CGROUP, None, "inner");
        assert_eq!(d, vec![PathBuf::from("/sys/fs/cgroup/memory/inner")]);
    }

    #[test]
    fn path_outside_nested_mount_root_is_refused() {
        let layout = HostLayout::from_mounts(&parse_mountinfo(NESTED_V1_MOUNTINFO), |_| Vec::new())
            .unwrap_or_else(|e| panic!("{e}"));
        let err = host_dir(&layout.hierarchies[0], "/elsewhere")
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("outside"));
    }

    #[test]
    fn root_own_and_bad_ids_are_refused() {
        assert!(requested(Some("/"), "x").is_err());
        assert!(requested(Some("/a/.."), "x").is_err());
        assert!(requested(Some("."), "x").is_err());
        assert!(requested(None, "../x").is_err());
        assert!(requested(None, "..").is_err());
        assert_eq!(
            requested(Some(""), "id").ok(),
            Some(Requested::Relative("id".into()))
        );
    }
}
