//! Cloning the container's processes for a multi-threaded caller.
//!
//! The init, the intermediate and exec's intermediate run Rust code after a raw
//! `clone` (allocation, serde, tracing). In a multi-threaded process a fork copies
//! only the calling thread: a lock another thread held at that moment (malloc's,
//! tracing's, std's environment lock) stays locked forever in the child, which then
//! deadlocks. So when the caller has more than one thread, the clone is made by a
//! freshly exec'd, single-threaded helper instead: the calling binary (or another
//! binary that calls [`crate::helper::run_if_helper`]) re-executed with the job as
//! JSON on a socket. The helper clones with `CLONE_PARENT`, so the child is the
//! caller's child exactly as with a direct clone (the caller waits for it, places it
//! in its cgroup, writes its id maps), answers the child's pid and exits. The fds
//! the child needs keep their numbers: the helper inherits them (`FD_CLOEXEC`
//! cleared only in the helper, between fork and exec). A single-threaded caller
//! (the CLI) clones directly, as before: checking costs one read of /proc/self/stat.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::channel::Channel;
use super::{ExecPlan, InitError, InitPlan, ProcessError};
use crate::sys::{self, Fork};

/// The argument that turns a binary calling [`crate::helper::run_if_helper`] into a helper.
pub(crate) const HELPER_ARG: &str = "__husk-clone-helper";
/// The same, for the systemd driver's D-Bus calls (`cgroups/systemd/helper.rs`).
pub(crate) const BUS_HELPER_ARG: &str = "__husk-dbus-helper";

/// Set once `run_if_helper` returned in a normal start: `/proc/self/exe` can be a helper.
static SELF_IS_HELPER: AtomicBool = AtomicBool::new(false);
/// A helper binary named by the embedder.
static HELPER_BINARY: Mutex<Option<PathBuf>> = Mutex::new(None);

pub(crate) fn mark_self_helper() {
    SELF_IS_HELPER.store(true, Ordering::Relaxed);
}

pub(crate) fn set_binary(path: PathBuf) {
    if let Ok(mut b) = HELPER_BINARY.lock() {
        *b = Some(path);
    }
}

/// Which child to clone, and how.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Job {
    /// The container's init, cloned with `flags` (the plan's CLONE_NEW* bits).
    Init {
        plan: Box<InitPlan>,
        flags: u64,
        idmap_fds: Vec<(usize, RawFd)>,
    },
    /// The intermediate that joins namespaces by path before cloning the init.
    InitIntermediate {
        plan: Box<InitPlan>,
        idmap_fds: Vec<(usize, RawFd)>,
    },
    /// exec's intermediate.
    Exec { plan: Box<ExecPlan> },
}

/// The fds of the child, by number (the same in the caller, the helper and the child).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChildFds {
    pub channel: RawFd,
    pub fifo: Option<RawFd>,
    pub console: Option<RawFd>,
    /// exec: the init's pidfd, when the kernel has pidfds.
    pub init: Option<RawFd>,
    /// exec: the init's namespace files with their CLONE_NEW* flag, in joining order.
    #[serde(default)]
    pub ns_files: Vec<(u64, RawFd)>,
    pub root: Option<RawFd>,
}

#[derive(Serialize, Deserialize)]
struct Request {
    job: Job,
    fds: ChildFds,
}

/// Whether the calling process has more than one thread (field 20 of /proc/self/stat).
/// Hand-written: one read and a split; the `procfs` crate parses every field.
pub(crate) fn caller_is_threaded() -> bool {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        // Cannot tell: the helper is always safe.
        return true;
    };
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    // Fields from 3 on: num_threads is field 20, the 18th after the name.
    after
        .split_whitespace()
        .nth(17)
        .and_then(|n| n.parse::<u32>().ok())
        .is_none_or(|n| n > 1)
}

pub(crate) fn helper_binary() -> Result<PathBuf, ProcessError> {
    if let Some(b) = HELPER_BINARY.lock().ok().and_then(|b| b.clone()) {
        return Ok(b);
    }
    if let Some(b) = std::env::var_os("HUSK_HELPER") {
        return Ok(PathBuf::from(b));
    }
    if SELF_IS_HELPER.load(Ordering::Relaxed) {
        // The running binary's inode, even if its path was replaced since.
        return Ok(PathBuf::from("/proc/self/exe"));
    }
    Err(ProcessError::Init(InitError::other(
        "this process has several threads, and a container's processes cannot be \
         forked from it safely: call husk::helper::run_if_helper() first thing in \
         main() (or name a husk binary with husk::helper::set_binary or HUSK_HELPER)",
    )))
}

fn sys_err(what: &'static str) -> impl FnOnce(std::io::Error) -> ProcessError {
    move |source| ProcessError::Sys { what, source }
}

/// Starts `bin` as a helper (`arg` says which kind) with a socket whose other end
/// is returned; `keep` are the caller's fds the helper inherits by number.
pub(crate) fn spawn_helper(
    bin: &std::path::Path,
    arg: &str,
    mut keep: Vec<RawFd>,
) -> Result<(std::process::Child, OwnedFd), ProcessError> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| ProcessError::Sys {
        what: "socketpair for the helper",
        source: e.into(),
    })?;
    keep.push(theirs.as_raw_fd());
    let mut cmd = std::process::Command::new(bin);
    cmd.arg0(arg.trim_start_matches('_'))
        .arg(arg)
        .arg(theirs.as_raw_fd().to_string());
    // SAFETY: between fork and exec only fcntl(2), which is async-signal-safe, on
    // fds the caller keeps open until the helper has been spawned.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &keep {
                if libc::fcntl(*fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(sys_err("start the helper"))?;
    Ok((child, ours))
}

/// Has the helper clone `job`'s child; returns its pid (a child of the caller).
pub(crate) fn clone_child(job: Job, fds: ChildFds) -> Result<i32, ProcessError> {
    let bin = helper_binary()?;
    let mut keep: Vec<RawFd> = vec![fds.channel];
    keep.extend(
        [fds.fifo, fds.console, fds.init, fds.root]
            .into_iter()
            .flatten(),
    );
    keep.extend(fds.ns_files.iter().map(|(_, fd)| *fd));
    if let Job::Init { idmap_fds, .. } | Job::InitIntermediate { idmap_fds, .. } = &job {
        keep.extend(idmap_fds.iter().map(|(_, fd)| *fd));
    }
    let stdio = match &job {
        Job::Init { plan, .. } | Job::InitIntermediate { plan, .. } => plan.process.stdio,
        Job::Exec { plan } => plan.process.stdio,
    };
    keep.extend(stdio.into_iter().flatten());
    let (mut child, ours) = spawn_helper(&bin, HELPER_ARG, keep)?;
    let request = serde_json::to_vec(&Request { job, fds }).map_err(std::io::Error::other);
    let mut sock = std::fs::File::from(ours);
    let sent = request.and_then(|r| {
        sock.write_all(&r)?;
        nix::sys::socket::shutdown(sock.as_raw_fd(), nix::sys::socket::Shutdown::Write)?;
        Ok(())
    });
    let mut reply = Vec::new();
    let read = sock.read_to_end(&mut reply);
    let status = child.wait();
    sent.map_err(sys_err("send the job to the clone helper"))?;
    read.map_err(sys_err("read the clone helper's answer"))?;
    let reply: Result<i32, String> = serde_json::from_slice(&reply).map_err(|_| {
        ProcessError::Init(InitError::other(format!(
            "the clone helper {} gave no answer ({}): does its main() call \
             husk::helper::run_if_helper() first?",
            bin.display(),
            status.map(|s| s.to_string()).unwrap_or_default()
        )))
    })?;
    reply.map_err(|e| ProcessError::Init(InitError::other(e)))
}

/// The helper process: reads one job from `sock`, clones its child, answers its pid.
/// Returns the helper's exit status.
pub(crate) fn serve(sock: RawFd) -> i32 {
    // SAFETY: the fd number was passed to us by our parent for this purpose only.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    let sock_fd = sock.as_raw_fd();
    let mut file = std::fs::File::from(sock);
    let reply = serve_one(&mut file, sock_fd);
    let answer = serde_json::to_vec(&reply).unwrap_or_default();
    match file.write_all(&answer) {
        Ok(()) if reply.is_ok() => 0,
        _ => 1,
    }
}

fn serve_one(file: &mut std::fs::File, sock_fd: RawFd) -> Result<i32, String> {
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .map_err(|e| format!("clone helper: read the job: {e}"))?;
    let Request { job, fds } =
        serde_json::from_slice(&buf).map_err(|e| format!("clone helper: bad job: {e}"))?;
    if caller_is_threaded() {
        return Err("clone helper: the helper itself has several threads: call \
                    husk::helper::run_if_helper() before anything starts a thread"
            .into());
    }
    let flags = match &job {
        Job::Init { flags, .. } => *flags,
        _ => 0,
    };
    // SAFETY: this process is single-threaded (checked above).
    match unsafe { sys::clone(flags | libc::CLONE_PARENT as u64) } {
        Err(e) => Err(format!("clone: {e}")),
        Ok(Fork::Parent(pid)) => Ok(pid),
        Ok(Fork::Child) => {
            // SAFETY: the child must not hold the helper's socket: the caller reads it to EOF.
            unsafe { libc::close(sock_fd) };
            run_child(job, fds)
        }
    }
}

/// In the cloned child: take the inherited fds and run the job; never returns.
fn run_child(job: Job, fds: ChildFds) -> ! {
    // SAFETY (all below): these fd numbers were kept open for this child by the
    // caller and the helper; each is owned here once.
    let own = |fd: RawFd| unsafe { OwnedFd::from_raw_fd(fd) };
    let ch = Channel::from_fd(own(fds.channel));
    let console = fds.console.map(own);
    match job {
        Job::Init {
            mut plan,
            idmap_fds,
            ..
        } => {
            plan.rootfs.idmap_fds = idmap_fds;
            let fifo = fds.fifo.map(own);
            match fifo {
                Some(fifo) => super::init::run(&plan, &ch, fifo, console),
                None => abort_child(&ch, "clone helper: no exec fifo"),
            }
        }
        Job::InitIntermediate {
            mut plan,
            idmap_fds,
        } => {
            plan.rootfs.idmap_fds = idmap_fds;
            match fds.fifo.map(own) {
                Some(fifo) => super::spawn::intermediate(&plan, &ch, fifo, console),
                None => abort_child(&ch, "clone helper: no exec fifo"),
            }
        }
        Job::Exec { plan } => {
            let init = super::exec::NsHandles {
                pidfd: fds.init.map(own),
                files: fds
                    .ns_files
                    .into_iter()
                    .map(|(f, fd)| (f, own(fd)))
                    .collect(),
            };
            if init.pidfd.is_none() && init.files.is_empty() {
                abort_child(&ch, "clone helper: no handle on the init's namespaces")
            }
            let root = fds.root.map(own);
            use std::os::fd::AsFd;
            super::exec::intermediate(&plan, &ch, &init, root.as_ref().map(|r| r.as_fd()), console)
        }
    }
}

fn abort_child(ch: &Channel, msg: &str) -> ! {
    let _ = ch.send(&super::channel::Msg::Error(InitError::other(msg)));
    // SAFETY: leave at once, without the helper's destructors.
    unsafe { libc::_exit(1) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_second_thread_is_seen() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        assert!(super::caller_is_threaded());
        tx.send(()).unwrap();
        t.join().unwrap().unwrap();
    }
}
