//! The userspace resolver used when the kernel has no `openat2` (before 5.6): the same
//! guarantees as the `RESOLVE_*` flags husk passes, one component at a time.
//!
//! Each component is opened with `O_PATH|O_NOFOLLOW` below the previous one, so the
//! kernel never follows a link for us. A symlink is read and its target's components
//! are pushed in front of the rest: with `RESOLVE_IN_ROOT` an absolute target restarts
//! at the root fd and `..` at the root stays there; with `RESOLVE_BENEATH` either is
//! `EXDEV`; `RESOLVE_NO_SYMLINKS` makes any link `ELOOP`; `RESOLVE_NO_MAGICLINKS`
//! refuses procfs links that are not `self`/`thread-self`; `RESOLVE_NO_XDEV` refuses a
//! step onto another filesystem. More than [`MAX_LINKS`] links is `ELOOP`, as the kernel.
//! A walk that stepped up with `..` is checked at the end to still be below the root
//! (a directory renamed out of the root mid-walk cannot carry the lookup out).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The kernel's limit on symlinks in one lookup (MAXSYMLINKS).
pub const MAX_LINKS: u32 = 40;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// One step of a walk: what a component asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `..`.
    Up,
    /// A name to look up.
    Name(OsString),
}

/// Splits `path` into steps (`.` and empty components dropped), and whether it is absolute.
pub fn steps(path: &[u8]) -> (bool, VecDeque<Step>) {
    let abs = path.first() == Some(&b'/');
    let out = path
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| {
            if c == b".." {
                Step::Up
            } else {
                Step::Name(OsStr::from_bytes(c).to_os_string())
            }
        })
        .collect();
    (abs, out)
}

/// Whether a procfs link target is one a "no magic links" lookup may follow:
/// `self` -> `<pid>` and `thread-self` -> `<pid>/task/<tid>` are plain symlinks.
pub fn plain_proc_target(target: &[u8]) -> bool {
    let parts: Vec<&[u8]> = target.split(|b| *b == b'/').collect();
    let num = |p: &[u8]| !p.is_empty() && p.iter().all(u8::is_ascii_digit);
    match parts.as_slice() {
        [pid] => num(pid),
        [pid, task, tid] => num(pid) && *task == b"task" && num(tid),
        _ => false,
    }
}

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

fn openat(dir: BorrowedFd<'_>, name: &OsStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = std::ffi::CString::new(name.as_bytes()).map_err(|_| err(libc::EINVAL))?;
    loop {
        // SAFETY: c outlives the call; a new fd is returned or -1.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                c.as_ptr(),
                flags | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel returned a new fd that we own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    nix::sys::stat::fstat(fd).map_err(io::Error::from)
}

fn same(a: &libc::stat, b: &libc::stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// Resolves `path` below `dirfd` with the `resolve` restrictions (`RESOLVE_*`) and opens
/// the result with `flags` (`O_CREAT` is not supported: husk creates with `*at` calls).
pub fn open(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    if resolve == 0 {
        let p = path.as_os_str();
        return openat(
            dirfd,
            if p.is_empty() { OsStr::new(".") } else { p },
            flags,
            mode,
        );
    }
    let in_root = resolve & libc::RESOLVE_IN_ROOT != 0;
    let beneath = resolve & libc::RESOLVE_BENEATH != 0;
    let no_links = resolve & libc::RESOLVE_NO_SYMLINKS != 0;
    let no_magic = resolve & libc::RESOLVE_NO_MAGICLINKS != 0;
    let no_xdev = resolve & libc::RESOLVE_NO_XDEV != 0;
    let scoped = in_root || beneath;

    let root = openat(dirfd, OsStr::new("."), libc::O_PATH | libc::O_DIRECTORY, 0)?;
    let root_st = fstat(root.as_fd())?;
    let (abs, mut rest) = steps(path.as_os_str().as_bytes());
    let start = |absolute: bool| -> io::Result<OwnedFd> {
        if absolute && !scoped {
            openat(dirfd, OsStr::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0)
        } else if absolute && beneath {
            Err(err(libc::EXDEV))
        } else {
            root.try_clone()
        }
    };
    let mut cur = start(abs)?;
    let mut cur_st = fstat(cur.as_fd())?;
    let dev = cur_st.st_dev;
    let mut links = 0u32;
    let mut went_up = false;

    while let Some(step) = rest.pop_front() {
        let last = rest.is_empty();
        let name = match step {
            Step::Up => {
                if scoped && same(&cur_st, &root_st) {
                    if beneath {
                        return Err(err(libc::EXDEV));
                    }
                    if last {
                        break;
                    }
                    continue; // `..` at the root stays at the root
                }
                let up = openat(
                    cur.as_fd(),
                    OsStr::new(".."),
                    libc::O_PATH | libc::O_DIRECTORY,
                    0,
                )?;
                went_up = true;
                cur_st = fstat(up.as_fd())?;
                if no_xdev && cur_st.st_dev != dev {
                    return Err(err(libc::EXDEV));
                }
                cur = up;
                continue;
            }
            Step::Name(n) => n,
        };
        let next = openat(cur.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
        let st = fstat(next.as_fd())?;
        if no_xdev && st.st_dev != dev {
            return Err(err(libc::EXDEV));
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            if last && flags & libc::O_NOFOLLOW != 0 {
                if flags & libc::O_PATH == 0 {
                    return Err(err(libc::ELOOP));
                }
                verify_below(&root, &cur, went_up && scoped)?;
                return Ok(next);
            }
            if no_links {
                return Err(err(libc::ELOOP));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(err(libc::ELOOP));
            }
            let target = nix::fcntl::readlinkat(&next, "").map_err(io::Error::from)?;
            let target = target.as_bytes();
            if no_magic
                && crate::sys::fs_magic(next.as_fd())? == PROC_SUPER_MAGIC
                && !plain_proc_target(target)
            {
                return Err(err(libc::ELOOP));
            }
            let (t_abs, t_steps) = steps(target);
            for s in t_steps.into_iter().rev() {
                rest.push_front(s);
            }
            if t_abs {
                cur = start(true)?;
                cur_st = fstat(cur.as_fd())?;
            }
            continue;
        }
        if last {
            // O_NOFOLLOW: if the entry was swapped for a link since, this fails.
            verify_below(&root, &cur, went_up && scoped)?;
            return openat(cur.as_fd(), &name, flags | libc::O_NOFOLLOW, mode);
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(err(libc::ENOTDIR));
        }
        cur = next;
        cur_st = st;
    }
    // The path ended at a directory reached by `..` or `.`: open it as asked.
    verify_below(&root, &cur, went_up && scoped)?;
    openat(cur.as_fd(), OsStr::new("."), flags, mode)
}

/// After a walk that stepped up with `..`, checks that the directory `dir` the result
/// is in is still below `root`, by walking `..` from it until the root or the top of
/// the tree is reached.
fn verify_below(root: &OwnedFd, dir: &OwnedFd, needed: bool) -> io::Result<()> {
    if !needed {
        return Ok(());
    }
    let root_st = fstat(root.as_fd())?;
    let mut cur = dir.try_clone()?;
    let mut st = fstat(cur.as_fd())?;
    for _ in 0..4096 {
        if same(&st, &root_st) {
            return Ok(());
        }
        let up = openat(
            cur.as_fd(),
            OsStr::new(".."),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?;
        let up_st = fstat(up.as_fd())?;
        if same(&up_st, &st) {
            break; // the top of the tree, never passing the root
        }
        cur = up;
        st = up_st;
    }
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        "the lookup left the container root (a directory moved during the walk?)",
    ))
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
