//! The parent's side of container creation: clone the init (one clone when the
//! config allows, else an intermediate process that joins and unshares first),
//! place it in its cgroup, write its id maps, and wait until it is ready.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::channel::{Channel, Msg};
use super::intermediate::{reap, report_and_exit};
use super::{init, sys_err, InitError, InitPlan, ProcessError};
use crate::cgroups::CgroupHandle;
use crate::hooks::HookKind;
use crate::namespaces::{self, CLONE_NEWTIME};
use crate::sys::{self, Fork};

const NEWUSER: u64 = nix::sched::CloneFlags::CLONE_NEWUSER.bits() as u64;
const NEWCGROUP: u64 = nix::sched::CloneFlags::CLONE_NEWCGROUP.bits() as u64;

/// Creates the container's init and returns its pid once it waits for `start`.
/// On failure the init is killed and reaped before returning.
///
/// The children run Rust code after a raw clone: from a multi-threaded caller the
/// clone is made by a single-threaded helper process (see `helper.rs`).
///
/// `console` is the connected console socket when `process.terminal` is set: the init
/// sends the pty master over it.
///
/// `close_in_child` lists fds of the caller the children must not keep (the state
/// lock: the init lives on after the runtime exits and must not hold it).
///
/// `record_pid` is called with the init's pid as soon as it is known, before the
/// init is placed or told to go on (the caller records it, so a runtime killed
/// from then on leaves an init that can be found); its error aborts the create.
pub fn spawn_init(
    plan: &InitPlan,
    cgroup: Option<&CgroupHandle>,
    fifo: OwnedFd,
    console: Option<OwnedFd>,
    close_in_child: &[RawFd],
    state_json: &dyn Fn(i32) -> Vec<u8>,
    record_pid: &dyn Fn(i32) -> Result<(), String>,
) -> Result<i32, ProcessError> {
    let (parent, child) = Channel::pair().map_err(sys_err("socketpair"))?;
    if super::helper::caller_is_threaded() {
        // Never run Rust code in a fork of a multi-threaded process: a helper clones.
        let single = plan.ns.single_clone();
        let fds = super::helper::ChildFds {
            channel: child.raw_fd(),
            fifo: Some(fifo.as_raw_fd()),
            console: console.as_ref().map(|c| c.as_raw_fd()),
            ..Default::default()
        };
        let job = if single {
            super::helper::Job::Init {
                plan: Box::new(plan.clone()),
                flags: plan.ns.clone_flags(),
                idmap_fds: plan.rootfs.idmap_fds.clone(),
            }
        } else {
            super::helper::Job::InitIntermediate {
                plan: Box::new(plan.clone()),
                idmap_fds: plan.rootfs.idmap_fds.clone(),
            }
        };
        let cloned = super::helper::clone_child(job, fds);
        drop(child);
        drop(fifo);
        drop(console);
        let cloned = cloned?;
        let pid = if single {
            if plan.ns.creates(NEWUSER) {
                if let Err(e) = namespaces::write_id_maps(cloned, &plan.ns) {
                    reap(cloned);
                    return Err(e.into());
                }
            }
            cloned
        } else {
            let r = wait_init_pid(&parent, cloned, plan);
            let _ = waitpid(Pid::from_raw(cloned), None);
            r?
        };
        return after_clone(plan, &parent, pid, cgroup, state_json, record_pid);
    }
    let pid = if plan.ns.single_clone() {
        // SAFETY: the caller is single-threaded (checked above).
        match unsafe { sys::clone(plan.ns.clone_flags()) }.map_err(sys_err("clone"))? {
            Fork::Child => {
                drop(parent);
                close_fds(close_in_child);
                init::run(plan, &child, fifo, console)
            }
            Fork::Parent(pid) => {
                drop(child);
                drop(fifo);
                drop(console);
                if plan.ns.creates(NEWUSER) {
                    if let Err(e) = namespaces::write_id_maps(pid, &plan.ns) {
                        reap(pid);
                        return Err(e.into());
                    }
                }
                pid
            }
        }
    } else {
        // SAFETY: as above.
        match unsafe { sys::clone(0) }.map_err(sys_err("fork"))? {
            Fork::Child => {
                drop(parent);
                close_fds(close_in_child);
                intermediate(plan, &child, fifo, console)
            }
            Fork::Parent(mid) => {
                drop(child);
                drop(fifo);
                drop(console);
                let r = wait_init_pid(&parent, mid, plan);
                let _ = waitpid(Pid::from_raw(mid), None);
                r?
            }
        }
    };
    after_clone(plan, &parent, pid, cgroup, state_json, record_pid)
}

/// Everything after the init exists: record its pid, place it, wait until it is ready.
fn after_clone(
    plan: &InitPlan,
    parent: &Channel,
    pid: i32,
    cgroup: Option<&CgroupHandle>,
    state_json: &dyn Fn(i32) -> Vec<u8>,
    record_pid: &dyn Fn(i32) -> Result<(), String>,
) -> Result<i32, ProcessError> {
    if let Err(e) = record_pid(pid) {
        reap(pid);
        return Err(ProcessError::Init(InitError::other(format!(
            "record the init's pid: {e}"
        ))));
    }
    finish(plan, parent, pid, cgroup, state_json).inspect_err(|_| {
        reap(pid);
        if let Some(rdt) = &plan.intel_rdt {
            let _ = crate::intelrdt::remove(rdt);
        }
    })?;
    Ok(pid)
}

/// Lets the init go on, places it (cgroups, network devices, resctrl group) while it
/// builds its rootfs, tells it `Placed`, then serves it until it is ready.
///
/// Why `Continue` comes before the placement: the first write to a cgroup v1
/// `cgroup.procs` after the hierarchy was idle waits for an RCU grace period
/// (`cgroup_threadgroup_rwsem`), 5–25 ms here, during which the init would sit
/// idle. The init waits for `Placed` before anything that needs its cgroup: at
/// once when it unshares a cgroup namespace (whose root is the cgroup it is in),
/// else before the hooks run (they fork, and see the moved network devices), else
/// after its mounts, masks and pivot_root but before its scheduler and memory
/// policy (a real-time task cannot join a cpu cgroup without rt runtime; cpuset
/// bounds them) and its seccomp filter; always before it reports ready, so
/// `create` still returns with the init in every cgroup, and the user process is
/// exec'd there.
fn finish(
    plan: &InitPlan,
    ch: &Channel,
    pid: i32,
    cgroup: Option<&CgroupHandle>,
    state_json: &dyn Fn(i32) -> Vec<u8>,
) -> Result<(), ProcessError> {
    let needs_state = plan.hooks.is_some() || plan.process.seccomp_listener().is_some();
    let state = if needs_state {
        state_json(pid)
    } else {
        Vec::new()
    };
    if plan.hooks.is_some() {
        ch.send(&Msg::HookState(
            String::from_utf8_lossy(&state).into_owned(),
        ))
        .map_err(sys_err("send to init"))?;
    }
    ch.send(&Msg::Continue).map_err(sys_err("send to init"))?;
    if let Err(e) = place(plan, pid, cgroup) {
        // An init that failed meanwhile (e.g. a bad mount) is why: its own error is
        // queued on the channel before it exits.
        return Err(match ch.recv_ready() {
            Some(Ok(Msg::Error(ie))) => ProcessError::Init(ie),
            _ => e,
        });
    }
    if let Err(e) = ch.send(&Msg::Placed) {
        // The init is gone (it failed during its set-up): its own error, queued on
        // the channel, says why better than the failed send.
        return match ch.recv() {
            Ok(Msg::Error(ie)) => Err(ProcessError::Init(ie)),
            _ => Err(sys_err("send to init")(e)),
        };
    }
    loop {
        match ch.recv_fd() {
            Ok((Msg::Ready, _)) => return Ok(()),
            Ok((Msg::RunHooks, _)) => {
                let reply = run_runtime_hooks(plan, &state);
                let msg = match &reply {
                    Ok(()) => Msg::Continue,
                    Err(e) => Msg::Error(InitError::other(e.to_string())),
                };
                ch.send(&msg).map_err(sys_err("send to init"))?;
                reply?;
            }
            Ok((Msg::SeccompFd, Some(fd))) => {
                let Some(l) = plan.process.seccomp_listener() else {
                    continue;
                };
                crate::seccomp::send_to_listener(
                    &l.path,
                    std::os::fd::AsFd::as_fd(&fd),
                    &state,
                    &l.metadata,
                )
                .map_err(|e| ProcessError::Init(InitError::other(e.to_string())))?;
            }
            Ok((Msg::Error(e), _)) => return Err(ProcessError::Init(e)),
            Ok((other, _)) => {
                return Err(ProcessError::Init(InitError::other(format!(
                    "unexpected message {other:?}"
                ))))
            }
            Err(e) => return Err(ProcessError::Init(InitError::other(e.to_string()))),
        }
    }
}

/// The init into its cgroups and resctrl group, its network devices into its
/// network namespace (before the hooks run).
fn place(plan: &InitPlan, pid: i32, cgroup: Option<&CgroupHandle>) -> Result<(), ProcessError> {
    if let Some(cg) = cgroup {
        cg.add_pid(pid)?;
    }
    crate::namespaces::netdev::attach(&plan.net_devices, pid)?;
    if let Some(rdt) = &plan.intel_rdt {
        crate::intelrdt::apply(rdt, pid)?;
    }
    Ok(())
}

/// prestart then createRuntime, in the runtime's namespaces.
fn run_runtime_hooks(plan: &InitPlan, state: &[u8]) -> Result<(), ProcessError> {
    let Some(h) = &plan.hooks else { return Ok(()) };
    for kind in [HookKind::Prestart, HookKind::CreateRuntime] {
        crate::hooks::run_hooks(kind, kind.select(h), state)
            .map_err(|e| ProcessError::Hook(Box::new(e)))?;
    }
    Ok(())
}

fn wait_init_pid(ch: &Channel, mid: i32, plan: &InitPlan) -> Result<i32, ProcessError> {
    loop {
        match ch.recv() {
            Ok(Msg::NeedMaps) => {
                namespaces::write_id_maps(mid, &plan.ns)?;
                ch.send(&Msg::Continue)
                    .map_err(sys_err("send to intermediate"))?;
            }
            Ok(Msg::InitPid(pid)) => return Ok(pid),
            Ok(Msg::Error(e)) => return Err(ProcessError::Init(e)),
            Ok(other) => {
                return Err(ProcessError::Init(InitError::other(format!(
                    "unexpected message {other:?}"
                ))))
            }
            Err(e) => return Err(ProcessError::Init(InitError::other(e.to_string()))),
        }
    }
}

/// The intermediate process: joins namespaces by path, makes the user namespace
/// (the parent writes its maps), unshares the rest, writes time offsets, then forks
/// the init as a sibling (CLONE_PARENT) so the runtime stays its parent.
pub(super) fn intermediate(
    plan: &InitPlan,
    ch: &Channel,
    fifo: OwnedFd,
    console: Option<OwnedFd>,
) -> ! {
    let res = (|| -> Result<i32, InitError> {
        let _ = sys::set_pdeathsig(libc::SIGKILL);
        namespaces::join_all(&plan.ns.join).map_err(|e| e.to_string())?;
        if plan.ns.creates(NEWUSER) {
            namespaces::unshare(NEWUSER).map_err(|e| e.to_string())?;
            ch.send(&Msg::NeedMaps).map_err(|e| e.to_string())?;
            match ch.recv() {
                Ok(Msg::Continue) => {}
                other => return Err(format!("waiting for id maps: {other:?}").into()),
            }
        }
        namespaces::unshare(plan.ns.create & !(NEWUSER | NEWCGROUP)).map_err(|e| e.to_string())?;
        if plan.ns.creates(CLONE_NEWTIME) {
            namespaces::write_time_offsets(&plan.ns).map_err(|e| e.to_string())?;
        }
        // SAFETY: this process is single-threaded (a fork of the single-threaded runtime).
        match unsafe { sys::clone(libc::CLONE_PARENT as u64) }
            .map_err(|e| format!("clone init: {e}"))?
        {
            Fork::Child => init::run(plan, ch, fifo, console),
            Fork::Parent(pid) => Ok(pid),
        }
    })();
    report_and_exit(ch, res)
}

fn close_fds(fds: &[RawFd]) {
    for fd in fds {
        // SAFETY: these fds belong to the parent's objects; this child never uses them.
        unsafe { libc::close(*fd) };
    }
}
