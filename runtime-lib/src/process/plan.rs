//! Everything the container's init does, computed before the clone (pure data).

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::namespaces::NamespacePlan;
use crate::rootfs::RootfsPlan;
use crate::security::{CapPlan, Rlimit, UserPlan};

/// The init's instructions.
#[derive(Debug, Clone, Default)]
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
    /// `process.args`.
    pub args: Vec<String>,
    /// `process.env`.
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
    /// Extra fds (3..3+n) passed through to the process.
    pub preserve_fds: u32,
    /// Join a fresh session keyring (unless `--no-new-keyring`).
    pub new_keyring: bool,
    /// The config's hooks (the init runs createContainer and startContainer).
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// Whether the parent must run prestart/createRuntime hooks before pivot_root.
    pub runtime_hooks: bool,
    /// `linux.seccomp`, validated.
    pub seccomp: Option<crate::seccomp::SeccompPlan>,
    /// `process.terminal`: the init allocates a pty and sends its master to the
    /// console socket.
    pub terminal: bool,
    /// `process.consoleSize`.
    pub console_size: Option<crate::tty::WinSize>,
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
}

impl InitPlan {
    /// Computes the init plan from a validated spec.
    pub fn from_spec(
        id: &str,
        spec: &Spec,
        bundle: &Path,
        opts: &PlanOptions,
    ) -> Result<Self, crate::Error> {
        let ns = NamespacePlan::from_spec(spec);
        let user_flag = nix::sched::CloneFlags::CLONE_NEWUSER.bits() as u64;
        let mnt_flag = nix::sched::CloneFlags::CLONE_NEWNS.bits() as u64;
        let rootfs = RootfsPlan::from_spec(
            spec,
            bundle,
            opts.no_pivot,
            ns.owns(user_flag),
            ns.owns(mnt_flag),
        )?;
        let process = spec.process().clone().unwrap_or_default();
        let mut sysctl: Vec<(String, String)> = spec
            .linux()
            .as_ref()
            .and_then(|l| l.sysctl().clone())
            .map(|m| m.into_iter().collect())
            .unwrap_or_default();
        sysctl.sort();
        let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(s) => Some(crate::seccomp::plan(s)?),
            None => None,
        };
        let hooks = spec.hooks().clone();
        let runtime_hooks = hooks.as_ref().is_some_and(|h| {
            h.prestart().as_ref().is_some_and(|v| !v.is_empty())
                || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
        });
        Ok(InitPlan {
            hooks,
            runtime_hooks,
            seccomp,
            id: id.to_string(),
            ns,
            rootfs,
            hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
            domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
            sysctl,
            args: process.args().clone().unwrap_or_default(),
            env: process.env().clone().unwrap_or_default(),
            cwd: process.cwd().clone(),
            user: UserPlan::from_spec(process.user()),
            caps: CapPlan::from_spec(process.capabilities().as_ref()),
            rlimits: Rlimit::plan(process.rlimits().as_deref().unwrap_or_default()),
            no_new_privs: process.no_new_privileges().unwrap_or(false),
            oom_score_adj: process.oom_score_adj(),
            preserve_fds: opts.preserve_fds,
            new_keyring: !opts.no_new_keyring,
            terminal: process.terminal().unwrap_or(false),
            console_size: console_size(&process),
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

    pub(super) fn process_view(&self) -> super::finalize::ProcessView<'_> {
        super::finalize::ProcessView {
            args: &self.args,
            env: &self.env,
            cwd: &self.cwd,
            user: &self.user,
            caps: &self.caps,
            rlimits: &self.rlimits,
            no_new_privs: self.no_new_privs,
            seccomp: self.seccomp.as_ref(),
            preserve_fds: self.preserve_fds,
            create_cwd: true,
        }
    }
}

/// `process.consoleSize` as a window size.
pub(crate) fn console_size(p: &oci_spec::runtime::Process) -> Option<crate::tty::WinSize> {
    p.console_size().as_ref().map(|b| crate::tty::WinSize {
        rows: b.height().min(u16::MAX as u64) as u16,
        cols: b.width().min(u16::MAX as u64) as u16,
    })
}
