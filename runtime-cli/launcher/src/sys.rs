//! The few x86_64 Linux syscalls the launcher makes, without libc.

use core::arch::asm;

const SYS_WRITE: i64 = 1;
const SYS_OPEN: i64 = 2;
const SYS_CLOSE: i64 = 3;
const SYS_STAT: i64 = 4;
const SYS_IOCTL: i64 = 16;
const SYS_EXECVE: i64 = 59;
const SYS_READLINK: i64 = 89;
const SYS_EXIT_GROUP: i64 = 231;

const O_RDONLY_CLOEXEC: i64 = 0o2_000_000;
const FS_IOC_GETFLAGS: i64 = 0x8008_6601;
const FS_IMMUTABLE_FL: i64 = 0x10;

/// `struct stat` of x86_64 (asm/stat.h).
#[repr(C)]
#[derive(Default)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    _pad0: u32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
    _unused: [i64; 3],
}

/// A raw syscall with up to three arguments; returns the kernel's answer (-errno on error).
fn syscall3(nr: i64, a: i64, b: i64, c: i64) -> i64 {
    let ret: i64;
    // SAFETY: the callers below pass pointers to live buffers of the sizes the
    // syscall expects; `syscall` clobbers only rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") nr => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// readlink(2) into `buf`; the target without NUL.
pub fn readlink<'a>(path: &[u8], buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let n = syscall3(
        SYS_READLINK,
        path.as_ptr() as i64,
        buf.as_mut_ptr() as i64,
        buf.len() as i64,
    );
    (n > 0 && (n as usize) < buf.len()).then(|| &buf[..n as usize])
}

/// stat(2) of a NUL-terminated path.
pub fn stat(path: &[u8]) -> Option<Stat> {
    let mut st = Stat::default();
    let r = syscall3(
        SYS_STAT,
        path.as_ptr() as i64,
        &mut st as *mut Stat as i64,
        0,
    );
    (r == 0).then_some(st)
}

/// Whether the file at a NUL-terminated path carries the immutable attribute.
pub fn is_immutable(path: &[u8]) -> bool {
    let fd = syscall3(SYS_OPEN, path.as_ptr() as i64, O_RDONLY_CLOEXEC, 0);
    if fd < 0 {
        return false;
    }
    let mut flags: i64 = 0;
    let r = syscall3(
        SYS_IOCTL,
        fd,
        FS_IOC_GETFLAGS,
        &mut flags as *mut i64 as i64,
    );
    syscall3(SYS_CLOSE, fd, 0, 0);
    r == 0 && flags & FS_IMMUTABLE_FL != 0
}

/// execve(2); returns the errno when it fails.
pub fn execve(path: &[u8], argv: *const *const u8, envp: *const *const u8) -> i64 {
    -syscall3(SYS_EXECVE, path.as_ptr() as i64, argv as i64, envp as i64)
}

/// write(2) of all of `buf` (best effort: the launcher is about to exit).
pub fn write(fd: i64, mut buf: &[u8]) {
    while !buf.is_empty() {
        let n = syscall3(SYS_WRITE, fd, buf.as_ptr() as i64, buf.len() as i64);
        if n <= 0 {
            return;
        }
        buf = &buf[n as usize..];
    }
}

/// exit_group(2).
pub fn exit(code: i64) -> ! {
    // SAFETY: exit_group does not return.
    unsafe {
        asm!("syscall", in("rax") SYS_EXIT_GROUP, in("rdi") code, options(noreturn, nostack));
    }
}

/// The message of the errnos an exec of the CLI meets; others by number.
pub fn strerror(errno: i64) -> &'static [u8] {
    match errno {
        2 => b"No such file or directory",
        8 => b"Exec format error",
        13 => b"Permission denied",
        20 => b"Not a directory",
        40 => b"Too many levels of symbolic links",
        _ => b"exec failed",
    }
}

// Without libc the compiler's calls for copying and filling memory land here (the
// launcher copies a few KiB at most, so the simplest string instructions do).

/// memcpy(3).
///
/// # Safety
/// `dest` and `src` are valid for `n` bytes and do not overlap.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller passes non-overlapping buffers of `n` bytes (memcpy's
    // contract); the direction flag is clear per the ABI.
    unsafe {
        asm!("rep movsb", inout("rdi") dest => _, inout("rsi") src => _, inout("rcx") n => _,
             options(nostack, preserves_flags));
    }
    dest
}

/// memset(3).
///
/// # Safety
/// `dest` is valid for writes of `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller passes a buffer of `n` bytes (memset's contract).
    unsafe {
        asm!("rep stosb", inout("rdi") dest => _, inout("rcx") n => _, in("al") c as u8,
             options(nostack, preserves_flags));
    }
    dest
}
