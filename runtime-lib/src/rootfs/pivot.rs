//! Switching the process's root to the prepared rootfs.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, fchdir};

use super::{apply_err, RootfsError, RootfsPlan};
use crate::sys;

const NONE: Option<&str> = None;

/// pivot_root into the rootfs (or MS_MOVE + chroot for `--no-pivot`, or a bare chroot
/// without a mount namespace, as runc), then apply `linux.rootfsPropagation` to `/`.
pub(super) fn switch_root(plan: &RootfsPlan) -> Result<(), RootfsError> {
    let rootfs = &plan.rootfs;
    if !plan.mount_ns {
        chroot(rootfs).map_err(apply_err("rootfs", "chroot"))?;
        return chdir("/").map_err(apply_err("rootfs", "chdir /"));
    }
    if plan.no_pivot {
        chdir(rootfs).map_err(apply_err("rootfs", "chdir"))?;
        mount(Some(rootfs), "/", NONE, MsFlags::MS_MOVE, NONE)
            .map_err(apply_err("rootfs", "move rootfs onto /"))?;
        chroot(".").map_err(apply_err("rootfs", "chroot"))?;
    } else {
        pivot(rootfs)?;
    }
    chdir("/").map_err(apply_err("rootfs", "chdir /"))?;
    if let Some(p) = super::propagation::plan(plan.propagation).after {
        mount(NONE, "/", NONE, MsFlags::from_bits_retain(p), NONE)
            .map_err(apply_err("linux.rootfsPropagation", "set propagation of /"))?;
    }
    Ok(())
}

/// `pivot_root(".", ".")` stacks the old root on top of the new one; detaching it
/// leaves only the container's tree, with no directory needed for the old root.
fn pivot(rootfs: &Path) -> Result<(), RootfsError> {
    let open_dir = |p: &Path| {
        nix::fcntl::open(
            p,
            nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
    };
    let old = open_dir(Path::new("/")).map_err(apply_err("rootfs", "open /"))?;
    let new = open_dir(rootfs).map_err(apply_err("rootfs", "open rootfs"))?;
    let res = (|| {
        fchdir(&new).map_err(apply_err("rootfs", "fchdir rootfs"))?;
        sys::pivot_root(Path::new("."), Path::new("."))
            .map_err(apply_err("rootfs", "pivot_root"))?;
        fchdir(&old).map_err(apply_err("rootfs", "fchdir old root"))?;
        // Never let the unmount of the old root propagate to the host.
        mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
            .map_err(apply_err("rootfs", "make old root rslave"))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(apply_err("rootfs", "detach old root"))
    })();
    res
}
