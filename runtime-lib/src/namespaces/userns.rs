//! A user namespace with given mappings and no process in it, as an fd: what
//! `mount_setattr(MOUNT_ATTR_IDMAP)` takes to idmap a mount.

use std::os::fd::OwnedFd;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::NamespaceError;
use crate::sys::{self, Fork};

/// Forks a child into a new user namespace, writes its uid/gid maps from here (the
/// parent namespace, where we are privileged), opens `/proc/<child>/ns/user`, then
/// kills and reaps the child. The namespace lives on as long as the fd.
///
/// Safe from a multi-threaded caller: the child runs only async-signal-safe calls.
pub fn userns_with_maps(uid_map: &str, gid_map: &str) -> Result<OwnedFd, NamespaceError> {
    let newuser = nix::sched::CloneFlags::CLONE_NEWUSER.bits() as u64;
    // SAFETY: the child makes only async-signal-safe calls (prctl, pause) until killed,
    // so no lock of another thread of the caller can be needed there.
    let child = match unsafe { sys::clone(newuser) } {
        Ok(Fork::Child) => {
            let _ = sys::set_pdeathsig(libc::SIGKILL);
            loop {
                nix::unistd::pause();
            }
        }
        Ok(Fork::Parent(pid)) => pid,
        Err(source) => {
            return Err(NamespaceError::Write {
                file: "clone(CLONE_NEWUSER)",
                pid: std::process::id() as i32,
                source,
            })
        }
    };
    let res = (|| {
        let write = |file: &'static str, data: &str| {
            std::fs::write(format!("/proc/{child}/{file}"), data).map_err(|source| {
                NamespaceError::Write {
                    file,
                    pid: child,
                    source,
                }
            })
        };
        write("uid_map", uid_map)?;
        write("gid_map", gid_map)?;
        let path = std::path::PathBuf::from(format!("/proc/{child}/ns/user"));
        std::fs::File::open(&path)
            .map(OwnedFd::from)
            .map_err(|source| NamespaceError::Open { path, source })
    })();
    let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(child), None);
    res
}
