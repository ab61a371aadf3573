//! The stdio a container process gets from its caller (pipes, files, a pty) is
//! owned by whoever made it, usually root: a non-root process could not reopen it
//! (`/proc/self/fd/1`, `/dev/stdout`). As runc does, it is chowned to the process's
//! uid first; /dev/null is never touched. For a root process nothing changes:
//! the caller's files stay theirs (runc would chown them to root).

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::stat::{fstat, major, minor, SFlag};

use super::{sec_err, SecurityError};

/// Chowns stdin, stdout and stderr to `uid` (not their group, as runc), skipping
/// /dev/null, what `uid` already owns and closed fds. A refusal (an owner the user
/// namespace does not map, a read-only filesystem) leaves the fd as it is.
pub(crate) fn chown_stdio(uid: u32) -> Result<(), SecurityError> {
    if uid == 0 {
        return Ok(());
    }
    let (i, o, e) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    for (n, fd) in [i.as_fd(), o.as_fd(), e.as_fd()].into_iter().enumerate() {
        chown_one(fd, uid).map_err(sec_err(format!("chown stdio fd {n} to uid {uid}")))?;
    }
    Ok(())
}

fn chown_one(fd: BorrowedFd<'_>, uid: u32) -> Result<(), Errno> {
    let st = match fstat(fd) {
        Ok(st) => st,
        Err(Errno::EBADF) => return Ok(()),
        Err(e) => return Err(e),
    };
    let chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if st.st_uid == uid || (chr && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) {
        return Ok(());
    }
    match nix::unistd::fchown(fd, Some(uid.into()), None) {
        // EINVAL: uid unmapped here; the user switch reports that.
        Ok(()) | Err(Errno::EPERM | Errno::EROFS | Errno::EINVAL) => Ok(()),
        Err(e) => Err(e),
    }
}
