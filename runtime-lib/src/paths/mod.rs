//! Safe path resolution inside a container's rootfs, and a verified procfs handle.
//!
//! Every path the runtime touches inside the rootfs is resolved with `openat2`
//! and `RESOLVE_IN_ROOT`: a symlink in the image, absolute or `..`-laden, is
//! resolved as if the rootfs were `/`, so it can never make husk mount over or
//! create something on the host. Without `openat2` (before 5.6) the same rules are
//! kept by a userspace walk ([`walk`]), chosen once per process by the first ENOSYS.

mod proc;
pub mod walk;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::Mode;

pub use proc::ProcHandle;

use crate::sys;

const IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// Opens `path` below `dirfd` under the `resolve` rules (`RESOLVE_*`): `openat2`, or the
/// userspace [`walk`] once the kernel has answered ENOSYS (recorded in `sys::probe`).
pub fn open_at(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    use crate::sys::probe::Feature;
    if Feature::Openat2.usable() {
        let res = sys::openat2(dirfd, path, flags, mode, resolve);
        if !Feature::Openat2.missing_after(&res, &[libc::ENOSYS]) {
            return res;
        }
    }
    walk::open(dirfd, path, flags, mode, resolve)
}

/// Errors resolving or creating a path inside the rootfs.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path} in the container rootfs: {source}")]
pub struct PathError {
    /// What was being done (open, create, ...).
    pub op: &'static str,
    /// The path, as given (container view).
    pub path: PathBuf,
    /// The OS error.
    pub source: io::Error,
}

/// An open directory that acts as `/` for every lookup made through it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    #[allow(dead_code)] // shown by `Debug` only; never used for lookups
    host: PathBuf,
}

/// The kind of object to create when a mount destination is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory (most mounts).
    Dir,
    /// An empty regular file (bind mounts of files, device placeholders).
    File,
}

impl Root {
    /// Opens `host` (a directory on the host) as the root of later lookups.
    pub fn open(host: &Path) -> Result<Self, PathError> {
        let fd = nix::fcntl::open(
            host,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| PathError {
            op: "open",
            path: host.to_path_buf(),
            source: e.into(),
        })?;
        Ok(Root {
            fd,
            host: host.to_path_buf(),
        })
    }

    /// Opens `path` (container view) as an `O_PATH` fd without leaving the root.
    pub fn open_path(&self, path: &Path) -> Result<OwnedFd, PathError> {
        self.open_with(path, libc::O_PATH, "open")
    }

    /// Like [`Root::open_path`] but does not follow a symlink in the last component.
    pub fn open_nofollow(&self, path: &Path) -> Result<OwnedFd, PathError> {
        self.open_with(path, libc::O_PATH | libc::O_NOFOLLOW, "open")
    }

    /// Opens with explicit flags (e.g. `O_WRONLY` for writes), resolved inside the root.
    pub fn open_with(
        &self,
        path: &Path,
        flags: i32,
        op: &'static str,
    ) -> Result<OwnedFd, PathError> {
        let rel = relative(path);
        open_at(self.fd.as_fd(), &rel, flags, 0, IN_ROOT).map_err(|source| PathError {
            op,
            path: path.to_path_buf(),
            source,
        })
    }

    /// Makes sure `path` exists (creating missing parent directories, and the last
    /// component as `kind`) and returns an `O_PATH` fd to it.
    pub fn ensure(&self, path: &Path, kind: Kind) -> Result<OwnedFd, PathError> {
        self.ensure_depth(path, kind, 0)
    }

    fn ensure_depth(&self, path: &Path, kind: Kind, depth: u32) -> Result<OwnedFd, PathError> {
        if let Ok(fd) = self.open_path(path) {
            return Ok(fd);
        }
        let err = |op, source| PathError {
            op,
            path: path.to_path_buf(),
            source,
        };
        if depth > 40 {
            return Err(err("resolve", io::Error::from_raw_os_error(libc::ELOOP)));
        }
        let rel = relative(path);
        let comps: Vec<_> = rel.components().collect();
        // Start below the deepest ancestor that exists (usually the parent) rather
        // than walking down from the root: every prefix is resolved from the root
        // under the same rules, so nothing is checked less.
        let mut start = 0;
        let mut found = None;
        for i in (0..comps.len().saturating_sub(1)).rev() {
            match open_below(&self.fd, &rel, i) {
                Ok(fd) => {
                    found = Some(fd);
                    start = i + 1;
                    break;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(err("open", e)),
            }
        }
        let mut dir = match found {
            Some(fd) => fd,
            None => open_at(
                self.fd.as_fd(),
                Path::new("."),
                libc::O_PATH | libc::O_DIRECTORY,
                0,
                IN_ROOT,
            )
            .map_err(|e| err("open", e))?,
        };
        for (i, comp) in comps.iter().enumerate().skip(start) {
            let name = Path::new(comp.as_os_str());
            let last = i + 1 == comps.len();
            let next = match open_below(&self.fd, &rel, i) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    // A dangling symlink: create what it points to, still inside the root.
                    if let Ok(target) = nix::fcntl::readlinkat(&dir, name) {
                        let target = Path::new(&target);
                        let parent: PathBuf =
                            Path::new("/").join(rel.components().take(i).collect::<PathBuf>());
                        let rest: PathBuf = rel.components().skip(i + 1).collect();
                        let joined = if target.is_absolute() {
                            target.to_path_buf()
                        } else {
                            parent.join(target)
                        };
                        return self.ensure_depth(&joined.join(rest), kind, depth + 1);
                    }
                    create_in(dir.as_fd(), name, if last { kind } else { Kind::Dir })
                        .map_err(|e| err("create", e))?;
                    open_below(&self.fd, &rel, i).map_err(|e| err("open", e))?
                }
                Err(e) => return Err(err("open", e)),
            };
            dir = next;
        }
        Ok(dir)
    }

    /// Borrows the root directory fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Opens the first `upto + 1` components of `rel` inside the root.
fn open_below(root: &OwnedFd, rel: &Path, upto: usize) -> io::Result<OwnedFd> {
    let prefix: PathBuf = rel.components().take(upto + 1).collect();
    open_at(root.as_fd(), &prefix, libc::O_PATH, 0, IN_ROOT)
}

/// Creates one directory entry in `dir`. A racing creator is fine (EEXIST).
fn create_in(dir: BorrowedFd<'_>, name: &Path, kind: Kind) -> io::Result<()> {
    // mkdirat/mknodat need a real directory fd, not O_PATH: reopen it through procfs-free openat.
    let real = open_at(
        dir,
        Path::new("."),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
        libc::RESOLVE_NO_SYMLINKS,
    )?;
    let res = match kind {
        Kind::Dir => nix::sys::stat::mkdirat(&real, name, Mode::from_bits_truncate(0o755)),
        Kind::File => nix::sys::stat::mknodat(
            &real,
            name,
            nix::sys::stat::SFlag::S_IFREG,
            Mode::from_bits_truncate(0o644),
            0,
        ),
    };
    match res {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Turns a container path into a relative one without `..` above the root (lexically).
pub fn relative(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_strips_root_and_dotdot() {
        assert_eq!(relative(Path::new("/a/b")), PathBuf::from("a/b"));
        assert_eq!(relative(Path::new("/../../etc")), PathBuf::from("etc"));
        assert_eq!(relative(Path::new("/")), PathBuf::from("."));
        assert_eq!(relative(Path::new("/a/./b/../c")), PathBuf::from("a/c"));
    }

    #[test]
    fn symlink_cannot_escape() {
        let dir = std::env::temp_dir().join(format!("husk-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        // An absolute symlink and a ../ symlink both pointing out of the rootfs.
        std::os::unix::fs::symlink("/outside-abs", dir.join("root/abs")).unwrap();
        std::os::unix::fs::symlink("../../outside", dir.join("root/rel")).unwrap();
        let root = Root::open(&dir.join("root")).unwrap();
        root.ensure(Path::new("/abs/x"), Kind::Dir).unwrap();
        root.ensure(Path::new("/rel/y"), Kind::File).unwrap();
        assert!(dir.join("root/outside-abs/x").is_dir());
        assert!(dir.join("root/outside/y").is_file());
        assert!(!dir.join("outside/y").exists());
        assert!(!Path::new("/outside-abs").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
