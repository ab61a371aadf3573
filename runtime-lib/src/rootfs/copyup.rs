//! `tmpcopyup` (podman `--read-only`, `--tmpfs`): a tmpfs mounted over a directory of
//! the image starts with a copy of what that directory held, as runc does.
//!
//! The directory is opened before the tmpfs covers it; the fd keeps reaching the covered
//! directory, so the copy goes fd to fd without a scratch mount on the host. Every entry
//! is looked up with `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`: a symlink in the image is copied
//! as a symlink and never followed.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FchmodatFlags, FileStat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

/// What one directory entry becomes in the copy (pure: decided from `st_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EntryKind {
    /// A directory: made, then filled recursively.
    Dir,
    /// A regular file: contents copied.
    File,
    /// A symlink: re-created with the same target.
    Symlink,
    /// A device node, fifo or socket: `mknod` with the same type and rdev.
    Node(SFlag),
}

impl EntryKind {
    /// The kind of an entry with mode `st_mode`.
    pub(super) fn of(st_mode: u32) -> EntryKind {
        let fmt = SFlag::from_bits_truncate(st_mode & SFlag::S_IFMT.bits());
        match fmt {
            SFlag::S_IFDIR => EntryKind::Dir,
            SFlag::S_IFLNK => EntryKind::Symlink,
            SFlag::S_IFREG => EntryKind::File,
            other => EntryKind::Node(other),
        }
    }
}

/// The permission bits (with setuid, setgid and sticky) of `st_mode`.
pub(super) fn perm_bits(st_mode: u32) -> Mode {
    Mode::from_bits_truncate(st_mode & 0o7777)
}

/// A failed step of the copy: the path (relative to the copied directory) and the operation.
#[derive(Debug)]
pub(super) struct CopyError {
    /// The entry, relative to the directory the tmpfs covers.
    pub path: PathBuf,
    /// What failed (`mkdirat`, `open`, `copy`, ...).
    pub op: &'static str,
    /// The OS error.
    pub source: io::Error,
}

/// Deeper trees than this are refused rather than recursed into (stack use).
const MAX_DEPTH: usize = 256;

/// Opens `dir` (any fd of a directory, `O_PATH` included) again for reading entries.
pub(super) fn open_dir(dir: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    crate::paths::open_at(
        dir,
        Path::new("."),
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
        libc::RESOLVE_NO_SYMLINKS,
    )
}

/// Copies every entry of `src` into `dst` (both directory fds opened for reading),
/// keeping type, contents, mode, owner and times.
pub(super) fn copy_tree(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<(), CopyError> {
    copy_dir(src, dst, Path::new(""), 0)
}

/// Maps an errno of `op` on `path` to a [`CopyError`].
fn fail(path: &Path, op: &'static str) -> impl FnOnce(nix::errno::Errno) -> CopyError {
    let path = path.to_path_buf();
    move |e| CopyError {
        path,
        op,
        source: e.into(),
    }
}

fn copy_dir(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    rel: &Path,
    depth: usize,
) -> Result<(), CopyError> {
    if depth > MAX_DEPTH {
        return Err(fail(rel, "descend")(nix::errno::Errno::ELOOP));
    }
    // Dir::openat on "." gives a listing fd of its own, leaving `src` untouched.
    let mut listing = nix::dir::Dir::openat(
        src,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail(rel, "opendir"))?;
    let mut names: Vec<Vec<u8>> = Vec::new();
    for entry in listing.iter() {
        let entry = entry.map_err(fail(rel, "readdir"))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    drop(listing);
    for name in names {
        let name = OsStr::from_bytes(&name);
        let path = rel.join(name);
        copy_entry(src, dst, name, &path, depth)?;
    }
    Ok(())
}

fn copy_entry(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    depth: usize,
) -> Result<(), CopyError> {
    let fail = |op| fail(path, op);
    let st = nix::sys::stat::fstatat(src, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(fail("fstatat"))?;
    let perm = perm_bits(st.st_mode);
    let kind = EntryKind::of(st.st_mode);
    match kind {
        EntryKind::Dir => {
            match nix::sys::stat::mkdirat(dst, name, Mode::from_bits_truncate(0o700)) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => return Err(fail("mkdirat")(e)),
            }
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let s = nix::fcntl::openat(src, name, flags, Mode::empty()).map_err(fail("open"))?;
            let d = nix::fcntl::openat(dst, name, flags, Mode::empty()).map_err(fail("open"))?;
            copy_dir(s.as_fd(), d.as_fd(), path, depth + 1)?;
        }
        EntryKind::Symlink => {
            let target = nix::fcntl::readlinkat(src, name).map_err(fail("readlinkat"))?;
            nix::unistd::symlinkat(target.as_os_str(), dst, name).map_err(fail("symlinkat"))?;
        }
        EntryKind::File => {
            let s = nix::fcntl::openat(
                src,
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(fail("open"))?;
            let d = nix::fcntl::openat(
                dst,
                name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(fail("create"))?;
            let mut from = std::fs::File::from(s);
            let mut to = std::fs::File::from(d);
            io::copy(&mut from, &mut to).map_err(|source| CopyError {
                path: path.to_path_buf(),
                op: "copy",
                source,
            })?;
        }
        EntryKind::Node(fmt) => {
            #[allow(clippy::useless_conversion)] // dev_t width differs between libcs
            let rdev = st.st_rdev.into();
            nix::sys::stat::mknodat(dst, name, fmt, perm, rdev).map_err(fail("mknodat"))?;
        }
    }
    finish_entry(dst, name, &st, kind).map_err(fail("set attributes"))
}

/// Owner first (chown clears setuid/setgid), then mode, then times (a symlink keeps the
/// mode the kernel gives it).
fn finish_entry(
    dst: BorrowedFd<'_>,
    name: &OsStr,
    st: &FileStat,
    kind: EntryKind,
) -> nix::Result<()> {
    nix::unistd::fchownat(
        dst,
        name,
        Some(nix::unistd::Uid::from_raw(st.st_uid)),
        Some(nix::unistd::Gid::from_raw(st.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if kind != EntryKind::Symlink {
        nix::sys::stat::fchmodat(
            dst,
            name,
            perm_bits(st.st_mode),
            FchmodatFlags::FollowSymlink,
        )?;
    }
    let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
    let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    nix::sys::stat::utimensat(dst, name, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
}

/// For messages: a relative path shown as `./a/b` (`.` for the directory itself).
pub(super) fn shown(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        ".".into()
    } else {
        format!("./{}", path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_mode() {
        assert_eq!(EntryKind::of(libc::S_IFDIR | 0o755), EntryKind::Dir);
        assert_eq!(EntryKind::of(libc::S_IFREG | 0o4755), EntryKind::File);
        assert_eq!(EntryKind::of(libc::S_IFLNK | 0o777), EntryKind::Symlink);
        assert_eq!(
            EntryKind::of(libc::S_IFCHR | 0o666),
            EntryKind::Node(SFlag::S_IFCHR)
        );
        assert_eq!(
            EntryKind::of(libc::S_IFIFO | 0o600),
            EntryKind::Node(SFlag::S_IFIFO)
        );
    }

    #[test]
    fn perm_keeps_special_bits() {
        assert_eq!(perm_bits(libc::S_IFREG | 0o4755).bits(), 0o4755);
        assert_eq!(perm_bits(libc::S_IFDIR | 0o1777).bits(), 0o1777);
        assert_eq!(shown(Path::new("")), ".");
        assert_eq!(shown(Path::new("a/b")), "./a/b");
    }

    #[test]
    fn copies_a_tree_fd_to_fd() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let base = std::env::temp_dir().join(format!("husk-copyup-unit-{}", std::process::id()));
        let (src, dst) = (base.join("src"), base.join("dst"));
        std::fs::create_dir_all(src.join("a/b")).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::write(src.join("a/b/f"), b"hello").unwrap();
        std::fs::set_permissions(src.join("a/b/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::fs::set_permissions(src.join("a"), std::fs::Permissions::from_mode(0o711)).unwrap();
        symlink("../nowhere", src.join("a/l")).unwrap();
        let open = |p: &Path| std::fs::File::open(p).unwrap();
        let (s, d) = (open(&src), open(&dst));
        let res = copy_tree(s.as_fd(), d.as_fd());
        let check = || {
            res.as_ref().map_err(|e| format!("{:?}", e))?;
            let meta = |p: &str| std::fs::symlink_metadata(dst.join(p)).unwrap();
            assert_eq!(std::fs::read(dst.join("a/b/f")).unwrap(), b"hello");
            assert_eq!(meta("a/b/f").permissions().mode() & 0o7777, 0o640);
            assert_eq!(meta("a").permissions().mode() & 0o7777, 0o711);
            assert_eq!(
                std::fs::read_link(dst.join("a/l")).unwrap(),
                Path::new("../nowhere")
            );
            Ok::<(), String>(())
        };
        let out = check();
        let _ = std::fs::set_permissions(src.join("a"), std::fs::Permissions::from_mode(0o755));
        let _ = std::fs::remove_dir_all(&base);
        out.unwrap();
    }
}
