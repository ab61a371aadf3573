//! Process-attribute syscalls `nix` lacks: sched_setattr, ioprio_set,
//! personality, set_mempolicy, sched_setaffinity (with an arbitrary-size mask).

use std::io;

use super::check;

/// The kernel's `struct sched_attr` fields (see sched_setattr(2)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchedAttr {
    /// SCHED_* policy.
    pub policy: u32,
    /// SCHED_FLAG_* bits.
    pub flags: u64,
    /// Nice value (SCHED_OTHER, SCHED_BATCH).
    pub nice: i32,
    /// Static priority (SCHED_FIFO, SCHED_RR).
    pub priority: u32,
    /// SCHED_DEADLINE runtime, ns.
    pub runtime: u64,
    /// SCHED_DEADLINE deadline, ns.
    pub deadline: u64,
    /// SCHED_DEADLINE period, ns.
    pub period: u64,
}

/// `sched_setattr(0, attr, 0)`: the calling thread's scheduling policy and parameters.
pub fn sched_setattr(a: &SchedAttr) -> io::Result<()> {
    let attr = libc::sched_attr {
        size: std::mem::size_of::<libc::sched_attr>() as u32,
        sched_policy: a.policy,
        sched_flags: a.flags,
        sched_nice: a.nice,
        sched_priority: a.priority,
        sched_runtime: a.runtime,
        sched_deadline: a.deadline,
        sched_period: a.period,
    };
    // SAFETY: attr outlives the call; its size field tells the kernel how much to read.
    check(unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            &attr as *const libc::sched_attr,
            0,
        )
    })
    .map(|_| ())
}

/// `ioprio_set(IOPRIO_WHO_PGRP, 0, prio)`: the I/O priority of the calling process's
/// process group, as runc does (the runtime-spec applies it to the process group).
pub fn ioprio_set_pgrp(prio: u32) -> io::Result<()> {
    const IOPRIO_WHO_PGRP: libc::c_int = 2;
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PGRP, 0, prio) }).map(|_| ())
}

/// `personality(persona)`.
pub fn personality(persona: u64) -> io::Result<()> {
    // SAFETY: integer argument only.
    let r = unsafe { libc::personality(persona as libc::c_ulong) };
    check(r as libc::c_long).map(|_| ())
}

/// `set_mempolicy(mode, nodemask, maxnode)`; an empty mask passes NULL.
pub fn set_mempolicy(mode: i32, mask: &[u64]) -> io::Result<()> {
    let (ptr, maxnode) = if mask.is_empty() {
        (std::ptr::null(), 0usize)
    } else {
        // maxnode is the number of bits the kernel reads, plus one (set_mempolicy(2)).
        (mask.as_ptr(), mask.len() * 64 + 1)
    };
    // SAFETY: mask is valid for mask.len() words, which covers maxnode - 1 bits.
    check(unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) }).map(|_| ())
}

/// `sched_setaffinity(pid, mask)`: the CPU affinity of thread `pid` (0: the caller).
pub fn sched_setaffinity(pid: i32, mask: &[u64]) -> io::Result<()> {
    // SAFETY: mask is valid for its length in bytes.
    check(unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            pid,
            std::mem::size_of_val(mask),
            mask.as_ptr(),
        )
    })
    .map(|_| ())
}
