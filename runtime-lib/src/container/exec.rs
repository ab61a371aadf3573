//! `exec`: run a new process inside a created or running container.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{Capability, Process};

use super::Container;
use crate::cgroups::{CgroupError, CgroupHandle};
use crate::process::{self, ExecBase, ExecPlan};
use crate::state::Status;
use crate::tty::{ConsoleSocket, TtyError};
use crate::{spec, sys, Error};

/// What to run and how; `Default` runs nothing (set `args` or `process`).
///
/// With `process` set (runc's `--process process.json`) that process is used as is
/// and the per-field overrides below are ignored, as runc does; otherwise the
/// container's configured process is the base and the overrides apply.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// A complete process (process.json).
    pub process: Option<Process>,
    /// The command and its arguments.
    pub args: Vec<String>,
    /// Added to the configured environment (`--env`, `KEY=value`).
    pub env: Vec<String>,
    /// Working directory (`--cwd`).
    pub cwd: Option<PathBuf>,
    /// uid and optionally gid (`--user uid[:gid]`).
    pub user: Option<(u32, Option<u32>)>,
    /// Supplementary groups added to the configured ones (`--additional-gids`).
    pub additional_gids: Vec<u32>,
    /// Capabilities added to the configured bounding, effective and permitted sets
    /// (`--cap CAP_NAME`).
    pub caps: Vec<String>,
    /// Override `noNewPrivileges` (`--no-new-privs`).
    pub no_new_privs: Option<bool>,
    /// Allocate a terminal (`--tty`); the configured `terminal` is not inherited.
    pub tty: bool,
    /// AppArmor profile (`--apparmor`); without it the container's profile applies.
    pub apparmor: Option<String>,
    /// SELinux process label (`--process-label`); without it the container's label.
    pub process_label: Option<String>,
    /// Where the pty master goes when the process has a terminal.
    pub console: Option<ConsoleSocket>,
    /// The process's stdin, stdout and stderr (by default the caller's fds 0, 1 and
    /// 2); not with a terminal.
    pub stdio: crate::Stdio,
    /// Pass fds 3..3+n of the caller to the process.
    pub preserve_fds: u32,
    /// Sub-cgroups to run in, runc's `--cgroup`: `path` (every hierarchy) or
    /// `controller[,controller]:path`, relative to the container's cgroup.
    pub cgroup: Vec<String>,
    /// Exec into a paused container (the process starts when it is resumed).
    pub ignore_paused: bool,
}

/// A process started by [`Container::exec`]: a child of the caller.
#[derive(Debug)]
pub struct ExecProcess {
    pid: i32,
}

impl ExecProcess {
    /// Host pid of the process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits for the process; returns its exit status (128 + signal when killed).
    pub fn wait(&self) -> crate::Result<i32> {
        use nix::sys::wait::{waitpid, WaitStatus};
        loop {
            match waitpid(nix::unistd::Pid::from_raw(self.pid), None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Error::Sys {
                        what: "wait for the exec'd process",
                        source: e.into(),
                    })
                }
            }
        }
    }
}

impl Container {
    /// Starts a new process in the container (created, running, or paused with
    /// `ignore_paused`). It joins every namespace, the cgroup, the seccomp filter of
    /// the container; it is a child of the caller. From a multi-threaded caller the
    /// fork is made by a helper process (see [`crate::helper`]).
    /// The process inherits the caller's stdin, stdout and stderr.
    ///
    /// ```no_run
    /// let c = husk::Container::load("/run/husk".as_ref(), "c1")?;
    /// let p = c.exec(husk::ExecOptions {
    ///     args: vec!["cat".into(), "/etc/os-release".into()],
    ///     env: vec!["LANG=C".into()],
    ///     ..Default::default()
    /// })?;
    /// let code = p.wait()?; // 128 + N when killed by signal N
    /// # Ok::<(), husk::Error>(())
    /// ```
    pub fn exec(&self, opts: ExecOptions) -> crate::Result<ExecProcess> {
        // Held until the process has joined the container: a `pause` racing with
        // us waits, so the process never joins a frozen cgroup half set up (and
        // hangs there), and the status checked below stays true meanwhile.
        let _lock = crate::state::Lock::acquire(&self.dir())?;
        let mut state = self.state.clone();
        state.refresh(&self.root);
        let refuse = |msg: &str| Error::State {
            id: self.id().into(),
            msg: msg.into(),
        };
        match state.status {
            Status::Stopped => return Err(refuse("cannot exec in a stopped container")),
            Status::Paused if !opts.ignore_paused => {
                return Err(refuse(
                    "cannot exec in a paused container (use --ignore-paused to override)",
                ))
            }
            Status::Creating => return Err(refuse("cannot exec in a container being created")),
            _ => {}
        }
        let base = match &state.exec {
            Some(b) => b.clone(),
            // A state from before exec existed: the bundle's config is all there is.
            None => ExecBase::from_spec(&spec::load(&state.bundle)?, false),
        };
        let process = exec_process(&base, &opts)?;
        let mut plan = ExecPlan::new(self.id(), &base, &process, opts.preserve_fds)?;
        if opts.stdio.is_set() && plan.process.terminal {
            return Err(TtyError::StdioWithTerminal.into());
        }
        plan.process.stdio = opts.stdio.raw();
        // A label the host cannot apply fails here, before any process is made.
        crate::lsm::check_host(&plan.process.lsm, None, &crate::lsm::HostLsm::detect())?;
        let sub = sub_cgroups(&opts.cgroup)?;

        let console = match (&opts.console, plan.process.terminal) {
            (Some(cs), true) => Some(cs.connect()?),
            (None, true) => return Err(TtyError::NoConsoleSocket.into()),
            (Some(_), false) => return Err(TtyError::UnusedConsoleSocket.into()),
            (None, false) => None,
        };

        let pidfd = match sys::pidfd_open(state.pid) {
            Ok(fd) => Some(fd),
            Err(e) if sys::is_enosys(&e) => None,
            Err(e) => {
                return Err(Error::Sys {
                    what: "pidfd_open of the container's init",
                    source: e,
                })
            }
        };
        // Without a pidfd setns (before 5.8; not known until tried, in the
        // intermediate) the namespace files are the way in: opened now, while the
        // start-time check below still vouches for them.
        let files = if crate::sys::probe::Feature::PidfdSetns.known() == Some(true) {
            Vec::new()
        } else {
            crate::namespaces::open_ns_files(state.pid, base.namespaces).map_err(|e| {
                Error::Sys {
                    what: "open the container's namespaces",
                    source: e,
                }
            })?
        };
        let ns = process::NsHandles { pidfd, files };
        // The pid may have been reused since the state was read: the pidfd and the
        // namespace files are the init's only if it still has the init's start time.
        if !crate::state::process_alive(state.pid, state.init_start_time) {
            return Err(refuse("cannot exec in a stopped container"));
        }
        let mnt = nix::sched::CloneFlags::CLONE_NEWNS.bits() as u64;
        let root: Option<OwnedFd> = if base.namespaces & mnt == 0 {
            Some(
                nix::fcntl::open(
                    format!("/proc/{}/root", state.pid).as_str(),
                    nix::fcntl::OFlag::O_PATH
                        | nix::fcntl::OFlag::O_DIRECTORY
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .map_err(|e| Error::Sys {
                    what: "open the container's root",
                    source: e.into(),
                })?,
            )
        } else {
            None
        };
        let cgroup = state.cgroup.clone();
        let join = |pid: i32| -> Result<(), CgroupError> {
            match &cgroup {
                Some(cg) if sub.is_empty() => cg.add_pid(pid),
                Some(cg) => add_to_sub_cgroups(cg, &sub, pid),
                None => Ok(()),
            }
        };
        let state_json = || state.oci_json(state.status);
        let pid = process::spawn_exec(
            &plan,
            &ns,
            root.as_ref().map(|r| r.as_fd()),
            &join,
            console,
            &state_json,
        )?;
        Ok(ExecProcess { pid })
    }
}

/// The process to run: `opts.process`, or the configured one with the overrides.
fn exec_process(base: &ExecBase, opts: &ExecOptions) -> crate::Result<Process> {
    if let Some(p) = &opts.process {
        return Ok(p.clone());
    }
    let mut p = base.process.clone().unwrap_or_default();
    if opts.args.is_empty() {
        return Err(Error::Invalid("process args cannot be empty".into()));
    }
    p.set_args(Some(opts.args.clone()));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(opts.env.iter().cloned());
    p.set_env(Some(env));
    p.set_terminal(Some(opts.tty));
    if let Some(nnp) = opts.no_new_privs {
        p.set_no_new_privileges(Some(nnp));
    }
    if let Some(a) = &opts.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &opts.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    if !opts.caps.is_empty() {
        let mut c = p.capabilities().clone().unwrap_or_default();
        for name in &opts.caps {
            let cap = parse_cap(name)?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            c.set_bounding(add(c.bounding()));
            c.set_effective(add(c.effective()));
            c.set_permitted(add(c.permitted()));
            // Ambient needs inheritable, which --cap does not add: only where the
            // config already has inheritable capabilities (as runc).
            if c.inheritable().as_ref().is_some_and(|s| !s.is_empty()) {
                c.set_ambient(add(c.ambient()));
            }
        }
        p.set_capabilities(Some(c));
    }
    let mut user = p.user().clone();
    if let Some((uid, gid)) = opts.user {
        user.set_uid(uid);
        if let Some(g) = gid {
            user.set_gid(g);
        }
    }
    if !opts.additional_gids.is_empty() {
        let mut g = user.additional_gids().clone().unwrap_or_default();
        g.extend(&opts.additional_gids);
        user.set_additional_gids(Some(g));
    }
    p.set_user(user);
    Ok(p)
}

/// `CAP_SYS_ADMIN` or `SYS_ADMIN`, any case.
fn parse_cap(name: &str) -> crate::Result<Capability> {
    let up = name.to_ascii_uppercase();
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    serde_json::from_value::<Capability>(serde_json::Value::String(full))
        .map_err(|_| Error::Invalid(format!("--cap: unknown capability {name:?}")))
}

/// Parsed `--cgroup` arguments: (controller or "" for every hierarchy, relative path).
fn sub_cgroups(args: &[String]) -> crate::Result<Vec<(String, PathBuf)>> {
    let bad = |a: &str, why: &str| Error::Invalid(format!("invalid --cgroup argument: {a}{why}"));
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for a in args {
        let (ctrls, path) = match a.split_once(':') {
            Some((c, p)) => (Some(c), p),
            None if args.len() == 1 => (None, a.as_str()),
            None => return Err(bad(a, " (missing <controller>: prefix)")),
        };
        let rel = Path::new(path);
        if path.is_empty() || rel.components().any(|c| c == Component::ParentDir) {
            return Err(bad(a, " (the path must stay below the container's cgroup)"));
        }
        let rel: PathBuf = rel
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        match ctrls {
            None => out.push((String::new(), rel)),
            Some(c) => {
                for ctrl in c.split(',') {
                    if ctrl.is_empty() {
                        return Err(bad(a, " (empty <controller> prefix)"));
                    }
                    if out.iter().any(|(k, _)| k == ctrl) {
                        return Err(bad(a, &format!(" (controller {ctrl} given twice)")));
                    }
                    out.push((ctrl.to_string(), rel.clone()));
                }
            }
        }
    }
    Ok(out)
}

/// Adds `pid` to the container's cgroup, in the named sub-cgroups where given.
fn add_to_sub_cgroups(
    cg: &CgroupHandle,
    sub: &[(String, PathBuf)],
    pid: i32,
) -> Result<(), CgroupError> {
    for (ctrl, _) in sub.iter().filter(|(c, _)| !c.is_empty()) {
        let known = cg.dirs().iter().any(|d| {
            d.controllers.iter().any(|c| c == ctrl)
                || (d.version == crate::cgroups::HierarchyVersion::V2 && ctrl == "unified")
        });
        if !known {
            return Err(CgroupError::AddPid {
                pid,
                path: PathBuf::from(ctrl),
                source: std::io::Error::other(format!(
                    "--cgroup: no cgroup hierarchy has controller {ctrl:?}"
                )),
            });
        }
    }
    for d in cg.dirs() {
        let rel = sub.iter().find_map(|(ctrl, rel)| {
            let hit = ctrl.is_empty()
                || d.controllers.iter().any(|c| c == ctrl)
                || (d.version == crate::cgroups::HierarchyVersion::V2 && ctrl == "unified");
            hit.then_some(rel)
        });
        let dir = match rel {
            Some(r) => d.path.join(r),
            None => d.path.clone(),
        };
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, pid.to_string()).map_err(|source| CgroupError::AddPid {
            pid,
            path: procs.clone(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ExecBase {
        ExecBase {
            process: Some(
                serde_json::from_str(
                    r#"{"user":{"uid":0,"gid":0,"additionalGids":[3]},"cwd":"/","args":["sh"],"env":["A=1"],"terminal":true,
                    "capabilities":{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]}}"#,
                )
                .unwrap(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn overrides_apply_to_the_configured_process() {
        let o = ExecOptions {
            args: vec!["id".into()],
            env: vec!["B=2".into()],
            cwd: Some("/tmp".into()),
            user: Some((7, Some(8))),
            additional_gids: vec![9],
            caps: vec!["sys_admin".into()],
            no_new_privs: Some(true),
            ..Default::default()
        };
        let p = exec_process(&base(), &o).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["id".to_string()][..]));
        assert_eq!(p.env().clone().unwrap(), vec!["A=1", "B=2"]);
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (7, 8));
        assert_eq!(p.user().additional_gids().clone().unwrap(), vec![3, 9]);
        assert_eq!(p.terminal(), Some(false), "terminal is not inherited");
        assert_eq!(p.no_new_privileges(), Some(true));
        let c = p.capabilities().clone().unwrap();
        assert!(c
            .bounding()
            .as_ref()
            .unwrap()
            .contains(&Capability::SysAdmin));
        assert!(c
            .permitted()
            .as_ref()
            .unwrap()
            .contains(&Capability::SysAdmin));
        assert!(c.ambient().is_none());
    }

    #[test]
    fn process_file_wins_and_args_are_needed() {
        let p: Process =
            serde_json::from_str(r#"{"user":{"uid":1,"gid":1},"cwd":"/","args":["true"]}"#)
                .unwrap();
        let o = ExecOptions {
            process: Some(p.clone()),
            cwd: Some("/ignored".into()),
            ..Default::default()
        };
        assert_eq!(exec_process(&base(), &o).unwrap(), p);
        let err = exec_process(&base(), &ExecOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("process args cannot be empty"),
            "{err}"
        );
        let err = exec_process(
            &base(),
            &ExecOptions {
                args: vec!["x".into()],
                caps: vec!["CAP_BOGUS".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("CAP_BOGUS"), "{err}");
    }

    #[test]
    fn cgroup_arguments() {
        let s = |v: &[&str]| sub_cgroups(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&["sub"]).unwrap(),
            vec![(String::new(), PathBuf::from("sub"))]
        );
        assert_eq!(
            s(&["cpu,memory:a/b", "pids:c"]).unwrap(),
            vec![
                ("cpu".into(), PathBuf::from("a/b")),
                ("memory".into(), PathBuf::from("a/b")),
                ("pids".into(), PathBuf::from("c"))
            ]
        );
        assert!(s(&["a", "b"]).is_err());
        assert!(s(&["../escape"]).is_err());
        assert!(s(&[":x"]).is_err());
        assert!(s(&["cpu:x", "cpu:y"]).is_err());
    }
}
