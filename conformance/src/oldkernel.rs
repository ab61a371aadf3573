//! Old-kernel emulation: a seccomp filter that makes this (new) kernel answer like
//! an older one, installed before exec'ing a runtime (`husk-conformance oldkernel
//! --profile 5.4 -- husk run ...`). Filters are inherited, so the runtime's children
//! and the container run under it too, as on a real old kernel.
//!
//! What a profile answers (x86_64 numbers; 424 and up are the same on every arch):
//! - ENOSYS for every syscall the kernel did not have yet (5.4 ends at 435 `clone3`,
//!   4.18 at 423);
//! - EINVAL for `unshare`/`setns` with `CLONE_NEWTIME` (5.6) and for `setns` with more
//!   than one namespace flag (a pidfd `setns`, 5.8);
//! - ENOTTY for `FS_IOC_GETFLAGS`/`FS_IOC_SETFLAGS` (tmpfs took file attributes in 6.0; the runtime's
//!   immutable copy lives on tmpfs);
//! - on 4.18 also EINVAL for `F_ADD_SEALS` with `F_SEAL_FUTURE_WRITE` (5.1).
//!
//! The program is classic BPF written here (no libseccomp), so it is plain data a
//! unit test can read.

use std::ffi::OsString;
use std::io;

/// A kernel to emulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Linux 5.4 (Ubuntu 20.04): has pidfd_open and clone3, no openat2/close_range.
    V5_4,
    /// Linux 4.18 (RHEL 8): none of the new mount API, pidfds or clone3.
    V4_18,
}

impl Profile {
    /// Parses "5.4" or "4.18".
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "5.4" => Ok(Profile::V5_4),
            "4.18" => Ok(Profile::V4_18),
            _ => Err(format!("unknown kernel profile {s:?} (known: 5.4, 4.18)")),
        }
    }

    /// The profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::V5_4 => "5.4",
            Profile::V4_18 => "4.18",
        }
    }

    /// The newest syscall number the kernel had (x86_64 / the unified table).
    pub fn last_syscall(self) -> u32 {
        match self {
            Profile::V5_4 => 435,
            Profile::V4_18 => 423,
        }
    }
}

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_BIT: u32 = 0x4000_0000;
const CLONE_NEWTIME: u32 = 0x80;
const FS_IOC_SETFLAGS: u32 = 0x4008_6602;
const FS_IOC_GETFLAGS: u32 = 0x8008_6601;
const F_ADD_SEALS: u32 = 1033;
const F_SEAL_FUTURE_WRITE: u32 = 0x10;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;

// seccomp_data offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg(i: u32) -> u32 {
    16 + 8 * i // low 32 bits on little-endian
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const TAX: u16 = (libc::BPF_MISC | libc::BPF_TAX) as u16;
const SUB_K: u16 = (libc::BPF_ALU | libc::BPF_SUB | libc::BPF_K) as u16;
const AND_X: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_X) as u16;

/// The filter program for `profile` (x86_64; other arches and x32 pass unfiltered).
pub fn program(profile: Profile) -> Vec<libc::sock_filter> {
    program_with(profile, &[])
}

/// [`program`] that also answers ENOSYS for the syscall numbers `extra` (a test's way
/// to take away something every kernel has, e.g. `memfd_create`).
pub fn program_with(profile: Profile, extra: &[u32]) -> Vec<libc::sock_filter> {
    let errno = |e: i32| stmt(RET_K, RET_ERRNO | e as u32);
    let allow = stmt(RET_K, RET_ALLOW);
    let mut p = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        allow,
        stmt(LD_W_ABS, OFF_NR),
        jump(JSET_K, X32_BIT, 0, 1),
        allow,
    ];
    for nr in extra {
        p.extend([jump(JEQ_K, *nr, 0, 1), errno(libc::ENOSYS)]);
    }
    p.extend([
        // Too new: ENOSYS.
        jump(JGT_K, profile.last_syscall(), 0, 1),
        errno(libc::ENOSYS),
    ]);
    // setns: CLONE_NEWTIME, or more than one flag (flags & (flags - 1) != 0) -> EINVAL.
    p.extend([
        jump(JEQ_K, libc::SYS_setns as u32, 0, 8),
        stmt(LD_W_ABS, off_arg(1)),
        jump(JSET_K, CLONE_NEWTIME, 4, 0),
        stmt(TAX, 0),
        stmt(SUB_K, 1),
        stmt(AND_X, 0),
        jump(JEQ_K, 0, 1, 0),
        errno(libc::EINVAL),
        allow,
    ]);
    // unshare(CLONE_NEWTIME) -> EINVAL.
    p.extend([
        jump(JEQ_K, libc::SYS_unshare as u32, 0, 4),
        stmt(LD_W_ABS, off_arg(0)),
        jump(JSET_K, CLONE_NEWTIME, 0, 1),
        errno(libc::EINVAL),
        allow,
    ]);
    // ioctl(FS_IOC_[GS]ETFLAGS) -> ENOTTY (tmpfs before 6.0; also on other filesystems
    // here, which is harmless for a runtime that only asks tmpfs).
    p.extend([
        jump(JEQ_K, libc::SYS_ioctl as u32, 0, 5),
        stmt(LD_W_ABS, off_arg(1)),
        jump(JEQ_K, FS_IOC_SETFLAGS, 1, 0),
        jump(JEQ_K, FS_IOC_GETFLAGS, 0, 1),
        errno(libc::ENOTTY),
        allow,
    ]);
    if profile == Profile::V4_18 {
        // fcntl(F_ADD_SEALS, ... | F_SEAL_FUTURE_WRITE) -> EINVAL.
        p.extend([
            jump(JEQ_K, libc::SYS_fcntl as u32, 0, 6),
            stmt(LD_W_ABS, off_arg(1)),
            jump(JEQ_K, F_ADD_SEALS, 0, 3),
            stmt(LD_W_ABS, off_arg(2)),
            jump(JSET_K, F_SEAL_FUTURE_WRITE, 0, 1),
            errno(libc::EINVAL),
            allow,
        ]);
    }
    p.push(allow);
    p
}

/// Installs the profile's filter on the calling thread (and its future children).
/// Needs CAP_SYS_ADMIN (we do not set no_new_privs: that would change what the
/// runtime under test sees).
pub fn install(profile: Profile) -> io::Result<()> {
    install_with(profile, &[])
}

/// [`install`] with extra ENOSYS syscall numbers (see [`program_with`]).
pub fn install_with(profile: Profile, extra: &[u32]) -> io::Result<()> {
    let prog = program_with(profile, extra);
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at `prog`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Installs the filter and execs `argv` (searching PATH); returns only on failure.
pub fn exec_under(profile: Profile, extra: &[u32], argv: &[OsString]) -> io::Error {
    use std::os::unix::process::CommandExt;
    let Some((prog, args)) = argv.split_first() else {
        return io::Error::new(io::ErrorKind::InvalidInput, "no command given");
    };
    if let Err(e) = install_with(profile, extra) {
        return io::Error::new(
            e.kind(),
            format!("install the {} filter: {e}", profile.name()),
        );
    }
    std::process::Command::new(prog)
        .args(args)
        .env("HUSK_EMULATED_KERNEL", profile.name())
        .exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` in a forked child under `profile`; returns the child's exit code.
    fn in_child(profile: Profile, f: fn() -> i32) -> i32 {
        // SAFETY: the child only makes raw syscalls and exits.
        match unsafe { libc::fork() } {
            0 => {
                let code = if install(profile).is_ok() { f() } else { 99 };
                // SAFETY: _exit is always safe.
                unsafe { libc::_exit(code) }
            }
            pid => {
                let mut st = 0;
                // SAFETY: waits for our own child.
                unsafe { libc::waitpid(pid, &mut st, 0) };
                libc::WEXITSTATUS(st)
            }
        }
    }

    fn errno_of(rc: libc::c_long) -> i32 {
        if rc < 0 {
            io::Error::last_os_error().raw_os_error().unwrap_or(0)
        } else {
            0
        }
    }

    #[test]
    fn profiles_parse() {
        assert_eq!(Profile::parse("5.4"), Ok(Profile::V5_4));
        assert_eq!(Profile::parse("4.18"), Ok(Profile::V4_18));
        assert!(Profile::parse("3.10").unwrap_err().contains("5.4, 4.18"));
    }

    #[test]
    fn new_syscalls_answer_enosys() {
        if unsafe { libc::geteuid() } != 0 {
            return; // installing a filter without no_new_privs needs CAP_SYS_ADMIN
        }
        // openat2 is past 5.4; pidfd_open is in 5.4 but not in 4.18.
        let openat2 = || errno_of(unsafe { libc::syscall(libc::SYS_openat2, -1, 0, 0, 0) });
        assert_eq!(in_child(Profile::V5_4, openat2), libc::ENOSYS);
        let pidfd = || errno_of(unsafe { libc::syscall(libc::SYS_pidfd_open, 1, 0) });
        assert_eq!(in_child(Profile::V5_4, pidfd), 0);
        assert_eq!(in_child(Profile::V4_18, pidfd), libc::ENOSYS);
        // setns with two flags on a bad fd: EINVAL from the filter before EBADF.
        let setns2 = || errno_of(unsafe { libc::syscall(libc::SYS_setns, -1, 0x2002_0000) });
        assert_eq!(in_child(Profile::V5_4, setns2), libc::EINVAL);
        let setns1 = || errno_of(unsafe { libc::syscall(libc::SYS_setns, -1, 0x2000_0000) });
        assert_eq!(in_child(Profile::V5_4, setns1), libc::EBADF);
        let setflags =
            || errno_of(unsafe { libc::syscall(libc::SYS_ioctl, -1, FS_IOC_SETFLAGS, 0) });
        assert_eq!(in_child(Profile::V4_18, setflags), libc::ENOTTY);
    }
}
