//! Feeding a running hook its stdin, capturing its output and waiting for it
//! with a deadline, all from one thread: a `poll` loop over the pipes and a
//! pidfd (or, without pidfd support, a short tick and `waitpid(WNOHANG)`).
//! Threads are avoided because the container init calls this after `fork`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::{read, write};

use super::sigpipe::SigpipeGuard;
use super::sys;

/// How much of each output stream is kept for error messages: the last 4 KiB,
/// where a failing program says why.
pub(super) const CAPTURE_LIMIT: usize = 4096;

/// Re-check interval when the kernel has no pidfd (Linux < 5.3).
const FALLBACK_TICK: Duration = Duration::from_millis(10);

/// Bound on reads when draining pipes after exit: a grandchild still holding
/// the pipe open must not keep us here.
const DRAIN_ROUNDS: usize = 64;

/// How a supervised hook ended.
pub(super) enum Outcome {
    /// It exited (or was killed by someone else) before the deadline.
    Exited {
        status: ExitStatus,
        stdout: String,
        stderr: String,
    },
    /// The deadline passed; it was killed with SIGKILL and reaped.
    TimedOut { stderr: String },
}

/// A failed step and its OS error.
pub(super) type StepError = (&'static str, io::Error);

/// Bounded capture of the tail of one output stream.
#[derive(Default)]
pub(super) struct Capture {
    buf: Vec<u8>,
    truncated: bool,
}

impl Capture {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        if self.buf.len() > CAPTURE_LIMIT {
            let cut = self.buf.len() - CAPTURE_LIMIT;
            self.buf.drain(..cut);
            self.truncated = true;
        }
    }

    pub fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end();
        if self.truncated {
            format!("(truncated) ...{text}")
        } else {
            text.to_string()
        }
    }
}

/// One piped stream of the child.
struct Stream {
    fd: Option<OwnedFd>,
    capture: Capture,
}

impl Stream {
    fn new(fd: Option<OwnedFd>) -> io::Result<Self> {
        if let Some(fd) = &fd {
            set_nonblocking(fd)?;
        }
        Ok(Self {
            fd,
            capture: Capture::default(),
        })
    }

    /// Reads once; closes on EOF or error.
    fn read_once(&mut self) -> bool {
        let Some(fd) = &self.fd else { return false };
        let mut buf = [0u8; 16 * 1024];
        match read(fd, &mut buf) {
            Ok(0) => self.fd = None,
            Ok(n) => {
                self.capture.push(&buf[..n]);
                return true;
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            // The hook's output is only informative: stop reading it.
            Err(_) => self.fd = None,
        }
        false
    }

    fn drain(&mut self) {
        for _ in 0..DRAIN_ROUNDS {
            if !self.read_once() {
                break;
            }
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL)?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )?;
    Ok(())
}

/// Milliseconds for poll, rounded up so we never spin just short of a deadline.
fn poll_timeout(wait: Option<Duration>) -> PollTimeout {
    match wait {
        None => PollTimeout::NONE,
        Some(w) => {
            let ms = w.as_nanos().div_ceil(1_000_000);
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}

/// Writes `input` to the child's stdin (then closes it), captures stdout and
/// stderr, and waits for the child, killing it at `timeout`.
///
/// The caller kills and reaps the child if this returns an error.
pub(super) fn supervise(
    child: &mut Child,
    input: &[u8],
    timeout: Option<Duration>,
) -> Result<Outcome, StepError> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let setup = |e: io::Error| ("setting up the hook's pipes", e);
    let mut stdin = child.stdin.take().map(OwnedFd::from);
    if let Some(fd) = &stdin {
        set_nonblocking(fd).map_err(setup)?;
    }
    let mut stdout = Stream::new(child.stdout.take().map(OwnedFd::from)).map_err(setup)?;
    let mut stderr = Stream::new(child.stderr.take().map(OwnedFd::from)).map_err(setup)?;
    // Without pidfd (old kernels) we fall back to ticking.
    let pidfd = sys::pidfd_open(child.id()).ok();
    let mut sigpipe = SigpipeGuard::block().map_err(|e| ("blocking SIGPIPE", e.into()))?;
    let mut written = 0;

    loop {
        if input.len() == written {
            // All of the state is written: EOF tells the hook so.
            stdin = None;
        }
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    child.kill().map_err(|e| ("killing the hook", e))?;
                    child
                        .wait()
                        .map_err(|e| ("waiting for the killed hook", e))?;
                    stderr.drain();
                    return Ok(Outcome::TimedOut {
                        stderr: stderr.capture.text(),
                    });
                }
            },
            None => None,
        };
        let wait = match pidfd {
            Some(_) => wait,
            None => Some(wait.map_or(FALLBACK_TICK, |w| w.min(FALLBACK_TICK))),
        };

        let [in_ready, out_ready, err_ready, pid_ready] = {
            let mut fds = Vec::with_capacity(4);
            let mut slots = [None; 4];
            let entries = [
                (stdin.as_ref(), PollFlags::POLLOUT),
                (stdout.fd.as_ref(), PollFlags::POLLIN),
                (stderr.fd.as_ref(), PollFlags::POLLIN),
                (pidfd.as_ref(), PollFlags::POLLIN),
            ];
            for (slot, (fd, flags)) in entries.into_iter().enumerate() {
                if let Some(fd) = fd {
                    slots[slot] = Some(fds.len());
                    fds.push(PollFd::new(fd.as_fd(), flags));
                }
            }
            match poll(&mut fds, poll_timeout(wait)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(("poll", e.into())),
            }
            slots.map(|s| {
                s.and_then(|i| fds[i].revents())
                    .is_some_and(|r| !r.is_empty())
            })
        };

        if in_ready {
            if let Some(fd) = &stdin {
                match write(fd, &input[written..]) {
                    Ok(n) => written += n,
                    Err(Errno::EAGAIN | Errno::EINTR) => {}
                    Err(Errno::EPIPE) => {
                        // The hook closed stdin without reading it all: its
                        // business, not an error (runc ignores it too).
                        sigpipe.note_epipe();
                        stdin = None;
                        written = input.len();
                    }
                    Err(e) => return Err(("writing the state to the hook's stdin", e.into())),
                }
            }
        }
        if out_ready {
            stdout.read_once();
        }
        if err_ready {
            stderr.read_once();
        }

        let exited = match pidfd {
            Some(_) => pid_ready,
            None => child
                .try_wait()
                .map_err(|e| ("waiting for the hook", e))?
                .is_some(),
        };
        if exited {
            drop(stdin);
            // Whatever is already in the pipes; output written later by
            // lingering grandchildren is not waited for.
            stdout.drain();
            stderr.drain();
            let status = child.wait().map_err(|e| ("waiting for the hook", e))?;
            return Ok(Outcome::Exited {
                status,
                stdout: stdout.capture.text(),
                stderr: stderr.capture.text(),
            });
        }
    }
}
