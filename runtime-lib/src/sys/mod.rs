//! Thin wrappers over syscalls that `nix` does not cover (openat2, mount_setattr,
//! fsopen/fsmount, pidfds, raw clone, close_range). Every `unsafe` block of the
//! library that talks to the kernel directly lives here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

mod mount_api;
pub mod probe;
mod sched;

pub use mount_api::{inherited_is_dir, mount_setattr_idmap, move_mount_inherited, open_tree_clone};
pub use sched::{
    ioprio_set_pgrp, personality, sched_setaffinity, sched_setattr, set_mempolicy, SchedAttr,
};

fn cstr(p: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `openat2(2)`: open `path` below `dirfd` with `resolve` restrictions (RESOLVE_*).
pub fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
        mode as u64
    } else {
        0
    };
    how.resolve = resolve;
    loop {
        // SAFETY: c and how outlive the call; the kernel copies them.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        match check(ret) {
            // SAFETY: the kernel returned a new fd that we own.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
            Err(e)
                if e.raw_os_error() == Some(libc::EAGAIN)
                    || e.raw_os_error() == Some(libc::EINTR) =>
            {
                continue
            }
            Err(e) => return Err(e),
        }
    }
}

/// `mount_setattr(2)` on `fd` itself (AT_EMPTY_PATH), optionally recursive.
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
    propagation: u64,
) -> io::Result<()> {
    mount_setattr_raw(
        fd,
        recursive,
        libc::mount_attr {
            attr_set: set,
            attr_clr: clear,
            propagation,
            userns_fd: 0,
        },
    )
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`.
pub(crate) fn mount_setattr_raw(
    fd: BorrowedFd<'_>,
    recursive: bool,
    attr: libc::mount_attr,
) -> io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: attr outlives the call; the path is an empty C string.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    check(ret).map(|_| ())
}

/// A detached, private procfs mount (fsopen + fsmount): nothing in the container can
/// mount over it, so writes through it cannot be redirected (CVE-2025-52881).
pub fn fsmount_proc() -> io::Result<OwnedFd> {
    use probe::Feature;
    if !Feature::Fsmount.usable() {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    let res = fsmount_proc_raw();
    // ENOSYS: before 5.2; EPERM/EINVAL (e.g. no fsopen for procfs in a user
    // namespace) are left to the caller, which falls back either way.
    Feature::Fsmount.missing_after(&res, &[libc::ENOSYS]);
    res
}

fn fsmount_proc_raw() -> io::Result<OwnedFd> {
    // SAFETY: plain syscalls with C-string literals and integer arguments.
    unsafe {
        let fs = check(libc::syscall(
            libc::SYS_fsopen,
            c"proc".as_ptr(),
            1u32, /* FSOPEN_CLOEXEC */
        ))? as RawFd;
        let fs = OwnedFd::from_raw_fd(fs);
        // hidepid/subset are not set: we need /proc/self and /proc/sys.
        check(libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            6u32, /* FSCONFIG_CMD_CREATE */
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        ))?;
        let mnt = check(libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            1u32, /* FSMOUNT_CLOEXEC */
            libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC,
        ))? as RawFd;
        Ok(OwnedFd::from_raw_fd(mnt))
    }
}

/// `pidfd_open(2)`. ENOSYS before 5.3 (recorded in [`probe`]; callers fall back to
/// the pid after checking its start time).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    use probe::Feature;
    if !Feature::PidfdOpen.usable() {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    // SAFETY: integer arguments only.
    let res = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) });
    Feature::PidfdOpen.missing_after(&res, &[libc::ENOSYS]);
    // SAFETY: new fd owned by us.
    Ok(unsafe { OwnedFd::from_raw_fd(res? as RawFd) })
}

/// Whether an error means the kernel lacks the call (ENOSYS).
pub fn is_enosys(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSYS)
}

/// `pidfd_send_signal(2)`: signals exactly the process the pidfd refers to (no pid reuse race).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: integer arguments only; a null siginfo means "as kill(2)".
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(|_| ())
}

/// What a raw `clone` returned.
pub enum Fork {
    /// We are the parent; the child's pid.
    Parent(i32),
    /// We are the child.
    Child,
}

/// Raw `clone(2)` with a NULL stack: fork semantics plus namespace flags.
///
/// # Safety
/// The caller must be single-threaded, or the child must only do async-signal-safe
/// work until it execs or exits.
pub unsafe fn clone(flags: u64) -> io::Result<Fork> {
    let ret = check(libc::syscall(
        libc::SYS_clone,
        flags as libc::c_ulong | libc::SIGCHLD as libc::c_ulong,
        0usize,
        0usize,
        0usize,
        0usize,
    ))?;
    Ok(if ret == 0 {
        Fork::Child
    } else {
        Fork::Parent(ret as i32)
    })
}

/// Marks every fd from `first` up as close-on-exec, so nothing the runtime holds leaks
/// into the container (CVE-2024-21626). `close_range(CLOSE_RANGE_CLOEXEC)` (5.11),
/// else `FD_CLOEXEC` on each fd listed in `/proc/self/fd`.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    use probe::Feature;
    if Feature::CloseRangeCloexec.usable() {
        // SAFETY: integer arguments only.
        let res = check(unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        });
        // ENOSYS before 5.9, EINVAL for the flag before 5.11.
        if !Feature::CloseRangeCloexec.missing_after(&res, &[libc::ENOSYS, libc::EINVAL]) {
            return res.map(|_| ());
        }
    }
    cloexec_walk(first)
}

/// The fallback of [`cloexec_from`]: lists `/proc/self/fd` (the list is read whole
/// first, so the directory's own fd is known and skipped), then sets `FD_CLOEXEC`.
/// Without a procfs there (a container with no /proc mount), every fd number below
/// the `RLIMIT_NOFILE` soft limit is tried instead.
fn cloexec_walk(first: u32) -> io::Result<()> {
    let fds: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => {
            let (soft, _) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                    .map_err(io::Error::from)?;
            (first as RawFd..soft.min(i32::MAX as u64) as RawFd).collect()
        }
    };
    for fd in fds.into_iter().filter(|fd| *fd >= first as RawFd) {
        // SAFETY: F_GETFD/F_SETFD only change the fd's flags; a closed fd gives EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            continue; // the read_dir fd, closed by now
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `dup2(src, target)`: `target` becomes a copy of `src` (without close-on-exec),
/// closing what `target` was. For the container process's own stdio only.
pub fn dup2_onto(src: RawFd, target: RawFd) -> io::Result<()> {
    // SAFETY: integer arguments; the caller owns both fd numbers in this process.
    check(unsafe { libc::dup2(src, target) } as libc::c_long).map(|_| ())
}

/// Clears `FD_CLOEXEC` on `fd`, so it survives the exec.
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } as libc::c_long).map(|_| ())
}

/// `pivot_root(2)`.
pub fn pivot_root(new_root: &Path, put_old: &Path) -> io::Result<()> {
    let (a, b) = (cstr(new_root)?, cstr(put_old)?);
    // SAFETY: both strings outlive the call.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, a.as_ptr(), b.as_ptr()) }).map(|_| ())
}

/// `renameat2(a, b, RENAME_EXCHANGE)`: swaps two existing names atomically.
pub fn rename_exchange(a: &Path, b: &Path) -> io::Result<()> {
    let (ca, cb) = (cstr(a)?, cstr(b)?);
    // SAFETY: both strings outlive the call; AT_FDCWD with absolute or cwd-relative paths.
    check(unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    })
    .map(|_| ())
}

/// `/proc/self/fd/N` for an fd, the classic way to hand an fd-resolved path to mount(2).
pub fn fd_path(fd: &impl AsRawFd) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

// The prctl calls are nix's (`nix::sys::prctl`): thin wrappers that neither allocate
// nor lock, so they are as safe as a raw prctl in the init between clone and exec.

/// `prctl(PR_SET_PDEATHSIG, sig)`; 0 clears it.
pub fn set_pdeathsig(sig: i32) -> io::Result<()> {
    let sig = match sig {
        0 => None,
        n => Some(nix::sys::signal::Signal::try_from(n)?),
    };
    Ok(nix::sys::prctl::set_pdeathsig(sig)?)
}

/// `prctl(PR_SET_DUMPABLE, 0|1)`.
pub fn set_dumpable(on: bool) -> io::Result<()> {
    Ok(nix::sys::prctl::set_dumpable(on)?)
}

/// `prctl(PR_SET_KEEPCAPS, 1)` so capabilities survive the switch to a non-root uid.
pub fn set_keepcaps() -> io::Result<()> {
    Ok(nix::sys::prctl::set_keepcaps(true)?)
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub fn set_no_new_privs() -> io::Result<()> {
    Ok(nix::sys::prctl::set_no_new_privs()?)
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`: a fresh session keyring per container.
pub fn join_session_keyring(name: &str) -> io::Result<()> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: c outlives the call. KEYCTL_JOIN_SESSION_KEYRING = 1.
    check(unsafe { libc::syscall(libc::SYS_keyctl, 1, c.as_ptr()) }).map(|_| ())
}

/// `setresuid`/`setresgid` and `setgroups` act on every thread via glibc; we are single-threaded
/// here, so call the raw syscalls to keep the semantics obvious.
pub fn setresgid(gid: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(|_| ())
}

/// See [`setresgid`].
pub fn setresuid(uid: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(|_| ())
}

/// `setgroups(2)`.
pub fn setgroups(gids: &[u32]) -> io::Result<()> {
    // SAFETY: the slice is valid for gids.len() elements.
    check(unsafe { libc::syscall(libc::SYS_setgroups, gids.len(), gids.as_ptr()) }).map(|_| ())
}

/// `setxattr(2)` (follows symlinks, so `/proc/self/fd/N` reaches the file behind N).
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let p = cstr(path)?;
    let n = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: p, n and value outlive the call; the length is value's.
    check(unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    } as libc::c_long)
    .map(|_| ())
}

/// `statfs` magic of an open fd.
pub fn fs_magic(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: zeroed statfs is valid; fstatfs fills it.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid out pointer.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64)
}
