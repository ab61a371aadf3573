//! `husk run`: create + start; in the foreground husk waits for the container,
//! forwards signals to it, deletes it and exits with its status.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::CreateFlags;
use crate::Ctx;

/// `run [flags] ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Return once started instead of waiting.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container when it exits.
    #[arg(long)]
    pub keep: bool,
    /// Container id.
    pub id: String,
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    let mut c = a.flags.builder(&a.id, ctx).create()?;
    if a.detach {
        if let Err(e) = c.start() {
            let _ = husk::Container::load(&ctx.root, &a.id).map(|c| c.delete(true));
            return Err(e.into());
        }
        return Ok(0);
    }
    // Block the signals we forward before starting, so none is lost; the init was
    // forked before this and keeps the original mask.
    let mut set = SigSet::all();
    for s in [
        Signal::SIGILL,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGFPE,
        Signal::SIGKILL,
        Signal::SIGSTOP,
    ] {
        set.remove(s);
    }
    set.thread_block()?;
    let _ = husk::sys::set_child_subreaper();
    let pid = c.pid();
    if let Err(e) = c.start() {
        let _ = husk::Container::load(&ctx.root, &a.id).map(|c| c.delete(true));
        return Err(e.into());
    }
    let code = wait_forwarding(pid, &set);
    if !a.keep {
        if let Ok(c) = husk::Container::load(&ctx.root, &a.id) {
            c.delete(true)?;
        }
    }
    Ok(code)
}

/// Forwards every signal to the init until it exits; returns its exit status
/// (128 + signal when killed), reaping re-parented orphans on the way.
fn wait_forwarding(pid: i32, set: &SigSet) -> u8 {
    loop {
        if let Some(code) = reap(pid) {
            return code;
        }
        let Ok(sig) = set.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
        }
    }
}

fn reap(pid: i32) -> Option<u8> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return Some(code as u8),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => {
                return Some(128 + sig as u8)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}
