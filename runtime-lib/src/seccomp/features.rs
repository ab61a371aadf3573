//! What this build, the linked libseccomp and the running kernel support,
//! for `husk features` (runc's `linux.seccomp` features shape).

use oci_spec::runtime::{
    Arch, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator, Seccomp,
};
use serde::Serialize;

use super::plan::arch_supported;
use super::sys;
use super::types::ALL_ARCHS;

/// The `linux.seccomp` object of the features JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompFeatures {
    /// Whether the kernel supports seccomp filters.
    pub enabled: bool,
    /// Actions both the kernel and libseccomp can carry out.
    pub actions: Vec<LinuxSeccompAction>,
    /// Argument comparison operators.
    pub operators: Vec<LinuxSeccompOperator>,
    /// Architectures the linked libseccomp can add to a filter.
    pub archs: Vec<Arch>,
    /// Filter flags this runtime understands.
    pub known_flags: Vec<LinuxSeccompFilterFlag>,
    /// The known flags the running kernel accepts.
    pub supported_flags: Vec<LinuxSeccompFilterFlag>,
}

impl From<SeccompFeatures> for Seccomp {
    fn from(f: SeccompFeatures) -> Self {
        let names = |v: Vec<String>| Some(v);
        let mut out = Seccomp::default();
        out.set_enabled(Some(f.enabled))
            .set_actions(Some(f.actions))
            .set_operators(names(f.operators.iter().map(ToString::to_string).collect()))
            .set_archs(Some(f.archs))
            .set_known_flags(names(
                f.known_flags.iter().map(ToString::to_string).collect(),
            ))
            .set_supported_flags(names(
                f.supported_flags.iter().map(ToString::to_string).collect(),
            ));
        out
    }
}

const KNOWN_FLAGS: [(LinuxSeccompFilterFlag, libc::c_ulong); 4] = [
    (
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
        libc::SECCOMP_FILTER_FLAG_TSYNC,
    ),
    (
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        libc::SECCOMP_FILTER_FLAG_LOG,
    ),
    (
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    ),
    (
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
        libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    ),
];

/// Every action of the spec with the kernel return value it maps to.
const ACTIONS: [(LinuxSeccompAction, u32); 9] = [
    (
        LinuxSeccompAction::ScmpActKill,
        libc::SECCOMP_RET_KILL_THREAD,
    ),
    (
        LinuxSeccompAction::ScmpActKillProcess,
        libc::SECCOMP_RET_KILL_PROCESS,
    ),
    (
        LinuxSeccompAction::ScmpActKillThread,
        libc::SECCOMP_RET_KILL_THREAD,
    ),
    (LinuxSeccompAction::ScmpActTrap, libc::SECCOMP_RET_TRAP),
    (LinuxSeccompAction::ScmpActErrno, libc::SECCOMP_RET_ERRNO),
    (
        LinuxSeccompAction::ScmpActNotify,
        libc::SECCOMP_RET_USER_NOTIF,
    ),
    (LinuxSeccompAction::ScmpActTrace, libc::SECCOMP_RET_TRACE),
    (LinuxSeccompAction::ScmpActLog, libc::SECCOMP_RET_LOG),
    (LinuxSeccompAction::ScmpActAllow, libc::SECCOMP_RET_ALLOW),
];

const OPERATORS: [LinuxSeccompOperator; 7] = [
    LinuxSeccompOperator::ScmpCmpNe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
];

/// The kernel refuses WAIT_KILLABLE_RECV without NEW_LISTENER, so probe the pair.
fn probe_bits(flag: libc::c_ulong) -> libc::c_ulong {
    if flag == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
        flag | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
    } else {
        flag
    }
}

/// libseccomp's API level from which it generates `SCMP_ACT_NOTIFY` rules.
const NOTIFY_API_LEVEL: u32 = 5;

/// Probes what is really supported. Probing installs no filter: it asks the
/// kernel with `SECCOMP_GET_ACTION_AVAIL` and with a NULL program (which
/// fails with EFAULT exactly when the flags are accepted).
pub fn supported() -> SeccompFeatures {
    let known_flags: Vec<_> = KNOWN_FLAGS.iter().map(|(f, _)| *f).collect();
    if !sys::seccomp_enabled() {
        return SeccompFeatures {
            enabled: false,
            actions: Vec::new(),
            operators: Vec::new(),
            archs: Vec::new(),
            known_flags,
            supported_flags: Vec::new(),
        };
    }
    let actions = ACTIONS
        .iter()
        .filter(|(action, ret)| {
            sys::action_available(*ret)
                && (*action != LinuxSeccompAction::ScmpActNotify
                    || libseccomp::get_api() >= NOTIFY_API_LEVEL)
        })
        .map(|(action, _)| *action)
        .collect();
    let supported_flags = KNOWN_FLAGS
        .iter()
        .filter(|(_, bits)| sys::filter_flag_known(probe_bits(*bits)))
        .map(|(f, _)| *f)
        .collect();
    SeccompFeatures {
        enabled: true,
        actions,
        operators: OPERATORS.to_vec(),
        archs: ALL_ARCHS
            .iter()
            .copied()
            .filter(|a| arch_supported(*a))
            .collect(),
        known_flags,
        supported_flags,
    }
}

/// The linked libseccomp's version as `major.minor.micro` (runc reports it
/// as the `io.github.seccomp.libseccomp.version` annotation).
#[cfg(test)]
pub fn libseccomp_version() -> Option<String> {
    libseccomp::ScmpVersion::current()
        .ok()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
}
