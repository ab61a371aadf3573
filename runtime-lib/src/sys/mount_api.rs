//! The new mount API calls idmapped mounts need: open_tree, mount_setattr with a
//! user namespace, move_mount.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::{check, cstr};

const OPEN_TREE_CLONE: u32 = 1;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
/// MOUNT_ATTR_IDMAP.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC [| AT_RECURSIVE])`:
/// a detached copy of the mount at `path` (of its whole subtree with `recursive`).
pub fn open_tree_clone(path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let c = cstr(path)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: c outlives the call.
    let fd =
        check(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) })?;
    // SAFETY: the kernel returned a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {MOUNT_ATTR_IDMAP, userns})`:
/// makes the detached mount `fd` idmapped with the mappings of the user namespace `userns`.
pub fn mount_setattr_idmap(
    fd: BorrowedFd<'_>,
    userns: BorrowedFd<'_>,
    recursive: bool,
) -> io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    super::mount_setattr_raw(fd, recursive, attr)
}

/// `move_mount(from, "", to, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attaches the detached
/// mount `from` on top of the directory or file `to`.
pub fn move_mount_onto(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: integer arguments and empty C strings only.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(|_| ())
}

/// Attaches the detached mount `from` on `to`, then closes `from` (it is taken by
/// value: the fd the runtime opened before the clone for one idmapped mount).
pub fn move_mount_inherited(from: OwnedFd, to: BorrowedFd<'_>) -> io::Result<()> {
    move_mount_onto(std::os::fd::AsFd::as_fd(&from), to)
}

/// Whether the detached mount `fd` (inherited from the runtime, as for
/// [`move_mount_inherited`]) is a directory; false if it cannot be examined.
pub fn inherited_is_dir(fd: RawFd) -> bool {
    // SAFETY: fstat only reads the fd and writes the plain-data struct it is given.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out pointer; a bad fd only yields EBADF.
    let rc = unsafe { libc::fstat(fd, &mut st) };
    rc == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR
}
