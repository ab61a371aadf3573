//! Idmapped bind mounts: `mounts[].uidMappings` / `gidMappings` and the `idmap` /
//! `ridmap` options.
//!
//! Planned from the config ([`plan`], pure). Before the init is cloned, the runtime
//! (privileged in the initial user namespace, which `MOUNT_ATTR_IDMAP` needs) makes
//! each source a detached mount with `open_tree(OPEN_TREE_CLONE)`, idmaps it with
//! `mount_setattr` and a user namespace holding the mount's mappings
//! ([`prepare`]); the init inherits the fds and attaches each one at its destination
//! with `move_mount` when its turn in `mounts` comes, inside its own mount (and user)
//! namespace.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};
use serde::{Deserialize, Serialize};

use super::{apply_err, RootfsError};

/// How one mount is idmapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdmapOp {
    /// uid_map lines of the mapping's user namespace.
    pub uid_map: String,
    /// gid_map lines.
    pub gid_map: String,
    /// `ridmap`: the mapping also applies to the submounts of an `rbind`.
    pub recursive: bool,
}

fn map_lines(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

fn plan_err(index: usize, field: &str, reason: impl Into<String>) -> RootfsError {
    RootfsError::Plan {
        field: format!("mounts[{index}]{field}"),
        reason: reason.into(),
    }
}

/// The container's own user namespace mappings, if it creates one with mappings.
fn container_maps(spec: &Spec) -> Option<(String, String)> {
    let linux = spec.linux().as_ref()?;
    let creates_userns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let uids = linux.uid_mappings().as_deref().unwrap_or_default();
    let gids = linux.gid_mappings().as_deref().unwrap_or_default();
    (creates_userns && !uids.is_empty() && !gids.is_empty())
        .then(|| (map_lines(uids), map_lines(gids)))
}

/// Plans `mounts[index]`: `None` unless it has mappings or an `idmap`/`ridmap` option.
/// The mount's own mappings win; without them the container's user namespace
/// mappings are used; with neither it is an error (runtime-spec).
pub fn plan(index: usize, m: &Mount, spec: &Spec) -> Result<Option<IdmapOp>, RootfsError> {
    let opts = m.options().as_deref().unwrap_or_default();
    let recursive = opts.iter().any(|o| o == "ridmap");
    let option = recursive || opts.iter().any(|o| o == "idmap");
    let (uids, gids) = (m.uid_mappings(), m.gid_mappings());
    if uids.is_none() && gids.is_none() && !option {
        return Ok(None);
    }
    match (uids, gids) {
        (Some(_), None) => {
            return Err(plan_err(
                index,
                ".gidMappings",
                "must be set along with uidMappings",
            ))
        }
        (None, Some(_)) => {
            return Err(plan_err(
                index,
                ".uidMappings",
                "must be set along with gidMappings",
            ))
        }
        _ => {}
    }
    let is_bind =
        m.typ().as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind");
    if !is_bind {
        return Err(plan_err(
            index,
            ".options",
            "idmapped mounts are only supported for bind mounts",
        ));
    }
    let (uid_map, gid_map) = match (uids, gids) {
        (Some(u), Some(g)) => {
            if u.is_empty() || g.is_empty() {
                // Empty lists: take the container's mappings, as when they are absent.
                container_maps(spec).ok_or_else(|| no_maps(index))?
            } else {
                (map_lines(u), map_lines(g))
            }
        }
        _ => container_maps(spec).ok_or_else(|| no_maps(index))?,
    };
    Ok(Some(IdmapOp {
        uid_map,
        gid_map,
        recursive,
    }))
}

fn no_maps(index: usize) -> RootfsError {
    plan_err(
        index,
        ".uidMappings",
        "an idmapped mount needs uidMappings and gidMappings, or a new user namespace with \
         linux.uidMappings and linux.gidMappings to take them from",
    )
}

/// Idmapped sources made by the runtime before the clone; the init inherits the fds
/// (listed in `RootfsPlan::idmap_fds`). Dropping this closes the runtime's copies.
#[derive(Debug, Default)]
pub struct IdmapSources {
    fds: Vec<OwnedFd>,
}

/// Makes every idmapped source of `mounts` and returns `(mount index, fd)` pairs for
/// the plan. Must run in the runtime (initial user namespace), single-threaded.
pub fn prepare(
    mounts: &[super::MountOp],
) -> Result<(IdmapSources, Vec<(usize, RawFd)>), RootfsError> {
    let mut sources = IdmapSources::default();
    let mut index = Vec::new();
    let mut userns: HashMap<(String, String), OwnedFd> = HashMap::new();
    for m in mounts {
        let Some(op) = &m.idmap else { continue };
        let what = format!("mounts[{}] {}", m.index, m.dest.display());
        let key = (op.uid_map.clone(), op.gid_map.clone());
        if !userns.contains_key(&key) {
            let fd =
                crate::namespaces::userns_with_maps(&op.uid_map, &op.gid_map).map_err(|e| {
                    RootfsError::Plan {
                        field: format!("mounts[{}].uidMappings", m.index),
                        reason: e.to_string(),
                    }
                })?;
            userns.insert(key.clone(), fd);
        }
        let ns = userns.get(&key).ok_or_else(|| no_maps(m.index))?;
        let src = m
            .source
            .as_deref()
            .ok_or_else(|| plan_err(m.index, ".source", "a bind mount needs a source"))?;
        let rec_bind = m.flags & nix::mount::MsFlags::MS_REC.bits() != 0;
        let tree = crate::sys::open_tree_clone(src, rec_bind).map_err(apply_err(
            format!("{what} (source {})", src.display()),
            "open_tree",
        ))?;
        crate::sys::mount_setattr_idmap(tree.as_fd(), ns.as_fd(), op.recursive)
            .map_err(apply_err(what, "mount_setattr(MOUNT_ATTR_IDMAP)"))?;
        index.push((m.index, tree.as_raw_fd()));
        sources.fds.push(tree);
    }
    Ok((sources, index))
}

/// In the init: attaches the idmapped source prepared for a mount on `dest`.
pub(super) fn attach(
    fd: RawFd,
    dest: std::os::fd::BorrowedFd<'_>,
    what: String,
) -> Result<(), RootfsError> {
    // SAFETY: the runtime opened `fd` before the clone for this one mount; the init
    // inherited it by number and nothing else in it owns or uses it.
    let tree = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
    crate::sys::move_mount_inherited(tree, dest).map_err(apply_err(what, "move_mount"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(linux: &str, mount: &str) -> (Spec, Mount) {
        let s: Spec = serde_json::from_str(&format!(
            r#"{{"ociVersion":"1.2.0","linux":{linux},"mounts":[{mount}]}}"#
        ))
        .unwrap();
        let m = s.mounts().as_ref().unwrap()[0].clone();
        (s, m)
    }

    const USERNS: &str = r#"{"namespaces":[{"type":"user"},{"type":"mount"}],
        "uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],
        "gidMappings":[{"containerID":0,"hostID":200000,"size":65536}]}"#;

    #[test]
    fn own_mappings() {
        let (s, m) = spec(
            "{}",
            r#"{"destination":"/m","source":"/s","options":["rbind","ridmap"],
            "uidMappings":[{"containerID":0,"hostID":1234,"size":1}],
            "gidMappings":[{"containerID":0,"hostID":4321,"size":2}]}"#,
        );
        let op = plan(0, &m, &s).unwrap().unwrap();
        assert_eq!(op.uid_map, "0 1234 1\n");
        assert_eq!(op.gid_map, "0 4321 2\n");
        assert!(op.recursive);
    }

    #[test]
    fn container_mappings_by_default() {
        let (s, m) = spec(
            USERNS,
            r#"{"destination":"/m","source":"/s","options":["bind","idmap"]}"#,
        );
        let op = plan(0, &m, &s).unwrap().unwrap();
        assert_eq!(op.uid_map, "0 100000 65536\n");
        assert_eq!(op.gid_map, "0 200000 65536\n");
        assert!(!op.recursive);
    }

    #[test]
    fn plain_mounts_are_not_idmapped() {
        let (s, m) = spec(
            USERNS,
            r#"{"destination":"/m","source":"/s","options":["bind"]}"#,
        );
        assert_eq!(plan(0, &m, &s).unwrap(), None);
    }

    #[test]
    fn errors_name_the_field() {
        for (linux, mount, field) in [
            (
                "{}",
                r#"{"destination":"/m","source":"/s","options":["bind","idmap"]}"#,
                "mounts[0].uidMappings",
            ),
            (
                "{}",
                r#"{"destination":"/m","source":"/s","options":["bind"],"uidMappings":[{"containerID":0,"hostID":1,"size":1}]}"#,
                "mounts[0].gidMappings",
            ),
            (
                USERNS,
                r#"{"destination":"/m","type":"tmpfs","source":"tmpfs","options":["idmap"]}"#,
                "mounts[0].options",
            ),
        ] {
            let (s, m) = spec(linux, mount);
            let e = plan(0, &m, &s).unwrap_err().to_string();
            assert!(e.contains(field), "{mount}: {e}");
        }
    }
}
