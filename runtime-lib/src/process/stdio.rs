//! The stdin, stdout and stderr of a container process, when the caller gives them.
//!
//! By default a container's process (without a terminal) inherits the caller's fds
//! 0, 1 and 2. An embedder that wants its output elsewhere (a pipe per container, a
//! log file) hands fds to [`Stdio`] instead: they become the process's 0, 1 and 2 in
//! the last steps before it execs, and the caller's own stdio is never touched (a
//! `dup2` over it would race with every other thread of the caller).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// The fds a container process gets as stdin, stdout and stderr; one left unset is
/// the caller's own (fd 0, 1 or 2).
///
/// Used by [`crate::ContainerBuilder::stdio`] and [`crate::ExecOptions::stdio`]; not
/// with `process.terminal`, where the pty is the process's stdio.
///
/// ```no_run
/// let log = std::fs::File::create("/var/log/c1.log")?;
/// let mut c = husk::ContainerBuilder::new("c1", "/path/to/bundle")
///     .stdio(husk::Stdio::new().stdout(log.try_clone()?).stderr(log))
///     .create()?;
/// c.start()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Stdio {
    fds: [Option<Arc<OwnedFd>>; 3],
}

impl Stdio {
    /// The caller's stdio for all three (the default).
    pub fn new() -> Self {
        Self::default()
    }

    /// The process's stdin.
    pub fn stdin(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.fds[0] = Some(Arc::new(fd.into()));
        self
    }

    /// The process's stdout.
    pub fn stdout(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.fds[1] = Some(Arc::new(fd.into()));
        self
    }

    /// The process's stderr.
    pub fn stderr(mut self, fd: impl Into<OwnedFd>) -> Self {
        self.fds[2] = Some(Arc::new(fd.into()));
        self
    }

    /// Whether any of the three is set.
    pub fn is_set(&self) -> bool {
        self.fds.iter().any(Option::is_some)
    }

    /// The fd numbers, as the process plan carries them. They stay valid while
    /// `self` lives: the caller keeps it until the process is cloned.
    pub(crate) fn raw(&self) -> [Option<RawFd>; 3] {
        let n = |i: usize| self.fds[i].as_ref().map(|f| f.as_raw_fd());
        [n(0), n(1), n(2)]
    }
}

/// In the container's process, before the fds are marked close-on-exec: puts the
/// given fds on 0, 1 and 2 (`dup2` clears close-on-exec on the copy; the originals,
/// above 2, are then closed at exec like every other fd of the runtime's).
pub(crate) fn install(fds: &[Option<RawFd>; 3]) -> std::io::Result<()> {
    for (target, src) in fds.iter().enumerate() {
        let Some(src) = *src else { continue };
        let target = target as RawFd;
        if src == target {
            // Already in place: only make sure it survives the exec.
            crate::sys::clear_cloexec(src)?;
            continue;
        }
        crate::sys::dup2_onto(src, target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fds_are_the_callers() {
        let s = Stdio::new();
        assert!(!s.is_set());
        assert_eq!(s.raw(), [None, None, None]);
        let (r, w) = nix::unistd::pipe().unwrap();
        let (r_fd, w_fd) = (r.as_raw_fd(), w.as_raw_fd());
        let s = Stdio::new().stdin(r).stderr(w);
        assert!(s.is_set());
        assert_eq!(s.raw(), [Some(r_fd), None, Some(w_fd)]);
        // A clone shares the fds: they stay open while either lives.
        let c = s.clone();
        drop(s);
        assert_eq!(c.raw(), [Some(r_fd), None, Some(w_fd)]);
        // SAFETY: only checks that the fd is still open.
        assert_ne!(unsafe { libc::fcntl(r_fd, libc::F_GETFD) }, -1);
    }
}
