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
