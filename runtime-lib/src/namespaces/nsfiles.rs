//! Joining a running container's namespaces through `/proc/<pid>/ns/*`, for kernels
//! without `setns` on a pidfd (before 5.8): the files are opened by the runtime, the
//! init's start time is checked afterwards (so they are the init's, not a reused
//! pid's), and the intermediate joins them user first and mount last (runc's order).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;

use super::{name, CLONE_NEWTIME};

/// The order of joining: the user namespace first (it grants the rights for the
/// rest), the mount namespace last (after it, /proc paths are the container's).
pub const JOIN_ORDER: [u64; 8] = [
    0x1000_0000, // user
    0x0200_0000, // cgroup
    0x0400_0000, // uts
    0x0800_0000, // ipc
    0x4000_0000, // net
    0x2000_0000, // pid
    CLONE_NEWTIME,
    0x0002_0000, // mnt
];

/// Which of `flags` to join, in [`JOIN_ORDER`] (pure).
pub fn join_order(flags: u64) -> Vec<u64> {
    JOIN_ORDER
        .iter()
        .copied()
        .filter(|f| flags & f != 0)
        .collect()
}

/// Opens `/proc/<pid>/ns/<name>` for each of `flags` that differs from the caller's
/// own namespace (joining the user namespace one is already in is EINVAL).
pub fn open_ns_files(pid: i32, flags: u64) -> io::Result<Vec<(u64, OwnedFd)>> {
    let mut out = Vec::new();
    for f in join_order(flags) {
        let n = name(f);
        let path = format!("/proc/{pid}/ns/{n}");
        let file = std::fs::File::open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("open {path}: {e}")))?;
        let theirs = nix::sys::stat::fstat(&file).map_err(io::Error::from)?;
        if let Ok(ours) = nix::sys::stat::stat(format!("/proc/self/ns/{n}").as_str()) {
            if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino) {
                continue;
            }
        }
        out.push((f, OwnedFd::from(file)));
    }
    Ok(out)
}

/// Joins the namespaces opened by [`open_ns_files`], in their order.
pub fn join_files(files: &[(u64, OwnedFd)]) -> Result<(), String> {
    for (f, fd) in files {
        nix::sched::setns(fd.as_fd(), CloneFlags::from_bits_retain(*f as i32))
            .map_err(|e| format!("setns into the container's {} namespace: {e}", name(*f)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_first_mount_last() {
        let all = JOIN_ORDER.iter().fold(0, |a, f| a | f);
        let order = join_order(all);
        assert_eq!(name(order[0]), "user");
        assert_eq!(name(*order.last().unwrap()), "mnt");
        assert_eq!(
            join_order(0x0002_0000 | 0x4000_0000),
            vec![0x4000_0000, 0x0002_0000]
        );
    }
}
