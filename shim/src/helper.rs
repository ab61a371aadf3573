//! The single-threaded helper.
//!
//! The shim serves ttrpc from a thread pool, so it is multi-threaded, and a
//! multi-threaded process must never run code after a fork other than `exec`. The
//! library forks the container's init (and an exec'd process) from its caller, so
//! every such call runs in a helper: the shim re-executes itself (its immutable
//! copy, see [`helper_exe`]) as `__husk-helper REQ_FD RES_FD`; the helper reads one JSON
//! [`Request`] from `REQ_FD`, does it with the husk library while it is the only
//! thread, writes one JSON line ([`Response`]) to `RES_FD` and exits. The container's stdio
//! are the helper's 0/1/2, so the init inherits them; once the helper exits, the
//! init (and an exec'd process) is re-parented to the shim, a child subreaper.
//!
//! The shim itself never changes its cwd, environment, umask or signal handlers for
//! this: the helper is spawned with `std::process::Command`, and the two pipe ends
//! it needs are inherited under [`SPAWN_LOCK`] (see [`spawn_self`]).
//!
//! A logging binary (`binary://` stdio) is started through the helper too, which
//! puts its pipes at fds 3, 4 and 5 and execs it.

use std::ffi::{CString, OsString};
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::mounts;

/// The hidden first argument that selects helper mode.
pub const ARG: &str = "__husk-helper";

/// One thing the helper does.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Mount the rootfs and create the container (the init waits for start).
    Create(CreateRequest),
    /// Start a created container (only used when it has poststart hooks, which
    /// the library runs and waits for).
    Start {
        /// State root.
        root: PathBuf,
        /// Container id.
        id: String,
    },
    /// Delete a container (only used when it has poststop hooks).
    Delete {
        /// State root.
        root: PathBuf,
        /// Container id.
        id: String,
        /// Kill it first when running.
        force: bool,
    },
    /// Start a new process in the container.
    Exec(Box<ExecRequest>),
    /// Checkpoint a container with CRIU.
    Checkpoint(Box<crate::criu::CheckpointRequest>),
    /// Restore a container from CRIU images instead of creating it.
    Restore(Box<crate::criu::RestoreRequest>),
    /// Exec a logging binary with its pipes at fds 3, 4, 5.
    Logger {
        /// The binary.
        binary: String,
        /// Its arguments.
        args: Vec<String>,
        /// Its whole environment.
        env: Vec<String>,
        /// stdout pipe, stderr pipe, ready pipe (as inherited by the helper).
        fds: [RawFd; 3],
    },
}

/// [`Request::Create`].
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateRequest {
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// State root.
    pub root: PathBuf,
    /// Rootfs mounts to make at `<bundle>/rootfs` first.
    pub mounts: Vec<mounts::Mount>,
    /// Console socket for `process.terminal`.
    pub console_socket: Option<PathBuf>,
    /// Where to write the init's pid.
    pub pid_file: Option<PathBuf>,
    /// MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Keep the session keyring.
    pub no_new_keyring: bool,
    /// systemd cgroup driver.
    pub systemd_cgroup: bool,
}

/// [`Request::Exec`].
#[derive(Debug, Serialize, Deserialize)]
pub struct ExecRequest {
    /// State root.
    pub root: PathBuf,
    /// Container id.
    pub id: String,
    /// The process (containerd's exec spec).
    pub process: oci_spec::runtime::Process,
    /// Console socket for `process.terminal`.
    pub console_socket: Option<PathBuf>,
}

/// The helper's answer: a pid, or what went wrong.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Response {
    /// The init's or exec'd process's pid.
    #[serde(default)]
    pub pid: i32,
    /// The error, when the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Create only: whether the container has a pid namespace of its own (then the
    /// kernel kills everything when the init exits). Answered here, where the
    /// config is parsed anyway, so the long-lived shim never parses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_pid_ns: Option<bool>,
}

/// Serializes spawns: the fds a helper inherits are made inheritable only while
/// this is held, so no other child of the shim can inherit them by accident.
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

/// The container's stdio for the helper (and so for the init): fds 0, 1, 2.
#[derive(Debug)]
pub struct ChildStdio {
    /// fd 0.
    pub stdin: OwnedFd,
    /// fd 1.
    pub stdout: OwnedFd,
    /// fd 2.
    pub stderr: OwnedFd,
}

impl ChildStdio {
    /// /dev/null for all three.
    pub fn null() -> std::io::Result<ChildStdio> {
        let open = |w: bool| -> std::io::Result<OwnedFd> {
            Ok(std::fs::OpenOptions::new()
                .read(!w)
                .write(w)
                .open("/dev/null")?
                .into())
        };
        Ok(ChildStdio {
            stdin: open(false)?,
            stdout: open(true)?,
            stderr: open(true)?,
        })
    }
}

fn set_cloexec(fd: RawFd, on: bool) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    // SAFETY: the caller owns `fd` for the duration of the call.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let flags = FdFlag::from_bits_truncate(fcntl(bfd, FcntlArg::F_GETFD)?);
    let flags = if on {
        flags | FdFlag::FD_CLOEXEC
    } else {
        flags - FdFlag::FD_CLOEXEC
    };
    fcntl(bfd, FcntlArg::F_SETFD(flags))?;
    Ok(())
}

/// Where the shim keeps the immutable copy of itself the helpers run from (not the
/// CLI's directory: each removes the other versions' copies in its own).
pub const GUARD_DIR: &str = "/run/husk-exe/shim";

/// The binary to run helpers from. CVE-2019-5736: the init is forked from the
/// helper, so until it execs, its `/proc/PID/exe` is the helper's binary, which a
/// container process could reopen for writing; the library's immutable copy
/// (`husk::security::exe_guard`, made once per binary version) cannot be written.
/// Falls back to `/proc/self/exe` (with a warning) where the copy cannot be made.
fn helper_exe() -> PathBuf {
    use husk::unstable::exe_guard;
    let me = PathBuf::from("/proc/self/exe");
    if std::env::var_os("HUSK_NO_EXE_GUARD").is_some()
        || !nix::unistd::geteuid().is_root()
        || exe_guard::running_guarded()
    {
        return me;
    }
    let copied = std::fs::read_link(&me)
        .and_then(|exe| exe_guard::guarded_copy(&exe, std::path::Path::new(GUARD_DIR)));
    match copied {
        Ok(p) => p,
        Err(e) => {
            log::warn!("no immutable copy of the shim ({e}): helpers run unprotected against CVE-2019-5736");
            me
        }
    }
}

/// Spawns the shim's binary as `__husk-helper <inherit fds...>` with `stdio` as 0/1/2.
/// The fds in `inherit` keep their numbers in the child; they are inheritable only
/// while [`SPAWN_LOCK`] is held. Returns the child's pid (the crate's reaper reaps it).
pub fn spawn_self(stdio: ChildStdio, inherit: &[RawFd]) -> std::io::Result<u32> {
    let mut cmd = Command::new(helper_exe());
    cmd.arg(ARG);
    for fd in inherit {
        cmd.arg(fd.to_string());
    }
    cmd.stdin(Stdio::from(stdio.stdin))
        .stdout(Stdio::from(stdio.stdout))
        .stderr(Stdio::from(stdio.stderr));
    let _guard = SPAWN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for fd in inherit {
        set_cloexec(*fd, false)?;
    }
    let spawned = cmd.spawn();
    for fd in inherit {
        let _ = set_cloexec(*fd, true);
    }
    // The Child handle is dropped without waiting: the shim's reaper reaps it, and
    // the answer comes over the result pipe, not the exit status.
    Ok(spawned?.id())
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// Runs one request in a helper and returns its answer. `on_spawn` gets the
/// helper's pid as soon as it exists (to tell the reaper it is not a container
/// process). `extra` fds are inherited as they are (their numbers are in `req`).
pub fn call(
    req: &Request,
    stdio: ChildStdio,
    extra: &[RawFd],
    on_spawn: &dyn Fn(i32),
) -> Result<Response, String> {
    let body = serde_json::to_vec(req).map_err(|e| format!("encode helper request: {e}"))?;
    let (req_r, req_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
    let (res_r, res_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
    let mut inherit = vec![req_r.as_raw_fd(), res_w.as_raw_fd()];
    inherit.extend_from_slice(extra);
    let pid = spawn_self(stdio, &inherit).map_err(|e| format!("spawn helper: {e}"))?;
    on_spawn(pid as i32);
    drop(req_r);
    drop(res_w);
    let mut w = std::fs::File::from(req_w);
    // A helper that died early makes this fail with EPIPE (SIGPIPE is handled by the
    // crate's signal thread); its answer, or its silence, says more.
    let _ = w.write_all(&body);
    drop(w);
    // One line, not EOF: the init the helper forked holds a copy of the write end
    // until it execs.
    let mut out = Vec::new();
    std::io::BufReader::new(std::fs::File::from(res_r))
        .read_until(b'\n', &mut out)
        .map_err(|e| format!("read helper answer: {e}"))?;
    if out.is_empty() {
        return match req {
            // The logger's helper execs the binary: no answer means it did.
            Request::Logger { .. } => Ok(Response::ok(pid as i32)),
            _ => Err("the husk helper exited without answering".into()),
        };
    }
    serde_json::from_slice(&out).map_err(|e| format!("decode helper answer: {e}"))
}

/// Helper mode: `argv = [exe, ARG, REQ_FD, RES_FD, ...]`. Returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    // An ignored signal survives fork and exec, so the container would inherit
    // what we ignore: Rust ignores SIGPIPE before main, and glibc's posix_spawn
    // (behind std's Command) leaves its two internal signals (32, 33) ignored in
    // the child. None of them is ignored under runc.
    for sig in [libc::SIGPIPE, 32, 33] {
        reset_signal(sig);
    }
    let fd = |i: usize| -> Option<RawFd> { args.get(i)?.to_str()?.parse().ok() };
    let (Some(req_fd), Some(res_fd)) = (fd(2), fd(3)) else {
        eprintln!("{ARG}: usage: {ARG} REQ_FD RES_FD");
        return 2;
    };
    let _ = set_cloexec(req_fd, true);
    let _ = set_cloexec(res_fd, true);
    // SAFETY: the shim passed us these two fds; nothing else owns them.
    let (mut req_f, mut res_f) = unsafe {
        (
            std::fs::File::from_raw_fd(req_fd),
            std::fs::File::from_raw_fd(res_fd),
        )
    };
    let mut body = Vec::new();
    if let Err(e) = req_f.read_to_end(&mut body) {
        eprintln!("{ARG}: read request: {e}");
        return 2;
    }
    drop(req_f);
    let resp = match serde_json::from_slice::<Request>(&body) {
        Ok(req) => match run(req) {
            Ok(resp) => resp,
            Err(e) => Response::failed(e),
        },
        Err(e) => Response::failed(format!("bad helper request: {e}")),
    };
    let mut out = serde_json::to_vec(&resp).unwrap_or_default();
    out.push(b'\n');
    if res_f.write_all(&out).is_err() {
        return 1;
    }
    0
}

/// Sets `sig` to SIG_DFL with the raw syscall: glibc's sigaction refuses its
/// internal signals (32, 33) with EINVAL.
fn reset_signal(sig: i32) {
    /// The kernel's `struct sigaction` (x86_64, aarch64, ...).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: rt_sigaction reads `act` (sigsetsize 8 = the kernel's sigset_t) and
    // writes nothing (null old action); we are single-threaded.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &act as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        );
    }
}

/// Full error text: the error and its sources.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn run(req: Request) -> Result<Response, String> {
    let pid = match req {
        Request::Create(r) => return create(r),
        Request::Start { root, id } => {
            let mut c = husk::Container::load(&root, &id).map_err(|e| chain(&e))?;
            c.start().map_err(|e| chain(&e))?;
            c.pid()
        }
        Request::Delete { root, id, force } => {
            let c = husk::Container::load(&root, &id).map_err(|e| chain(&e))?;
            let pid = c.pid();
            c.delete(force).map_err(|e| chain(&e))?;
            pid
        }
        Request::Exec(r) => exec(*r)?,
        Request::Checkpoint(r) => crate::criu::checkpoint(*r)?,
        Request::Restore(r) => return crate::criu::restore(*r),
        Request::Logger {
            binary,
            args,
            env,
            fds,
        } => logger(&binary, &args, &env, fds)?,
    };
    Ok(Response::ok(pid))
}

impl Response {
    pub(crate) fn ok(pid: i32) -> Response {
        Response {
            pid,
            error: None,
            own_pid_ns: None,
        }
    }

    fn failed(error: String) -> Response {
        Response {
            pid: 0,
            error: Some(error),
            own_pid_ns: None,
        }
    }
}

/// Whether the bundle's config gives the container a pid namespace of its own.
pub(crate) fn own_pid_namespace(spec: Option<&oci_spec::runtime::Spec>) -> bool {
    let Some(spec) = spec else {
        return true;
    };
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none()
            })
        })
}

fn create(r: CreateRequest) -> Result<Response, String> {
    let rootfs = r.bundle.join("rootfs");
    let mounted = !r.mounts.is_empty();
    if mounted {
        mounts::mount_all(&r.mounts, &rootfs)?;
    }
    // A config the builder cannot load fails the create below, with its message.
    let spec = oci_spec::runtime::Spec::load(r.bundle.join("config.json")).ok();
    let cgroups_path = spec
        .as_ref()
        .and_then(|s| s.linux().as_ref())
        .and_then(|l| l.cgroups_path().as_ref())
        .and_then(|p| p.to_str());
    let systemd = crate::options::use_systemd_driver(r.systemd_cgroup, cgroups_path);
    let mut b = husk::ContainerBuilder::new(&r.id, &r.bundle)
        .root(&r.root)
        .no_pivot(r.no_pivot)
        .no_new_keyring(r.no_new_keyring)
        .systemd_cgroup(systemd);
    if let Some(p) = &r.pid_file {
        b = b.pid_file(p);
    }
    if let Some(s) = &r.console_socket {
        b = b.console_socket(s);
    }
    match b.create() {
        Ok(c) => Ok(Response {
            own_pid_ns: Some(own_pid_namespace(spec.as_ref())),
            ..Response::ok(c.pid())
        }),
        Err(e) => {
            if mounted {
                mounts::unmount_all(&rootfs);
            }
            Err(chain(&e))
        }
    }
}

fn exec(r: ExecRequest) -> Result<i32, String> {
    let c = husk::Container::load(&r.root, &r.id).map_err(|e| chain(&e))?;
    let opts = husk::ExecOptions {
        process: Some(r.process),
        console: r.console_socket.map(husk::tty::ConsoleSocket::Path),
        ..Default::default()
    };
    let p = c.exec(opts).map_err(|e| chain(&e))?;
    // The process outlives us: once we exit it is the shim's child.
    Ok(p.pid())
}

fn logger(binary: &str, args: &[String], env: &[String], fds: [RawFd; 3]) -> Result<i32, String> {
    let cs = |s: &str| CString::new(s).map_err(|_| format!("NUL byte in {s:?}"));
    let path = cs(binary)?;
    let mut argv = vec![path.clone()];
    for a in args {
        argv.push(cs(a)?);
    }
    let envp = env.iter().map(|e| cs(e)).collect::<Result<Vec<_>, _>>()?;
    // Move the three pipes out of the way first, then onto 3, 4, 5 (dup2 clears
    // close-on-exec on the new fd).
    let mut high = Vec::new();
    for fd in fds {
        // SAFETY: the shim passed us these fds.
        let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let h = nix::fcntl::fcntl(b, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(100))
            .map_err(|e| format!("dup logger pipe: {e}"))?;
        high.push(h);
    }
    // The inherited originals must not reach the binary: a second copy of the
    // ready pipe would keep it from ever looking ready.
    for fd in fds {
        let _ = set_cloexec(fd, true);
    }
    for (i, h) in high.iter().enumerate() {
        // SAFETY: plain dup2 onto 3+i in a single-threaded process.
        if unsafe { libc::dup2(*h, 3 + i as i32) } < 0 {
            return Err(format!(
                "dup2 logger pipe: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    let e = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
    Err(format!("exec logging binary {binary}: {e}"))
}
