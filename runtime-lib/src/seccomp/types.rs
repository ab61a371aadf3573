//! The validated, resolved form of `linux.seccomp` that [`super::plan`]
//! produces and `SeccompPlan::compile` + [`CompiledFilter::install`](super::CompiledFilter::install) apply.

use std::path::PathBuf;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp};
use oci_spec::runtime::Arch;

/// What the filter does with a matching syscall, with its return data resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Action {
    /// `SCMP_ACT_KILL` / `SCMP_ACT_KILL_THREAD`: kill the calling thread.
    KillThread,
    /// `SCMP_ACT_KILL_PROCESS`: kill the whole process.
    KillProcess,
    /// `SCMP_ACT_TRAP`: send `SIGSYS`.
    Trap,
    /// `SCMP_ACT_ERRNO`: fail the syscall with this errno.
    Errno(u16),
    /// `SCMP_ACT_TRACE`: notify a ptrace tracer with this message number.
    Trace(u16),
    /// `SCMP_ACT_ALLOW`: run the syscall.
    Allow,
    /// `SCMP_ACT_LOG`: run the syscall and log it.
    Log,
    /// `SCMP_ACT_NOTIFY`: suspend the syscall and ask the seccomp agent.
    Notify,
}

impl Action {
    /// The OCI spelling of the action (without its return data).
    pub fn spec_name(self) -> &'static str {
        match self {
            Self::KillThread => "SCMP_ACT_KILL_THREAD",
            Self::KillProcess => "SCMP_ACT_KILL_PROCESS",
            Self::Trap => "SCMP_ACT_TRAP",
            Self::Errno(_) => "SCMP_ACT_ERRNO",
            Self::Trace(_) => "SCMP_ACT_TRACE",
            Self::Allow => "SCMP_ACT_ALLOW",
            Self::Log => "SCMP_ACT_LOG",
            Self::Notify => "SCMP_ACT_NOTIFY",
        }
    }

    pub(super) fn to_scmp(self) -> ScmpAction {
        match self {
            Self::KillThread => ScmpAction::KillThread,
            Self::KillProcess => ScmpAction::KillProcess,
            Self::Trap => ScmpAction::Trap,
            Self::Errno(e) => ScmpAction::Errno(i32::from(e)),
            Self::Trace(m) => ScmpAction::Trace(m),
            Self::Allow => ScmpAction::Allow,
            Self::Log => ScmpAction::Log,
            Self::Notify => ScmpAction::Notify,
        }
    }
}

/// How a syscall argument is compared (`SCMP_CMP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CompareOp {
    /// `SCMP_CMP_NE`: `arg != value`.
    Ne,
    /// `SCMP_CMP_LT`: `arg < value`.
    Lt,
    /// `SCMP_CMP_LE`: `arg <= value`.
    Le,
    /// `SCMP_CMP_EQ`: `arg == value`.
    Eq,
    /// `SCMP_CMP_GE`: `arg >= value`.
    Ge,
    /// `SCMP_CMP_GT`: `arg > value`.
    Gt,
    /// `SCMP_CMP_MASKED_EQ`: `arg & value == value_two`.
    MaskedEq,
}

/// One argument test of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ArgCondition {
    /// Argument index, `0..=5`.
    pub index: u8,
    /// Comparison.
    pub op: CompareOp,
    /// `value`; the mask for [`CompareOp::MaskedEq`].
    pub value: u64,
    /// `valueTwo` (0 when absent); only [`CompareOp::MaskedEq`] uses it.
    pub value_two: u64,
}

impl ArgCondition {
    pub(super) fn to_scmp(self) -> ScmpArgCompare {
        let arg = u32::from(self.index);
        match self.op {
            CompareOp::Ne => ScmpArgCompare::new(arg, ScmpCompareOp::NotEqual, self.value),
            CompareOp::Lt => ScmpArgCompare::new(arg, ScmpCompareOp::Less, self.value),
            CompareOp::Le => ScmpArgCompare::new(arg, ScmpCompareOp::LessOrEqual, self.value),
            CompareOp::Eq => ScmpArgCompare::new(arg, ScmpCompareOp::Equal, self.value),
            CompareOp::Ge => ScmpArgCompare::new(arg, ScmpCompareOp::GreaterEqual, self.value),
            CompareOp::Gt => ScmpArgCompare::new(arg, ScmpCompareOp::Greater, self.value),
            CompareOp::MaskedEq => {
                ScmpArgCompare::new(arg, ScmpCompareOp::MaskedEqual(self.value), self.value_two)
            }
        }
    }
}

/// One libseccomp rule: a syscall, an action and AND-ed argument tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RulePlan {
    /// The JSON field it comes from, e.g. `linux.seccomp.syscalls[4].names[1]`.
    pub field: String,
    /// Syscall name.
    pub name: String,
    /// Syscall number for the native architecture as libseccomp resolves it
    /// (negative for libseccomp's pseudo-syscalls of other architectures).
    pub nr: i32,
    /// What to do when it matches.
    pub action: Action,
    /// Argument tests, all of which must hold.
    pub conditions: Vec<ArgCondition>,
}

/// Why a syscall name produced no rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SkipReason {
    /// libseccomp does not know the name (like runc, not an error: profiles
    /// list syscalls newer than the library).
    UnknownSyscall,
    /// The action equals the default action, so the rule changes nothing
    /// (and libseccomp would refuse it).
    SameAsDefault,
}

/// A syscall name of the config that produced no rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedSyscall {
    /// The JSON field, e.g. `linux.seccomp.syscalls[0].names[7]`.
    pub field: String,
    /// The syscall name.
    pub name: String,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// Filter flags requested in `linux.seccomp.flags`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FilterFlags {
    /// `SECCOMP_FILTER_FLAG_TSYNC`.
    pub tsync: bool,
    /// `SECCOMP_FILTER_FLAG_LOG`.
    pub log: bool,
    /// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`.
    pub spec_allow: bool,
    /// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`.
    pub wait_killable_recv: bool,
}

impl FilterFlags {
    /// The `flags` argument for `seccomp(SECCOMP_SET_MODE_FILTER)`.
    ///
    /// `new_listener` adds `SECCOMP_FILTER_FLAG_NEW_LISTENER`; combined with
    /// TSYNC the kernel insists on `SECCOMP_FILTER_FLAG_TSYNC_ESRCH` so that
    /// the return value can be the listener fd rather than a thread id.
    /// WAIT_KILLABLE_RECV only concerns notifications and the kernel rejects
    /// it without a listener, so it is dropped when nothing notifies.
    pub fn kernel_bits(self, new_listener: bool) -> libc::c_ulong {
        let mut bits = 0;
        if self.tsync {
            bits |= libc::SECCOMP_FILTER_FLAG_TSYNC;
        }
        if self.log {
            bits |= libc::SECCOMP_FILTER_FLAG_LOG;
        }
        if self.spec_allow {
            bits |= libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
        }
        if new_listener {
            if self.wait_killable_recv {
                bits |= libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
            }
            bits |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
            if self.tsync {
                bits |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
            }
        }
        bits
    }
}

/// Where to send the notify fd (`listenerPath`, `listenerMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListenerPlan {
    /// The seccomp agent's `AF_UNIX` `SOCK_STREAM` socket.
    pub path: PathBuf,
    /// Opaque metadata for the agent (empty when unset).
    pub metadata: String,
}

/// A validated seccomp configuration, ready to be compiled and loaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeccompPlan {
    /// Action for syscalls no rule matches.
    pub default_action: Action,
    /// Extra architectures (the native one is always in the filter).
    pub architectures: Vec<Arch>,
    /// Filter flags.
    pub flags: FilterFlags,
    /// The rules, in config order.
    pub rules: Vec<RulePlan>,
    /// Names that produced no rule, for logging.
    pub skipped: Vec<SkippedSyscall>,
    /// The agent to hand the notify fd to; `Some` exactly when a rule notifies.
    pub listener: Option<ListenerPlan>,
}

impl SeccompPlan {
    /// Whether loading the filter yields a notify fd.
    pub fn uses_notify(&self) -> bool {
        self.rules.iter().any(|r| r.action == Action::Notify)
    }
}

/// libseccomp's token for an OCI architecture.
pub(super) fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// Every OCI architecture except `SCMP_ARCH_NATIVE`, in spec order.
pub(super) const ALL_ARCHS: [Arch; 23] = [
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX32,
    Arch::ScmpArchArm,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
];
