//! Which namespaces a container creates and which it joins, and the user/time
//! namespace set-up the parent does for the child.

use std::path::PathBuf;

mod idmap;
mod loopback;
pub mod netdev;
mod netlink;
mod userns;

pub use idmap::{write_id_maps, MapMethod, MapWriter};
pub use loopback::loopback_up;
pub use userns::userns_with_maps;

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};

/// Errors while entering or setting up namespaces.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// Opening a namespace file given by `path` failed.
    #[error("linux.namespaces: open {path}: {source}")]
    Open {
        /// The namespace path from the config.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `setns` into a namespace given by path failed.
    #[error("linux.namespaces: join {kind} namespace {path}: {source}")]
    Join {
        /// Namespace kind.
        kind: &'static str,
        /// The namespace path.
        path: PathBuf,
        /// The OS error.
        source: nix::Error,
    },
    /// `unshare` failed.
    #[error("unshare({flags:?}): {source}")]
    Unshare {
        /// Flags passed.
        flags: CloneFlags,
        /// The OS error.
        source: nix::Error,
    },
    /// Setting up `lo` in a new network namespace failed.
    #[error("set up the loopback device (lo) of the new network namespace: {0}")]
    Loopback(std::io::Error),
    /// Rootless: a map beyond the caller's own id needs a setuid helper that is missing.
    #[error(
        "{field}: mapping more than your own id as an unprivileged user needs {helper} \
         (Debian/Ubuntu package uidmap), not found in PATH, /usr/bin or /usr/sbin"
    )]
    MapHelperMissing {
        /// `newuidmap` or `newgidmap`.
        helper: &'static str,
        /// The config field.
        field: &'static str,
    },
    /// Rootless: the helper could not be started.
    #[error("run {}: {source}", helper.display())]
    MapHelperRun {
        /// The helper's path.
        helper: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Rootless: the helper refused the mapping (e.g. a range not in /etc/subuid).
    #[error(
        "{field}: {command} failed ({status}): {stderr} (the ranges must be yours in \
         /etc/subuid and /etc/subgid)"
    )]
    MapHelperRefused {
        /// The config field.
        field: &'static str,
        /// The command line run.
        command: String,
        /// Its exit status.
        status: String,
        /// What it said.
        stderr: String,
    },
    /// Writing an id map or time offsets failed.
    #[error("write {file} of pid {pid}: {source}")]
    Write {
        /// The /proc file.
        file: &'static str,
        /// Whose.
        pid: i32,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The namespace part of a container plan: pure data computed from the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespacePlan {
    /// Namespaces to create (CLONE_NEW* bits).
    pub create: u64,
    /// Namespaces to join, user namespace first (the others may be owned by it).
    pub join: Vec<(u64, PathBuf)>,
    /// uid_map lines for a new user namespace.
    pub uid_map: String,
    /// gid_map lines for a new user namespace.
    pub gid_map: String,
    /// timens_offsets lines for a new time namespace.
    pub time_offsets: String,
    /// How the maps are written (see [`NamespacePlan::set_rootless`]).
    #[serde(default)]
    pub map_method: MapMethod,
}

/// CLONE_NEWTIME (not in every libc/nix version).
pub const CLONE_NEWTIME: u64 = 0x80;

fn flag(t: LinuxNamespaceType) -> u64 {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS.bits() as u64,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP.bits() as u64,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS.bits() as u64,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC.bits() as u64,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER.bits() as u64,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID.bits() as u64,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET.bits() as u64,
        LinuxNamespaceType::Time => CLONE_NEWTIME,
    }
}

/// Short kernel name of a namespace flag (as in /proc/pid/ns/).
pub fn name(flag: u64) -> &'static str {
    const NAMES: &[(u64, &str)] = &[
        (0x0002_0000, "mnt"),
        (0x0200_0000, "cgroup"),
        (0x0400_0000, "uts"),
        (0x0800_0000, "ipc"),
        (0x1000_0000, "user"),
        (0x2000_0000, "pid"),
        (0x4000_0000, "net"),
        (CLONE_NEWTIME, "time"),
    ];
    NAMES
        .iter()
        .find(|(f, _)| *f == flag)
        .map(|(_, n)| *n)
        .unwrap_or("?")
}

fn map_lines(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

impl NamespacePlan {
    /// Computes the plan from a (validated) spec.
    pub fn from_spec(spec: &Spec) -> Self {
        let mut plan = NamespacePlan::default();
        let Some(linux) = spec.linux() else {
            return plan;
        };
        for ns in linux.namespaces().iter().flatten() {
            match ns.path() {
                Some(p) => plan.join.push((flag(ns.typ()), p.clone())),
                None => plan.create |= flag(ns.typ()),
            }
        }
        // Join the user namespace first (the others may belong to it) and the mount
        // namespace last (runc's order), the rest in config order.
        let user = flag(LinuxNamespaceType::User);
        let mnt = flag(LinuxNamespaceType::Mount);
        plan.join
            .sort_by_key(|(f, _)| (*f != user) as u8 + (*f == mnt) as u8 * 2);
        if plan.creates(user) {
            plan.uid_map = map_lines(linux.uid_mappings().as_deref().unwrap_or_default());
            plan.gid_map = map_lines(linux.gid_mappings().as_deref().unwrap_or_default());
        }
        if let Some(offsets) = linux.time_offsets() {
            let mut keys: Vec<_> = offsets.keys().collect();
            keys.sort();
            for k in keys {
                let o = &offsets[k];
                plan.time_offsets.push_str(&format!(
                    "{k} {} {}\n",
                    o.secs().unwrap_or(0),
                    o.nanosecs().unwrap_or(0)
                ));
            }
        }
        plan
    }

    /// Rootless: plan how the maps are written for a caller with effective ids
    /// `euid`/`egid` ([`MapMethod::plan`]).
    pub fn set_rootless(&mut self, rootless: bool, euid: u32, egid: u32) {
        self.map_method = MapMethod::plan(rootless, &self.uid_map, &self.gid_map, euid, egid);
    }

    /// True if the namespace `flag` is created.
    pub fn creates(&self, flag: u64) -> bool {
        self.create & flag != 0
    }

    /// True if the namespace `flag` is created or joined (the container has its own).
    pub fn owns(&self, flag: u64) -> bool {
        self.creates(flag) || self.join.iter().any(|(f, _)| *f == flag)
    }

    /// One `clone` can make the container's init when nothing is joined and no time
    /// namespace is needed (its offsets must be written before any process enters it).
    /// Otherwise an intermediate process joins, unshares, and forks the init.
    pub fn single_clone(&self) -> bool {
        self.join.is_empty() && !self.creates(CLONE_NEWTIME)
    }

    /// Flags for the `clone` that makes the init on the fast path. The cgroup namespace
    /// is left out: the init unshares it once the parent has put it into its cgroup.
    pub fn clone_flags(&self) -> u64 {
        self.create & !(CloneFlags::CLONE_NEWCGROUP.bits() as u64)
    }
}

/// Joins every namespace in `join` (in order). Every path is opened first, in the
/// runtime's mounts: once a mount namespace is joined, a later path would resolve
/// in the container's (runc opens them all first too). Used by the intermediate
/// process and by exec.
pub fn join_all(join: &[(u64, PathBuf)]) -> Result<(), NamespaceError> {
    let files = join
        .iter()
        .map(|(_, path)| {
            std::fs::File::open(path).map_err(|source| NamespaceError::Open {
                path: path.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for ((f, path), file) in join.iter().zip(files) {
        nix::sched::setns(file, CloneFlags::from_bits_truncate(*f as i32)).map_err(|source| {
            NamespaceError::Join {
                kind: name(*f),
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(())
}

/// `unshare(flags)`.
pub fn unshare(flags: u64) -> Result<(), NamespaceError> {
    if flags == 0 {
        return Ok(());
    }
    let f = CloneFlags::from_bits_retain(flags as i32);
    nix::sched::unshare(f).map_err(|source| NamespaceError::Unshare { flags: f, source })
}

/// Writes time namespace offsets for the children of the calling process.
pub fn write_time_offsets(plan: &NamespacePlan) -> Result<(), NamespaceError> {
    if plan.time_offsets.is_empty() {
        return Ok(());
    }
    std::fs::write("/proc/self/timens_offsets", &plan.time_offsets).map_err(|source| {
        NamespaceError::Write {
            file: "timens_offsets",
            pid: std::process::id() as i32,
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(linux: &str) -> Spec {
        serde_json::from_str(&format!(r#"{{"ociVersion":"1.0.2","linux":{linux}}}"#)).unwrap()
    }

    #[test]
    fn default_namespaces_single_clone() {
        let p = NamespacePlan::from_spec(&spec(
            r#"{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"cgroup"}]}"#,
        ));
        assert!(p.single_clone());
        assert!(p.creates(CloneFlags::CLONE_NEWCGROUP.bits() as u64));
        assert_eq!(
            p.clone_flags() & CloneFlags::CLONE_NEWCGROUP.bits() as u64,
            0
        );
        assert!(p.clone_flags() & CloneFlags::CLONE_NEWPID.bits() as u64 != 0);
    }

    #[test]
    fn joined_user_goes_first() {
        let p = NamespacePlan::from_spec(&spec(
            r#"{"namespaces":[{"type":"network","path":"/proc/1/ns/net"},{"type":"user","path":"/proc/1/ns/user"},{"type":"pid"}]}"#,
        ));
        assert!(!p.single_clone());
        assert_eq!(name(p.join[0].0), "user");
        assert_eq!(name(p.join[1].0), "net");
    }

    #[test]
    fn joined_mount_goes_last() {
        let p = NamespacePlan::from_spec(&spec(
            r#"{"namespaces":[{"type":"mount","path":"/proc/1/ns/mnt"},{"type":"network","path":"/proc/1/ns/net"},{"type":"user","path":"/proc/1/ns/user"},{"type":"ipc","path":"/proc/1/ns/ipc"}]}"#,
        ));
        let order: Vec<_> = p.join.iter().map(|(f, _)| name(*f)).collect();
        assert_eq!(order, ["user", "net", "ipc", "mnt"]);
    }

    #[test]
    fn maps_and_offsets() {
        let p = NamespacePlan::from_spec(&spec(
            r#"{"namespaces":[{"type":"user"},{"type":"time"}],"uidMappings":[{"containerID":0,"hostID":1000,"size":10}],"gidMappings":[{"containerID":0,"hostID":2000,"size":1}],"timeOffsets":{"monotonic":{"secs":5,"nanosecs":7}}}"#,
        ));
        assert_eq!(p.uid_map, "0 1000 10\n");
        assert_eq!(p.gid_map, "0 2000 1\n");
        assert_eq!(p.time_offsets, "monotonic 5 7\n");
        assert!(!p.single_clone());
    }
}
