//! Bind-mount sources opened by the runtime for a container with a new user
//! namespace. Its init resolves paths as the namespace's root, a host uid that may
//! lack search permission on a source's parents (a root-only directory): the
//! runtime, still root in the initial user namespace, opens each source as a
//! detached mount with `open_tree(OPEN_TREE_CLONE)` before the clone (as runc opens
//! mount sources from the host side), and the init attaches it with `move_mount`.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::{apply_err, plan_err_source, MountOp, RootfsError};

/// Which mounts get a source opened by the runtime (pure): every bind that is not
/// idmapped (those have their own, [`super::idmap`]), when the container creates a
/// user namespace.
pub fn planned(mounts: &[MountOp], userns: bool) -> Vec<usize> {
    if !userns {
        return Vec::new();
    }
    mounts
        .iter()
        .filter(|m| m.is_bind() && m.idmap.is_none() && m.typ != "cgroup" && m.typ != "cgroup2")
        .map(|m| m.index)
        .collect()
}

/// The opened sources (keep them until the init is cloned) and `(mounts index, fd)`
/// pairs for the plan.
pub type Opened = (Vec<OwnedFd>, Vec<(usize, RawFd)>);

/// Opens the planned sources.
pub fn prepare(mounts: &[MountOp], userns: bool) -> Result<Opened, RootfsError> {
    let mut fds = Vec::new();
    let mut index = Vec::new();
    for i in planned(mounts, userns) {
        let Some(m) = mounts.iter().find(|m| m.index == i) else {
            continue;
        };
        let src = m
            .source
            .as_deref()
            .ok_or_else(|| plan_err_source(m.index))?;
        let rec = m.flags & nix::mount::MsFlags::MS_REC.bits() != 0;
        let tree = match crate::sys::open_tree_clone(src, rec) {
            Ok(t) => t,
            // Before 5.2 (no open_tree): the init binds these by path, as husk did
            // before; only a source below a directory the namespace's root cannot
            // search then fails (with the init's error naming it).
            Err(e) if crate::sys::is_enosys(&e) => {
                tracing::debug!("no open_tree: mount sources are bound by path");
                return Ok((Vec::new(), Vec::new()));
            }
            Err(e) => {
                return Err(apply_err(
                    format!(
                        "mounts[{}] {} (source {})",
                        m.index,
                        m.dest.display(),
                        src.display()
                    ),
                    "open_tree",
                )(e))
            }
        };
        index.push((m.index, tree.as_raw_fd()));
        fds.push(tree);
    }
    Ok((fds, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(index: usize, typ: &str) -> MountOp {
        MountOp {
            index,
            dest: format!("/m{index}").into(),
            typ: typ.into(),
            source: Some("/src".into()),
            flags: nix::mount::MsFlags::MS_BIND.bits(),
            cleared: 0,
            propagation: Vec::new(),
            data: String::new(),
            rec_attr: None,
            idmap: None,
            copyup: false,
        }
    }

    #[test]
    fn only_plain_binds_in_a_user_namespace() {
        let mut tmpfs = bind(2, "tmpfs");
        tmpfs.flags = 0;
        let mounts = [bind(0, "bind"), bind(1, "cgroup"), tmpfs, bind(3, "none")];
        assert_eq!(planned(&mounts, true), [0, 3]);
        assert!(planned(&mounts, false).is_empty());
    }
}
