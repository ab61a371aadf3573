//! A procfs handle that is checked to really be procfs, for every write the runtime
//! makes to /proc (sysctl, oom_score_adj, uid_map, ...).

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use crate::sys;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const PROC_ROOT_INO: u64 = 1;

/// An fd on a procfs root. Writes go through `openat2` with no symlinks and no mount
/// crossings, and each opened file is checked to be on procfs.
#[derive(Debug)]
pub struct ProcHandle {
    fd: OwnedFd,
}

impl ProcHandle {
    /// A private, detached procfs mount when the kernel allows it (nothing can be
    /// mounted over it; `fsopen` is 5.2+), else the `/proc` the process sees, opened
    /// once and verified to be the root of a procfs mount; every lookup through it
    /// then refuses symlinks out, magic links and mount crossings.
    pub fn new() -> io::Result<Self> {
        if let Ok(fd) = sys::fsmount_proc() {
            return Ok(ProcHandle { fd });
        }
        Self::at(Path::new("/proc"))
    }

    /// Like [`ProcHandle::new`], but without `fsopen` the procfs mounted at `/proc` of
    /// `root` (the container's own, before read-only paths cover `/proc/sys`).
    pub fn in_root(root: &super::Root) -> io::Result<Self> {
        if let Ok(fd) = sys::fsmount_proc() {
            return Ok(ProcHandle { fd });
        }
        let fd = root
            .open_with(Path::new("/proc"), libc::O_PATH | libc::O_DIRECTORY, "open")
            .map_err(|e| io::Error::new(e.source.kind(), e.to_string()))?;
        Self::verified(fd, Path::new("/proc"))
    }

    /// The procfs mounted at `path`, verified.
    pub fn at(path: &Path) -> io::Result<Self> {
        let slash = std::fs::File::open("/")?;
        let fd = super::open_at(
            slash.as_fd(),
            path,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            libc::RESOLVE_NO_SYMLINKS,
        )?;
        Self::verified(fd, path)
    }

    fn verified(fd: OwnedFd, path: &Path) -> io::Result<Self> {
        check_proc(&fd)?;
        // The root of a procfs mount is inode 1 (PROC_ROOT_INO): a bind of some
        // procfs subdirectory over the path is refused.
        let st = nix::sys::stat::fstat(&fd).map_err(io::Error::from)?;
        if st.st_ino != PROC_ROOT_INO {
            return Err(io::Error::other(format!(
                "{} is not the root of a procfs mount (inode {})",
                path.display(),
                st.st_ino
            )));
        }
        Ok(ProcHandle { fd })
    }

    /// Writes `data` to `rel` (e.g. `sys/net/ipv4/ip_forward`, `self/oom_score_adj`).
    pub fn write(&self, rel: &str, data: &[u8]) -> io::Result<()> {
        self.open_write(rel)?.write_all(data)
    }

    /// Opens `rel` for writing, checked to be on procfs (for a caller that must tell
    /// a missing file from a refused write, e.g. the LSM `attr/` files).
    pub fn open_write(&self, rel: &str) -> io::Result<std::fs::File> {
        // `self` and `thread-self` are plain symlinks inside procfs; magic links
        // (fd/N, exe, ...) and mount crossings are refused.
        let resolve = libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_MAGICLINKS;
        let f = super::open_at(self.fd.as_fd(), Path::new(rel), libc::O_WRONLY, 0, resolve)?;
        check_proc(&f)?;
        Ok(std::fs::File::from(f))
    }

    /// Opens the file behind `fd` (e.g. an `O_PATH` handle) anew with `flags`, through
    /// `self/fd/N` of this verified procfs.
    pub fn reopen(&self, fd: std::os::fd::BorrowedFd<'_>, flags: i32) -> io::Result<OwnedFd> {
        use std::os::fd::AsRawFd;
        let dir = super::open_at(
            self.fd.as_fd(),
            Path::new("self/fd"),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_MAGICLINKS,
        )?;
        check_proc(&dir)?;
        // The last component is the magic link itself: that jump is the point.
        super::open_at(
            dir.as_fd(),
            Path::new(&fd.as_raw_fd().to_string()),
            flags,
            0,
            0,
        )
    }

    /// Reads `rel` to a string.
    pub fn read(&self, rel: &str) -> io::Result<String> {
        let f = super::open_at(
            self.fd.as_fd(),
            Path::new(rel),
            libc::O_RDONLY,
            0,
            libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_MAGICLINKS,
        )?;
        check_proc(&f)?;
        io::read_to_string(std::fs::File::from(f))
    }
}

fn check_proc(fd: &OwnedFd) -> io::Result<()> {
    if sys::fs_magic(fd.as_fd())? != PROC_SUPER_MAGIC {
        return Err(io::Error::other(
            "not on procfs (something is mounted over /proc?)",
        ));
    }
    Ok(())
}
