//! The container's init, between clone and exec: namespaces, rootfs, process
//! attributes, privileges, then wait on the exec fifo and exec the user process.

use std::ffi::CString;
use std::os::fd::OwnedFd;

use nix::sched::CloneFlags;

use super::channel::{Channel, Msg};
use super::finalize::{self, ctx};
use super::{InitError, InitPlan};
use crate::hooks::HookKind;
use crate::paths::ProcHandle;
use crate::sys;

/// Runs the init sequence; never returns. Failures go to the parent as `Msg::Error`.
pub(super) fn run(plan: &InitPlan, ch: &Channel, fifo: OwnedFd, console: Option<OwnedFd>) -> ! {
    let err = match setup(plan, ch, console) {
        Ok((exe, hook_state)) => match wait_and_exec(plan, ch, fifo, &exe, &hook_state) {
            Ok(never) => match never {},
            Err(e) => e,
        },
        Err(e) => e,
    };
    let _ = ch.send(&Msg::Error(err));
    // SAFETY: leave at once, without destructors or atexit handlers of the runtime.
    unsafe { libc::_exit(1) }
}

/// The terminal: a pty from the container's devpts, its size, /dev/console bound to
/// it (only with a mount namespace of our own: never on the host's), the master to
/// the console socket, the peer as stdio and controlling terminal (after setsid).
fn setup_console(
    plan: &InitPlan,
    root: &crate::paths::Root,
    sock: OwnedFd,
) -> Result<(), crate::tty::TtyError> {
    use std::os::fd::AsFd;
    let mut pty = crate::tty::Pty::open_in(root.fd())?;
    pty.resize(plan.process.console_size)?;
    if plan.rootfs.mount_ns {
        crate::tty::mount_console(root, pty.peer.as_fd())?;
    }
    pty.send_master(sock.as_fd())?;
    drop(sock);
    pty.into_stdio()
}

/// `process.oomScoreAdj`, through a verified procfs.
fn write_oom_score_adj(plan: &InitPlan) -> Result<(), String> {
    let Some(adj) = plan.process.oom_score_adj else {
        return Ok(());
    };
    let proc = ProcHandle::new().map_err(ctx("open procfs"))?;
    proc.write("self/oom_score_adj", adj.to_string().as_bytes())
        .map_err(ctx("process.oomScoreAdj"))
}

/// Everything up to the point where the init is ready; returns the executable to run.
fn setup(
    plan: &InitPlan,
    ch: &Channel,
    console: Option<OwnedFd>,
) -> Result<(CString, String), InitError> {
    // Die with the runtime while set-up is in progress; never let the container read our memory.
    sys::set_pdeathsig(libc::SIGKILL).map_err(ctx("prctl(PR_SET_PDEATHSIG)"))?;
    // With a new user namespace, stay dumpable until the parent has written the id
    // maps: /proc/PID/{uid,gid}_map and setgroups of a non-dumpable process belong to
    // root, so an unprivileged runtime (or newuidmap) could not open them.
    let new_user = plan.ns.creates(CloneFlags::CLONE_NEWUSER.bits() as u64);
    if !new_user {
        sys::set_dumpable(false).map_err(ctx("prctl(PR_SET_DUMPABLE)"))?;
    }
    let mut hook_state = String::new();
    loop {
        match ch.recv() {
            Ok(Msg::Continue) => break,
            Ok(Msg::HookState(s)) => hook_state = s,
            other => return Err(format!("waiting for the runtime: {other:?}").into()),
        }
    }
    if new_user {
        // oom_score_adj too, while /proc/self is still ours: once non-dumpable, its
        // files belong to the initial namespace's root, which the container's root
        // (another uid on the host) may not write.
        write_oom_score_adj(plan)?;
        sys::set_dumpable(false).map_err(ctx("prctl(PR_SET_DUMPABLE)"))?;
    }
    if plan.ns.creates(CloneFlags::CLONE_NEWUSER.bits() as u64) {
        // Become root of the new user namespace when 0 is mapped (not required by the spec).
        let _ = sys::setresgid(0);
        let _ = sys::setresuid(0);
    }
    // The parent places us in our cgroups while we go on (see `spawn::finish`).
    let mut placed = false;
    if plan.ns.creates(CloneFlags::CLONE_NEWCGROUP.bits() as u64) {
        // Once the parent put us into our cgroup, it becomes the namespace root.
        wait_placed(ch)?;
        placed = true;
        crate::namespaces::unshare(CloneFlags::CLONE_NEWCGROUP.bits() as u64)
            .map_err(|e| e.to_string())?;
    }
    if plan.ns.creates(CloneFlags::CLONE_NEWNET.bits() as u64) {
        crate::namespaces::loopback_up().map_err(|e| e.to_string())?;
    }
    nix::unistd::setsid().map_err(ctx("setsid"))?;
    if let Some(h) = &plan.hostname {
        nix::unistd::sethostname(h).map_err(ctx("hostname"))?;
    }
    if let Some(d) = &plan.domainname {
        let c = CString::new(d.as_str()).map_err(ctx("domainname"))?;
        // SAFETY: c outlives the call; the length excludes the NUL.
        if unsafe { libc::setdomainname(c.as_ptr(), d.len()) } != 0 {
            return Err(format!("domainname: {}", std::io::Error::last_os_error()).into());
        }
    }
    crate::fault::point("namespaces");
    let root = plan.rootfs.build_mounts()?;
    if let Some(sock) = console {
        setup_console(plan, &root, sock).map_err(|e| e.to_string())?;
    }
    if !placed && (plan.runtime_hooks || plan.hooks.is_some()) {
        // Before the hooks: they fork into our cgroups and see the moved network
        // devices.
        wait_placed(ch)?;
        placed = true;
    }
    if plan.runtime_hooks {
        // prestart and createRuntime run in the runtime's namespaces, by the parent.
        ch.send(&Msg::RunHooks).map_err(ctx("request hooks"))?;
        match ch.recv() {
            Ok(Msg::Continue) => {}
            Ok(Msg::Error(e)) => return Err(e),
            other => return Err(format!("waiting for hooks: {other:?}").into()),
        }
    }
    run_init_hooks(plan, HookKind::CreateContainer, &hook_state)?;
    if plan.rootfs.mount_ns {
        // A cwd missing from the image is created now, while the root is still
        // writable (runc's order); finalize only checks it after the switch.
        root.ensure(&plan.process.cwd, crate::paths::Kind::Dir)
            .map_err(|e| {
                InitError::cwd(&plan.process.cwd, &e.source, format!("process.cwd: {e}"))
            })?;
    }
    // Without fsopen (before 5.2) sysctls go through the container's /proc, before
    // read-only paths cover /proc/sys (runc's order); with it, after the pivot
    // through a private procfs.
    let early_sysctl =
        !plan.sysctl.is_empty() && plan.rootfs.mount_ns && crate::sys::fsmount_proc().is_err();
    if early_sysctl {
        let proc = ProcHandle::in_root(&root).map_err(ctx("open procfs"))?;
        write_sysctls(plan, &proc)?;
    }
    // Only now read-only and masked paths and the read-only root: hooks may write
    // into the rootfs (runc's order too).
    plan.rootfs.finish(&root)?;
    drop(root);
    crate::fault::point("mounts");
    plan.rootfs.enter()?;
    crate::fault::point("pivot");
    // Opened after the pivot: in the container's pid namespace, so `thread-self` is us.
    let lsm = &plan.process.lsm;
    let late_sysctl = !plan.sysctl.is_empty() && !early_sysctl;
    let proc = if late_sysctl || !lsm.is_empty() {
        Some(ProcHandle::new().map_err(ctx("open procfs"))?)
    } else {
        None
    };
    if let (true, Some(proc)) = (late_sysctl, &proc) {
        write_sysctls(plan, proc)?;
    }
    if !new_user {
        write_oom_score_adj(plan)?;
    }
    if plan.new_keyring {
        if let Some(proc) = &proc {
            // The keyring we create gets the process label (runc's SetKeyLabel).
            crate::lsm::apply::set_keycreate(proc, lsm).map_err(|e| e.to_string())?;
        }
        // EPERM/ENOSYS (seccomp'd or nested hosts): runc carries on too.
        let _ = sys::join_session_keyring(&format!("_ses.{}", plan.id));
    }
    if !placed {
        // Before the scheduler and memory policy (a real-time task cannot join a cpu
        // cgroup without rt runtime; cpuset bounds the nodes and cpus), before the
        // seccomp filter (it may deny recv) and before we report ready.
        wait_placed(ch)?;
    }
    // Scheduler, I/O priority, personality, memory policy: while we still have the
    // capabilities a real-time policy or IOPRIO_CLASS_RT need.
    plan.attrs.apply().map_err(|e| e.to_string())?;
    if let Some(proc) = &proc {
        // The profile and label the process gets at exec: before the user switch and
        // no_new_privs, as runc.
        crate::lsm::apply::apply_exec(proc, lsm).map_err(|e| e.to_string())?;
    }
    // A cwd missing from the image is created for the init, as runc does.
    let prep = finalize::prepare(&plan.process, true)?;
    let exe = finalize::drop_privileges(&plan.process, prep, ch)?;
    Ok((exe, hook_state))
}

/// Blocks until the parent says we are in our cgroups ([`Msg::Placed`]).
fn wait_placed(ch: &Channel) -> Result<(), InitError> {
    match ch.recv() {
        Ok(Msg::Placed) => Ok(()),
        other => Err(format!("waiting for the cgroup placement: {other:?}").into()),
    }
}

/// `linux.sysctl`, through a verified procfs.
fn write_sysctls(plan: &InitPlan, proc: &ProcHandle) -> Result<(), InitError> {
    for (k, v) in &plan.sysctl {
        proc.write(&format!("sys/{}", k.replace('.', "/")), v.as_bytes())
            .map_err(|e| InitError::other(format!("linux.sysctl[{k:?}]: {e}")))?;
    }
    Ok(())
}

/// Hooks the init runs itself (createContainer, startContainer): in the container's namespaces.
fn run_init_hooks(plan: &InitPlan, kind: HookKind, state: &str) -> Result<(), InitError> {
    let Some(h) = &plan.hooks else { return Ok(()) };
    let mut list = kind.select(h).to_vec();
    if list.is_empty() {
        return Ok(());
    }
    if kind == HookKind::StartContainer {
        // In the container, just before exec: the process's environment (runc's).
        list = crate::hooks::with_default_env(&list, super::env::prepared(&plan.process.env));
    }
    Ok(crate::hooks::run_hooks(kind, &list, state.as_bytes())?)
}

/// Tells the parent we are ready, waits for `start` on the exec fifo, and execs.
fn wait_and_exec(
    plan: &InitPlan,
    ch: &Channel,
    fifo: OwnedFd,
    exe: &CString,
    hook_state: &str,
) -> Result<std::convert::Infallible, InitError> {
    // The runtime exits after `create`: from now on we must outlive it.
    sys::set_pdeathsig(0).map_err(ctx("prctl(PR_SET_PDEATHSIG)"))?;
    crate::fault::point("ready");
    ch.send(&Msg::Ready).map_err(ctx("report ready"))?;
    wait_fifo(&fifo)?;
    drop(fifo);
    run_init_hooks(plan, HookKind::StartContainer, hook_state)?;
    finalize::exec(exe, &plan.process.args, &plan.process.env)
}

/// Blocks until `start` writes a byte into the exec fifo. The fifo was opened for
/// reading before any writer existed, so poll sleeps until the writer's byte arrives.
fn wait_fifo(fifo: &OwnedFd) -> Result<(), String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("wait for start: {e}")),
        }
        let mut b = [0u8; 1];
        match nix::unistd::read(fifo, &mut b) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("read exec fifo: {e}")),
        }
    }
}
