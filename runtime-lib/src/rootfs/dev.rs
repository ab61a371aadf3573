//! /dev: default device nodes, `linux.devices`, and the standard symlinks.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use serde::{Deserialize, Serialize};

use super::{apply_err, RootfsError, RootfsPlan};
use crate::paths::{Kind, Root};
use crate::sys;

/// A device node to create inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceOp {
    /// Path inside the container.
    pub path: PathBuf,
    /// 'c', 'b' or 'p'.
    pub kind: char,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// The devices every container gets (the runtime-spec's list).
pub fn default_devices() -> Vec<DeviceOp> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(n, major, minor)| DeviceOp {
        path: PathBuf::from("/dev").join(n),
        kind: 'c',
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// Default devices, overridden or extended by `linux.devices`.
pub(super) fn plan_devices(extra: &[LinuxDevice]) -> Vec<DeviceOp> {
    let mut out = default_devices();
    for d in extra {
        let kind = match d.typ() {
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::P => 'p',
            _ => 'c',
        };
        let op = DeviceOp {
            path: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        out.retain(|o| o.path != op.path);
        out.push(op);
    }
    out
}

pub(super) fn create_devices(root: &Root, plan: &RootfsPlan) -> Result<(), RootfsError> {
    // The parent directory opened for the last mknod: every default device is in /dev.
    let mut parent: Option<(PathBuf, std::os::fd::OwnedFd)> = None;
    for d in &plan.devices {
        let what = format!("device {}", d.path.display());
        if plan.bind_devices {
            if std::fs::symlink_metadata(&d.path).is_ok() {
                bind_host_device(root, d, what)?;
            } else {
                // Nothing to bind: mknod, where the kernel allows it in a user namespace.
                mknod_device(root, d, what.clone(), &mut parent).map_err(|e| match e {
                    RootfsError::Apply { source, .. }
                        if source.raw_os_error() == Some(libc::EPERM) =>
                    {
                        RootfsError::Apply {
                            what,
                            op: "create device".into(),
                            source: std::io::Error::other(
                                "the host has no such path to bind and mknod is not allowed \
                                 in a user namespace; create the device on the host first",
                            ),
                        }
                    }
                    other => other,
                })?;
            }
            continue;
        }
        mknod_device(root, d, what, &mut parent)?;
    }
    Ok(())
}

/// In a user namespace mknod is not allowed: bind the host's node onto a
/// placeholder, then make the bind nosuid,noexec (a device node has no business
/// being executed; runc's device binds in a user namespace are the same).
fn bind_host_device(root: &Root, d: &DeviceOp, what: String) -> Result<(), RootfsError> {
    let fd = root.ensure(&d.path, Kind::File)?;
    mount(
        Some(&d.path),
        &sys::fd_path(&fd),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(apply_err(what.clone(), "bind host device"))?;
    // Re-open: the remount must hit the new mount, not the placeholder under it.
    let fd = root.open_nofollow(&d.path)?;
    let keep = MsFlags::from_bits_retain(super::mount::locked_flags(&fd));
    mount(
        None::<&str>,
        &sys::fd_path(&fd),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | keep,
        None::<&str>,
    )
    .map_err(apply_err(what, "remount device bind nosuid,noexec"))
}

/// mknod of `d` inside the root, with its exact mode and owner. `cache` holds the
/// parent directory of the previous call, reused when `d` has the same one.
fn mknod_device(
    root: &Root,
    d: &DeviceOp,
    what: String,
    cache: &mut Option<(PathBuf, std::os::fd::OwnedFd)>,
) -> Result<(), RootfsError> {
    let parent = d.path.parent().unwrap_or(Path::new("/dev"));
    if cache.as_ref().is_none_or(|(p, _)| p != parent) {
        let dir = root.ensure(parent, Kind::Dir)?;
        let dir = crate::paths::open_at(
            dir.as_fd_borrow(),
            Path::new("."),
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
            libc::RESOLVE_NO_SYMLINKS,
        )
        .map_err(apply_err(what.clone(), "open parent"))?;
        *cache = Some((parent.to_path_buf(), dir));
    }
    let Some((_, dir)) = cache.as_ref() else {
        return Ok(());
    };
    let name = d.path.file_name().map(PathBuf::from).unwrap_or_default();
    let kind = match d.kind {
        'b' => SFlag::S_IFBLK,
        'p' => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    // Replace whatever the image has there (a file, a stale node, a symlink).
    let _ = nix::unistd::unlinkat(dir, &name, nix::unistd::UnlinkatFlags::NoRemoveDir);
    let dev = libc::makedev(d.major as u32, d.minor as u32);
    nix::sys::stat::mknodat(dir, &name, kind, Mode::from_bits_truncate(d.mode), dev)
        .map_err(apply_err(what.clone(), "mknod"))?;
    // mknod applies the umask: set the exact mode and owner by fd, without following links.
    nix::sys::stat::fchmodat(
        dir,
        &name,
        Mode::from_bits_truncate(d.mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(apply_err(what.clone(), "chmod"))?;
    nix::unistd::fchownat(
        dir,
        &name,
        Some(d.uid.into()),
        Some(d.gid.into()),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(apply_err(what, "chown"))?;
    Ok(())
}

trait AsFdBorrow {
    fn as_fd_borrow(&self) -> std::os::fd::BorrowedFd<'_>;
}
impl AsFdBorrow for std::os::fd::OwnedFd {
    fn as_fd_borrow(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

/// /dev/fd, /dev/std{in,out,err} and /dev/ptmx, as the runtime-spec requires.
/// The symlinks every container's `/dev` gets: (name in `/dev`, target).
pub const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

pub(super) fn create_symlinks(root: &Root) -> Result<(), RootfsError> {
    let Ok(dev) = root.open_with(
        Path::new("/dev"),
        libc::O_RDONLY | libc::O_DIRECTORY,
        "open",
    ) else {
        return Ok(());
    };
    for &(name, target) in DEV_SYMLINKS {
        if name == "ptmx" {
            let _ = nix::unistd::unlinkat(&dev, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        match nix::unistd::symlinkat(target, &dev, name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(apply_err(format!("/dev/{name}"), "symlink")(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_devices_override_defaults() {
        let extra: Vec<LinuxDevice> = serde_json::from_str(
            r#"[{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":384},{"path":"/dev/fuse","type":"c","major":10,"minor":229,"uid":5,"gid":6}]"#,
        )
        .unwrap();
        let d = plan_devices(&extra);
        assert_eq!(d.len(), 7);
        let null = d.iter().find(|d| d.path == Path::new("/dev/null")).unwrap();
        assert_eq!(null.mode, 0o600);
        let fuse = d.iter().find(|d| d.path == Path::new("/dev/fuse")).unwrap();
        assert_eq!(
            (fuse.major, fuse.minor, fuse.uid, fuse.gid, fuse.mode),
            (10, 229, 5, 6, 0o666)
        );
    }
}
