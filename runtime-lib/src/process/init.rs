//! The container's init, between clone and exec: namespaces, rootfs, process
//! attributes, privileges, then wait on the exec fifo and exec the user process.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;

use super::channel::{Channel, Msg};
use super::InitPlan;
use crate::hooks::HookKind;
use crate::paths::ProcHandle;
use crate::sys;

/// Runs the init sequence; never returns. Failures go to the parent as `Msg::Error`.
pub(super) fn run(plan: &InitPlan, ch: &Channel, fifo: OwnedFd) -> ! {
    let err = match setup(plan, ch) {
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

fn ctx<T, E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Everything up to the point where the init is ready; returns the executable to run.
fn setup(plan: &InitPlan, ch: &Channel) -> Result<(CString, String), String> {
    // Die with the runtime while set-up is in progress; never let the container read our memory.
    sys::set_pdeathsig(libc::SIGKILL).map_err(ctx::<(), _>("prctl(PR_SET_PDEATHSIG)"))?;
    sys::set_dumpable(false).map_err(ctx::<(), _>("prctl(PR_SET_DUMPABLE)"))?;
    let mut hook_state = String::new();
    loop {
        match ch.recv() {
            Ok(Msg::Continue) => break,
            Ok(Msg::HookState(s)) => hook_state = s,
            other => return Err(format!("waiting for the runtime: {other:?}")),
        }
    }
    if plan.ns.creates(CloneFlags::CLONE_NEWUSER.bits() as u64) {
        // Become root of the new user namespace when 0 is mapped (not required by the spec).
        let _ = sys::setresgid(0);
        let _ = sys::setresuid(0);
    }
    if plan.ns.creates(CloneFlags::CLONE_NEWCGROUP.bits() as u64) {
        // Now that the parent put us into our cgroup, it becomes the namespace root.
        crate::namespaces::unshare(CloneFlags::CLONE_NEWCGROUP.bits() as u64)
            .map_err(|e| e.to_string())?;
    }
    nix::unistd::setsid().map_err(ctx::<(), _>("setsid"))?;
    if let Some(h) = &plan.hostname {
        nix::unistd::sethostname(h).map_err(ctx::<(), _>("hostname"))?;
    }
    if let Some(d) = &plan.domainname {
        let c = CString::new(d.as_str()).map_err(ctx::<(), _>("domainname"))?;
        // SAFETY: c outlives the call; the length excludes the NUL.
        if unsafe { libc::setdomainname(c.as_ptr(), d.len()) } != 0 {
            return Err(format!("domainname: {}", std::io::Error::last_os_error()));
        }
    }
    plan.rootfs.build().map_err(|e| e.to_string())?;
    if plan.runtime_hooks {
        // prestart and createRuntime run in the runtime's namespaces, by the parent.
        ch.send(&Msg::RunHooks)
            .map_err(ctx::<(), _>("request hooks"))?;
        match ch.recv() {
            Ok(Msg::Continue) => {}
            Ok(Msg::Error(e)) => return Err(e),
            other => return Err(format!("waiting for hooks: {other:?}")),
        }
    }
    run_init_hooks(plan, HookKind::CreateContainer, &hook_state)?;
    plan.rootfs.enter().map_err(|e| e.to_string())?;
    if !plan.sysctl.is_empty() || plan.oom_score_adj.is_some() {
        let proc = ProcHandle::new().map_err(ctx::<(), _>("open procfs"))?;
        for (k, v) in &plan.sysctl {
            proc.write(&format!("sys/{}", k.replace('.', "/")), v.as_bytes())
                .map_err(|e| format!("linux.sysctl[{k:?}]: {e}"))?;
        }
        if let Some(adj) = plan.oom_score_adj {
            proc.write("self/oom_score_adj", adj.to_string().as_bytes())
                .map_err(ctx::<(), _>("process.oomScoreAdj"))?;
        }
    }
    if plan.new_keyring {
        // EPERM/ENOSYS (seccomp'd or nested hosts): runc carries on too.
        let _ = sys::join_session_keyring(&format!("_ses.{}", plan.id));
    }
    for r in &plan.rlimits {
        r.apply().map_err(|e| e.to_string())?;
    }
    // Everything a strict seccomp profile might forbid happens before the filter is
    // loaded: marking our fds close-on-exec, chdir + getcwd, the PATH lookup.
    // Nothing of ours may reach the container process (CVE-2024-21626).
    sys::cloexec_from(3 + plan.preserve_fds).map_err(ctx::<(), _>("close_range"))?;
    // As root first (the user may lack search permission on a parent); again below.
    let early_cwd = nix::unistd::chdir(&plan.cwd).is_ok();
    if early_cwd {
        verify_cwd()?;
    }
    let exe = find_executable(&plan.args[0], &plan.env)?;
    if !plan.no_new_privs {
        // Without no_new_privs loading a filter needs CAP_SYS_ADMIN: load it while we have it.
        load_seccomp(plan, ch)?;
    }
    plan.caps.apply_bounding().map_err(|e| e.to_string())?;
    let setgroups = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    plan.user.apply(setgroups).map_err(|e| e.to_string())?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        plan.user.umask as _,
    ));
    if !early_cwd {
        nix::unistd::chdir(&plan.cwd)
            .map_err(|e| format!("process.cwd {}: {e}", plan.cwd.display()))?;
        verify_cwd()?;
    }
    plan.caps.apply_sets().map_err(|e| e.to_string())?;
    if plan.no_new_privs {
        sys::set_no_new_privs().map_err(ctx::<(), _>("process.noNewPrivileges"))?;
        load_seccomp(plan, ch)?;
    }
    Ok((exe, hook_state))
}

/// Loads the seccomp filter; a notify fd goes to the parent, which hands it to the listener.
fn load_seccomp(plan: &InitPlan, ch: &Channel) -> Result<(), String> {
    let Some(sc) = &plan.seccomp else {
        return Ok(());
    };
    if let Some(fd) = sc.load().map_err(|e| e.to_string())? {
        use std::os::fd::AsFd;
        ch.send_fd(&Msg::SeccompFd, fd.as_fd())
            .map_err(ctx::<(), _>("send seccomp notify fd"))?;
    }
    Ok(())
}

/// Hooks the init runs itself (createContainer, startContainer): in the container's namespaces.
fn run_init_hooks(plan: &InitPlan, kind: HookKind, state: &str) -> Result<(), String> {
    let Some(h) = &plan.hooks else { return Ok(()) };
    let list = kind.select(h);
    if list.is_empty() {
        return Ok(());
    }
    crate::hooks::run_hooks(kind, list, state.as_bytes()).map_err(|e| e.to_string())
}

/// The cwd must be inside the container: a leaked host directory fd used as cwd
/// would show as "(unreachable)" from getcwd (CVE-2024-21626).
fn verify_cwd() -> Result<(), String> {
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        Ok(p) => Err(format!(
            "process.cwd: current directory {} is outside the container",
            p.display()
        )),
        Err(e) => Err(format!(
            "process.cwd: getcwd: {e} (directory outside the container?)"
        )),
    }
}

/// PATH lookup inside the container, with the process's own PATH, like runc.
fn find_executable(arg0: &str, env: &[String]) -> Result<CString, String> {
    let bad = |e: &dyn std::fmt::Display| format!("exec: {arg0:?}: {e}");
    if arg0.contains('/') {
        return CString::new(arg0).map_err(|e| bad(&e));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = PathBuf::from(dir).join(arg0);
        if is_executable(&cand) {
            return CString::new(cand.as_os_str().as_bytes()).map_err(|e| bad(&e));
        }
    }
    Err(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    ))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(p) {
        Ok(m) => {
            m.is_file()
                && m.permissions().mode() & 0o111 != 0
                && nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok()
        }
        Err(_) => false,
    }
}

/// Tells the parent we are ready, waits for `start` on the exec fifo, and execs.
fn wait_and_exec(
    plan: &InitPlan,
    ch: &Channel,
    fifo: OwnedFd,
    exe: &CString,
    hook_state: &str,
) -> Result<std::convert::Infallible, String> {
    // The runtime exits after `create`: from now on we must outlive it.
    sys::set_pdeathsig(0).map_err(ctx::<(), _>("prctl(PR_SET_PDEATHSIG)"))?;
    ch.send(&Msg::Ready).map_err(ctx::<(), _>("report ready"))?;
    wait_fifo(&fifo)?;
    drop(fifo);
    run_init_hooks(plan, HookKind::StartContainer, hook_state)?;
    let args: Vec<CString> = plan
        .args
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<_, _>>()
        .map_err(ctx::<(), _>("process.args"))?;
    let env: Vec<CString> = plan
        .env
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<_, _>>()
        .map_err(ctx::<(), _>("process.env"))?;
    match nix::unistd::execve(exe, &args, &env) {
        Ok(never) => match never {},
        Err(e) => Err(format!("exec {:?}: {e}", plan.args[0])),
    }
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
