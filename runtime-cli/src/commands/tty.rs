//! Foreground supervision for `run` and `exec`: forward signals to the container
//! process, reap children, and, when husk is its own console socket, proxy the
//! caller's stdin/stdout to the pty master (raw mode when stdin is a terminal,
//! restored afterwards). Single-threaded: one poll loop over a signalfd, stdin and
//! the master.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The signals husk forwards (all it may block).
pub fn forwarded_signals() -> SigSet {
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
    set
}

/// Makes an internal console socket: (our end, the end for the container).
pub fn console_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    husk::tty::socketpair()
}

/// The pty master of a foreground container process and the caller's terminal state.
pub struct Proxy {
    master: OwnedFd,
    saved: Option<Termios>,
}

fn stdin() -> BorrowedFd<'static> {
    // SAFETY: fd 0 stays open for the life of the process (we never close it).
    unsafe { BorrowedFd::borrow_raw(0) }
}

impl Proxy {
    /// Receives the master from our end of the console socket pair, stops the pty from
    /// turning "\n" into "\r\n" (runc does the same), and, if stdin is a terminal,
    /// copies its size to the pty and puts it in raw mode.
    pub fn receive(sock: &OwnedFd) -> io::Result<Proxy> {
        let (master, _name) = husk::tty::recv_master(sock.as_fd())?;
        let mut t = termios::tcgetattr(master.as_fd())?;
        t.output_flags.remove(termios::OutputFlags::ONLCR);
        termios::tcsetattr(master.as_fd(), SetArg::TCSANOW, &t)?;
        let flags = OFlag::from_bits_truncate(fcntl(master.as_fd(), FcntlArg::F_GETFL)?);
        fcntl(master.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        let mut p = Proxy {
            master,
            saved: None,
        };
        if nix::unistd::isatty(stdin()).unwrap_or(false) {
            p.resize();
            let saved = termios::tcgetattr(stdin())?;
            let mut raw = saved.clone();
            termios::cfmakeraw(&mut raw);
            termios::tcsetattr(stdin(), SetArg::TCSANOW, &raw)?;
            p.saved = Some(saved);
        }
        Ok(p)
    }

    /// Copies the caller's terminal size to the pty (on start and SIGWINCH).
    fn resize(&self) {
        if let Ok(ws) = husk::tty::get_winsize(stdin()) {
            let _ = husk::tty::set_winsize(self.master.as_fd(), ws);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(t) = self.saved.take() {
            let _ = termios::tcsetattr(stdin(), SetArg::TCSANOW, &t);
        }
    }
}

/// Reaps every exited child; returns the status of `pid` once it has exited
/// (128 + signal when killed).
fn reap(pid: i32) -> Option<u8> {
    let mut code = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, c)) if p.as_raw() == pid => code = Some(c as u8),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => {
                code = Some(128u8.wrapping_add(sig as u8))
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return code,
            Ok(_) => continue,
        }
    }
}

/// Waits for `pid` (a child of ours) while forwarding signals to it and proxying the
/// terminal; returns its exit status. `set` must already be blocked.
pub fn supervise(pid: i32, set: &SigSet, mut proxy: Option<&mut Proxy>) -> io::Result<u8> {
    let sfd = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    if let Some(p) = proxy.as_deref() {
        p.resize();
    }
    let mut stdin_open = proxy.is_some();
    let mut master_open = proxy.is_some();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut status = reap(pid);
    while status.is_none() {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let (mut i_in, mut i_master) = (None, None);
        if let Some(p) = proxy.as_deref() {
            if stdin_open && pending.is_empty() {
                i_in = Some(fds.len());
                fds.push(PollFd::new(stdin(), PollFlags::POLLIN));
            }
            if master_open {
                let mut ev = PollFlags::POLLIN;
                if !pending.is_empty() {
                    ev |= PollFlags::POLLOUT;
                }
                i_master = Some(fds.len());
                fds.push(PollFd::new(p.master.as_fd(), ev));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds[i].revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, in_ready, master_ready) = (ready(Some(0)), ready(i_in), ready(i_master));
        drop(fds);
        if sig_ready {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGCHLD {
                    continue;
                }
                if sig == libc::SIGWINCH {
                    // Resizes the pty; never forwarded (as runc).
                    if let Some(p) = proxy.as_deref() {
                        p.resize();
                    }
                    continue;
                }
                if let Ok(s) = Signal::try_from(sig) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), s);
                }
            }
            status = reap(pid);
        }
        let Some(p) = proxy.as_deref_mut() else {
            continue;
        };
        if in_ready {
            match nix::unistd::read(stdin(), &mut buf) {
                Ok(0) => stdin_open = false,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
        if master_ready {
            master_open = pump_master(p, &mut buf)?;
            if !pending.is_empty() && master_open {
                match nix::unistd::write(&p.master, &pending) {
                    Ok(n) => {
                        pending.drain(..n);
                    }
                    Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                    Err(_) => pending.clear(),
                }
            }
        }
    }
    // The process is gone: copy out what is left in the pty (until its last holder
    // closes it, or it has been quiet for a moment).
    if let Some(p) = proxy {
        while master_open {
            let mut fds = [PollFd::new(p.master.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(200u8)) {
                Ok(0) => break,
                Ok(_) => master_open = pump_master(p, &mut buf)?,
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
    }
    Ok(status.unwrap_or(0))
}

/// Copies what the master has to stdout; false once the pty is closed (EIO).
fn pump_master(p: &mut Proxy, buf: &mut [u8]) -> io::Result<bool> {
    loop {
        match nix::unistd::read(p.master.as_fd(), buf) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                let mut out = io::stdout().lock();
                // A closed stdout must not stop the container: drop the output.
                let _ = out.write_all(&buf[..n]).and_then(|_| out.flush());
            }
            Err(Errno::EAGAIN) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(Errno::EIO) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The pty master of a container `run` or `restore` just made, when it has a
/// terminal; if it cannot be received the container is deleted again.
pub fn receive_or_delete(
    ours: Option<OwnedFd>,
    ctx: &crate::Ctx,
    id: &str,
) -> Result<Option<Proxy>, Box<dyn std::error::Error>> {
    match ours.as_ref().map(Proxy::receive) {
        Some(Ok(p)) => Ok(Some(p)),
        Some(Err(e)) => {
            let _ = husk::Container::load(&ctx.root, id).map(|c| c.delete(true));
            Err(format!("receive the pty master: {e}").into())
        }
        None => Ok(None),
    }
}
