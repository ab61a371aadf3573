//! A client of `criu swrk`: CRIU started as a child with one end of a
//! `SOCK_SEQPACKET` pair, one request sent, notifications (`post-dump`,
//! `setup-namespaces`, `post-restore`, `orphan-pts-master`, ...) answered until the
//! final response. Written here rather than using `rust_criu::Criu` (whose
//! generated messages we use) because that client has no pre-dump, memory
//! tracking, cgroup roots or LSM options, hides CRIU's pid (needed to place it in the
//! container's cgroup before the restore) and takes notify callbacks without state.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sys::socket::{
    recv, recvmsg, send, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag,
    SockType,
};
use protobuf::Message;
use rust_criu::rust_criu_protobuf::rpc;

use super::CheckpointError;

/// The default CRIU binary (looked up in PATH), overridable with `HUSK_CRIU`.
pub fn criu_binary() -> String {
    std::env::var("HUSK_CRIU").unwrap_or_else(|_| "criu".into())
}

/// A notification from CRIU during a request.
#[derive(Debug)]
pub struct Notify {
    /// The action-script name (`post-dump`, `post-restore`, ...).
    pub script: String,
    /// The pid CRIU reports (the restored init for `post-restore`).
    pub pid: i32,
    /// An fd CRIU passed (the new pty master for `orphan-pts-master`).
    pub fd: Option<OwnedFd>,
}

/// CRIU's final answer.
#[derive(Debug)]
pub struct SwrkOutcome {
    /// The response message.
    pub resp: rpc::Criu_resp,
}

/// A running `criu swrk`.
#[derive(Debug)]
pub struct Swrk {
    child: Child,
    sock: OwnedFd,
    log: PathBuf,
}

fn rpc_err(what: &'static str) -> impl FnOnce(std::io::Error) -> CheckpointError {
    move |source| CheckpointError::Rpc { what, source }
}

fn nix_io(e: nix::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

impl Swrk {
    /// Starts `criu swrk` with `keep` (fds the caller made inheritable, e.g. the
    /// stdio CRIU hands to the restored process, namespace fds) and the socket.
    /// `log` is where CRIU's log for this request will be (for error messages).
    pub fn spawn(keep: &[BorrowedFd<'_>], log: PathBuf) -> Result<Swrk, CheckpointError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| rpc_err("socketpair")(nix_io(e)))?;
        // CRIU is told the fd by number: it must survive exec, so only this end
        // loses close-on-exec, and only until the spawn returns.
        let theirs_fd = theirs.as_raw_fd();
        set_cloexec(theirs.as_fd(), false).map_err(rpc_err("fcntl"))?;
        let mut inherit = Vec::new();
        for fd in keep {
            set_cloexec(*fd, false).map_err(rpc_err("fcntl"))?;
            inherit.push(*fd);
        }
        let criu = criu_binary();
        let res = Command::new(&criu)
            .arg("swrk")
            .arg(theirs_fd.to_string())
            .stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn();
        for fd in inherit {
            let _ = set_cloexec(fd, true);
        }
        drop(theirs);
        let child = res.map_err(|source| CheckpointError::NoCriu { path: criu, source })?;
        Ok(Swrk {
            child,
            sock: ours,
            log,
        })
    }

    /// CRIU's pid (to place it in the container's cgroup before a restore).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends the request and answers notifications with `on_notify` until CRIU's
    /// final response; waits for CRIU to exit. `on_notify` failing makes CRIU abort.
    pub fn call(
        self,
        kind: rpc::Criu_req_type,
        opts: Option<rpc::Criu_opts>,
        on_notify: &mut dyn FnMut(Notify) -> Result<(), String>,
    ) -> Result<SwrkOutcome, CheckpointError> {
        let action = action_name(kind);
        let mut req = rpc::Criu_req::new();
        req.set_type(kind);
        if let Some(o) = opts {
            req.opts = protobuf::MessageField::some(o);
        }
        let out = exchange(&self.sock, &self.log, action, &req, on_notify);
        let Swrk {
            mut child,
            sock,
            log,
        } = self;
        // Closing our end lets a CRIU still waiting (after a pre-dump) exit.
        drop(sock);
        if out.is_err() {
            let _ = child.kill();
        }
        let status = child.wait().map_err(rpc_err("wait"))?;
        let resp = out?;
        let may_linger = matches!(
            kind,
            rpc::Criu_req_type::PRE_DUMP | rpc::Criu_req_type::VERSION
        );
        if !status.success() && !may_linger {
            return Err(failure(
                &log,
                action,
                None,
                format!("criu exited with {status}"),
            ));
        }
        Ok(SwrkOutcome { resp })
    }
}

fn exchange(
    sock: &OwnedFd,
    log: &Path,
    action: &'static str,
    req: &rpc::Criu_req,
    on_notify: &mut dyn FnMut(Notify) -> Result<(), String>,
) -> Result<rpc::Criu_resp, CheckpointError> {
    let bytes = req
        .write_to_bytes()
        .map_err(|e| rpc_err("encode request")(std::io::Error::other(e)))?;
    send(sock.as_raw_fd(), &bytes, MsgFlags::empty())
        .map_err(|e| rpc_err("send request")(nix_io(e)))?;
    loop {
        let (data, fd) = match recv_resp(sock.as_fd()) {
            Ok(Some(x)) => x,
            // CRIU died without answering: its log says why.
            Ok(None) => {
                return Err(failure(
                    log,
                    action,
                    None,
                    "criu exited without answering".into(),
                ))
            }
            Err(e) => return Err(rpc_err("receive response")(e)),
        };
        let resp = rpc::Criu_resp::parse_from_bytes(&data)
            .map_err(|e| rpc_err("decode response")(std::io::Error::other(e)))?;
        if !resp.success() {
            let errno = resp.has_cr_errno().then(|| resp.cr_errno());
            let msg = resp.cr_errmsg().to_string();
            return Err(failure(log, action, errno, msg));
        }
        if resp.type_() != rpc::Criu_req_type::NOTIFY {
            return Ok(resp);
        }
        let n = Notify {
            script: resp.notify.script().to_string(),
            pid: resp.notify.pid(),
            fd,
        };
        let script = n.script.clone();
        let res = on_notify(n);
        let mut ack = rpc::Criu_req::new();
        ack.set_type(rpc::Criu_req_type::NOTIFY);
        ack.set_notify_success(res.is_ok());
        let bytes = ack
            .write_to_bytes()
            .map_err(|e| rpc_err("encode notify ack")(std::io::Error::other(e)))?;
        send(sock.as_raw_fd(), &bytes, MsgFlags::empty())
            .map_err(|e| rpc_err("send notify ack")(nix_io(e)))?;
        if let Err(e) = res {
            return Err(CheckpointError::Criu {
                action,
                errno: String::new(),
                msg: format!("{script}: {e}"),
                log: log.to_path_buf(),
            });
        }
    }
}

/// The error for a failed request: CRIU's first error line from its log, and a
/// distinct error when CRIU cannot even detect the kernel's features.
fn failure(log: &Path, action: &'static str, errno: Option<i32>, msg: String) -> CheckpointError {
    let log_text = std::fs::read_to_string(log).unwrap_or_default();
    classify(action, errno, msg, &log_text, log)
}

/// Turns a failure into an error naming the log (pure, for tests).
pub(crate) fn classify(
    action: &'static str,
    errno: Option<i32>,
    msg: String,
    log_text: &str,
    log: &Path,
) -> CheckpointError {
    let first_error = log_text
        .lines()
        .find(|l| l.contains("Error (") || l.starts_with("Error"))
        .map(|l| match l.find("Error") {
            Some(i) => l[i..].to_string(),
            None => l.to_string(),
        });
    // kerndat is CRIU's probe of the kernel, made before it touches any process.
    if log_text.contains("Could not initialize kernel features detection")
        || log_text.contains("when initializing kerndat")
    {
        return CheckpointError::CriuUnusable {
            kernel: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            reason: first_error.unwrap_or_else(|| "kernel feature detection failed".into()),
            log: log.to_path_buf(),
        };
    }
    let msg = match (msg.is_empty(), first_error) {
        (_, Some(e)) => e,
        (false, None) => msg,
        (true, None) => "no error in the log".into(),
    };
    CheckpointError::Criu {
        action,
        errno: errno.map(|e| format!(" (errno {e})")).unwrap_or_default(),
        msg,
        log: log.to_path_buf(),
    }
}

fn action_name(kind: rpc::Criu_req_type) -> &'static str {
    match kind {
        rpc::Criu_req_type::DUMP => "dump",
        rpc::Criu_req_type::PRE_DUMP => "pre-dump",
        rpc::Criu_req_type::RESTORE => "restore",
        rpc::Criu_req_type::VERSION => "version",
        _ => "request",
    }
}

/// Receives one message and at most one passed fd; `None` at EOF.
fn recv_resp(
    sock: std::os::fd::BorrowedFd<'_>,
) -> std::io::Result<Option<(Vec<u8>, Option<OwnedFd>)>> {
    // Size the buffer from the datagram itself (MSG_PEEK | MSG_TRUNC returns its length).
    let mut probe = [0u8; 1];
    let len = recv(
        sock.as_raw_fd(),
        &mut probe,
        MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
    )
    .map_err(nix_io)?;
    if len == 0 {
        return Ok(None);
    }
    let mut buf = vec![0u8; len];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(nix_io)?;
    let n = msg.bytes;
    let mut fd = None;
    for c in msg.cmsgs().map_err(nix_io)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for (i, raw) in fds.into_iter().enumerate() {
                // SAFETY: the kernel just installed `raw` in our table for us; we own it.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                if i == 0 {
                    fd = Some(owned);
                }
            }
        }
    }
    buf.truncate(n);
    Ok(Some((buf, fd)))
}

fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    fcntl(fd, FcntlArg::F_SETFD(flags))
        .map(drop)
        .map_err(nix_io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kerndat_failure_says_criu_cannot_run() {
        let log = "(00.05) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n\
                   (00.05) Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.\n";
        let e = classify("dump", None, String::new(), log, Path::new("/img/dump.log")).to_string();
        assert!(e.starts_with("CRIU cannot run on this host"), "{e}");
        assert!(e.contains("vDSO") && e.contains("/img/dump.log"), "{e}");
    }

    #[test]
    fn other_failures_name_the_log_and_first_error() {
        let log = "(00.1) Warn x\n(00.2) Error (criu/mount.c:1): mnt: No mapping for 42:(null) mountpoint\n";
        let e = classify(
            "dump",
            Some(2),
            String::new(),
            log,
            Path::new("/w/dump.log"),
        )
        .to_string();
        assert_eq!(
            e,
            "criu dump failed (errno 2): Error (criu/mount.c:1): mnt: No mapping for 42:(null) mountpoint; log file: /w/dump.log"
        );
        let e = classify("restore", None, "boom".into(), "", Path::new("/w/r.log")).to_string();
        assert_eq!(e, "criu restore failed: boom; log file: /w/r.log");
    }
}
