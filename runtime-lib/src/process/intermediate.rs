//! What the init and exec paths share around their intermediate process: how
//! it ends (report the forked pid, then `_exit`) and how the runtime gets rid
//! of a half-made child.

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::channel::{Channel, Msg};
use super::InitError;

/// Ends the intermediate: sends the pid it forked (or why it could not) to the
/// runtime and exits, with status 0 only when the pid was delivered.
pub(super) fn report_and_exit(ch: &Channel, res: Result<i32, InitError>) -> ! {
    let code = match res {
        Ok(pid) => ch.send(&Msg::InitPid(pid)).map(|_| 0).unwrap_or(1),
        Err(e) => {
            let _ = ch.send(&Msg::Error(e));
            1
        }
    };
    // SAFETY: leave without running the runtime's atexit handlers or destructors.
    unsafe { libc::_exit(code) }
}

/// Kills and reaps a half-made child (intermediate, init or exec'd process).
pub(super) fn reap(pid: i32) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
}
