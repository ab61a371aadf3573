//! Everything the container's init does, computed before the clone (pure data).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxSeccomp, Process, Spec};

use crate::namespaces::NamespacePlan;
use crate::rootfs::RootfsPlan;
use crate::seccomp::SeccompPlan;
use crate::security::{CapPlan, Rlimit, UserPlan};

/// The process part of a plan, the same for the container's init and for an exec'd
/// process: what they set up on themselves and what the last steps before exec read.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ProcessPlan {
    /// `process.args`.
    pub args: Vec<String>,
    /// `process.env`, one entry per variable (the last value wins, as with runc).
    pub env: Vec<String>,
    /// `process.cwd`.
    pub cwd: PathBuf,
    /// `process.user`.
    pub user: UserPlan,
    /// `process.capabilities`.
    pub caps: CapPlan,
    /// `process.rlimits`.
    pub rlimits: Vec<Rlimit>,
    /// `process.noNewPrivileges`.
    pub no_new_privs: bool,
    /// `process.oomScoreAdj`.
    pub oom_score_adj: Option<i32>,
    /// `process.terminal`: the process gets a pty whose master goes to the console
    /// socket.
    pub terminal: bool,
    /// `process.consoleSize`.
    pub console_size: Option<crate::tty::WinSize>,
    /// The container's `linux.seccomp`, validated (every process gets the same filter).
    pub seccomp: Option<SeccompPlan>,
    /// Extra fds (3..3+n) passed through to the process.
    pub preserve_fds: u32,
    /// Socket activation: the process gets `LISTEN_PID` = its own pid as it sees it.
    pub listen_pid: bool,
    /// `process.apparmorProfile` and `process.selinuxLabel`.
    pub lsm: crate::lsm::ProcessLsm,
    /// The caller's fds that become the process's stdin, stdout and stderr
    /// ([`crate::Stdio`]); `None`: fd 0, 1 or 2 as inherited.
    #[serde(default)]
    pub stdio: [Option<std::os::fd::RawFd>; 3],
}

impl ProcessPlan {
    /// The plan for `process`, with the container's `seccomp` and the caller's
    /// `--preserve-fds`. Fails only on an invalid seccomp profile.
    pub fn new(
        process: &Process,
        seccomp: Option<&LinuxSeccomp>,
        preserve_fds: u32,
    ) -> Result<Self, crate::Error> {
        Ok(ProcessPlan {
            args: process.args().clone().unwrap_or_default(),
            env: super::env::dedup(process.env().as_deref().unwrap_or_default()),
            cwd: process.cwd().clone(),
            user: UserPlan::from_spec(process.user()),
            caps: CapPlan::from_spec(process.capabilities().as_ref()),
            rlimits: Rlimit::plan(process.rlimits().as_deref().unwrap_or_default()),
            no_new_privs: process.no_new_privileges().unwrap_or(false),
            oom_score_adj: process.oom_score_adj(),
            terminal: process.terminal().unwrap_or(false),
            console_size: console_size(process),
            seccomp: seccomp.map(crate::seccomp::plan).transpose()?,
            preserve_fds,
            listen_pid: false,
            lsm: crate::lsm::ProcessLsm::from_process(process),
            stdio: [None; 3],
        })
    }

    /// Rootless: an `oomScoreAdj` below the caller's own stays at the caller's (the
    /// kernel lets only CAP_SYS_RESOURCE lower it), as an unprivileged equivalent.
    pub fn clamp_oom_score_adj(&mut self) {
        if let Some(adj) = self.oom_score_adj {
            let current = crate::rootless::current_oom_score_adj();
            let got = crate::rootless::oom_score_adj(adj, current);
            if got != adj {
                tracing::debug!(
                    "rootless: process.oomScoreAdj {adj} kept at the caller's {current}"
                );
            }
            self.oom_score_adj = Some(got);
        }
    }

    /// Adds `vars` to the environment, each replacing the variable of the same name.
    pub fn add_env(&mut self, vars: &[String]) {
        self.env = super::env::merge(&self.env, vars);
    }

    /// The seccomp agent that gets the filter's notify fd, if a rule notifies.
    pub fn seccomp_listener(&self) -> Option<&crate::seccomp::ListenerPlan> {
        self.seccomp.as_ref().and_then(|s| s.listener.as_ref())
    }
}

/// The init's instructions.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct InitPlan {
    /// Container id (names the session keyring).
    pub id: String,
    /// Namespaces to create/join.
    pub ns: NamespacePlan,
    /// Rootfs set-up.
    pub rootfs: RootfsPlan,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `domainname`.
    pub domainname: Option<String>,
    /// `linux.sysctl` (sorted by key for determinism).
    pub sysctl: Vec<(String, String)>,
    /// `process` (with `linux.seccomp` and `--preserve-fds`).
    pub process: ProcessPlan,
    /// Join a fresh session keyring (unless `--no-new-keyring`).
    pub new_keyring: bool,
    /// The config's hooks (the init runs createContainer and startContainer).
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// Whether the parent must run prestart/createRuntime hooks before pivot_root.
    pub runtime_hooks: bool,
    /// `process.scheduler`, `process.ioPriority`, `linux.personality`,
    /// `linux.memoryPolicy`.
    pub attrs: crate::attrs::ProcessAttrs,
    /// `linux.netDevices` (moved by the parent once the init exists).
    pub net_devices: crate::namespaces::netdev::NetDevPlan,
    /// `linux.intelRdt` (applied by the parent once the init exists).
    pub intel_rdt: Option<crate::intelrdt::RdtPlan>,
}

/// Options from the caller that shape the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// Rootless mode ([`crate::ContainerBuilder::rootless`]).
    pub rootless: bool,
}

impl InitPlan {
    /// Computes the init plan from a validated spec.
    pub fn from_spec(
        id: &str,
        spec: &Spec,
        bundle: &Path,
        opts: &PlanOptions,
    ) -> Result<Self, crate::Error> {
        let mut ns = NamespacePlan::from_spec(spec);
        ns.set_rootless(
            opts.rootless,
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        let user_flag = nix::sched::CloneFlags::CLONE_NEWUSER.bits() as u64;
        let mnt_flag = nix::sched::CloneFlags::CLONE_NEWNS.bits() as u64;
        let mut rootfs = RootfsPlan::from_spec(
            spec,
            bundle,
            opts.no_pivot,
            ns.owns(user_flag),
            ns.owns(mnt_flag),
        )?;
        rootfs.rootless = opts.rootless;
        // Already in a user namespace (root there, as under rootless podman): no
        // mknod either.
        rootfs.bind_devices |= opts.rootless;
        let mut sysctl: Vec<(String, String)> = spec
            .linux()
            .as_ref()
            .and_then(|l| l.sysctl().clone())
            .map(|m| m.into_iter().collect())
            .unwrap_or_default();
        sysctl.sort();
        let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        let mut process = ProcessPlan::new(
            &spec.process().clone().unwrap_or_default(),
            seccomp,
            opts.preserve_fds,
        )?;
        if opts.rootless {
            process.clamp_oom_score_adj();
        }
        let hooks = spec.hooks().clone();
        let runtime_hooks = hooks.as_ref().is_some_and(|h| {
            h.prestart().as_ref().is_some_and(|v| !v.is_empty())
                || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
        });
        Ok(InitPlan {
            hooks,
            runtime_hooks,
            process,
            id: id.to_string(),
            ns,
            rootfs,
            hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
            domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
            sysctl,
            new_keyring: !opts.no_new_keyring,
            attrs: crate::attrs::ProcessAttrs::for_init(spec)?,
            net_devices: crate::namespaces::netdev::plan(spec)?,
            intel_rdt: spec
                .linux()
                .as_ref()
                .and_then(|l| l.intel_rdt().as_ref())
                .map(|r| crate::intelrdt::plan(id, r))
                .transpose()?,
        })
    }
}

/// `process.consoleSize` as a window size.
fn console_size(p: &Process) -> Option<crate::tty::WinSize> {
    p.console_size().as_ref().map(|b| crate::tty::WinSize {
        rows: b.height().min(u16::MAX as u64) as u16,
        cols: b.width().min(u16::MAX as u64) as u16,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(json: &str) -> Process {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn process_plan_from_process() {
        let p = process(
            r#"{"user":{"uid":5,"gid":6,"additionalGids":[7],"umask":63},"cwd":"/w",
            "args":["sh","-c","id"],"env":["A=1"],"noNewPrivileges":true,"oomScoreAdj":-3,
            "terminal":true,"consoleSize":{"height":99999,"width":80},
            "capabilities":{"bounding":["CAP_KILL"]},
            "rlimits":[{"type":"RLIMIT_NOFILE","soft":10,"hard":20}]}"#,
        );
        let sc: LinuxSeccomp =
            serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap();
        let plan = ProcessPlan::new(&p, Some(&sc), 3).unwrap();
        assert_eq!(plan.args, ["sh", "-c", "id"]);
        assert_eq!(plan.env, ["A=1"]);
        assert_eq!(plan.cwd, PathBuf::from("/w"));
        assert_eq!(
            (
                plan.user.uid,
                plan.user.gid,
                &plan.user.additional_gids[..],
                plan.user.umask
            ),
            (5, 6, &[7][..], 63)
        );
        assert_eq!(plan.caps.bounding, ::caps::Capability::CAP_KILL.bitmask());
        assert_eq!(plan.caps.effective, 0);
        assert_eq!(plan.rlimits.len(), 1);
        assert_eq!(
            (
                plan.rlimits[0].resource,
                plan.rlimits[0].soft,
                plan.rlimits[0].hard
            ),
            (libc::RLIMIT_NOFILE, 10, 20)
        );
        assert!(plan.no_new_privs);
        assert_eq!(plan.oom_score_adj, Some(-3));
        assert!(plan.terminal);
        // A height beyond a u16 is clamped, not wrapped.
        assert_eq!(
            plan.console_size,
            Some(crate::tty::WinSize {
                rows: u16::MAX,
                cols: 80
            })
        );
        assert!(plan.seccomp.is_some());
        assert!(plan.seccomp_listener().is_none());
        assert_eq!(plan.preserve_fds, 3);

        // A variable listed twice is set once, to its last value; added ones replace.
        let mut dup = ProcessPlan::new(
            &process(r#"{"user":{"uid":0,"gid":0},"cwd":"/","env":["A=1","P=/x","A=2"]}"#),
            None,
            0,
        )
        .unwrap();
        assert_eq!(dup.env, ["P=/x", "A=2"]);
        dup.add_env(&["P=/y".into(), "LISTEN_FDS=1".into()]);
        assert_eq!(dup.env, ["A=2", "P=/y", "LISTEN_FDS=1"]);

        let bare =
            ProcessPlan::new(&process(r#"{"user":{"uid":0,"gid":0},"cwd":"/"}"#), None, 0).unwrap();
        assert!(bare.args.is_empty() && bare.env.is_empty() && bare.rlimits.is_empty());
        assert!(!bare.no_new_privs && !bare.terminal);
        assert_eq!((bare.oom_score_adj, bare.console_size), (None, None));
        assert!(bare.seccomp.is_none());

        let bad: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["open"],
            "action":"SCMP_ACT_ERRNO","args":[{"index":9,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
        )
        .unwrap();
        let notify: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
            "syscalls":[{"names":["mknod"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        )
        .unwrap();
        let plan = ProcessPlan::new(&p, Some(&notify), 0).unwrap();
        let listener = plan.seccomp_listener().map(|l| l.path.clone());
        assert_eq!(listener, Some(PathBuf::from("/run/agent.sock")));

        let err = ProcessPlan::new(&p, Some(&bad), 0).unwrap_err().to_string();
        assert!(err.contains("linux.seccomp"), "{err}");
    }
}
