//! A process's stdio as containerd asks for it.
//!
//! * fifos (a plain path or `fifo://`, containerd's default): stdout and stderr are
//!   opened in the shim and given to the process as they are, so the process writes
//!   straight into them and nothing is copied (nothing can be lost at exit). The
//!   shim keeps a read end of each open so a reader that goes away (a detached
//!   `ctr`) makes the process block instead of dying of SIGPIPE, as the runc shim
//!   does. stdin goes through a pipe fed by a copier thread: the process sees EOF
//!   when the last writer of the fifo closes it, or at `CloseIO`.
//! * `binary://path?k=v`: a logging binary started with the process's stdout and
//!   stderr pipes at fds 3 and 4 and a ready pipe at fd 5 (closed when it is
//!   ready), environment `CONTAINER_ID` and `CONTAINER_NAMESPACE` only.
//! * `file:///path`: stdout and stderr appended to the file.
//! * terminal: the pty master arrives on a console socket; copier threads move
//!   stdin into it and its output into the stdout fifo. The output copier is
//!   drained before the exit is reported.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

use crate::helper::{self, ChildStdio};

mod console;
mod target;

pub use console::ConsoleListener;
pub use target::{parse_target, Target};

/// The stdio paths of one process, as given by containerd.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    /// Owner for the pipes the shim makes for the process (the runtime options'
    /// `IoUid`/`IoGid`, for user-namespaced containers), as the runc shim.
    pub owner: Option<(u32, u32)>,
    /// stdin (empty: none).
    pub stdin: String,
    /// stdout (empty: none).
    pub stdout: String,
    /// stderr (empty: none).
    pub stderr: String,
    /// Whether the process has a terminal.
    pub terminal: bool,
}

fn set_nonblock(fd: BorrowedFd<'_>, on: bool) -> nix::Result<()> {
    let fl = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    let fl = if on {
        fl | OFlag::O_NONBLOCK
    } else {
        fl - OFlag::O_NONBLOCK
    };
    fcntl(fd, FcntlArg::F_SETFL(fl))?;
    Ok(())
}

fn open_null(write: bool) -> Result<OwnedFd, String> {
    let fl = if write {
        OFlag::O_WRONLY
    } else {
        OFlag::O_RDONLY
    };
    open("/dev/null", fl | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| format!("/dev/null: {e}"))
}

/// How long a fifo's reader may take to show up.
const READER_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a fifo for writing once its reader is there, then a read end the shim
/// keeps (so the writer never gets EPIPE when the reader goes away); returns the
/// (blocking) write end and the kept read end.
///
/// The reader must be there first: containerd's client opens its read end with a
/// blocking open in a goroutine, which only completes for a writer that opens
/// after it started waiting. A process that wrote and exited before that would
/// lose its output (the runc shim's blocking writer open has the same effect).
fn open_fifo_writer(path: &str) -> Result<(OwnedFd, OwnedFd), String> {
    let deadline = std::time::Instant::now() + READER_TIMEOUT;
    let w = loop {
        match open(
            path,
            OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(w) => break Some(w),
            // No reader yet.
            Err(nix::errno::Errno::ENXIO) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(nix::errno::Errno::ENXIO) => break None,
            Err(e) => return Err(format!("open fifo {path} for writing: {e}")),
        }
    };
    let keep = open(
        path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open fifo {path}: {e}"))?;
    let w = match w {
        Some(w) => w,
        None => {
            log::warn!("no reader on {path} after {READER_TIMEOUT:?}: output may be lost");
            open(
                path,
                OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| format!("open fifo {path} for writing: {e}"))?
        }
    };
    set_nonblock(w.as_fd(), false).map_err(|e| format!("fifo {path}: {e}"))?;
    Ok((w, keep))
}

fn open_file_append(path: &str) -> Result<OwnedFd, String> {
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    open(
        path,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_APPEND | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
    .map_err(|e| format!("open {path}: {e}"))
}

/// Gives a pipe the process's owner (nothing to do without one).
fn chown(fd: &OwnedFd, owner: Option<(u32, u32)>) -> Result<(), String> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    nix::unistd::fchown(
        fd,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .map_err(|e| format!("chown stdio pipe to {uid}:{gid}: {e}"))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

/// A copier thread and the way to stop it.
#[derive(Debug)]
struct Copier {
    cancel: Option<OwnedFd>,
    done: mpsc::Receiver<()>,
    handle: Option<JoinHandle<()>>,
}

impl Copier {
    /// Copies `src` to `dst` until EOF, an error, or cancel. Both fds are switched to
    /// non-blocking (their open file descriptions are the shim's own).
    fn spawn(name: &str, src: OwnedFd, dst: Dst) -> Result<Copier, String> {
        let (cancel_r, cancel_w) = pipe()?;
        let (tx, rx) = mpsc::channel();
        set_nonblock(src.as_fd(), true).map_err(|e| format!("{name}: {e}"))?;
        set_nonblock(dst.fd().as_fd(), true).map_err(|e| format!("{name}: {e}"))?;
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                copy_loop(src.as_fd(), dst.fd().as_fd(), cancel_r.as_fd());
                drop(dst);
                let _ = tx.send(());
            })
            .map_err(|e| format!("spawn {name}: {e}"))?;
        Ok(Copier {
            cancel: Some(cancel_w),
            done: rx,
            handle: Some(handle),
        })
    }

    /// Waits up to `t` for the copier to end by itself; true when it did.
    fn wait(&self, t: Duration) -> bool {
        !matches!(
            self.done.recv_timeout(t),
            Err(mpsc::RecvTimeoutError::Timeout)
        )
    }

    fn stop(&mut self) {
        self.cancel = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Copier {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A copier's destination: owned (closed at EOF: stdin pipes) or shared (the pty
/// master, which outlives stdin).
#[derive(Debug)]
enum Dst {
    Owned(OwnedFd),
    Shared(std::sync::Arc<OwnedFd>),
}

impl Dst {
    fn fd(&self) -> &OwnedFd {
        match self {
            Dst::Owned(f) => f,
            Dst::Shared(f) => f,
        }
    }
}

/// Waits for `fd` to be ready for `ev` or for `cancel`; false when cancelled.
fn wait_ready(fd: BorrowedFd<'_>, ev: PollFlags, cancel: BorrowedFd<'_>) -> Option<PollFlags> {
    loop {
        let mut fds = [PollFd::new(fd, ev), PollFd::new(cancel, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return None;
        }
        if let Some(r) = fds[0].revents() {
            if !r.is_empty() {
                return Some(r);
            }
        }
    }
}

fn copy_loop(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, cancel: BorrowedFd<'_>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let Some(rev) = wait_ready(src, PollFlags::POLLIN, cancel) else {
            return;
        };
        let n = match nix::unistd::read(src, &mut buf) {
            Ok(0) => {
                // No writer now. Only the end when one came and went (POLLHUP):
                // a fifo reports neither before its first writer.
                if rev.contains(PollFlags::POLLHUP) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Ok(n) => n,
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return, // EIO: the pty's other side is closed
        };
        let mut off = 0;
        while off < n {
            match nix::unistd::write(dst, &buf[off..n]) {
                Ok(w) => off += w,
                Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {
                    if wait_ready(dst, PollFlags::POLLOUT, cancel).is_none() {
                        return;
                    }
                }
                Err(_) => return, // EPIPE: the reader is gone
            }
        }
    }
}

/// What the shim keeps for a process's stdio until the process is deleted.
#[derive(Debug, Default)]
pub struct ProcessIo {
    stdin: Option<Copier>,
    output: Option<Copier>,
    keep: Vec<OwnedFd>,
    master: Option<std::sync::Arc<OwnedFd>>,
    paths: Paths,
}

/// Stdio made ready for a new process: the fds the helper gives it, what the shim
/// keeps, and the console socket for a terminal.
#[derive(Debug)]
pub struct Prepared {
    /// The process's 0/1/2 (all /dev/null with a terminal).
    pub child: ChildStdio,
    /// The shim's side.
    pub io: ProcessIo,
    /// Where the pty master will arrive.
    pub console: Option<ConsoleListener>,
}

/// Opens everything for a new process's stdio. `on_spawn` is told about a logging
/// binary's pid.
pub fn prepare(
    paths: &Paths,
    container_id: &str,
    namespace: &str,
    on_spawn: &dyn Fn(i32),
) -> Result<Prepared, String> {
    let mut io = ProcessIo {
        paths: paths.clone(),
        ..Default::default()
    };
    if paths.terminal {
        let console = ConsoleListener::new().map_err(|e| format!("console socket: {e}"))?;
        return Ok(Prepared {
            child: ChildStdio {
                stdin: open_null(false)?,
                stdout: open_null(true)?,
                stderr: open_null(true)?,
            },
            io,
            console: Some(console),
        });
    }
    // stdin: a pipe fed from the fifo.
    let stdin = if paths.stdin.is_empty() {
        open_null(false)?
    } else {
        let fifo = open(
            paths.stdin.as_str(),
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("open stdin fifo {}: {e}", paths.stdin))?;
        let (r, w) = pipe()?;
        chown(&r, paths.owner)?;
        io.stdin = Some(Copier::spawn("stdin-copy", fifo, Dst::Owned(w))?);
        r
    };
    let out_t = parse_target(&paths.stdout)?;
    let err_t = parse_target(&paths.stderr)?;
    let (stdout, stderr) = match (&out_t, &err_t) {
        (Target::Binary { path, args }, _) | (_, Target::Binary { path, args }) => {
            let (o, e) = start_logger(path, args, container_id, namespace, on_spawn)?;
            chown(&o, paths.owner)?;
            chown(&e, paths.owner)?;
            (o, e)
        }
        (Target::File(p), _) | (_, Target::File(p)) => {
            let f = open_file_append(p)?;
            let f2 = f.try_clone().map_err(|e| format!("dup: {e}"))?;
            (f, f2)
        }
        _ => {
            let mut one = |t: &Target| -> Result<OwnedFd, String> {
                match t {
                    Target::Fifo(p) => {
                        let (w, keep) = open_fifo_writer(p)?;
                        io.keep.push(keep);
                        Ok(w)
                    }
                    _ => open_null(true),
                }
            };
            if out_t == err_t && out_t != Target::Null {
                let o = one(&out_t)?;
                let e = o.try_clone().map_err(|e| format!("dup: {e}"))?;
                (o, e)
            } else {
                (one(&out_t)?, one(&err_t)?)
            }
        }
    };
    Ok(Prepared {
        child: ChildStdio {
            stdin,
            stdout,
            stderr,
        },
        io,
        console: None,
    })
}

/// Starts a `binary://` logging binary; returns the process's stdout and stderr.
fn start_logger(
    path: &str,
    args: &[String],
    container_id: &str,
    namespace: &str,
    on_spawn: &dyn Fn(i32),
) -> Result<(OwnedFd, OwnedFd), String> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    let fds = [out_r.as_raw_fd(), err_r.as_raw_fd(), ready_w.as_raw_fd()];
    let req = helper::Request::Logger {
        binary: path.to_string(),
        args: args.to_vec(),
        env: vec![
            format!("CONTAINER_ID={container_id}"),
            format!("CONTAINER_NAMESPACE={namespace}"),
        ],
        fds,
    };
    let null = ChildStdio::null().map_err(|e| format!("/dev/null: {e}"))?;
    let resp = helper::call(&req, null, &fds, on_spawn)?;
    if let Some(e) = resp.error {
        return Err(e);
    }
    drop((out_r, err_r, ready_w));
    // The binary closes fd 5 when it is ready.
    let mut fds = [PollFd::new(ready_r.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(10_000u16)) {
        Ok(0) => return Err(format!("logging binary {path} did not get ready in 10s")),
        Ok(_) => {}
        Err(e) => return Err(format!("wait for logging binary: {e}")),
    }
    Ok((out_w, err_w))
}

impl ProcessIo {
    /// With a terminal: takes the pty master and starts copying stdin into it and
    /// its output to the stdout fifo.
    pub fn attach_master(&mut self, master: OwnedFd) -> Result<(), String> {
        let master = std::sync::Arc::new(master);
        if !self.paths.stdin.is_empty() {
            let fifo = open(
                self.paths.stdin.as_str(),
                OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| format!("open stdin fifo {}: {e}", self.paths.stdin))?;
            self.stdin = Some(Copier::spawn("tty-in", fifo, Dst::Shared(master.clone()))?);
        }
        match parse_target(&self.paths.stdout)? {
            Target::Fifo(p) => {
                let (w, keep) = open_fifo_writer(&p)?;
                self.keep.push(keep);
                let src = master
                    .try_clone()
                    .map_err(|e| format!("dup pty master: {e}"))?;
                self.output = Some(Copier::spawn("tty-out", src, Dst::Owned(w))?);
            }
            Target::File(p) => {
                let w = open_file_append(&p)?;
                let src = master
                    .try_clone()
                    .map_err(|e| format!("dup pty master: {e}"))?;
                self.output = Some(Copier::spawn("tty-out", src, Dst::Owned(w))?);
            }
            Target::Null => {}
            Target::Binary { .. } => {
                return Err("binary:// logging with a terminal is not supported".into())
            }
        }
        self.master = Some(master);
        Ok(())
    }

    /// `CloseIO(stdin)`: the process sees EOF on stdin.
    pub fn close_stdin(&mut self) {
        if let Some(mut c) = self.stdin.take() {
            c.stop();
        }
    }

    /// After the process exited: lets the terminal's output copier drain what is
    /// left (it ends when the pty's other side is closed by everyone), up to `t`.
    pub fn drain(&mut self, t: Duration) {
        if let Some(c) = &self.output {
            if !c.wait(t) {
                log::warn!("terminal output still open {t:?} after exit; stop copying");
            }
        }
        self.output = None;
        self.close_stdin();
    }

    /// Sets the terminal's size (no terminal: nothing to do).
    pub fn resize(&self, width: u32, height: u32) -> Result<(), String> {
        let Some(m) = &self.master else { return Ok(()) };
        let ws = libc::winsize {
            ws_row: height.min(u16::MAX as u32) as u16,
            ws_col: width.min(u16::MAX as u32) as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer we pass.
        let r = unsafe { libc::ioctl(m.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        if r < 0 {
            return Err(format!("resize pty: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_get_the_io_owner() {
        let (r, _w) = pipe().unwrap();
        chown(&r, None).unwrap();
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        chown(&r, Some((1234, 5678))).unwrap();
        let st = nix::sys::stat::fstat(&r).unwrap();
        assert_eq!((st.st_uid, st.st_gid), (1234, 5678));
    }
}
