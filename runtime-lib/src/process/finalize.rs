//! The last steps before exec, shared by the container's init and by `exec`, in
//! three parts: [`prepare`] (rlimits, close-on-exec, cwd, the PATH lookup, the
//! environment, procfs reads, the compiled filter), [`drop_privileges`]
//! (capabilities, user and groups, umask, no_new_privs, the seccomp filter last)
//! and [`exec`].

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::channel::{Channel, Msg};
use super::plan::ProcessPlan;
use super::InitError;
use crate::seccomp::SeccompPlan;
use crate::sys;

pub(super) fn ctx<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// What [`prepare`] found, for [`drop_privileges`].
pub(super) struct Prepared {
    exe: CString,
    early_cwd: bool,
    user_host: crate::security::UserHost,
    filter: Option<crate::seccomp::CompiledFilter>,
}

/// The first of the three last steps (prepare, drop privileges, exec): limits,
/// close-on-exec, cwd, the PATH lookup, the environment, what the user switch
/// needs from procfs, and the compiled seccomp program. Everything here happens
/// before any filter exists, so a strict profile need not allow it.
/// `create_cwd`: create a missing cwd (the init, as runc's; never for exec, as runc's).
pub(super) fn prepare(p: &ProcessPlan, create_cwd: bool) -> Result<Prepared, InitError> {
    reset_signals();
    // The caller's stdio fds onto 0-2 before everything above 2 is marked close-on-exec.
    super::stdio::install(&p.stdio).map_err(ctx("put the given stdio fds on 0, 1 and 2"))?;
    for r in &p.rlimits {
        r.apply().map_err(|e| e.to_string())?;
    }
    // Everything a strict seccomp profile might forbid happens before the filter is
    // loaded: marking our fds close-on-exec, chdir + getcwd, the PATH lookup.
    // Nothing of ours may reach the container process (CVE-2024-21626).
    sys::cloexec_from(3 + p.preserve_fds).map_err(ctx("mark fds close-on-exec"))?;
    // As root first (the user may lack search permission on a parent); again below.
    // A cwd missing from the image is created for the init, as runc does.
    let mut early_cwd = nix::unistd::chdir(&p.cwd);
    if create_cwd
        && early_cwd == Err(nix::errno::Errno::ENOENT)
        && std::fs::create_dir_all(&p.cwd).is_ok()
    {
        early_cwd = nix::unistd::chdir(&p.cwd);
    }
    let early_cwd = early_cwd.is_ok();
    if early_cwd {
        verify_cwd()?;
    }
    let arg0 = p.args.first().ok_or("process.args must not be empty")?;
    let exe = find_executable(arg0, &p.env)?;
    // HOME from the image's /etc/passwd, LISTEN_PID: decided while we are still root.
    super::env::prepare(&p.env, p.user.uid, p.listen_pid);
    // Everything read from procfs for the user switch, before any filter exists.
    let user_host = crate::security::UserHost::probe();
    // Compiled now (memfd, libseccomp); installing is then a single syscall.
    let filter = compile_seccomp(p.seccomp.as_ref())?;
    Ok(Prepared {
        exe,
        early_cwd,
        user_host,
        filter,
    })
}

/// The second step: capabilities, user and groups, umask, no_new_privs, and the
/// seccomp filter as the very last call (without no_new_privs: before the user
/// switch, which then still has CAP_SYS_ADMIN, as runc). Returns the executable;
/// after this only the hand-over to the runtime and [`exec`] follow.
pub(super) fn drop_privileges(
    p: &ProcessPlan,
    prep: Prepared,
    ch: &Channel,
) -> Result<CString, InitError> {
    let Prepared {
        exe,
        early_cwd,
        user_host,
        filter,
    } = prep;
    if !p.no_new_privs {
        // Without no_new_privs loading a filter needs CAP_SYS_ADMIN: load it while we
        // have it (runc's order); only the privilege drop follows.
        install_seccomp(filter.as_ref(), ch)?;
    }
    p.caps.apply_bounding().map_err(|e| e.to_string())?;
    p.user.apply(&user_host).map_err(|e| e.to_string())?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(p.user.umask as _));
    if !early_cwd {
        nix::unistd::chdir(&p.cwd).map_err(|e| {
            let msg = format!("process.cwd {}: {e}", p.cwd.display());
            InitError::cwd(&p.cwd, &e.into(), msg)
        })?;
        verify_cwd()?;
    }
    p.caps.apply_sets().map_err(|e| e.to_string())?;
    if p.no_new_privs {
        sys::set_no_new_privs().map_err(ctx("process.noNewPrivileges"))?;
        // The last step: after it only the hand-over (Ready, the exec fifo) and execve.
        install_seccomp(filter.as_ref(), ch)?;
    }
    Ok(exe)
}

/// `execve` with the process's args and env.
pub(super) fn exec(
    exe: &CString,
    args: &[String],
    env: &[String],
) -> Result<std::convert::Infallible, InitError> {
    let cargs: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<_, _>>()
        .map_err(ctx("process.args"))?;
    let cenv: Vec<CString> = super::env::prepared(env)
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<_, _>>()
        .map_err(ctx("process.env"))?;
    match nix::unistd::execve(exe, &cargs, &cenv) {
        Ok(never) => match never {},
        Err(e) => {
            let arg0 = args.first().map(String::as_str).unwrap_or("");
            Err(InitError::executable(
                arg0,
                e as i32,
                format!("exec {arg0:?}: {e}"),
            ))
        }
    }
}

/// The process starts with no blocked signal and SIGPIPE at its default: the Rust
/// runtime ignores SIGPIPE in husk, and the caller may block signals it forwards;
/// neither may reach the container (a runc container sees neither).
fn reset_signals() {
    // SAFETY: plain signal(2) and sigprocmask(2) on a single-threaded process with a
    // valid, empty set.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Builds the filter's BPF program (allocation, libseccomp) ahead of loading it.
fn compile_seccomp(
    seccomp: Option<&SeccompPlan>,
) -> Result<Option<crate::seccomp::CompiledFilter>, InitError> {
    seccomp
        .map(|sc| sc.compile().map_err(|e| InitError::other(e.to_string())))
        .transpose()
}

/// Installs the filter; a notify fd goes to the parent, which hands it to the listener.
fn install_seccomp(
    filter: Option<&crate::seccomp::CompiledFilter>,
    ch: &Channel,
) -> Result<(), InitError> {
    let Some(f) = filter else {
        return Ok(());
    };
    if let Some(fd) = f.install().map_err(|e| e.to_string())? {
        use std::os::fd::AsFd;
        ch.send_fd(&Msg::SeccompFd, fd.as_fd())
            .map_err(ctx("send seccomp notify fd"))?;
    }
    Ok(())
}

/// The cwd must be inside the container: a leaked host directory fd used as cwd
/// would show as "(unreachable)" from getcwd (CVE-2024-21626).
pub(super) fn verify_cwd() -> Result<(), InitError> {
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        Ok(p) => {
            let msg = format!(
                "process.cwd: current directory {} is outside the container",
                p.display()
            );
            let e = std::io::Error::other("outside the container");
            Err(InitError::cwd(p, &e, msg))
        }
        Err(e) => Err(InitError::cwd(
            "",
            &e.into(),
            format!("process.cwd: getcwd: {e} (directory outside the container?)"),
        )),
    }
}

/// PATH lookup inside the container, with the process's own PATH, like runc.
fn find_executable(arg0: &str, env: &[String]) -> Result<CString, InitError> {
    let bad = |errno: i32, e: &dyn std::fmt::Display| {
        InitError::executable(arg0, errno, format!("exec: {arg0:?}: {e}"))
    };
    if arg0.contains('/') {
        // Fail at create, not at start, as runc does.
        return match std::fs::metadata(arg0) {
            Ok(m) if m.is_dir() => Err(bad(libc::EISDIR, &"is a directory")),
            Ok(_) => CString::new(arg0).map_err(|e| bad(libc::EINVAL, &e)),
            Err(e) => {
                // runc's (Go's) spelling: "stat /x: no such file or directory".
                let raw = e.raw_os_error().unwrap_or(libc::ENOENT);
                let errno = nix::errno::Errno::from_raw(raw);
                Err(bad(
                    raw,
                    &format_args!("stat {arg0}: {}", errno.desc().to_lowercase()),
                ))
            }
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = PathBuf::from(dir).join(arg0);
        if is_executable(&cand) {
            return CString::new(cand.as_os_str().as_bytes()).map_err(|e| bad(libc::EINVAL, &e));
        }
    }
    Err(bad(libc::ENOENT, &"executable file not found in $PATH"))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(p) {
        Ok(m) => m.is_file() && m.permissions().mode() & 0o111 != 0,
        Err(_) => false,
    }
}
