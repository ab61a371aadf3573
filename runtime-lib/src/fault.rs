//! Test-only fault points. With `HUSK_FAULT_PAUSE=<phase>` in its environment, the
//! husk process (or the container's init) that reaches the named phase boundary
//! stops itself with `SIGSTOP`, so a test can SIGKILL it exactly there and check
//! that `delete --force` leaves nothing behind. Unset (always, outside tests), a
//! point costs one environment lookup.
//!
//! The phases of `create`, in order: `state-dir` (the `creating` state is
//! written), `cgroup` (the cgroup made), `clone` (the init cloned and its pid
//! recorded), in the init `namespaces` (namespaces set up, before the mounts),
//! `mounts` (the rootfs built), `pivot` (after pivot_root), `ready` (before the
//! ready report, the init now outliving the runtime), and in the runtime
//! `created` (before the final state write). Then `start` (the fifo written,
//! before the state write) and `delete` (the cgroup removed, before the state).

/// The environment variable naming the phase to stop at.
pub const FAULT_PAUSE_ENV: &str = "HUSK_FAULT_PAUSE";

/// Waits at this point if `HUSK_FAULT_PAUSE` names `phase`: renamed to
/// `husk-fault`, the process stops itself (`SIGSTOP`; `SIGCONT` goes on). The
/// init of a pid namespace cannot stop itself (the kernel drops signals it sends
/// itself), so there it waits until killed.
pub fn point(phase: &str) {
    if std::env::var_os(FAULT_PAUSE_ENV).is_none_or(|v| v != phase) {
        return;
    }
    let mut old = [0u8; 17];
    // SAFETY: PR_GET_NAME writes at most 16 bytes and a NUL into `old`;
    // PR_SET_NAME reads a NUL-terminated string.
    unsafe {
        libc::prctl(libc::PR_GET_NAME, old.as_mut_ptr());
        libc::prctl(libc::PR_SET_NAME, c"husk-fault".as_ptr());
    }
    if std::process::id() == 1 {
        loop {
            // SAFETY: pause(2) has no preconditions.
            unsafe { libc::pause() };
        }
    }
    // SAFETY: raise(2) with a valid signal number; SIGSTOP cannot be caught.
    unsafe {
        libc::raise(libc::SIGSTOP);
        libc::prctl(libc::PR_SET_NAME, old.as_ptr());
    }
}
