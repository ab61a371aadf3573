//! [`CgroupHandle`]: where a container's cgroup is, in every hierarchy, as a
//! serializable value that later commands reopen from state.json.
//!
//! This file holds resolution and membership; resources are applied in
//! `resources.rs`, creation and removal are in `lifecycle.rs`, pause/resume/kill in `freezer.rs`,
//! statistics in `stats/`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::CgroupError;
use super::fsio;
use super::layout::{CgroupMode, HierarchyVersion, HostLayout};
use super::mountinfo::{parse_proc_cgroup, ProcCgroupEntry};
use super::path;

/// Where the caller's own cgroups are listed.
const PROC_SELF_CGROUP: &str = "/proc/self/cgroup";

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupDir {
    /// v1 or v2.
    pub version: HierarchyVersion,
    /// v1: the hierarchy's controllers (`["cpu","cpuacct"]`,
    /// `["name=systemd"]`); v2: the controllers its root offers.
    pub controllers: Vec<String>,
    /// The hierarchy's mount point, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// The container's cgroup directory on the host.
    pub path: PathBuf,
}

fn is_false(b: &std::sync::atomic::AtomicBool) -> bool {
    !b.load(std::sync::atomic::Ordering::Relaxed)
}

/// Serializable description of a container's cgroup, stored in state.json
/// so later commands (kill --all, pause, delete, ps, update) reopen it.
#[derive(Debug, Serialize, Deserialize)]
pub struct CgroupHandle {
    pub(super) mode: CgroupMode,
    pub(super) dirs: Vec<CgroupDir>,
    /// Directories `create` made (parents before children), so `destroy`
    /// removes those and nothing that existed before. Behind a lock because
    /// `create` takes `&self`.
    #[serde(default)]
    pub(super) created: Mutex<Vec<PathBuf>>,
    /// The container's own directory existed before `create` (a `cgroupsPath`
    /// naming a pod's or the caller's cgroup): `destroy` then kills nothing in it
    /// and removes nothing it did not make.
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) preexisting: std::sync::atomic::AtomicBool,
    /// `created` is a plan written before `create` ran (see
    /// [`CgroupHandle::planned`]): every directory of the paths, whether it
    /// existed or not. Nothing was checked, so `destroy` kills nothing and only
    /// removes the listed directories that are empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) tentative: bool,
    /// With the systemd driver: the unit holding the cgroup (see `systemd/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) systemd: Option<super::systemd::SystemdUnit>,
    /// Rootless: the hierarchies (controllers joined by `,`) the user could not
    /// create a cgroup in, left out of `dirs` (see `rootless.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) skipped: Vec<String>,
}

impl Clone for CgroupHandle {
    fn clone(&self) -> Self {
        CgroupHandle {
            mode: self.mode,
            dirs: self.dirs.clone(),
            created: Mutex::new(self.created_dirs().clone()),
            preexisting: self
                .preexisting
                .load(std::sync::atomic::Ordering::Relaxed)
                .into(),
            tentative: self.tentative,
            systemd: self.systemd.clone(),
            skipped: self.skipped.clone(),
        }
    }
}

impl PartialEq for CgroupHandle {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode
            && self.dirs == other.dirs
            && *self.created_dirs() == *other.created_dirs()
            && self.is_preexisting() == other.is_preexisting()
            && self.tentative == other.tentative
            && self.systemd == other.systemd
            && self.skipped == other.skipped
    }
}

impl CgroupHandle {
    /// Resolve where the container's cgroup goes from `linux.cgroupsPath`
    /// (`None` = runc's default `<caller's own cgroup>/<id>`; relative =
    /// joined to the caller's own cgroup; absolute = from the hierarchy
    /// root), the id, and the host layout (v1 / v2 / hybrid detected from
    /// `/proc/self/mountinfo`). Nothing is created. With `systemd`, the
    /// path is `slice:prefix:name` and names a transient scope (`systemd/`).
    pub fn resolve(
        cgroups_path: Option<&str>,
        id: &str,
        systemd: bool,
    ) -> Result<Self, CgroupError> {
        Self::resolve_as(cgroups_path, id, systemd, false)
    }

    /// [`CgroupHandle::resolve`] for a caller that may be `rootless`: with the
    /// systemd driver, the scope then belongs to the user's own systemd manager.
    pub fn resolve_as(
        cgroups_path: Option<&str>,
        id: &str,
        systemd: bool,
        rootless: bool,
    ) -> Result<Self, CgroupError> {
        if systemd {
            return Self::resolve_systemd(cgroups_path, id, rootless);
        }
        let layout = HostLayout::detect()?;
        let text = fsio::read_string(Path::new(PROC_SELF_CGROUP))?;
        let entries = parse_proc_cgroup(&text).ok_or_else(|| {
            CgroupError::parse(PROC_SELF_CGROUP, "a line is not \"id:controllers:/path\"")
        })?;
        Self::from_layout(&layout, &entries, cgroups_path, id)
    }

    /// The pure part of [`CgroupHandle::resolve`]: the same rules applied to
    /// a given layout and `/proc/self/cgroup` content.
    pub fn from_layout(
        layout: &HostLayout,
        own: &[ProcCgroupEntry],
        cgroups_path: Option<&str>,
        id: &str,
    ) -> Result<Self, CgroupError> {
        let req = path::requested(cgroups_path, id)?;
        let dirs = layout
            .hierarchies
            .iter()
            .map(|h| {
                let p = path::cgroup_path(&req, path::own_cgroup(h, own), h)?;
                Ok(CgroupDir {
                    version: h.version,
                    controllers: h.controllers.clone(),
                    mount_point: h.mount_point.clone(),
                    path: path::host_dir(h, &p)?,
                })
            })
            .collect::<Result<Vec<_>, CgroupError>>()?;
        Ok(CgroupHandle {
            mode: layout.mode,
            dirs,
            created: Mutex::new(Vec::new()),
            preexisting: false.into(),
            tentative: false,
            systemd: None,
            skipped: Vec::new(),
        })
    }

    /// v1, v2 or hybrid.
    pub fn mode(&self) -> CgroupMode {
        self.mode
    }

    /// The container's directory in every hierarchy.
    pub fn dirs(&self) -> &[CgroupDir] {
        &self.dirs
    }

    /// The directory above the hierarchies, open for a run of operations.
    pub(super) fn base(&self) -> fsio::Base {
        fsio::Base::open(self.dirs.iter().map(|d| d.mount_point.as_path()))
    }

    /// The directories `create` made, parents first.
    pub fn created_dirs(&self) -> MutexGuard<'_, Vec<PathBuf>> {
        // A panic while holding the lock cannot leave the list half-updated
        // in a way that matters (pushes are atomic), so take it anyway.
        self.created.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The directory holding `controller` files of the given hierarchy kind.
    pub fn dir_for(&self, version: HierarchyVersion, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| {
                d.version == version
                    && (version == HierarchyVersion::V2
                        || d.controllers.iter().any(|c| c == controller))
            })
            .map(|d| d.path.as_path())
    }

    /// For mounting a `cgroup` type mount inside the container: list of
    /// (hierarchy name e.g. "cpu,cpuacct", "memory" or "name=systemd", host
    /// dir of this container's cgroup) for v1 and hybrid hosts (the hybrid
    /// host's v2 hierarchy is left out, see [`CgroupHandle::unified_dir`]), or
    /// the single v2 dir with an empty name.
    pub fn mount_sources(&self) -> Vec<(String, PathBuf)> {
        match self.mode {
            CgroupMode::V2 => self
                .dirs
                .iter()
                .map(|d| (String::new(), d.path.clone()))
                .collect(),
            _ => self
                .dirs
                .iter()
                .filter(|d| d.version == HierarchyVersion::V1)
                .map(|d| (d.controllers.join(","), d.path.clone()))
                .collect(),
        }
    }

    /// v2 only: the container's cgroup dir path (for clone3 CLONE_INTO_CGROUP).
    pub fn v2_dir(&self) -> Option<PathBuf> {
        match self.mode {
            CgroupMode::V2 => self
                .dir_for(HierarchyVersion::V2, "")
                .map(Path::to_path_buf),
            _ => None,
        }
    }

    /// Hybrid only: the container's directory in the v2 hierarchy that sits
    /// beside the v1 ones (`/sys/fs/cgroup/unified/...`).
    #[cfg(test)]
    pub fn unified_dir(&self) -> Option<PathBuf> {
        match self.mode {
            CgroupMode::Hybrid => self
                .dir_for(HierarchyVersion::V2, "")
                .map(Path::to_path_buf),
            _ => None,
        }
    }

    /// Move `pid` into the container's cgroup in every hierarchy. With the
    /// systemd driver the first pid (the init) starts the scope.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        if let Some(done) = self.systemd_add_pid(pid) {
            return done;
        }
        self.add_pid_fs(pid)
    }

    /// [`CgroupHandle::add_pid`] through cgroupfs only.
    pub(super) fn add_pid_fs(&self, pid: i32) -> Result<(), CgroupError> {
        let base = self.base();
        for d in &self.dirs {
            let path = d.path.join("cgroup.procs");
            let mut attempt = 0;
            loop {
                match base.write_value(&path, &pid.to_string()) {
                    Ok(()) => break,
                    // A task still in TASK_NEW cannot move yet; runc retries.
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) && attempt < 5 => {
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(30));
                    }
                    Err(source) => return Err(CgroupError::AddPid { pid, path, source }),
                }
            }
        }
        Ok(())
    }

    /// The hierarchy whose tree is read to list members: the freezer's (the
    /// one `signal_all` freezes), else pids, memory, or any.
    pub(super) fn primary_dir(&self) -> Option<&Path> {
        if self.mode == CgroupMode::V2 {
            return self.v2_dir_ref();
        }
        ["freezer", "pids", "memory", "cpu", "devices"]
            .iter()
            .find_map(|c| self.dir_for(HierarchyVersion::V1, c))
            .or_else(|| self.dirs.first().map(|d| d.path.as_path()))
    }

    fn v2_dir_ref(&self) -> Option<&Path> {
        self.dir_for(HierarchyVersion::V2, "")
    }

    /// Every process in the container's cgroup and its sub-cgroups, sorted.
    /// A cgroup that does not exist (yet, or any more) has none.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        match self.primary_dir() {
            Some(d) => pids_under(d),
            None => Ok(Vec::new()),
        }
    }
}

/// Every pid in `dir` and below, sorted and deduplicated.
pub(super) fn pids_under(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let tree = match fsio::walk_cgroup_tree(dir) {
        Ok(t) => t,
        // Removed since the check: systemd removes an emptied scope itself.
        Err(CgroupError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    let mut all = Vec::new();
    for d in tree {
        match fsio::read_procs(&d) {
            Ok(p) => all.extend(p),
            // Removed between the walk and the read.
            Err(CgroupError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    all.sort_unstable();
    all.dedup();
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::super::mountinfo::{fixtures::*, parse_mountinfo};
    use super::*;

    fn handle(mountinfo: &str, proc_cgroup: &str, path: Option<&str>) -> CgroupHandle {
        let layout =
            HostLayout::from_mounts(&parse_mountinfo(mountinfo), |_| vec!["hugetlb".into()])
                .unwrap_or_else(|e| panic!("{e}"));
        let own = parse_proc_cgroup(proc_cgroup).unwrap_or_default();
        CgroupHandle::from_layout(&layout, &own, path, "ctr").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn hybrid_handle_places_controllers() {
        let h = handle(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP, Some("/husk/ctr"));
        assert_eq!(h.mode(), CgroupMode::Hybrid);
        assert_eq!(
            h.dir_for(HierarchyVersion::V1, "memory"),
            Some(Path::new("/sys/fs/cgroup/memory/husk/ctr"))
        );
        assert_eq!(
            h.dir_for(HierarchyVersion::V2, "hugetlb"),
            Some(Path::new("/sys/fs/cgroup/unified/husk/ctr"))
        );
        assert_eq!(h.v2_dir(), None);
        assert_eq!(
            h.unified_dir(),
            Some(PathBuf::from("/sys/fs/cgroup/unified/husk/ctr"))
        );
        assert_eq!(
            h.primary_dir(),
            Some(Path::new("/sys/fs/cgroup/freezer/husk/ctr"))
        );
        let sources = h.mount_sources();
        assert_eq!(sources.len(), 9);
        assert_eq!(
            sources[8],
            (
                "name=systemd".to_string(),
                PathBuf::from("/sys/fs/cgroup/systemd/husk/ctr")
            )
        );
    }

    #[test]
    fn v1_handle_mount_sources_use_comounted_names() {
        let h = handle(V1_MOUNTINFO, V1_PROC_CGROUP, None);
        let names: Vec<String> = h.mount_sources().into_iter().map(|s| s.0).collect();
        assert!(names.contains(&"cpu,cpuacct".to_string()));
        assert!(names.contains(&"net_cls,net_prio".to_string()));
        assert_eq!(
            h.dir_for(HierarchyVersion::V1, "cpuacct"),
            Some(Path::new(
                "/sys/fs/cgroup/cpu,cpuacct/system.slice/ssh.service/ctr"
            ))
        );
    }

    #[test]
    fn v2_handle_has_one_dir() {
        let h = handle(V2_MOUNTINFO, V2_PROC_CGROUP, Some("machine.slice/ctr"));
        let want = PathBuf::from(
            "/sys/fs/cgroup/user.slice/user-0.slice/session-1.scope/machine.slice/ctr",
        );
        assert_eq!(h.v2_dir(), Some(want.clone()));
        assert_eq!(h.mount_sources(), vec![(String::new(), want)]);
    }

    #[test]
    fn handle_round_trips_through_json_with_created_dirs() {
        let h = handle(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP, Some("/a/b"));
        h.created_dirs()
            .push(PathBuf::from("/sys/fs/cgroup/pids/a"));
        let json = serde_json::to_string(&h).unwrap_or_default();
        let back: CgroupHandle =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(back, h);
        assert_eq!(back.clone(), h);
        // Older state files without the list still load.
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("created");
        }
        let old: Result<CgroupHandle, _> = serde_json::from_value(v);
        assert!(old.map(|h| h.created_dirs().is_empty()).unwrap_or(false));
    }

    #[test]
    fn a_plan_lists_every_directory_once_parents_first_and_stays_tentative() {
        let h = handle(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP, Some("/a/b"));
        let p = h.planned();
        let planned = p.created_dirs().clone();
        assert!(p.tentative && p.is_preexisting());
        assert!(!h.tentative && !h.is_preexisting() && h.created_dirs().is_empty());
        let mem_a = PathBuf::from("/sys/fs/cgroup/memory/a");
        let mem_b = mem_a.join("b");
        let pos = |d: &PathBuf| planned.iter().position(|x| x == d);
        assert!(pos(&mem_a) < pos(&mem_b) && pos(&mem_b).is_some());
        // Two directories per hierarchy, none twice.
        assert_eq!(planned.len(), 2 * h.dirs().len());
        let mut dedup = planned.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), planned.len());
        // The mark survives the state file; an exact handle writes none.
        let json = serde_json::to_string(&p).unwrap_or_default();
        let back: CgroupHandle =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert!(back.tentative && back == p);
        let exact = serde_json::to_string(&h).unwrap_or_default();
        assert!(!exact.contains("tentative"), "{exact}");
    }

    #[test]
    fn systemd_driver_refuses_a_cgroupfs_path() {
        let e = CgroupHandle::resolve(Some("/a/b"), "x", true)
            .err()
            .map(|e| e.to_string());
        assert!(e
            .unwrap_or_default()
            .contains("expected \"slice:prefix:name\""));
    }
}
