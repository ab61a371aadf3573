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
//! before the fifo is removed) and `delete` (the cgroup removed, before the state).

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
    let old = nix::sys::prctl::get_name().ok();
    let _ = nix::sys::prctl::set_name(c"husk-fault");
    if std::process::id() == 1 {
        loop {
            // SAFETY: pause(2) has no preconditions.
            unsafe { libc::pause() };
        }
    }
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    if let Some(old) = old {
        let _ = nix::sys::prctl::set_name(&old);
    }
}
