//! `exec`: a new process inside a running container.
//!
//! The runtime forks an intermediate process that waits until the runtime has put it
//! into the container's cgroup, makes itself non-dumpable, then joins every namespace
//! the container has with one `setns` on a pidfd of the container's init (the kernel
//! joins the user namespace first and checks everything against the init's
//! credentials, so a recycled pid cannot be joined). Joining a pid namespace only
//! applies to children, so the intermediate forks the final process with
//! CLONE_PARENT: it is inside the container's pid namespace and a child of the
//! runtime, which can wait for it. The final process sets up its terminal, drops
//! privileges the way the init does, and execs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, LinuxSeccomp, Process, Spec};
use serde::{Deserialize, Serialize};

use super::channel::{Channel, Msg};
use super::finalize::{self, ctx};
use super::intermediate::{reap, report_and_exit};
use super::plan::ProcessPlan;
use super::{sys_err, InitError, ProcessError};
use crate::namespaces::NamespacePlan;
use crate::sys::{self, Fork};

/// What `exec` takes from the container's config, saved in state.json at create so
/// a later change to the bundle cannot change what exec does (runc keeps its config
/// the same way).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecBase {
    /// The config's `process`: the defaults of an exec'd process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// `linux.seccomp`: every process of the container gets the same filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<LinuxSeccomp>,
    /// CLONE_NEW* bits of the namespaces the container has of its own (created or
    /// joined by path): the ones exec joins.
    pub namespaces: u64,
    /// `--no-new-keyring` at create.
    #[serde(default)]
    pub no_new_keyring: bool,
    /// `linux.personality` and `linux.memoryPolicy`: every process gets them.
    #[serde(default)]
    pub linux_attrs: crate::attrs::LinuxAttrs,
}

impl ExecBase {
    /// From the container's (validated) config.
    pub fn from_spec(spec: &Spec, no_new_keyring: bool) -> Self {
        let ns = NamespacePlan::from_spec(spec);
        let mut namespaces = 0;
        for t in [
            LinuxNamespaceType::User,
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Cgroup,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Time,
        ] {
            let f = ns_flag(t);
            if ns.owns(f) {
                namespaces |= f;
            }
        }
        ExecBase {
            process: spec.process().clone(),
            seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
            namespaces,
            no_new_keyring,
            linux_attrs: crate::attrs::LinuxAttrs::from_linux(spec.linux().as_ref())
                .unwrap_or_default(),
        }
    }
}

fn ns_flag(t: LinuxNamespaceType) -> u64 {
    use nix::sched::CloneFlags as C;
    (match t {
        LinuxNamespaceType::Mount => C::CLONE_NEWNS.bits(),
        LinuxNamespaceType::Cgroup => C::CLONE_NEWCGROUP.bits(),
        LinuxNamespaceType::Uts => C::CLONE_NEWUTS.bits(),
        LinuxNamespaceType::Ipc => C::CLONE_NEWIPC.bits(),
        LinuxNamespaceType::User => C::CLONE_NEWUSER.bits(),
        LinuxNamespaceType::Pid => C::CLONE_NEWPID.bits(),
        LinuxNamespaceType::Network => C::CLONE_NEWNET.bits(),
        LinuxNamespaceType::Time => crate::namespaces::CLONE_NEWTIME as i32,
    }) as u64
}

/// Everything the exec'd process does, computed before the fork (pure data).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecPlan {
    /// Container id (names the session keyring).
    pub id: String,
    /// CLONE_NEW* bits to join.
    pub namespaces: u64,
    /// The exec'd `process` (with the container's `linux.seccomp` and `--preserve-fds`).
    pub process: ProcessPlan,
    /// Join the container's session keyring name.
    pub new_keyring: bool,
    /// `process.scheduler`, `ioPriority`, `execCPUAffinity`; the container's
    /// personality and memory policy.
    pub attrs: crate::attrs::ProcessAttrs,
}

fn invalid(field: &str, reason: impl Into<String>) -> crate::Error {
    crate::Error::Invalid(format!("{field}: {}", reason.into()))
}

impl ExecPlan {
    /// The plan for `process` in the container `id` whose saved config is `base`.
    /// Checks what runc checks of an exec'd process (args, absolute cwd). The process
    /// gets the container's AppArmor profile and SELinux label unless it names its
    /// own (runc's rule); whether the host can apply them is
    /// [`crate::lsm::check_host`]'s question, asked by the caller.
    pub fn new(
        id: &str,
        base: &ExecBase,
        process: &Process,
        preserve_fds: u32,
    ) -> Result<Self, crate::Error> {
        if process.args().as_deref().unwrap_or_default().is_empty() {
            return Err(invalid("process.args", "args must not be empty"));
        }
        if !process.cwd().is_absolute() {
            return Err(invalid(
                "process.cwd",
                format!("Cwd must be an absolute path, not {:?}", process.cwd()),
            ));
        }
        let mut process_plan = ProcessPlan::new(process, base.seccomp.as_ref(), preserve_fds)?;
        process_plan.lsm = crate::lsm::ProcessLsm::for_exec(process, base.process.as_ref());
        if crate::rootless::running_rootless() {
            process_plan.clamp_oom_score_adj();
        }
        Ok(ExecPlan {
            id: id.to_string(),
            namespaces: base.namespaces,
            process: process_plan,
            new_keyring: !base.no_new_keyring,
            attrs: crate::attrs::ProcessAttrs::for_exec(process, &base.linux_attrs).map_err(
                |e| match e {
                    crate::spec::SpecError::Invalid { field, reason } => invalid(&field, reason),
                    other => other.into(),
                },
            )?,
        })
    }
}

/// Starts the exec'd process in the container whose init is `init` (a pidfd);
/// returns its host pid once it has exec'd. It is a child of the caller.
///
/// `join_cgroup` puts a pid into the container's cgroup (the intermediate process,
/// before it enters the namespaces, so the cgroup namespace root is right).
/// `console` is the connected console socket when `plan.process.terminal`. `root` is an
/// `O_PATH` fd on the init's root, for a container without a mount namespace of its
/// own (the process chroots there). `state_json` gives the OCI state for a seccomp
/// agent.
///
/// From a multi-threaded caller the fork is made by a single-threaded helper
/// process (see `helper.rs`).
pub fn spawn_exec(
    plan: &ExecPlan,
    init: &NsHandles,
    root: Option<BorrowedFd<'_>>,
    join_cgroup: &dyn Fn(i32) -> Result<(), crate::cgroups::CgroupError>,
    console: Option<OwnedFd>,
    state_json: &dyn Fn() -> Vec<u8>,
) -> Result<i32, ProcessError> {
    let (parent, child) = Channel::pair().map_err(sys_err("socketpair"))?;
    let mid = if super::helper::caller_is_threaded() {
        use std::os::fd::AsRawFd;
        let fds = super::helper::ChildFds {
            channel: child.raw_fd(),
            console: console.as_ref().map(|c| c.as_raw_fd()),
            init: init.pidfd.as_ref().map(|f| f.as_raw_fd()),
            ns_files: init
                .files
                .iter()
                .map(|(f, fd)| (*f, fd.as_raw_fd()))
                .collect(),
            root: root.map(|r| r.as_raw_fd()),
            ..Default::default()
        };
        let job = super::helper::Job::Exec {
            plan: Box::new(plan.clone()),
        };
        super::helper::clone_child(job, fds)?
    } else {
        // SAFETY: the caller is single-threaded (checked just above).
        match unsafe { sys::clone(0) }.map_err(sys_err("fork"))? {
            Fork::Child => {
                drop(parent);
                intermediate(plan, &child, init, root, console)
            }
            Fork::Parent(mid) => mid,
        }
    };
    drop(child);
    drop(console);
    // execCPUAffinity.initial: on our process before it joins the container's cgroup.
    if let Err(e) = plan.attrs.apply_initial_affinity(mid) {
        reap(mid);
        return Err(ProcessError::Init(InitError::other(e.to_string())));
    }
    let pid = match place_and_wait_pid(&parent, mid, join_cgroup) {
        Ok(pid) => pid,
        Err(e) => {
            reap(mid);
            return Err(e);
        }
    };
    let _ = waitpid(Pid::from_raw(mid), None);
    wait_exec(plan, &parent, state_json).inspect_err(|_| reap(pid))?;
    Ok(pid)
}

fn place_and_wait_pid(
    ch: &Channel,
    mid: i32,
    join_cgroup: &dyn Fn(i32) -> Result<(), crate::cgroups::CgroupError>,
) -> Result<i32, ProcessError> {
    join_cgroup(mid)?;
    ch.send(&Msg::Continue).map_err(sys_err("send to exec"))?;
    match ch.recv() {
        Ok(Msg::InitPid(pid)) => Ok(pid),
        Ok(Msg::Error(e)) => Err(ProcessError::Init(e)),
        Ok(other) => Err(ProcessError::Init(InitError::other(format!(
            "unexpected message {other:?}"
        )))),
        Err(e) => Err(ProcessError::Init(InitError::other(e.to_string()))),
    }
}

/// Until the process execs (its end of the channel closes on exec) or reports an error.
fn wait_exec(
    plan: &ExecPlan,
    ch: &Channel,
    state_json: &dyn Fn() -> Vec<u8>,
) -> Result<(), ProcessError> {
    loop {
        match ch.recv_fd() {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(ProcessError::Init(InitError::other(e.to_string()))),
            Ok((Msg::Error(e), _)) => return Err(ProcessError::Init(e)),
            Ok((Msg::SeccompFd, Some(fd))) => {
                let Some(l) = plan.process.seccomp_listener() else {
                    continue;
                };
                crate::seccomp::send_to_listener(&l.path, fd.as_fd(), &state_json(), &l.metadata)
                    .map_err(|e| ProcessError::Init(InitError::other(e.to_string())))?;
            }
            Ok((other, _)) => {
                return Err(ProcessError::Init(InitError::other(format!(
                    "unexpected message {other:?}"
                ))))
            }
        }
    }
}

/// How the exec reaches the container's namespaces: a pidfd of the init for one
/// `setns` (5.8+), and, when that may not work (no pidfd before 5.3, or the kernel
/// refuses a pidfd in `setns` before 5.8), `/proc/<pid>/ns/*` opened beforehand.
/// Both are taken before the init's start time is checked.
#[derive(Debug, Default)]
pub struct NsHandles {
    /// A pidfd of the init, when the kernel has `pidfd_open`.
    pub pidfd: Option<OwnedFd>,
    /// The init's namespace files, in joining order (user first, mnt last).
    pub files: Vec<(u64, OwnedFd)>,
}

impl NsHandles {
    /// Joins the container's namespaces `flags`: one `setns` on the pidfd, else (EINVAL
    /// from a kernel without pidfd `setns`, or no pidfd) each namespace file in order.
    fn join(&self, flags: u64) -> Result<(), String> {
        use crate::sys::probe::Feature;
        if let Some(pidfd) = &self.pidfd {
            if Feature::PidfdSetns.usable() {
                let f = nix::sched::CloneFlags::from_bits_retain(flags as i32);
                let res = nix::sched::setns(pidfd, f).map_err(std::io::Error::from);
                if !Feature::PidfdSetns.missing_after(&res, &[libc::EINVAL]) {
                    return res.map_err(|e| format!("join the container's namespaces: {e}"));
                }
            }
        } else {
            Feature::PidfdSetns.mark(false);
        }
        crate::namespaces::join_files(&self.files)
    }
}

/// The intermediate: cgroup (by the parent), non-dumpable, setns, fork the process.
pub(super) fn intermediate(
    plan: &ExecPlan,
    ch: &Channel,
    init: &NsHandles,
    root: Option<BorrowedFd<'_>>,
    console: Option<OwnedFd>,
) -> ! {
    let res = (|| -> Result<i32, InitError> {
        let _ = sys::set_pdeathsig(libc::SIGKILL);
        // oom_score_adj is inherited by the process; written here while /proc/self is
        // still ours (a non-dumpable process's files belong to root, which a rootless
        // runtime or the container's root in a user namespace may not write).
        if let Some(adj) = plan.process.oom_score_adj {
            let proc = crate::paths::ProcHandle::new().map_err(ctx("open procfs"))?;
            proc.write("self/oom_score_adj", adj.to_string().as_bytes())
                .map_err(ctx("process.oomScoreAdj"))?;
        }
        // Before entering the container's pid namespace: its processes must not be
        // able to ptrace us or read our memory through /proc (runc's CVE-2016-9962).
        sys::set_dumpable(false).map_err(ctx("prctl(PR_SET_DUMPABLE)"))?;
        match ch.recv() {
            Ok(Msg::Continue) => {}
            other => return Err(format!("waiting for the runtime: {other:?}").into()),
        }
        if plan.namespaces != 0 {
            // One setns on the pidfd joins them all, the user namespace first.
            init.join(plan.namespaces)?;
        }
        if let Some(root) = root {
            // No mount namespace of its own: the container is a chroot.
            nix::unistd::fchdir(root).map_err(ctx("chdir to the container's root"))?;
            nix::unistd::chroot(".").map_err(ctx("chroot"))?;
        }
        // SAFETY: this process is single-threaded (a fork of the single-threaded runtime).
        match unsafe { sys::clone(libc::CLONE_PARENT as u64) }.map_err(ctx("fork"))? {
            Fork::Child => run_process(plan, ch, console),
            Fork::Parent(pid) => Ok(pid),
        }
    })();
    report_and_exit(ch, res)
}

/// The exec'd process, inside every namespace: never returns.
fn run_process(plan: &ExecPlan, ch: &Channel, console: Option<OwnedFd>) -> ! {
    let err = match setup_process(plan, ch, console) {
        Ok(exe) => match finalize::exec(&exe, &plan.process.args, &plan.process.env) {
            Ok(never) => match never {},
            Err(e) => e,
        },
        Err(e) => e,
    };
    let _ = ch.send(&Msg::Error(err));
    // SAFETY: leave at once, without destructors or atexit handlers of the runtime.
    unsafe { libc::_exit(1) }
}

fn setup_process(
    plan: &ExecPlan,
    ch: &Channel,
    console: Option<OwnedFd>,
) -> Result<std::ffi::CString, InitError> {
    nix::unistd::setsid().map_err(ctx("setsid"))?;
    let lsm = &plan.process.lsm;
    // Opened inside the container's pid namespace, so `thread-self` is us
    // (oom_score_adj was written by the intermediate).
    let proc = if !lsm.is_empty() {
        Some(crate::paths::ProcHandle::new().map_err(ctx("open procfs"))?)
    } else {
        None
    };
    if plan.new_keyring {
        if let Some(proc) = &proc {
            // A keyring we create gets the process label (runc's SetKeyLabel).
            crate::lsm::apply::set_keycreate(proc, lsm).map_err(|e| e.to_string())?;
        }
        // EPERM/ENOSYS (seccomp'd or nested hosts): runc carries on too.
        let _ = sys::join_session_keyring(&format!("_ses.{}", plan.id));
    }
    if plan.process.terminal {
        let sock = console.ok_or("process.terminal: no console socket")?;
        let slash = std::fs::File::open("/").map_err(ctx("open /"))?;
        let mut pty = crate::tty::Pty::open_in(slash.as_fd()).map_err(|e| e.to_string())?;
        pty.resize(plan.process.console_size)
            .map_err(|e| e.to_string())?;
        pty.send_master(sock.as_fd()).map_err(|e| e.to_string())?;
        drop(sock);
        pty.into_stdio().map_err(|e| e.to_string())?;
    }
    // The runtime may exit once we exec (a detached exec): from now on outlive it.
    sys::set_pdeathsig(0).map_err(ctx("prctl(PR_SET_PDEATHSIG)"))?;
    // Scheduler, I/O priority, personality, memory policy, execCPUAffinity.final.
    plan.attrs.apply().map_err(|e| e.to_string())?;
    if let Some(proc) = &proc {
        // The profile and label the process gets at exec, before the user switch.
        crate::lsm::apply::apply_exec(proc, lsm).map_err(|e| e.to_string())?;
    }
    // An exec'd process never creates its cwd, as runc's.
    let prep = finalize::prepare(&plan.process, false)?;
    finalize::drop_privileges(&plan.process, prep, ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn base_joins_owned_namespaces_only() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"]},
            "linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"network","path":"/proc/1/ns/net"}]}}"#,
        );
        let b = ExecBase::from_spec(&s, false);
        use nix::sched::CloneFlags as C;
        let want = (C::CLONE_NEWPID | C::CLONE_NEWNS | C::CLONE_NEWNET).bits() as u64;
        assert_eq!(b.namespaces, want);
        assert!(b.process.is_some());
        let back: ExecBase = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn plan_checks_like_runc() {
        let base = ExecBase::default();
        let p: Process = serde_json::from_str(
            r#"{"user":{"uid":5,"gid":6},"cwd":"/tmp","args":["id"],"terminal":true,"consoleSize":{"height":20,"width":70}}"#,
        )
        .unwrap();
        let plan = ExecPlan::new("c", &base, &p, 2).unwrap();
        assert_eq!((plan.process.user.uid, plan.process.user.gid), (5, 6));
        assert_eq!(
            plan.process.console_size,
            Some(crate::tty::WinSize { rows: 20, cols: 70 })
        );
        assert_eq!(plan.process.preserve_fds, 2);
        let bad = |j: &str| {
            let p: Process = serde_json::from_str(j).unwrap();
            ExecPlan::new("c", &base, &p, 0).unwrap_err().to_string()
        };
        assert!(bad(r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":[]}"#).contains("args"));
        assert!(bad(r#"{"user":{"uid":0,"gid":0},"cwd":"tmp","args":["x"]}"#).contains("absolute"));
    }

    #[test]
    fn exec_gets_the_container_labels_unless_it_names_its_own() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],
            "apparmorProfile":"ctr-profile","selinuxLabel":"system_u:system_r:ctr_t:s0"}}"#,
        );
        let base = ExecBase::from_spec(&s, false);
        let own: Process = serde_json::from_str(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["x"],"apparmorProfile":"exec-profile"}"#,
        )
        .unwrap();
        let plan = ExecPlan::new("c", &base, &own, 0).unwrap();
        assert_eq!(
            plan.process.lsm.apparmor_profile.as_deref(),
            Some("exec-profile")
        );
        assert_eq!(
            plan.process.lsm.selinux_label.as_deref(),
            Some("system_u:system_r:ctr_t:s0")
        );
    }
}
