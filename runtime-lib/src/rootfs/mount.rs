//! Applying mounts. Every destination is resolved inside the rootfs by fd and the
//! mount targets `/proc/self/fd/N`, so a symlink in the image cannot redirect a mount.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::{mount, MsFlags};

use super::{apply_err, plan::MountOp, RootfsError, RootfsPlan};
use crate::paths::{Kind, PathError, Root};
use crate::sys;

const NONE: Option<&str> = None;

/// Gives `/` its propagation (default rslave: nothing we mount leaks to the host;
/// see [`super::propagation`]) and turns the rootfs into its own mount point so it
/// can be pivoted into.
pub(super) fn prepare_root(plan: &RootfsPlan) -> Result<(), RootfsError> {
    super::propagation::prepare(&super::propagation::plan(plan.propagation), &plan.rootfs)?;
    mount(
        Some(&plan.rootfs),
        &plan.rootfs,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .map_err(apply_err(
        format!("root.path {}", plan.rootfs.display()),
        "bind rootfs onto itself",
    ))
}

fn what(m: &MountOp) -> String {
    format!("mounts[{}] {}", m.index, m.dest.display())
}

/// Mount flags that a bind remount must keep when they are locked on the source
/// (in a user namespace the kernel refuses to clear them).
pub(super) fn locked_flags(fd: &impl AsFd) -> u64 {
    match nix::sys::statvfs::fstatvfs(fd) {
        Ok(st) => {
            use nix::sys::statvfs::FsFlags as F;
            let f = st.flags();
            let mut out = MsFlags::empty();
            for (a, b) in [
                (F::ST_NOSUID, MsFlags::MS_NOSUID),
                (F::ST_NODEV, MsFlags::MS_NODEV),
                (F::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (F::ST_RDONLY, MsFlags::MS_RDONLY),
            ] {
                if f.contains(a) {
                    out |= b;
                }
            }
            out.bits()
        }
        Err(_) => 0,
    }
}

pub(super) fn mount_one(root: &Root, m: &MountOp, plan: &RootfsPlan) -> Result<(), RootfsError> {
    if m.typ == "cgroup" || m.typ == "cgroup2" {
        return mount_cgroup(root, m, plan);
    }
    let idmapped = plan.idmap_fds.iter().find(|(i, _)| *i == m.index);
    let kind = match (&m.source, idmapped) {
        // A source the runtime opened: ours may not be allowed to look at it.
        (_, Some((_, fd))) if m.is_bind() && !sys::inherited_is_dir(*fd) => Kind::File,
        (_, Some(_)) if m.is_bind() => Kind::Dir,
        (Some(src), _) if m.is_bind() && !src.is_dir() => Kind::File,
        _ => Kind::Dir,
    };
    if !m.is_bind() && (m.typ == "proc" || m.typ == "sysfs") {
        refuse_symlinked(root, m)?;
    }
    // A tmpfs on an existing directory keeps its mode unless `mode=` says otherwise.
    let tmpfs_mode = (!m.is_bind() && m.typ == "tmpfs")
        .then(|| root.open_path(&m.dest).ok())
        .flatten()
        .and_then(|fd| nix::sys::stat::fstat(&fd).ok())
        .filter(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .map(|st| st.st_mode);
    let data = super::plan::tmpfs_data(&m.data, tmpfs_mode);
    let dest = root.ensure(&m.dest, kind)?;
    let target = sys::fd_path(&dest);
    let flags = MsFlags::from_bits_retain(m.flags);
    if let (true, Some((_, fd))) = (m.is_bind(), idmapped) {
        super::idmap::attach(*fd, dest.as_fd(), what(m))?;
        remount_bind(root, m, flags)?;
        // In a user namespace binds come this way (sources opened by the runtime).
        readonly_submounts(root, m, flags, plan)?;
    } else if m.is_bind() {
        let src = m.source.as_deref().unwrap_or(Path::new(""));
        mount(
            Some(src),
            &target,
            NONE,
            flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
            NONE,
        )
        .map_err(apply_err(
            format!("{} (source {})", what(m), src.display()),
            "bind mount",
        ))?;
        remount_bind(root, m, flags)?;
        readonly_submounts(root, m, flags, plan)?;
    } else if m.copyup {
        tmpfs_copyup(root, m, &dest, flags)?;
    } else {
        let data = (!data.is_empty()).then_some(data.as_str());
        let source = m
            .source
            .as_deref()
            .map(Path::new)
            .unwrap_or(Path::new(&m.typ));
        let res = mount(Some(source), &target, Some(m.typ.as_str()), flags, data);
        if let Err(e) = res {
            // sysfs cannot be mounted without a network namespace of our own: bind the host's, as runc does.
            if m.typ == "sysfs" && (e == nix::errno::Errno::EPERM || e == nix::errno::Errno::EBUSY)
            {
                mount(
                    Some("/sys"),
                    &target,
                    NONE,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    NONE,
                )
                .map_err(apply_err(what(m), "bind /sys"))?;
                // Keep the mount's flags (ro, nosuid, ...) on the fallback bind.
                let extra = flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
                if !extra.is_empty() {
                    let dest = root.open_path(&m.dest)?;
                    let keep = MsFlags::from_bits_retain(locked_flags(&dest));
                    mount(
                        NONE,
                        &sys::fd_path(&dest),
                        NONE,
                        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_REC | extra | keep,
                        NONE,
                    )
                    .map_err(apply_err(what(m), "remount /sys bind"))?;
                }
                readonly_submounts(root, m, flags | MsFlags::MS_BIND | MsFlags::MS_REC, plan)?;
            } else if plan.rootless && e == nix::errno::Errno::EPERM {
                return Err(RootfsError::NeedsInitNs(Box::new(apply_err(
                    format!("{} (type {})", what(m), m.typ),
                    "mount",
                )(e))));
            } else {
                return Err(apply_err(what(m), "mount")(e));
            }
        }
        if let (true, Some(label)) = (m.typ == "mqueue", plan.mount_label.as_deref()) {
            // runc labels mqueue with an xattr, not a mount option.
            let dest = root.open_path(&m.dest)?;
            sys::set_xattr(&sys::fd_path(&dest), "security.selinux", label.as_bytes())
                .map_err(apply_err(what(m), "label mqueue (linux.mountLabel)"))?;
        }
    }
    if !m.propagation.is_empty() || m.rec_attr.is_some() {
        let dest = root.open_path(&m.dest)?;
        for p in &m.propagation {
            mount(
                NONE,
                &sys::fd_path(&dest),
                NONE,
                MsFlags::from_bits_retain(*p),
                NONE,
            )
            .map_err(apply_err(what(m), "set propagation"))?;
        }
        if let Some((set, clr)) = m.rec_attr {
            sys::mount_setattr(dest.as_fd(), true, set, clr, 0).map_err(|e| {
                let op = if sys::is_enosys(&e) {
                    "recursive mount options (rro, rnosuid, ...) need Linux 5.12+ (mount_setattr)"
                } else {
                    "mount_setattr"
                };
                apply_err(what(m), op)(e)
            })?;
        }
    }
    Ok(())
}

/// procfs and sysfs must be mounted on a real directory of the image: a symlink
/// there (even one resolved inside the root) would put them where programs do not
/// look. runc: `"proc" must be mounted on ordinary directory`.
fn refuse_symlinked(root: &Root, m: &MountOp) -> Result<(), RootfsError> {
    let Ok(fd) = root.open_nofollow(&m.dest) else {
        return Ok(());
    };
    let st = nix::sys::stat::fstat(&fd).map_err(apply_err(what(m), "stat"))?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return Ok(());
    }
    Err(RootfsError::Apply {
        what: what(m),
        op: "check mount point".into(),
        source: std::io::Error::other(format!(
            "{:?} must be mounted on an ordinary directory, not a symlink or file in the image",
            m.typ
        )),
    })
}

/// `tmpcopyup`: the tmpfs is mounted writable over `dest`, filled from the directory it
/// covers (still reachable through an fd opened before the mount), given that
/// directory's mode, then made read-only if the mount asks for it.
fn tmpfs_copyup(
    root: &Root,
    m: &MountOp,
    dest: &std::os::fd::OwnedFd,
    flags: MsFlags,
) -> Result<(), RootfsError> {
    let covered = super::copyup::open_dir(dest.as_fd())
        .map_err(apply_err(what(m), "open the directory to copy up"))?;
    let data = (!m.data.is_empty()).then_some(m.data.as_str());
    let source = m.source.as_deref().unwrap_or(Path::new("tmpfs"));
    let rw = flags & !MsFlags::MS_RDONLY;
    mount(Some(source), &sys::fd_path(dest), Some("tmpfs"), rw, data)
        .map_err(apply_err(what(m), "mount"))?;
    // Re-open: the path now leads to the new tmpfs.
    let fresh = root.open_path(&m.dest)?;
    let fresh =
        super::copyup::open_dir(fresh.as_fd()).map_err(apply_err(what(m), "open the new tmpfs"))?;
    super::copyup::copy_tree(covered.as_fd(), fresh.as_fd()).map_err(|e| RootfsError::Apply {
        what: format!(
            "{} (tmpcopyup of {})",
            what(m),
            super::copyup::shown(&e.path)
        ),
        op: e.op.into(),
        source: e.source,
    })?;
    // As runc: the tmpfs root takes the mode of the directory it covers, unless the
    // mount names one (runc overrides even `mode=`; an explicit option wins here).
    if !m.data.split(',').any(|o| o.starts_with("mode=")) {
        let st = nix::sys::stat::fstat(&covered).map_err(apply_err(what(m), "fstat"))?;
        nix::sys::stat::fchmod(&fresh, super::copyup::perm_bits(st.st_mode))
            .map_err(apply_err(what(m), "chmod the tmpfs root"))?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        mount(
            NONE,
            &sys::fd_path(&fresh),
            NONE,
            flags | MsFlags::MS_REMOUNT,
            data,
        )
        .map_err(apply_err(what(m), "remount read-only"))?;
    }
    Ok(())
}

/// `rbind` + `ro` in a user namespace: read-only all the way down. A bind remount only
/// changes the top mount, so the submounts of e.g. the host's `/sys` (its cgroupfs
/// under `/sys/fs/cgroup`) would stay writable, and a rootless container could write
/// the host's cgroup files its user owns (CVE-2023-25809).
fn readonly_submounts(
    root: &Root,
    m: &MountOp,
    flags: MsFlags,
    plan: &RootfsPlan,
) -> Result<(), RootfsError> {
    let rec_ro = MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY;
    if !plan.bind_devices || !flags.contains(rec_ro) {
        return Ok(());
    }
    let dest = root.open_path(&m.dest)?;
    // Before 5.12 there is no way to do it atomically: refuse rather than leave the
    // submounts writable.
    sys::mount_setattr(dest.as_fd(), true, libc::MOUNT_ATTR_RDONLY, 0, 0).map_err(|e| {
        let op = if sys::is_enosys(&e) {
            "make submounts read-only: needs Linux 5.12+ (mount_setattr)"
        } else {
            "make submounts read-only (mount_setattr)"
        };
        apply_err(what(m), op)(e)
    })
}

/// After a bind: the mount's other flags (ro, nosuid, ...) need a bind remount.
fn remount_bind(root: &Root, m: &MountOp, flags: MsFlags) -> Result<(), RootfsError> {
    let extra = flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if !extra.is_empty() || m.cleared != 0 {
        // Re-open: the fd must now refer to the new mount, not the covered directory.
        let dest = root.open_path(&m.dest)?;
        let keep = locked_flags(&dest) & !m.cleared;
        let remount =
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra | MsFlags::from_bits_retain(keep);
        mount(NONE, &sys::fd_path(&dest), NONE, remount, NONE)
            .map_err(apply_err(what(m), "remount bind"))?;
    }
    Ok(())
}

/// cgroup v2: mount cgroup2 (own cgroup namespace) or bind the container's cgroup.
/// cgroup v1: a tmpfs with one bind per hierarchy of the container's cgroups, as runc.
fn mount_cgroup(root: &Root, m: &MountOp, plan: &RootfsPlan) -> Result<(), RootfsError> {
    let dest = root.ensure(&m.dest, Kind::Dir)?;
    let ro = m.flags & MsFlags::MS_RDONLY.bits() != 0;
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let ro_flag = if ro {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    if plan.cgroup_sources.len() == 1 && plan.cgroup_sources[0].0.is_empty() {
        if plan.cgroup_ns {
            match mount(
                Some("cgroup2"),
                &sys::fd_path(&dest),
                Some("cgroup2"),
                base | ro_flag,
                NONE,
            ) {
                Ok(()) => return Ok(()),
                // In a user namespace the kernel may refuse (EPERM, or EBUSY over
                // the host's cgroupfs arriving with a /sys rbind): bind the
                // container's own cgroup instead, as runc does.
                Err(e)
                    if plan.bind_devices
                        && matches!(e, nix::errno::Errno::EPERM | nix::errno::Errno::EBUSY) =>
                {
                    tracing::debug!(
                        "{}: mount cgroup2: {e}; binding the container's cgroup",
                        what(m)
                    );
                }
                Err(e) => return Err(apply_err(what(m), "mount cgroup2")(e)),
            }
        }
        return bind_ro(root, dest, &m.dest, &plan.cgroup_sources[0].1, ro, m);
    }
    mount(
        Some("tmpfs"),
        &sys::fd_path(&dest),
        Some("tmpfs"),
        base,
        Some(crate::lsm::mount_data("mode=755", plan.mount_label.as_deref()).as_str()),
    )
    .map_err(apply_err(what(m), "mount tmpfs for cgroup v1"))?;
    // The tmpfs is new and seen by nothing else: its directories are made and
    // opened by name below it, with no resolution from the root for each.
    let tmpfs = root.open_with(&m.dest, libc::O_RDONLY | libc::O_DIRECTORY, "open")?;
    for (name, host) in &plan.cgroup_sources {
        let name = name.strip_prefix("name=").unwrap_or(name);
        let sub = m.dest.join(name);
        let fd = if name.contains('/') {
            root.ensure(&sub, Kind::Dir)?
        } else {
            mkdir_open(&tmpfs, name).map_err(|source| PathError {
                op: "create",
                path: sub.clone(),
                source,
            })?
        };
        bind_ro(root, fd, &sub, host, ro, m)?;
    }
    if ro {
        let dest = root.open_path(&m.dest)?;
        mount(
            NONE,
            &sys::fd_path(&dest),
            NONE,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | base | MsFlags::MS_RDONLY,
            NONE,
        )
        .map_err(apply_err(what(m), "remount cgroup tmpfs ro"))?;
    }
    Ok(())
}

/// Makes directory `name` in `dir` and returns an `O_PATH` fd to it.
fn mkdir_open(dir: &OwnedFd, name: &str) -> std::io::Result<OwnedFd> {
    match nix::sys::stat::mkdirat(dir, name, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(e.into()),
    }
    let flags = nix::fcntl::OFlag::O_PATH
        | nix::fcntl::OFlag::O_NOFOLLOW
        | nix::fcntl::OFlag::O_DIRECTORY
        | nix::fcntl::OFlag::O_CLOEXEC;
    Ok(nix::fcntl::openat(
        dir,
        name,
        flags,
        nix::sys::stat::Mode::empty(),
    )?)
}

/// Binds host dir `src` on `fd`, the mount point `dest` (container path), read-only
/// if asked. The remount needs a fresh fd: `fd` points below the new mount.
fn bind_ro(
    root: &Root,
    fd: OwnedFd,
    dest: &Path,
    src: &Path,
    ro: bool,
    m: &MountOp,
) -> Result<(), RootfsError> {
    mount(Some(src), &sys::fd_path(&fd), NONE, MsFlags::MS_BIND, NONE)
        .map_err(apply_err(what(m), "bind cgroup"))?;
    if ro {
        let fd = root.open_path(dest)?;
        let f = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        mount(NONE, &sys::fd_path(&fd), NONE, f, NONE)
            .map_err(apply_err(what(m), "remount cgroup ro"))?;
    }
    Ok(())
}

/// `linux.readonlyPaths`: bind the path onto itself read-only. Missing paths are skipped.
pub(super) fn readonly_path(root: &Root, p: &Path) -> Result<(), RootfsError> {
    let what = format!("linux.readonlyPaths {}", p.display());
    // A symlink is followed (inside the root): its target is what must be protected.
    let fd = match root.open_path(p) {
        Ok(fd) => fd,
        Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let target = sys::fd_path(&fd);
    mount(
        Some(&target),
        &target,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .map_err(apply_err(what.clone(), "bind"))?;
    let fd = root.open_path(p)?;
    let keep = MsFlags::from_bits_retain(locked_flags(&fd));
    mount(
        NONE,
        &sys::fd_path(&fd),
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC | keep,
        NONE,
    )
    .map_err(apply_err(what, "remount ro"))
}

/// `linux.maskedPaths`: a directory gets an empty read-only tmpfs, anything else the
/// container's /dev/null, checked to really be the 1:3 character device (CVE-2025-31133).
pub(super) fn mask_path(root: &Root, p: &Path, label: Option<&str>) -> Result<(), RootfsError> {
    let what = format!("linux.maskedPaths {}", p.display());
    // A symlink is followed (inside the root): its target is what must be hidden.
    let fd = match root.open_path(p) {
        Ok(fd) => fd,
        Err(e) if e.source.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let st = nix::sys::stat::fstat(&fd).map_err(apply_err(what.clone(), "stat"))?;
    let target = sys::fd_path(&fd);
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            Some(crate::lsm::mount_data("size=0,mode=755", label).as_str()),
        )
        .map_err(apply_err(what, "mount tmpfs"));
    }
    let null = root.open_nofollow(Path::new("/dev/null")).or_else(|_| {
        crate::paths::Root::open(Path::new("/"))
            .and_then(|r| r.open_nofollow(Path::new("/dev/null")))
    })?;
    let nst = nix::sys::stat::fstat(&null).map_err(apply_err(what.clone(), "stat /dev/null"))?;
    if nst.st_mode & libc::S_IFMT != libc::S_IFCHR || nst.st_rdev != libc::makedev(1, 3) {
        return Err(RootfsError::Apply {
            what,
            op: "check /dev/null".into(),
            source: std::io::Error::other(
                "/dev/null is not the 1:3 character device: refusing to mask with it",
            ),
        });
    }
    mount(
        Some(&sys::fd_path(&null)),
        &target,
        NONE,
        MsFlags::MS_BIND,
        NONE,
    )
    .map_err(apply_err(what, "bind /dev/null"))
}

/// `root.readonly`: remount the rootfs bind read-only, keeping locked flags.
pub(super) fn remount_readonly(rootfs: &Path) -> Result<(), RootfsError> {
    let fd = std::fs::File::open(rootfs).map_err(apply_err("root.readonly", "open rootfs"))?;
    let keep = MsFlags::from_bits_retain(locked_flags(&fd));
    mount(
        NONE,
        rootfs,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
        NONE,
    )
    .map_err(apply_err("root.readonly", "remount ro"))
}
