//! Which newer kernel features this process found, probed once each by the first call
//! that needs one (ENOSYS/EINVAL/ENOTTY/EOPNOTSUPP from the real call), never from the
//! kernel's version string. The callers keep their fallback next to the wrapper.

use std::sync::atomic::{AtomicU8, Ordering};

/// A kernel feature husk uses when present and replaces when not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// `openat2` (5.6); fallback: the userspace walk in `paths/walk.rs`.
    Openat2,
    /// `close_range(CLOSE_RANGE_CLOEXEC)` (5.11); fallback: `/proc/self/fd` walk.
    CloseRangeCloexec,
    /// `pidfd_open` (5.3); fallback: pid + start time checks.
    PidfdOpen,
    /// `setns` on a pidfd (5.8); fallback: `/proc/<pid>/ns/*`, mount namespace last.
    PidfdSetns,
    /// `fsopen`/`fsmount` (5.2); fallback: `/proc` verified to be a procfs root.
    Fsmount,
    /// `mount_setattr` (5.12); fallback: `MS_REMOUNT` of each submount.
    MountSetattr,
    /// `FS_IOC_SETFLAGS` on tmpfs (6.0); fallback: a sealed memfd copy per run.
    ImmutableTmpfs,
}

/// Every feature, in report order.
pub const ALL: [Feature; 7] = [
    Feature::Openat2,
    Feature::CloseRangeCloexec,
    Feature::PidfdOpen,
    Feature::PidfdSetns,
    Feature::Fsmount,
    Feature::MountSetattr,
    Feature::ImmutableTmpfs,
];

const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;

static STATE: [AtomicU8; 7] = [const { AtomicU8::new(UNKNOWN) }; 7];

impl Feature {
    fn slot(self) -> &'static AtomicU8 {
        &STATE[self as usize]
    }

    /// The feature's name (as `husk features` and the debug log print it).
    pub fn name(self) -> &'static str {
        match self {
            Feature::Openat2 => "openat2",
            Feature::CloseRangeCloexec => "close_range_cloexec",
            Feature::PidfdOpen => "pidfd_open",
            Feature::PidfdSetns => "pidfd_setns",
            Feature::Fsmount => "fsmount",
            Feature::MountSetattr => "mount_setattr",
            Feature::ImmutableTmpfs => "immutable_tmpfs",
        }
    }

    /// The kernel that brought it.
    pub fn since(self) -> &'static str {
        match self {
            Feature::Openat2 => "5.6",
            Feature::CloseRangeCloexec => "5.11",
            Feature::PidfdOpen => "5.3",
            Feature::PidfdSetns => "5.8",
            Feature::Fsmount => "5.2",
            Feature::MountSetattr => "5.12",
            Feature::ImmutableTmpfs => "6.0",
        }
    }

    /// What husk does without it.
    pub fn fallback(self) -> &'static str {
        match self {
            Feature::Openat2 => "userspace walk (O_PATH|O_NOFOLLOW per component)",
            Feature::CloseRangeCloexec => "FD_CLOEXEC on each fd of /proc/self/fd",
            Feature::PidfdOpen => "kill by pid after a start-time check",
            Feature::PidfdSetns => "setns on /proc/<pid>/ns/*, start time checked, mnt last",
            Feature::Fsmount => "/proc verified to be the root of a procfs mount",
            Feature::MountSetattr => "MS_REMOUNT|MS_BIND of each submount",
            Feature::ImmutableTmpfs => "sealed memfd copy of the binary per run",
        }
    }

    /// `Some(true)` if found, `Some(false)` if the kernel lacks it, `None` if not probed yet.
    pub fn known(self) -> Option<bool> {
        match self.slot().load(Ordering::Relaxed) {
            YES => Some(true),
            NO => Some(false),
            _ => None,
        }
    }

    /// Whether to try the feature (true until a call has shown it missing).
    pub fn usable(self) -> bool {
        self.slot().load(Ordering::Relaxed) != NO
    }

    /// Records the outcome of a call: `Err` with one of `missing` errnos marks the
    /// feature missing (logged once) and returns true: the caller takes its fallback.
    pub fn missing_after<T>(self, res: &std::io::Result<T>, missing: &[i32]) -> bool {
        match res {
            Err(e) if e.raw_os_error().is_some_and(|c| missing.contains(&c)) => {
                self.mark(false);
                true
            }
            Ok(_) => {
                self.mark(true);
                false
            }
            Err(_) => false,
        }
    }

    /// Records whether the kernel has the feature (logged on the first change).
    pub fn mark(self, present: bool) {
        let v = if present { YES } else { NO };
        if self.slot().swap(v, Ordering::Relaxed) != v && !present {
            tracing::debug!(
                feature = self.name(),
                since = self.since(),
                fallback = self.fallback(),
                "kernel lacks {}, using the fallback",
                self.name()
            );
        }
    }
}

/// Probes `f` now with a harmless call (for `husk features`), records and returns the
/// outcome; `None` when the call could not tell (e.g. no privilege).
pub fn probe_now(f: Feature) -> Option<bool> {
    use std::os::fd::AsRawFd;
    let errno = |rc: libc::c_long| {
        if rc < 0 {
            std::io::Error::last_os_error().raw_os_error()
        } else {
            None
        }
    };
    let closing = |rc: libc::c_long| {
        if rc >= 0 {
            // SAFETY: rc is a new fd this probe owns.
            unsafe { libc::close(rc as i32) };
        }
        rc
    };
    let missing = |e: Option<i32>, codes: &[i32]| e.is_some_and(|c| codes.contains(&c));
    let res = match f {
        Feature::Openat2 => {
            // SAFETY: a bad dirfd and a null how: EBADF/EFAULT where the call exists.
            let rc = unsafe { libc::syscall(libc::SYS_openat2, -1, c"".as_ptr(), 0usize, 0usize) };
            Some(!missing(errno(rc), &[libc::ENOSYS]))
        }
        Feature::CloseRangeCloexec => {
            // SAFETY: an empty range at the top: changes nothing.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_close_range,
                    u32::MAX,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                )
            };
            Some(!missing(errno(rc), &[libc::ENOSYS, libc::EINVAL]))
        }
        Feature::PidfdOpen => {
            // SAFETY: integer arguments; the fd is closed at once.
            let rc = closing(unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) });
            Some(!missing(errno(rc), &[libc::ENOSYS]))
        }
        Feature::PidfdSetns => {
            // Joining our own UTS and IPC namespaces through a pidfd of ourselves
            // is a no-op (two flags: only a pidfd takes more than one).
            match super::pidfd_open(std::process::id() as i32) {
                Err(_) => Some(false),
                Ok(fd) => {
                    // SAFETY: integer arguments only.
                    let rc = unsafe {
                        libc::syscall(
                            libc::SYS_setns,
                            fd.as_raw_fd(),
                            libc::CLONE_NEWUTS | libc::CLONE_NEWIPC,
                        )
                    };
                    match errno(rc) {
                        None => Some(true),
                        Some(libc::EINVAL) => Some(false),
                        Some(_) => None,
                    }
                }
            }
        }
        Feature::Fsmount => {
            // SAFETY: a C string literal; the fd is closed at once.
            let rc = closing(unsafe { libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), 1u32) });
            match errno(rc) {
                None => Some(true),
                Some(libc::ENOSYS) => Some(false),
                Some(_) => None,
            }
        }
        Feature::MountSetattr => {
            // SAFETY: a bad fd and size 0: EINVAL/EBADF where the call exists.
            let rc = unsafe {
                libc::syscall(libc::SYS_mount_setattr, -1, c"".as_ptr(), 0, 0usize, 0usize)
            };
            Some(!missing(errno(rc), &[libc::ENOSYS]))
        }
        Feature::ImmutableTmpfs => {
            // A memfd lives on shmem, as /run's tmpfs: setting no flags changes nothing.
            match nix::sys::memfd::memfd_create(
                c"husk-probe",
                nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
            ) {
                Err(_) => None,
                Ok(fd) => {
                    let flags: libc::c_long = 0;
                    // SAFETY: FS_IOC_SETFLAGS reads one long.
                    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), 0x4008_6602, &flags) };
                    Some(!missing(
                        errno(rc as libc::c_long),
                        &[libc::ENOTTY, libc::EOPNOTSUPP],
                    ))
                }
            }
        }
    };
    if let Some(present) = res {
        f.mark(present);
    }
    res
}

/// Whether the kernel accepts `CLONE_NEWTIME` (5.6): `unshare` in a forked child.
pub fn time_namespaces() -> Option<bool> {
    // SAFETY: the child makes one raw syscall and _exits; no Rust code runs there.
    match unsafe { libc::fork() } {
        -1 => None,
        0 => {
            // SAFETY: raw syscalls only.
            unsafe {
                let rc = libc::unshare(0x80);
                libc::_exit(if rc == 0 {
                    0
                } else {
                    *libc::__errno_location() & 0xff
                })
            }
        }
        pid => {
            let mut st = 0;
            // SAFETY: waits for our own child.
            unsafe { libc::waitpid(pid, &mut st, 0) };
            match libc::WEXITSTATUS(st) {
                0 => Some(true),
                libc::EINVAL => Some(false),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_ordered() {
        for (i, f) in ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
            assert!(!f.name().is_empty() && !f.since().is_empty() && !f.fallback().is_empty());
        }
    }

    #[test]
    fn errors_mark_missing_only_for_named_errnos() {
        // A feature no other test of this process touches.
        let f = Feature::ImmutableTmpfs;
        let r: std::io::Result<()> = Err(std::io::Error::from_raw_os_error(libc::EPERM));
        assert!(!f.missing_after(&r, &[libc::ENOTTY]));
        assert!(f.usable());
        let r: std::io::Result<()> = Err(std::io::Error::from_raw_os_error(libc::ENOTTY));
        assert!(f.missing_after(&r, &[libc::ENOTTY]));
        assert_eq!(f.known(), Some(false));
        assert!(!f.usable());
    }
}
