//! The root filesystem part of the plan: every mount step in the order `create`
//! applies it, named from `RootfsPlan`'s own flags.

use nix::mount::MsFlags;
use serde::Serialize;
use std::path::PathBuf;

use super::{names, DevicesView};
use crate::rootfs::{MountOp, RootfsPlan};

/// The root filesystem.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RootfsView {
    /// `root.path`, absolute.
    pub path: PathBuf,
    /// Every mount step, in the order the init makes them.
    pub mounts: Vec<MountStep>,
    /// Device nodes in `/dev`: the runtime-spec's defaults and `linux.devices`.
    pub devices: DevicesView,
    /// How root is switched: `pivot_root`, `move+chroot` (`--no-pivot`) or `chroot`
    /// (no mount namespace of its own).
    pub switch_root: String,
    /// `linux.rootfsPropagation` applied to `/` again after the switch of root.
    pub propagation_after: Option<String>,
}

/// Flags of one `mount(2)` call, by name.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MountCall {
    /// MS_* flags set, as mount(8) options (`ro`, `nosuid`, `bind`, `rec`, ...).
    pub flags: Vec<String>,
    /// Filesystem data (`size=65536k,mode=755`); empty: none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data: String,
}

fn call(flags: u64, data: &str) -> MountCall {
    MountCall {
        flags: names::ms_flags(flags),
        data: data.to_string(),
    }
}

/// One step of building the root filesystem.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum MountStep {
    /// `/` of the new mount namespace gets this propagation, then the mount holding
    /// the rootfs is made private (`linux.rootfsPropagation`, default `rslave`).
    RootPropagation {
        /// The propagation of `/`.
        propagation: String,
    },
    /// The rootfs is bound onto itself (`bind,rec`) so it can be pivoted into.
    RootfsBind {
        /// The rootfs.
        destination: PathBuf,
    },
    /// One entry of `mounts`, exactly as husk applies it.
    Mount(Box<PlannedMount>),
    /// In a user namespace: a host device node bound in (`bind`, then remounted
    /// `nosuid,noexec`) instead of `mknod` (a node the host lacks is made with mknod).
    DeviceBind {
        /// The node.
        destination: PathBuf,
    },
    /// `process.terminal`: `/dev/console` bound to the container's pty.
    Console {
        /// Always `/dev/console`.
        destination: PathBuf,
    },
    /// `linux.readonlyPaths` entry: bound onto itself (`bind,rec`), remounted
    /// `bind,remount,ro,rec` (keeping flags locked on it). Skipped when missing.
    ReadonlyPath {
        /// The path inside the container.
        destination: PathBuf,
    },
    /// `linux.maskedPaths` entry: a directory gets a read-only `tmpfs`
    /// (`size=0,mode=755`), anything else a bind of the container's `/dev/null`
    /// (checked to be 1:3). Skipped when missing.
    #[serde(rename_all = "camelCase")]
    MaskedPath {
        /// The path inside the container.
        destination: PathBuf,
        /// The tmpfs data used when the path is a directory.
        directory_data: String,
    },
    /// `root.readonly`: the rootfs bind remounted `bind,remount,ro`.
    RootReadonly {
        /// The rootfs.
        destination: PathBuf,
    },
}

/// One entry of `mounts` in the plan (the `mount` step).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedMount {
    /// Index in `mounts`.
    pub index: usize,
    /// Destination inside the container.
    pub destination: PathBuf,
    /// Filesystem type (`bind` for bind mounts).
    #[serde(rename = "type")]
    pub fstype: String,
    /// Source (binds: absolute host path).
    pub source: Option<PathBuf>,
    /// The mount: its MS_* flags and data. A tmpfs on an existing directory
    /// without `mode=` gets that directory's mode added to its data at apply.
    pub mount: MountCall,
    /// Binds only: the remount (`bind,remount` + these flags) that applies the
    /// options a bind cannot take at once; `None`: no remount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remount: Option<MountCall>,
    /// Flags the options clear explicitly (`rw`, `suid`, `dev`, `exec`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cleared: Vec<String>,
    /// Propagation changes after the mount, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub propagation: Vec<String>,
    /// Recursive attributes set with `mount_setattr(AT_RECURSIVE)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recursive: Option<RecursiveAttrs>,
    /// An idmapped bind: the mappings of its user namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idmap: Option<crate::rootfs::idmap::IdmapOp>,
    /// `tmpcopyup`: the new tmpfs starts with a copy of what it covers.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tmpcopyup: bool,
    /// In a user namespace, `rbind` + `ro`: the submounts are made read-only too
    /// (`mount_setattr`), so a host mount below cannot stay writable.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub readonly_submounts: bool,
    /// How a `cgroup` mount is made (it is not one mount(2) call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `mount_setattr` attributes, by recursive option name.
#[derive(Debug, Clone, Serialize)]
pub struct RecursiveAttrs {
    /// Set (`rro`, `rnosuid`, ...).
    pub set: Vec<String>,
    /// Cleared (named by the option that sets them).
    pub clear: Vec<String>,
}

/// The flags the bind remount of `m` applies (`mount.rs`'s `remount_bind`), or
/// `None` when a bind needs no remount.
fn bind_remount(m: &MountOp) -> Option<MountCall> {
    let extra = m.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT).bits();
    (extra != 0).then(|| {
        call(
            MsFlags::MS_BIND.bits() | MsFlags::MS_REMOUNT.bits() | extra,
            "",
        )
    })
}

fn mount_step(m: &MountOp, userns: bool) -> MountStep {
    let bind = m.is_bind();
    let mount = if bind {
        call(m.flags & (MsFlags::MS_BIND | MsFlags::MS_REC).bits(), "")
    } else {
        call(m.flags, &m.data)
    };
    let note = (m.typ == "cgroup" || m.typ == "cgroup2").then(|| {
        "with a cgroup namespace: cgroupfs mounted (v1: a tmpfs with one cgroup mount per \
         hierarchy); without: binds of the container's cgroup directories; \
         nosuid,nodev,noexec and ro as asked"
            .to_string()
    });
    let rec_ro = (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY).bits();
    MountStep::Mount(Box::new(PlannedMount {
        index: m.index,
        destination: m.dest.clone(),
        fstype: m.typ.clone(),
        source: m.source.clone(),
        mount,
        remount: if bind { bind_remount(m) } else { None },
        cleared: names::ms_flags(m.cleared),
        propagation: m
            .propagation
            .iter()
            .map(|p| names::propagation(*p))
            .collect(),
        recursive: m.rec_attr.map(|(set, clear)| RecursiveAttrs {
            set: names::mount_attrs(set),
            clear: names::mount_attrs(clear),
        }),
        idmap: m.idmap.clone(),
        tmpcopyup: m.copyup,
        readonly_submounts: bind && userns && m.flags & rec_ro == rec_ro,
        note,
    }))
}

pub(super) fn view(r: &RootfsPlan, terminal: bool) -> RootfsView {
    let mut steps = Vec::new();
    let prop = crate::rootfs::propagation::plan(r.propagation);
    if r.mount_ns {
        steps.push(MountStep::RootPropagation {
            propagation: names::propagation(prop.before),
        });
        steps.push(MountStep::RootfsBind {
            destination: r.rootfs.clone(),
        });
    }
    steps.extend(r.mounts.iter().map(|m| mount_step(m, r.bind_devices)));
    if r.bind_devices {
        steps.extend(r.devices.iter().map(|d| MountStep::DeviceBind {
            destination: d.path.clone(),
        }));
    }
    if terminal && r.mount_ns {
        steps.push(MountStep::Console {
            destination: PathBuf::from("/dev/console"),
        });
    }
    steps.extend(r.readonly_paths.iter().map(|p| MountStep::ReadonlyPath {
        destination: p.clone(),
    }));
    steps.extend(r.masked.iter().map(|p| MountStep::MaskedPath {
        destination: p.clone(),
        directory_data: crate::lsm::mount_data("size=0,mode=755", r.mount_label.as_deref()),
    }));
    if r.readonly && r.mount_ns {
        steps.push(MountStep::RootReadonly {
            destination: r.rootfs.clone(),
        });
    }
    RootfsView {
        path: r.rootfs.clone(),
        mounts: steps,
        devices: DevicesView {
            method: if r.bind_devices { "bind" } else { "mknod" }.into(),
            nodes: r.devices.clone(),
            symlinks: crate::rootfs::DEV_SYMLINKS
                .iter()
                .map(|(n, t)| (format!("/dev/{n}"), t.to_string()))
                .collect(),
        },
        switch_root: if !r.mount_ns {
            "chroot"
        } else if r.no_pivot {
            "move+chroot"
        } else {
            "pivot_root"
        }
        .into(),
        propagation_after: if r.mount_ns {
            prop.after.map(names::propagation)
        } else {
            None
        },
    }
}
