//! One lock per container: every command that reads-modifies-writes a container's
//! state holds an exclusive `flock` on its state directory.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::{io_err, StateError};

/// An exclusive lock on a container's state directory, released on drop.
#[derive(Debug)]
pub struct Lock {
    _dir: File,
}

impl Lock {
    /// Blocks until the lock on `dir` is held.
    pub fn acquire(dir: &Path) -> Result<Lock, StateError> {
        let f = File::open(dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StateError::NotFound(
                    dir.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                )
            } else {
                StateError::Io {
                    op: "open",
                    path: dir.to_path_buf(),
                    source: e,
                }
            }
        })?;
        loop {
            // SAFETY: flock on an fd we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io_err("lock", dir)(e));
            }
        }
        Ok(Lock { _dir: f })
    }

    /// The lock's fd (children forked while it is held must close it).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self._dir.as_raw_fd()
    }
}
