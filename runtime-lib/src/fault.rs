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

/// Stops the calling process if `HUSK_FAULT_PAUSE` names `phase`.
pub fn point(phase: &str) {
    if std::env::var_os(FAULT_PAUSE_ENV).is_some_and(|v| v == phase) {
        // SAFETY: raise(2) with a valid signal number; SIGSTOP cannot be caught.
        unsafe { libc::raise(libc::SIGSTOP) };
    }
}
