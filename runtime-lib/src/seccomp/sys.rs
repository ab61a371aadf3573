//! Tiny wrappers around the `seccomp(2)` and `prctl(2)` calls that neither
//! libc nor nix wrap. Every `unsafe` block of the module lives here.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;

/// Installs `program` with `seccomp(SECCOMP_SET_MODE_FILTER, flags, ...)` and
/// returns the kernel's non-negative result (the listener fd with
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`, a thread id on a TSYNC failure, else 0).
pub(super) fn set_mode_filter(
    program: &[libc::sock_filter],
    flags: libc::c_ulong,
) -> Result<libc::c_long, Errno> {
    let len = libc::c_ushort::try_from(program.len()).map_err(|_| Errno::EINVAL)?;
    let fprog = libc::sock_fprog {
        len,
        // The kernel only reads through this pointer.
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points to `program`, which outlives the call; the kernel
    // copies the program and keeps no reference to our memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::from_ref(&fprog),
        )
    };
    Errno::result(rc)
}

/// Takes ownership of the listener fd the kernel returned.
pub(super) fn own_fd(fd: libc::c_long) -> Result<OwnedFd, Errno> {
    let raw = libc::c_int::try_from(fd).map_err(|_| Errno::EBADF)?;
    if raw < 0 {
        return Err(Errno::EBADF);
    }
    // SAFETY: the kernel just created this descriptor for us and nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Whether the kernel knows filter flag `flag`: with a NULL program it fails
/// with EFAULT after accepting the flags and EINVAL otherwise. Installs nothing.
pub(super) fn filter_flag_known(flag: libc::c_ulong) -> bool {
    // SAFETY: a NULL program pointer is never dereferenced by us; the kernel
    // validates it and returns EFAULT.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flag,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    rc < 0 && Errno::last() == Errno::EFAULT
}

/// Whether the kernel implements the filter return action `action`
/// (`SECCOMP_GET_ACTION_AVAIL`, Linux 4.14+).
pub(super) fn action_available(action: u32) -> bool {
    // SAFETY: the kernel reads one u32 from a pointer to a live local.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            std::ptr::from_ref(&action),
        )
    };
    rc == 0
}

/// Whether the kernel has seccomp at all (`PR_GET_SECCOMP` fails with EINVAL
/// without `CONFIG_SECCOMP`).
pub(super) fn seccomp_enabled() -> bool {
    // Hand-written: nix's prctl module has no PR_GET_SECCOMP.
    // SAFETY: PR_GET_SECCOMP takes no pointer arguments.
    let rc = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    rc >= 0
}
