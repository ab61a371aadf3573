//! One lock per container: every command that reads-modifies-writes a container's
//! state holds an exclusive `flock` on its state directory. Waits are bounded, so a
//! wedged command (or a stopped one) yields a clear error instead of a hang.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{io_err, StateError};

/// How long a command waits for a container's lock unless `HUSK_LOCK_TIMEOUT`
/// (seconds) says otherwise. Longer than any create with default hook timeouts.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest sleep between two tries.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// An exclusive lock on a container's state directory, released on drop.
#[derive(Debug)]
pub struct Lock {
    _dir: File,
}

fn timeout() -> Duration {
    std::env::var("HUSK_LOCK_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_LOCK_TIMEOUT)
}

fn id_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Lock {
    /// Waits until the lock on `dir` is held, at most `HUSK_LOCK_TIMEOUT` seconds
    /// (default 60), then fails with [`StateError::LockTimeout`].
    pub fn acquire(dir: &Path) -> Result<Lock, StateError> {
        Self::acquire_within(dir, timeout())
    }

    /// Like [`Lock::acquire`], waiting at most `limit`.
    pub fn acquire_within(dir: &Path, limit: Duration) -> Result<Lock, StateError> {
        let f = Self::open(dir)?;
        let start = Instant::now();
        let mut backoff = Duration::from_millis(1);
        loop {
            match try_flock(&f) {
                Ok(true) => return Ok(Lock { _dir: f }),
                Ok(false) => {}
                Err(e) => return Err(io_err("lock", dir)(e)),
            }
            let waited = start.elapsed();
            if waited >= limit {
                return Err(StateError::LockTimeout {
                    id: id_of(dir),
                    path: dir.to_path_buf(),
                    waited_secs: waited.as_secs(),
                });
            }
            std::thread::sleep(backoff.min(limit - waited));
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// The lock if nobody holds it, else `None`, without waiting.
    pub fn try_acquire(dir: &Path) -> Result<Option<Lock>, StateError> {
        let f = Self::open(dir)?;
        match try_flock(&f) {
            Ok(true) => Ok(Some(Lock { _dir: f })),
            Ok(false) => Ok(None),
            Err(e) => Err(io_err("lock", dir)(e)),
        }
    }

    fn open(dir: &Path) -> Result<File, StateError> {
        File::open(dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StateError::NotFound(id_of(dir))
            } else {
                io_err("open", dir)(e)
            }
        })
    }

    /// The lock's fd (children forked while it is held must close it).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self._dir.as_raw_fd()
    }
}

/// One non-blocking `flock`: true when held, false when someone else holds it.
fn try_flock(f: &File) -> std::io::Result<bool> {
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_times_out_with_a_clear_error() {
        let d = std::env::temp_dir().join(format!("husk-lock-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let held = Lock::acquire(&d).unwrap();
        assert!(Lock::try_acquire(&d).unwrap().is_none());
        let t = Instant::now();
        let e = Lock::acquire_within(&d, Duration::from_millis(200)).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(
            e.to_string().contains("locked by another husk command"),
            "{e}"
        );
        drop(held);
        assert!(Lock::try_acquire(&d).unwrap().is_some());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
