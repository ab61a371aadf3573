//! The propagation of the container's root, as runc sets it: `/` of the new mount
//! namespace gets `linux.rootfsPropagation` (default `rslave`) *before* the rootfs
//! is bound, so with `shared`/`rshared` the mounts keep their host peer groups and
//! a bind volume marked `rshared` propagates both ways (Kubernetes `Bidirectional`,
//! CSI drivers). The mount the rootfs sits on is made private first, so the bind of
//! the rootfs onto itself neither shows on the host nor blocks `pivot_root`.
//! After the switch of root, the propagation is applied to `/` again.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::{apply_err, RootfsError};

const NONE: Option<&str> = None;

/// What to do with propagation around the switch of root. Pure data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootPropagation {
    /// MS_* flags for `/` before anything is mounted.
    pub before: u64,
    /// Make the mount holding the rootfs private before binding it.
    pub private_parent: bool,
    /// MS_* flags for the new `/` after pivot_root/chroot.
    pub after: Option<u64>,
}

/// Plans the root's propagation from `linux.rootfsPropagation` (as MS_* flags).
/// `unbindable` is the exception: set before the mounts, it would make every later
/// bind from the host fail with EINVAL (runc 1.1 fails that way, on the rootfs
/// bind itself), so `/` stays rslave until the switch and gets it after.
pub fn plan(configured: Option<u64>) -> RootPropagation {
    let rslave = (MsFlags::MS_SLAVE | MsFlags::MS_REC).bits();
    let unbindable = MsFlags::MS_UNBINDABLE.bits();
    RootPropagation {
        before: configured.filter(|p| p & unbindable == 0).unwrap_or(rslave),
        private_parent: true,
        after: configured,
    }
}

/// Applies the `before` half: `/`, then the parent mount of `rootfs`.
pub(super) fn prepare(p: &RootPropagation, rootfs: &Path) -> Result<(), RootfsError> {
    mount(NONE, "/", NONE, MsFlags::from_bits_retain(p.before), NONE)
        .map_err(apply_err("linux.rootfsPropagation", "set propagation of /"))?;
    if p.private_parent {
        make_parent_private(rootfs)?;
    }
    Ok(())
}

/// MS_PRIVATE on the mount `path` is on: EINVAL means "not a mount point", so the
/// walk goes up until the change is accepted.
fn make_parent_private(path: &Path) -> Result<(), RootfsError> {
    let mut cur: PathBuf = path.to_path_buf();
    loop {
        match mount(NONE, &cur, NONE, MsFlags::MS_PRIVATE, NONE) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EINVAL) if cur.parent().is_some() => {
                cur = cur.parent().map(Path::to_path_buf).unwrap_or_default();
            }
            Err(e) => {
                return Err(apply_err(
                    format!("root.path {}", path.display()),
                    "make the rootfs's mount private",
                )(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_rslave_and_nothing_after() {
        let p = plan(None);
        assert_eq!(p.before, (MsFlags::MS_SLAVE | MsFlags::MS_REC).bits());
        assert_eq!(p.after, None);
        assert!(p.private_parent);
    }

    #[test]
    fn rshared_is_not_made_rslave_first() {
        let rshared = (MsFlags::MS_SHARED | MsFlags::MS_REC).bits();
        let p = plan(Some(rshared));
        assert_eq!(p.before, rshared);
        assert_eq!(p.after, Some(rshared));
        assert!(p.private_parent);
        let private = MsFlags::MS_PRIVATE.bits();
        assert_eq!(plan(Some(private)).before, private);
    }

    #[test]
    fn unbindable_waits_for_the_switch() {
        let runbindable = (MsFlags::MS_UNBINDABLE | MsFlags::MS_REC).bits();
        let p = plan(Some(runbindable));
        assert_eq!(p.before, (MsFlags::MS_SLAVE | MsFlags::MS_REC).bits());
        assert_eq!(p.after, Some(runbindable));
    }
}
