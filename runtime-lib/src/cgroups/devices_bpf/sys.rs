//! The `bpf(2)` commands the device filter needs. Every `unsafe` block of
//! the device filter lives here.
//!
//! `union bpf_attr` is built as a zeroed, 8-byte aligned byte buffer filled
//! at the uapi offsets of each command's fields. The buffer is larger than
//! any field we use and the kernel accepts a larger size as long as the part
//! it does not know is zero; it also covers kernels (6.17 until the fix)
//! that write `BPF_PROG_QUERY`'s `revision` field whatever size is passed.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Several programs may be attached to one cgroup; all must allow.
pub const BPF_F_ALLOW_MULTI: u32 = 2;

/// Bytes of `union bpf_attr` we pass.
const ATTR_SIZE: usize = 256;
/// Bytes of `struct bpf_prog_info` we ask for (the name ends at 80).
const INFO_SIZE: usize = 256;
/// `bpf_prog_info.name` (`char name[BPF_OBJ_NAME_LEN]`).
const INFO_NAME: std::ops::Range<usize> = 64..80;
/// `BPF_OBJ_NAME_LEN`.
pub const NAME_LEN: usize = 16;
/// How often a load interrupted by a signal (EAGAIN) is retried.
const LOAD_RETRIES: u32 = 30;

/// A zeroed `union bpf_attr` (or `bpf_prog_info`), written by offset.
#[repr(C, align(8))]
struct Buf<const N: usize>([u8; N]);

impl<const N: usize> Buf<N> {
    fn new() -> Self {
        Buf([0; N])
    }

    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }

    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }

    fn get_u32(&self, off: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[off..off + 4]);
        u32::from_ne_bytes(b)
    }
}

/// An address as the kernel's `__aligned_u64` pointer fields take it.
fn addr<T>(p: *const T) -> u64 {
    p as usize as u64
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    // Descriptors are never negative.
    u32::try_from(fd.as_raw_fd()).unwrap_or(u32::MAX)
}

/// `bpf(cmd, attr, sizeof attr)`.
///
/// SAFETY (for callers): every pointer stored in `attr` must point to
/// memory that is valid, for the kernel to read or (where the command
/// writes) write, for the length stored beside it, until this returns.
unsafe fn bpf(cmd: libc::c_long, attr: &mut Buf<ATTR_SIZE>) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed buffer of ATTR_SIZE
    // bytes, which is the size passed; the kernel reads and writes only
    // within it. Pointers inside it are the caller's obligation (above).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.0.as_mut_ptr(),
            ATTR_SIZE as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// Take ownership of a descriptor the kernel just returned.
fn own(rc: libc::c_long) -> io::Result<OwnedFd> {
    let raw = libc::c_int::try_from(rc).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    if raw < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: bpf(2) created this descriptor for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `BPF_PROG_LOAD` of a `BPF_PROG_TYPE_CGROUP_DEVICE` program.
///
/// `insns` are encoded instructions (8 bytes each); `log`, when given,
/// receives the verifier's log (level 1). Retried while the verifier is
/// interrupted by a signal (EAGAIN).
pub fn prog_load(
    insns: &[u8],
    license: &CStr,
    name: &[u8; NAME_LEN],
    mut log: Option<&mut [u8]>,
) -> io::Result<OwnedFd> {
    let count =
        u32::try_from(insns.len() / 8).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let mut attempt = 0;
    loop {
        let mut attr = Buf::<ATTR_SIZE>::new();
        attr.u32(0, BPF_PROG_TYPE_CGROUP_DEVICE)
            .u32(4, count)
            .u64(8, addr(insns.as_ptr()))
            .u64(16, addr(license.as_ptr()));
        if let Some(buf) = log.as_deref_mut() {
            let size = u32::try_from(buf.len()).unwrap_or(u32::MAX >> 8);
            attr.u32(24, 1)
                .u32(28, size)
                .u64(32, addr(buf.as_mut_ptr()));
        }
        attr.0[48..48 + NAME_LEN].copy_from_slice(name);
        // SAFETY: `insns` (count * 8 bytes), the NUL-terminated `license`
        // and the writable `log` buffer (of the size stored) are borrowed
        // for the whole call.
        match unsafe { bpf(BPF_PROG_LOAD, &mut attr) } {
            Ok(fd) => return own(fd),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && attempt < LOAD_RETRIES => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `BPF_PROG_ATTACH` of `prog` to the cgroup `cgroup` as `BPF_CGROUP_DEVICE`.
pub fn prog_attach(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>, flags: u32) -> io::Result<()> {
    let mut attr = Buf::<ATTR_SIZE>::new();
    attr.u32(0, fd_u32(cgroup))
        .u32(4, fd_u32(prog))
        .u32(8, BPF_CGROUP_DEVICE)
        .u32(12, flags);
    // SAFETY: the attributes hold descriptors only, no pointers.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map(drop)
}

/// `BPF_PROG_DETACH` of the attached program `prog` from `cgroup`.
pub fn prog_detach(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = Buf::<ATTR_SIZE>::new();
    attr.u32(0, fd_u32(cgroup))
        .u32(4, fd_u32(prog))
        .u32(8, BPF_CGROUP_DEVICE);
    // SAFETY: the attributes hold descriptors only, no pointers.
    unsafe { bpf(BPF_PROG_DETACH, &mut attr) }.map(drop)
}

/// `BPF_PROG_QUERY`: the ids of the `BPF_CGROUP_DEVICE` programs attached to
/// `cgroup` itself (not inherited ones).
pub fn prog_query(cgroup: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    // 64 is the kernel's limit per cgroup and attach type; grow on ENOSPC
    // anyway, in case that changes.
    let mut capacity: u32 = 64;
    for _ in 0..4 {
        let mut ids = vec![0u32; capacity as usize];
        let mut attr = Buf::<ATTR_SIZE>::new();
        attr.u32(0, fd_u32(cgroup))
            .u32(4, BPF_CGROUP_DEVICE)
            .u64(16, addr(ids.as_mut_ptr()))
            .u32(24, capacity);
        // SAFETY: `ids` has room for `capacity` u32s (the count stored at
        // offset 24) and lives until the call returns.
        let r = unsafe { bpf(BPF_PROG_QUERY, &mut attr) };
        let count = attr.get_u32(24);
        match r {
            Ok(_) => {
                ids.truncate(count.min(capacity) as usize);
                return Ok(ids);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && count > capacity => {
                capacity = count;
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "BPF_PROG_QUERY: the list of programs kept growing",
    ))
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = Buf::<ATTR_SIZE>::new();
    attr.u32(0, id);
    // SAFETY: the attributes hold an id only, no pointers.
    unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }.and_then(own)
}

/// The name a program was loaded with (`BPF_OBJ_GET_INFO_BY_FD`).
pub fn prog_name(prog: BorrowedFd<'_>) -> io::Result<String> {
    let mut info = Buf::<INFO_SIZE>::new();
    let mut attr = Buf::<ATTR_SIZE>::new();
    attr.u32(0, fd_u32(prog))
        .u32(4, INFO_SIZE as u32)
        .u64(8, addr(info.0.as_mut_ptr()));
    // SAFETY: `info` is a zeroed, writable buffer of INFO_SIZE bytes (the
    // length stored at offset 4) that lives until the call returns; its
    // pointer fields are zero, so the kernel follows none of them.
    unsafe { bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    let name = &info.0[INFO_NAME];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}
