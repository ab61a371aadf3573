//! runc's cgroup rules for an unprivileged caller (`--rootless`):
//! - a hierarchy where the user may not create the container's cgroup (cgroup v1,
//!   or v2 without a delegated subtree) is skipped: the container stays in the
//!   caller's cgroup there;
//! - a limit that needs a skipped hierarchy is refused with a message saying why
//!   (crun silently drops it; runc refuses, and so does husk);
//! - no device cgroup: device access is the user namespace's business.

use std::io;

use oci_spec::runtime::LinuxResources;

use super::error::CgroupError;
use super::handle::CgroupHandle;
use super::lifecycle::create_one;

/// True for the errors that mean "not allowed" rather than "broken".
fn is_permission(e: &CgroupError) -> bool {
    match e {
        CgroupError::Mkdir { source, .. } | CgroupError::Write { source, .. } => {
            source.kind() == io::ErrorKind::PermissionDenied
                || matches!(
                    source.raw_os_error(),
                    Some(libc::EROFS | libc::EPERM | libc::EACCES)
                )
        }
        _ => false,
    }
}

impl CgroupHandle {
    /// `create` for an unprivileged caller: hierarchies where the cgroup cannot be
    /// made for lack of permission are dropped from the handle (remembered in
    /// `skipped`), the others are made as usual. With the systemd driver (the
    /// user's manager delegates the scope) this is plain `create`.
    pub fn create_rootless(&mut self) -> Result<(), CgroupError> {
        if self.systemd.is_some() {
            return self.create();
        }
        let mut made = Vec::new();
        let mut keep = Vec::new();
        let base = self.base();
        for d in std::mem::take(&mut self.dirs) {
            match create_one(&base, &d, &mut made) {
                Ok(()) => keep.push(d),
                Err(e) if is_permission(&e) => {
                    tracing::debug!("rootless: no cgroup in {}: {e}", d.mount_point.display());
                    self.skipped.push(d.controllers.join(","));
                }
                Err(e) => {
                    for m in made.iter().rev() {
                        let _ = base.rmdir(m);
                    }
                    self.dirs = keep;
                    return Err(e);
                }
            }
        }
        self.dirs = keep;
        self.created_dirs().extend(made);
        Ok(())
    }

    /// The hierarchies skipped because the user may not create cgroups there.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// `apply` for an unprivileged caller: device rules dropped, and a limit that
    /// needs a skipped hierarchy refused with a message that says so.
    pub fn apply_rootless(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let r = without_devices(r);
        self.apply(&r).map_err(|e| self.explain(e))
    }

    fn explain(&self, e: CgroupError) -> CgroupError {
        match e {
            CgroupError::ControllerMissing { field, controller }
                if self.skipped_controller(&controller) =>
            {
                CgroupError::RootlessNoCgroup { field, controller }
            }
            other => other,
        }
    }

    /// No freezer: said as rootless when its hierarchy was skipped.
    pub(super) fn no_freezer(&self, operation: &'static str) -> CgroupError {
        if self.skipped_controller("freezer") || (self.dirs.is_empty() && !self.skipped.is_empty())
        {
            return CgroupError::RootlessNoCgroup {
                field: operation.to_string(),
                controller: "freezer".to_string(),
            };
        }
        CgroupError::NoFreezer { operation }
    }

    fn skipped_controller(&self, controller: &str) -> bool {
        self.skipped
            .iter()
            .any(|h| h.is_empty() || h.split(',').any(|c| c == controller))
    }
}

/// `r` without device rules (pure).
pub fn without_devices(r: &LinuxResources) -> LinuxResources {
    let mut r = r.clone();
    r.set_devices(None);
    r
}

#[cfg(test)]
mod tests {
    use super::super::mountinfo::{fixtures::*, parse_mountinfo, parse_proc_cgroup};
    use super::super::HostLayout;
    use super::*;

    fn handle() -> CgroupHandle {
        let layout = HostLayout::from_mounts(&parse_mountinfo(HYBRID_MOUNTINFO), |_| {
            vec!["hugetlb".into()]
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let own = parse_proc_cgroup(HYBRID_PROC_CGROUP).unwrap_or_default();
        CgroupHandle::from_layout(&layout, &own, None, "ctr").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_limit_in_a_skipped_hierarchy_is_refused_with_a_reason() {
        let mut h = handle();
        h.skipped = h.dirs.iter().map(|d| d.controllers.join(",")).collect();
        h.dirs.clear();
        let r: LinuxResources =
            serde_json::from_str(r#"{"memory":{"limit":67108864}}"#).unwrap_or_default();
        let e = h
            .apply_rootless(&r)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("linux.resources.memory.limit"), "{e}");
        assert!(e.contains("rootless") && e.contains("memory"), "{e}");
        // No limit asked, device rules only: nothing to do, nothing refused.
        let r: LinuxResources =
            serde_json::from_str(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#)
                .unwrap_or_default();
        assert!(h.apply_rootless(&r).is_ok());
    }

    #[test]
    fn skipped_hierarchies_round_trip() {
        let mut h = handle();
        h.skipped = vec!["memory".into()];
        let json = serde_json::to_string(&h).unwrap_or_default();
        let back: CgroupHandle = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.skipped(), ["memory"]);
        assert!(!serde_json::to_string(&handle())
            .unwrap_or_default()
            .contains("skipped"));
    }
}
