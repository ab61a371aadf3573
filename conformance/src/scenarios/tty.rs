//! Terminal scenarios: with `process.terminal` and `--console-socket` the
//! runtime connects to the socket and sends the pty master (SCM_RIGHTS); the
//! container's stdio is the pty slave, sized as `consoleSize`. Without a
//! console socket, a detached `create` with a terminal fails.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::json;

use super::WAIT;
use crate::scenario::{expect, fail, shorten, Case, Check, Verdict};

/// How long the receiver waits for the runtime to connect and send.
const RECV_TIMEOUT: Duration = Duration::from_secs(15);

/// A console socket like runc's `recvtty`: accepts one connection and
/// receives one file descriptor.
struct Receiver {
    path: PathBuf,
    handle: JoinHandle<Result<OwnedFd, String>>,
}

impl Receiver {
    fn listen(c: &Case) -> Result<Receiver, Verdict> {
        let path = c.dir.join("console.sock");
        let h = |e: std::io::Error| fail(format!("harness: console socket: {e}"));
        let listener = UnixListener::bind(&path).map_err(h)?;
        listener.set_nonblocking(true).map_err(h)?;
        let handle = std::thread::spawn(move || {
            let end = Instant::now() + RECV_TIMEOUT;
            let conn = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if Instant::now() > end {
                            return Err("the runtime never connected to the console socket".into());
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => return Err(format!("accept: {e}")),
                }
            };
            conn.set_nonblocking(false).map_err(|e| e.to_string())?;
            conn.set_read_timeout(Some(RECV_TIMEOUT))
                .map_err(|e| e.to_string())?;
            recv_fd(conn.as_raw_fd())
        });
        Ok(Receiver { path, handle })
    }

    /// The received fd (the runtime call that sends it has returned).
    fn master(self) -> Result<OwnedFd, Verdict> {
        let end = Instant::now() + Duration::from_secs(2);
        while !self.handle.is_finished() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        if !self.handle.is_finished() {
            return Err(fail("no pty master arrived on the console socket"));
        }
        self.handle
            .join()
            .map_err(|_| fail("harness: receiver panicked"))?
            .map_err(fail)
    }
}

fn recv_fd(sock: RawFd) -> Result<OwnedFd, String> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| format!("recvmsg: {e}"))?;
    for cm in msg.cmsgs().map_err(|e| format!("cmsgs: {e}"))? {
        if let ControlMessageOwned::ScmRights(fds) = cm {
            let mut fds = fds.into_iter();
            if let Some(fd) = fds.next() {
                for extra in fds {
                    // SAFETY: received fds are ours; extra ones are closed.
                    drop(unsafe { OwnedFd::from_raw_fd(extra) });
                }
                // SAFETY: a fresh fd received with SCM_RIGHTS, owned by us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err("the message carried no file descriptor".into())
}

/// Reads `fd` until the output contains `needle` (or EOF/EIO, or `timeout`).
fn read_until(fd: &OwnedFd, needle: &str, timeout: Duration) -> Result<String, Verdict> {
    let end = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains(needle) {
        let text = String::from_utf8_lossy(&out).into_owned();
        if Instant::now() > end {
            return Err(fail(format!(
                "pty output {:?} never showed {needle:?}",
                shorten(&text, 80)
            )));
        }
        let ready = crate::proc::poll_fds(&[fd], Duration::from_millis(100))
            .map_err(|e| fail(format!("harness: poll: {e}")))?;
        if ready.is_empty() {
            continue;
        }
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return Err(fail(format!(
                "pty closed before {needle:?}; got {:?}",
                shorten(&text, 80)
            )));
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

pub(super) fn tty_console_socket(c: &mut Case) -> Check {
    let script = "tty; test -t 0 && test -t 1 && test -t 2 && echo STDIO-IS-TTY; \
                  stty size; echo DONE; exec sleep 1000";
    let b = c.bundle("b", &["sh", "-c", script], |cfg, _| {
        cfg["process"]["terminal"] = json!(true);
        cfg["process"]["consoleSize"] = json!({ "height": 31, "width": 97 });
    })?;
    let id = c.id("");
    let recv = Receiver::listen(c)?;
    let sock = recv.path.to_string_lossy().into_owned();
    let bs = b.to_string_lossy().into_owned();
    c.call_ok(&["create", "--console-socket", &sock, "--bundle", &bs, &id])?;
    let master = recv.master()?;
    c.call_ok(&["start", &id])?;
    let out = read_until(&master, "DONE", WAIT)?;
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    expect(lines.iter().any(|l| l.starts_with("/dev/pts/")), || {
        format!("`tty` printed no /dev/pts/N: {:?}", shorten(&out, 80))
    })?;
    expect(lines.contains(&"STDIO-IS-TTY"), || {
        format!(
            "stdin/stdout/stderr are not the terminal: {:?}",
            shorten(&out, 80)
        )
    })?;
    expect(lines.contains(&"31 97"), || {
        format!(
            "`stty size` is not consoleSize 31 97: {:?}",
            shorten(&out, 80)
        )
    })?;
    c.call_ok(&["kill", &id, "KILL"])?;
    c.wait_status(&id, "stopped", WAIT)
}

pub(super) fn tty_no_console_socket(c: &mut Case) -> Check {
    let b = c.bundle("b", &["sh", "-c", "echo ran"], |cfg, _| {
        cfg["process"]["terminal"] = json!(true);
    })?;
    let id = c.id("");
    let bs = b.to_string_lossy().into_owned();
    c.call_fails(&["create", "--bundle", &bs, &id])?;
    c.call_fails(&["state", &id])
        .map_err(|_| fail("the container is left after the failed create"))?;
    Ok(())
}
