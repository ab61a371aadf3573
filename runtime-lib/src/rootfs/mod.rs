//! The container's root filesystem: mounts, /dev, masked and read-only paths,
//! then pivot_root (or chroot / MS_MOVE). Planned in [`plan`], applied in the init.

mod copyup;
mod dev;
pub mod idmap;
mod mount;
pub mod mount_source;
mod pivot;
pub mod plan;
pub mod propagation;

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

pub use dev::{DeviceOp, DEV_SYMLINKS};
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
        op: std::borrow::Cow<'static, str>,
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
}

/// Mount sources the runtime opened for the init (see [`RootfsPlan::prepare_idmaps`]);
/// dropping this closes the runtime's copies.
#[derive(Debug)]
pub struct PreparedSources {
    _idmapped: idmap::IdmapSources,
    _plain: Vec<std::os::fd::OwnedFd>,
}

pub(crate) fn plan_err_source(index: usize) -> RootfsError {
    RootfsError::Plan {
        field: format!("mounts[{index}].source"),
        reason: "a bind mount needs a source".into(),
    }
}

pub(crate) fn apply_err<E: Into<std::io::Error>>(
    what: impl Into<String>,
    op: &'static str,
) -> impl FnOnce(E) -> RootfsError {
    let what = what.into();
    move |e| RootfsError::Apply {
        what,
        op: op.into(),
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
    /// Rootless (an unprivileged caller): a mount the kernel refuses with EPERM is
    /// explained ([`RootfsError::NeedsInitNs`]).
    #[serde(default)]
    pub rootless: bool,
    /// `(mounts index, fd)` of each source the runtime prepared before the clone
    /// (idmapped, or any bind in a user namespace: [`RootfsPlan::prepare_idmaps`]);
    /// the init inherits the fds and attaches them with `move_mount`.
    #[serde(skip)]
    pub idmap_fds: Vec<(usize, std::os::fd::RawFd)>,
    /// `linux.mountLabel`: already in the `context=` data of the mounts that take it
    /// (see [`crate::lsm::plan::takes_context`]); also the label of the mqueue mount,
    /// the masking tmpfs and the cgroup v1 tmpfs.
    #[serde(default)]
    pub mount_label: Option<String>,
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
        let mount_label = crate::lsm::plan::mount_label(spec);
        let mounts = spec
            .mounts()
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, m)| {
                let mut op = plan::plan_mount(i, m, bundle)?;
                op.idmap = idmap::plan(i, m, spec)?;
                if !op.is_bind() && crate::lsm::plan::takes_context(&op.typ) {
                    op.data = crate::lsm::mount_data(&op.data, mount_label.as_deref());
                }
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
        // A relative masked or read-only path is relative to the container's root, as runc.
        let paths = |v: Option<&Vec<String>>| {
            v.into_iter()
                .flatten()
                .map(|p| Path::new("/").join(p))
                .collect()
        };
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
            idmap_fds: Vec::new(),
            mount_label,
        })
    }

    /// In the runtime, before the init is cloned: makes the idmapped sources (see
    /// [`idmap`]) and, in a user namespace, opens the other bind sources (see
    /// [`mount_source`]). Keep the returned value alive until the init is cloned.
    pub fn prepare_idmaps(&mut self) -> Result<PreparedSources, RootfsError> {
        let (idmapped, mut fds) = idmap::prepare(&self.mounts)?;
        // Rootless, the runtime can reach no more than the container's root (the same
        // user): nothing to open ahead, and open_tree would need CAP_SYS_ADMIN.
        let (plain, more) =
            mount_source::prepare(&self.mounts, self.bind_devices && !self.rootless)?;
        fds.extend(more);
        self.idmap_fds = fds;
        Ok(PreparedSources {
            _idmapped: idmapped,
            _plain: plain,
        })
    }

    /// The first half of building the rootfs: the mounts and /dev. Returns the rootfs
    /// as a [`crate::paths::Root`] so the caller can add to it (the console) before
    /// [`RootfsPlan::finish`] makes paths read-only or masked.
    pub fn build_mounts(&self) -> Result<crate::paths::Root, RootfsError> {
        self.mounts_and_dev()
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

    /// The second half of building the rootfs: read-only and masked paths, and the
    /// read-only root.
    pub fn finish(&self, root: &crate::paths::Root) -> Result<(), RootfsError> {
        for p in &self.readonly_paths {
            mount::readonly_path(root, p)?;
        }
        for p in &self.masked {
            mount::mask_path(root, p, self.mount_label.as_deref())?;
        }
        // Without a mount namespace of its own the container shares the host's
        // mounts: runc skips the remount (it would hit the host's mount, or fail with
        // EINVAL when the rootfs is no mount point).
        if self.readonly && self.mount_ns {
            mount::remount_readonly(&self.rootfs)?;
        }
        Ok(())
    }

    /// Switches root into the built rootfs (pivot_root, or MS_MOVE/chroot).
    pub fn enter(&self) -> Result<(), RootfsError> {
        pivot::switch_root(self)
    }
}
