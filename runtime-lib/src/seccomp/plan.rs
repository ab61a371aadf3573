//! `linux.seccomp` -> [`SeccompPlan`]: validation and conversion, with no
//! effect on the process (libseccomp is only asked to resolve names and
//! architectures).

use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::error::SeccompError;
use super::types::{
    scmp_arch, Action, ArgCondition, CompareOp, FilterFlags, ListenerPlan, RulePlan, SeccompPlan,
    SkipReason, SkippedSyscall,
};

const FIELD: &str = "linux.seccomp";

/// Syscalls take at most six arguments.
const MAX_ARGS: usize = 6;

/// `sizeof(sockaddr_un.sun_path)` minus the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// The errno used when `errnoRet`/`defaultErrnoRet` is absent (runtime-spec).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // EPERM is 1.
const DEFAULT_ERRNO: u16 = libc::EPERM as u16;

/// Validates `linux.seccomp` and converts it into a [`SeccompPlan`].
///
/// Follows runc where the spec leaves room: unknown syscall names are skipped
/// (recorded in [`SeccompPlan::skipped`]), rules whose action equals the
/// default action are dropped, `SCMP_ACT_KILL` means kill-thread, a rule
/// testing one argument index several times becomes one rule per test (OR),
/// and `SCMP_ACT_NOTIFY` is refused as the default action and for `write`
/// (the init still needs `write` to hand the fd over before anyone answers).
///
/// # Errors
///
/// [`SeccompError::Invalid`] naming the offending field, e.g.
/// `linux.seccomp.syscalls[3].errnoRet` for an `errnoRet` on an action that
/// has no return data, or `linux.seccomp.architectures[1]` for an
/// architecture the linked libseccomp lacks.
pub fn plan(s: &LinuxSeccomp) -> Result<SeccompPlan, SeccompError> {
    let default_action = convert_action(
        s.default_action(),
        s.default_errno_ret(),
        &format!("{FIELD}.defaultAction"),
        &format!("{FIELD}.defaultErrnoRet"),
    )?;
    if default_action == Action::Notify {
        return Err(SeccompError::invalid(
            format!("{FIELD}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be used as the default action",
        ));
    }

    let architectures = plan_architectures(s.architectures().as_deref().unwrap_or_default())?;
    let flags = plan_flags(s.flags().as_deref().unwrap_or_default());

    let mut rules = Vec::new();
    let mut skipped = Vec::new();
    let mut first_notify: Option<String> = None;
    for (i, call) in s
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let field = format!("{FIELD}.syscalls[{i}]");
        let action = plan_syscall(call, &field, default_action, &mut rules, &mut skipped)?;
        if action == Action::Notify && first_notify.is_none() {
            first_notify = Some(field);
        }
    }

    let listener = plan_listener(s, first_notify.as_deref())?;
    Ok(SeccompPlan {
        default_action,
        architectures,
        flags,
        rules,
        skipped,
        listener,
    })
}

/// Resolves an action and its `errnoRet`; `errnoRet` is only meaningful for
/// ERRNO and TRACE, and the spec requires an error for any other action.
fn convert_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    action_field: &str,
    errno_field: &str,
) -> Result<Action, SeccompError> {
    let takes_data = matches!(
        action,
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
    );
    if errno_ret.is_some() && !takes_data {
        return Err(SeccompError::invalid(
            errno_field,
            format!(
                "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {action} ({action_field})"
            ),
        ));
    }
    let data = match errno_ret {
        None => DEFAULT_ERRNO,
        Some(v) => u16::try_from(v).map_err(|_| {
            // The kernel keeps 16 bits of return data (SECCOMP_RET_DATA).
            SeccompError::invalid(errno_field, format!("{v} does not fit in 16 bits"))
        })?,
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActErrno => Action::Errno(data),
        LinuxSeccompAction::ScmpActTrace => Action::Trace(data),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            Action::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => Action::KillProcess,
        LinuxSeccompAction::ScmpActTrap => Action::Trap,
        LinuxSeccompAction::ScmpActAllow => Action::Allow,
        LinuxSeccompAction::ScmpActLog => Action::Log,
        LinuxSeccompAction::ScmpActNotify => Action::Notify,
    })
}

/// Checks that libseccomp can put each architecture in a filter with the
/// native one; drops duplicates and `SCMP_ARCH_NATIVE` (always present).
fn plan_architectures(archs: &[Arch]) -> Result<Vec<Arch>, SeccompError> {
    let mut out: Vec<Arch> = Vec::with_capacity(archs.len());
    for (i, &arch) in archs.iter().enumerate() {
        if arch == Arch::ScmpArchNative || out.contains(&arch) {
            continue;
        }
        if !arch_supported(arch) {
            let reason = if arch_known(arch) {
                // libseccomp keeps one byte order per filter.
                format!("{arch} cannot share a filter with the native architecture (byte order differs)")
            } else {
                format!("{arch} is not supported by the installed libseccomp")
            };
            return Err(SeccompError::invalid(
                format!("{FIELD}.architectures[{i}]"),
                reason,
            ));
        }
        out.push(arch);
    }
    Ok(out)
}

/// Whether libseccomp accepts `arch` in a filter next to the native
/// architecture (the Rust binding knows architectures that an older C
/// library does not, and a filter has a single byte order).
pub(super) fn arch_supported(arch: Arch) -> bool {
    let token = scmp_arch(arch);
    let Ok(mut ctx) = ScmpFilterContext::new(ScmpAction::Allow) else {
        return false;
    };
    matches!(ctx.is_arch_present(token), Ok(true)) || ctx.add_arch(token).is_ok()
}

/// Whether the linked libseccomp knows `arch` at all.
fn arch_known(arch: Arch) -> bool {
    let token = scmp_arch(arch);
    let Ok(mut ctx) = ScmpFilterContext::new(ScmpAction::Allow) else {
        return false;
    };
    // Alone in a filter, only the library's own support matters.
    ctx.remove_arch(ScmpArch::Native).is_ok() && ctx.add_arch(token).is_ok()
}

fn plan_flags(flags: &[LinuxSeccompFilterFlag]) -> FilterFlags {
    let mut out = FilterFlags::default();
    for flag in flags {
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => out.tsync = true,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => out.log = true,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => out.spec_allow = true,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                out.wait_killable_recv = true;
            }
        }
    }
    out
}

/// Converts one `syscalls[i]` entry, appending its rules; returns its action.
fn plan_syscall(
    call: &LinuxSyscall,
    field: &str,
    default_action: Action,
    rules: &mut Vec<RulePlan>,
    skipped: &mut Vec<SkippedSyscall>,
) -> Result<Action, SeccompError> {
    let action = convert_action(
        call.action(),
        call.errno_ret(),
        &format!("{field}.action"),
        &format!("{field}.errnoRet"),
    )?;
    let condition_sets = plan_conditions(call.args().as_deref().unwrap_or_default(), field)?;

    if call.names().is_empty() {
        return Err(SeccompError::invalid(
            format!("{field}.names"),
            "must contain at least one syscall name",
        ));
    }
    for (j, name) in call.names().iter().enumerate() {
        let name_field = format!("{field}.names[{j}]");
        if name.is_empty() {
            return Err(SeccompError::invalid(name_field, "empty syscall name"));
        }
        if action == Action::Notify && name == "write" {
            return Err(SeccompError::invalid(
                name_field,
                "SCMP_ACT_NOTIFY cannot be used for the write syscall",
            ));
        }
        let skip = |reason| SkippedSyscall {
            field: name_field.clone(),
            name: name.clone(),
            reason,
        };
        let Ok(nr) = ScmpSyscall::from_name(name) else {
            skipped.push(skip(SkipReason::UnknownSyscall));
            continue;
        };
        if action == default_action {
            skipped.push(skip(SkipReason::SameAsDefault));
            continue;
        }
        for conditions in &condition_sets {
            rules.push(RulePlan {
                field: name_field.clone(),
                name: name.clone(),
                nr: nr.as_raw_syscall(),
                action,
                conditions: conditions.clone(),
            });
        }
    }
    Ok(action)
}

/// Converts `args` into the condition sets of the rules to add: one set with
/// every test, or (when an index is tested more than once, which libseccomp
/// cannot AND within one rule) one single-test set per entry, as runc does.
fn plan_conditions(
    args: &[LinuxSeccompArg],
    field: &str,
) -> Result<Vec<Vec<ArgCondition>>, SeccompError> {
    let mut conditions = Vec::with_capacity(args.len());
    let mut seen = [false; MAX_ARGS];
    let mut repeated = false;
    for (k, arg) in args.iter().enumerate() {
        let index = arg.index();
        if index >= MAX_ARGS {
            return Err(SeccompError::invalid(
                format!("{field}.args[{k}].index"),
                format!(
                    "{index} is out of range: syscalls have arguments 0 to {}",
                    MAX_ARGS - 1
                ),
            ));
        }
        repeated |= std::mem::replace(&mut seen[index], true);
        conditions.push(ArgCondition {
            // Lossless: index < MAX_ARGS was checked above.
            index: u8::try_from(index).unwrap_or(u8::MAX),
            op: convert_op(arg.op()),
            value: arg.value(),
            value_two: arg.value_two().unwrap_or(0),
        });
    }
    if repeated {
        Ok(conditions.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![conditions])
    }
}

pub(super) fn convert_op(op: LinuxSeccompOperator) -> CompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => CompareOp::Ne,
        LinuxSeccompOperator::ScmpCmpLt => CompareOp::Lt,
        LinuxSeccompOperator::ScmpCmpLe => CompareOp::Le,
        LinuxSeccompOperator::ScmpCmpEq => CompareOp::Eq,
        LinuxSeccompOperator::ScmpCmpGe => CompareOp::Ge,
        LinuxSeccompOperator::ScmpCmpGt => CompareOp::Gt,
        LinuxSeccompOperator::ScmpCmpMaskedEq => CompareOp::MaskedEq,
    }
}

/// Validates `listenerPath`/`listenerMetadata`; `notify_field` names the
/// first syscall entry using `SCMP_ACT_NOTIFY`, if any.
fn plan_listener(
    s: &LinuxSeccomp,
    notify_field: Option<&str>,
) -> Result<Option<ListenerPlan>, SeccompError> {
    let path = s.listener_path().as_ref();
    let metadata = s.listener_metadata().as_deref();
    if metadata.is_some() && path.is_none() {
        return Err(SeccompError::invalid(
            format!("{FIELD}.listenerMetadata"),
            "must not be set without linux.seccomp.listenerPath",
        ));
    }
    // The spec ignores the listener when nothing notifies.
    let Some(notify_field) = notify_field else {
        return Ok(None);
    };
    let Some(path) = path else {
        return Err(SeccompError::invalid(
            format!("{notify_field}.action"),
            "SCMP_ACT_NOTIFY requires linux.seccomp.listenerPath",
        ));
    };
    let len = path.as_os_str().len();
    let problem = if len == 0 {
        Some("must not be empty".to_string())
    } else if len > MAX_SOCKET_PATH {
        Some(format!(
            "{len} bytes is longer than a unix socket path can be ({MAX_SOCKET_PATH})"
        ))
    } else if path.as_os_str().as_encoded_bytes().contains(&0) {
        Some("must not contain a NUL byte".to_string())
    } else {
        None
    };
    if let Some(reason) = problem {
        return Err(SeccompError::invalid(
            format!("{FIELD}.listenerPath"),
            reason,
        ));
    }
    Ok(Some(ListenerPlan {
        path: path.clone(),
        metadata: metadata.unwrap_or_default().to_string(),
    }))
}
