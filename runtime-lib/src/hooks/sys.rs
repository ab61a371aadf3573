//! Tiny wrappers for the calls nix 0.32 lacks (`pidfd_open`, `sigpending`,
//! `sigtimedwait`). Every `unsafe` block of the module lives here.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, OwnedFd};

/// `pidfd_open(pid, 0)`: an fd that polls readable once `pid` has exited.
pub(super) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: pidfd_open takes plain integers and returns a new fd or -1.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(rc).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: the kernel just created this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether SIGPIPE is pending for this thread or the process.
pub(super) fn sigpipe_pending() -> bool {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given; we read it only on success.
    unsafe {
        if libc::sigpending(set.as_mut_ptr()) != 0 {
            return false;
        }
        libc::sigismember(set.as_ptr(), libc::SIGPIPE) == 1
    }
}

/// Takes one pending SIGPIPE off the queue, if any, without waiting.
/// SIGPIPE must be blocked in this thread.
pub(super) fn take_pending_sigpipe() {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the set is initialised by sigemptyset before use; sigtimedwait
    // reads the set and timeout and may write nothing else (NULL info).
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
        // EAGAIN (nothing pending) is fine: there is nothing to take.
        libc::sigtimedwait(set.as_ptr(), std::ptr::null_mut(), &zero);
    }
}
