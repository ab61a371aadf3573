//! The `-ENOSYS` stub runc puts in front of a profile: a syscall newer than the
//! newest one the profile names (per architecture) fails with `ENOSYS` instead of
//! getting the default action. A profile written before `clone3`, `faccessat2` or
//! `openat2` existed would otherwise answer them with its default (usually EPERM),
//! and libc only falls back to the older syscall on ENOSYS.
//!
//! Planned in [`last_syscalls`] and [`stub`] (pure); prepended to libseccomp's
//! program by [`super::SeccompPlan::compile`]. Conditional jumps of classic BPF
//! are relative and forward, so the program after the stub runs unchanged.

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::Arch;

use super::types::{scmp_arch, Action, SeccompPlan, SkipReason};

/// `AUDIT_ARCH_*` of the architectures the stub knows (others get no stub).
const AUDIT_X86_64: u32 = 0xC000_003E;
const AUDIT_I386: u32 = 0x4000_0003;
const AUDIT_AARCH64: u32 = 0xC000_00B7;
const AUDIT_ARM: u32 = 0x4000_0028;
/// x32 syscalls come with the x86_64 audit arch and this bit in their number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The newest syscall number the profile names on one audit architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchLast {
    /// `AUDIT_ARCH_*`.
    pub audit: u32,
    /// Highest number of the architecture's own syscalls.
    pub last: Option<u32>,
    /// On x86_64: highest x32 number (with [`X32_SYSCALL_BIT`]) when x32 is in the filter.
    pub last_x32: Option<u32>,
}

/// Whether the profile gets the stub: not when its default already lets
/// syscalls run (allow, log; trace too: a tracer handles new syscalls itself) or
/// already answers ENOSYS (runc's rules).
pub fn wanted(plan: &SeccompPlan) -> bool {
    match plan.default_action {
        Action::Allow | Action::Log | Action::Trace(_) => false,
        Action::Errno(e) => i32::from(e) != libc::ENOSYS,
        _ => true,
    }
}

fn audit_of(arch: ScmpArch) -> Option<u32> {
    Some(match arch {
        ScmpArch::X8664 | ScmpArch::X32 => AUDIT_X86_64,
        ScmpArch::X86 => AUDIT_I386,
        ScmpArch::Aarch64 => AUDIT_AARCH64,
        ScmpArch::Arm => AUDIT_ARM,
        _ => return None,
    })
}

/// Every syscall name the profile gives an action (rules, and names whose action
/// equals the default and so made no rule), resolved on each architecture of the
/// filter (the native one and `architectures`), reduced to the highest number.
pub fn last_syscalls(plan: &SeccompPlan) -> Vec<ArchLast> {
    let names: Vec<&str> = plan
        .rules
        .iter()
        .map(|r| r.name.as_str())
        .chain(
            plan.skipped
                .iter()
                .filter(|s| s.reason == SkipReason::SameAsDefault)
                .map(|s| s.name.as_str()),
        )
        .collect();
    let mut arches = vec![ScmpArch::native()];
    for a in &plan.architectures {
        let t = scmp_arch(*a);
        if !arches.contains(&t) && *a != Arch::ScmpArchNative {
            arches.push(t);
        }
    }
    let highest = |arch: ScmpArch| {
        names
            .iter()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(ScmpSyscall::as_raw_syscall)
            .filter(|nr| *nr >= 0)
            .map(|nr| nr as u32)
            .max()
    };
    let mut out: Vec<ArchLast> = Vec::new();
    for arch in arches {
        let Some(audit) = audit_of(arch) else {
            continue;
        };
        let last = highest(arch);
        let entry = match out.iter_mut().find(|e| e.audit == audit) {
            Some(e) => e,
            None => {
                out.push(ArchLast {
                    audit,
                    last: None,
                    last_x32: None,
                });
                let n = out.len() - 1;
                &mut out[n]
            }
        };
        if arch == ScmpArch::X32 {
            entry.last_x32 = last;
        } else {
            entry.last = last;
        }
    }
    out.retain(|e| e.last.is_some() || e.last_x32.is_some());
    out
}

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// `offsetof(struct seccomp_data, nr)` and `arch`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// A jump target inside the stub, resolved to an offset once its size is known.
#[derive(Clone, Copy)]
enum To {
    Next,
    Enosys,
    Program,
    Skip(u8),
}

/// The stub's instructions; it ends with `ret ENOSYS`, and the profile's
/// program follows it. Empty when no architecture has a last syscall.
pub fn stub(lasts: &[ArchLast]) -> Vec<libc::sock_filter> {
    if lasts.is_empty() {
        return Vec::new();
    }
    // (code, k, jt, jf) with symbolic targets first.
    let mut ops: Vec<(u16, u32, To, To)> = vec![(LD_W_ABS, OFF_ARCH, To::Next, To::Next)];
    for a in lasts {
        let mut body: Vec<(u16, u32, To, To)> = vec![(LD_W_ABS, OFF_NR, To::Next, To::Next)];
        let native = |last: Option<u32>| match last {
            Some(l) => (JGT_K, l, To::Enosys, To::Program),
            None => (JA, 0, To::Program, To::Program),
        };
        if a.audit == AUDIT_X86_64 {
            // x32 numbers carry a high bit: compare them with x32's last.
            body.push((JSET_K, X32_SYSCALL_BIT, To::Skip(1), To::Next));
            body.push(native(a.last));
            body.push(native(a.last_x32));
        } else {
            body.push(native(a.last));
        }
        let skip = u8::try_from(body.len()).unwrap_or(u8::MAX);
        ops.push((JEQ_K, a.audit, To::Next, To::Skip(skip)));
        ops.extend(body);
    }
    ops.push((JA, 0, To::Program, To::Program));
    ops.push((RET_K, RET_ENOSYS, To::Next, To::Next));
    let enosys = ops.len() - 1;
    let program = ops.len();
    let off = |i: usize, t: To| -> u32 {
        match t {
            To::Next => 0,
            To::Skip(n) => u32::from(n),
            To::Enosys => (enosys - i - 1) as u32,
            To::Program => (program - i - 1) as u32,
        }
    };
    ops.iter()
        .enumerate()
        .map(|(i, &(code, k, jt, jf))| {
            if code == JA {
                libc::sock_filter {
                    code,
                    jt: 0,
                    jf: 0,
                    k: off(i, jt),
                }
            } else {
                // Stubs are a few dozen instructions: relative jumps fit in u8.
                libc::sock_filter {
                    code,
                    jt: off(i, jt) as u8,
                    jf: off(i, jf) as u8,
                    k,
                }
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "enosys_tests.rs"]
mod tests;
