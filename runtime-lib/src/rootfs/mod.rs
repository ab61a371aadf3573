//! The container's root filesystem: mounts, /dev, masked and read-only paths,
//! then pivot_root (or chroot / MS_MOVE). Planned in [`plan`], applied in the init.

mod dev;
pub mod idmap;
mod mount;
mod pivot;
pub mod plan;

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

pub use dev::{default_devices, DeviceOp};
pub use plan::MountOp;

/// Errors while planning or building the rootfs.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A config field cannot be turned into a mount.
    #[error("config.json: {field}: {reason}")]
    Plan {
        /// JSON path.
        field: String,
        /// Why.
        reason: String,
    },
    /// A syscall failed while applying `what` (e.g. `mounts[3] /proc`).
    #[error("{what}: {op}: {source}")]
    Apply {
        /// The config entry or step.
        what: String,
        /// The operation (mount, mknod, pivot_root, ...).
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A path inside the rootfs could not be resolved safely.
    #[error(transparent)]
    Path(#[from] crate::paths::PathError),
    /// Rootless: a mount only a process privileged in the initial user namespace may
    /// make (block-device filesystems, most network ones, ...).
    #[error(
        "{0} (running rootless, this mount needs privileges in the initial user \
         namespace, which an unprivileged user does not have: use a bind mount of a \
         directory you own, or a filesystem type that can be mounted in a user \
         namespace such as tmpfs, proc, mqueue, devpts or sysfs with a network namespace)"
    )]
    NeedsInitNs(Box<RootfsError>),
    /// A failure the container's unmapped user namespace explains.
    #[error(
        "{0} (the container's user namespace has no uid/gid mappings: nothing can be created \
         on a filesystem mounted inside it and uid=/gid= mount options are refused; \
         pre-create the mount points, drop such mounts, or set linux.uidMappings/gidMappings)"
    )]
    Unmapped(Box<RootfsError>),
}

impl RootfsError {
    /// True if an OS error behind this one is `errno`.
    fn has_errno(&self, errno: i32) -> bool {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.raw_os_error() == Some(errno) {
                    return true;
                }
            }
            cur = e.source();
        }
        false
    }
}

pub(crate) fn apply_err<E: Into<std::io::Error>>(
    what: impl Into<String>,
    op: &'static str,
) -> impl FnOnce(E) -> RootfsError {
    let what = what.into();
    move |e| RootfsError::Apply {
        what,
        op,
        source: e.into(),
    }
}

/// Everything needed to build the rootfs inside the new mount namespace.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RootfsPlan {
    /// Absolute host path of the rootfs.
    pub rootfs: PathBuf,
    /// `mounts`, in order.
    pub mounts: Vec<MountOp>,
    /// `root.readonly`.
    pub readonly: bool,
    /// `linux.rootfsPropagation` as MS_* flags.
    pub propagation: Option<u64>,
    /// `--no-pivot`: move the rootfs onto / and chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Whether the container has its own mount namespace (else: chroot only, like runc).
    pub mount_ns: bool,
    /// Devices to create in /dev (defaults plus `linux.devices`), unless /dev is a host bind.
    pub devices: Vec<DeviceOp>,
    /// In a user namespace mknod is not allowed: bind the host's device nodes instead.
    pub bind_devices: bool,
    /// `linux.maskedPaths`.
    pub masked: Vec<PathBuf>,
    /// `linux.readonlyPaths`.
    pub readonly_paths: Vec<PathBuf>,
    /// For `cgroup` mounts: (hierarchy name, host dir of the container's cgroup); one
    /// unnamed entry on cgroup v2.
    pub cgroup_sources: Vec<(String, PathBuf)>,
    /// Whether the container gets its own cgroup namespace (mount cgroupfs, not binds).
    pub cgroup_ns: bool,
    /// The container creates a user namespace without uid/gid mappings.
    #[serde(default)]
    pub unmapped_userns: bool,
    /// Rootless (an unprivileged caller): a mount the kernel refuses with EPERM is
    /// explained ([`RootfsError::NeedsInitNs`]).
    #[serde(default)]
    pub rootless: bool,
    /// `(mounts index, fd)` of each idmapped source the runtime prepared before the
    /// clone ([`RootfsPlan::prepare_idmaps`]); the init inherits the fds.
    #[serde(skip)]
    pub idmap_fds: Vec<(usize, std::os::fd::RawFd)>,
}

impl RootfsPlan {
    /// Computes the rootfs plan from a validated spec.
    pub fn from_spec(
        spec: &Spec,
        bundle: &Path,
        no_pivot: bool,
        userns: bool,
        mount_ns: bool,
    ) -> Result<Self, RootfsError> {
        let root = spec.root().as_ref();
        let rootfs = root.map(|r| bundle.join(r.path())).unwrap_or_default();
        let mounts = spec
            .mounts()
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, m)| {
                let mut op = plan::plan_mount(i, m, bundle)?;
                op.idmap = idmap::plan(i, m, spec)?;
                Ok(op)
            })
            .collect::<Result<Vec<_>, RootfsError>>()?;
        let linux = spec.linux().as_ref();
        let propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
            None | Some("") => None,
            Some(p) => Some(
                plan::propagation_option(p).ok_or_else(|| RootfsError::Plan {
                    field: "linux.rootfsPropagation".into(),
                    reason: format!("unknown propagation {p:?}"),
                })?,
            ),
        };
        let dev_is_bind = mounts
            .iter()
            .any(|m| m.dest == Path::new("/dev") && m.is_bind());
        let devices = if dev_is_bind {
            Vec::new()
        } else {
            dev::plan_devices(
                linux
                    .and_then(|l| l.devices().as_deref())
                    .unwrap_or_default(),
            )
        };
        let paths = |v: Option<&Vec<String>>| v.into_iter().flatten().map(PathBuf::from).collect();
        Ok(RootfsPlan {
            rootfs,
            mounts,
            readonly: root.and_then(|r| r.readonly()).unwrap_or(false),
            propagation,
            no_pivot,
            mount_ns,
            devices,
            bind_devices: userns,
            masked: paths(linux.and_then(|l| l.masked_paths().as_ref())),
            readonly_paths: paths(linux.and_then(|l| l.readonly_paths().as_ref())),
            cgroup_sources: Vec::new(),
            cgroup_ns: false,
            rootless: false,
            unmapped_userns: userns
                && linux.is_some_and(|l| {
                    l.uid_mappings().as_ref().map(Vec::len).unwrap_or(0) == 0
                        && l.namespaces().iter().flatten().any(|n| {
                            n.typ() == oci_spec::runtime::LinuxNamespaceType::User
                                && n.path().is_none()
                        })
                }),
            idmap_fds: Vec::new(),
        })
    }

    /// In the runtime, before the init is cloned: makes the idmapped sources (see
    /// [`idmap`]). Keep the returned value alive until the init is cloned.
    pub fn prepare_idmaps(&mut self) -> Result<idmap::IdmapSources, RootfsError> {
        let (sources, fds) = idmap::prepare(&self.mounts)?;
        self.idmap_fds = fds;
        Ok(sources)
    }

    /// Builds the rootfs (everything but the switch of root). Runs in the container's
    /// init, in its mount namespace, before any user code. [`RootfsPlan::enter`] follows.
    pub fn build(&self) -> Result<(), RootfsError> {
        let root = self.build_mounts()?;
        self.finish(&root)
    }

    /// The first half of [`RootfsPlan::build`]: the mounts and /dev. Returns the rootfs
    /// as a [`crate::paths::Root`] so the caller can add to it (the console) before
    /// [`RootfsPlan::finish`] makes paths read-only or masked.
    pub fn build_mounts(&self) -> Result<crate::paths::Root, RootfsError> {
        self.mounts_and_dev().map_err(|e| {
            if self.unmapped_userns && (e.has_errno(libc::EOVERFLOW) || e.has_errno(libc::EINVAL)) {
                RootfsError::Unmapped(Box::new(e))
            } else {
                e
            }
        })
    }

    fn mounts_and_dev(&self) -> Result<crate::paths::Root, RootfsError> {
        if self.mount_ns {
            mount::prepare_root(self)?;
        }
        let root = crate::paths::Root::open(&self.rootfs)?;
        for m in &self.mounts {
            mount::mount_one(&root, m, self)?;
        }
        dev::create_devices(&root, self)?;
        dev::create_symlinks(&root)?;
        Ok(root)
    }

    /// The second half of [`RootfsPlan::build`]: read-only and masked paths, and the
    /// read-only root.
    pub fn finish(&self, root: &crate::paths::Root) -> Result<(), RootfsError> {
        for p in &self.readonly_paths {
            mount::readonly_path(root, p)?;
        }
        for p in &self.masked {
            mount::mask_path(root, p)?;
        }
        if self.readonly {
            mount::remount_readonly(&self.rootfs)?;
        }
        Ok(())
    }

    /// Switches root into the built rootfs (pivot_root, or MS_MOVE/chroot).
    pub fn enter(&self) -> Result<(), RootfsError> {
        pivot::switch_root(self)
    }
}
