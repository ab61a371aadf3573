//! Creating and removing the container's cgroup directories.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::error::CgroupError;
use super::fsio::{self, Base};
use super::handle::{pids_under, CgroupDir, CgroupHandle};
use super::layout::HierarchyVersion;

/// SIGKILL rounds `destroy` tries before giving up; with the back-off below
/// that is about three seconds.
const KILL_ROUNDS: u32 = 40;
/// The longest pause between two rounds.
const MAX_BACKOFF: Duration = Duration::from_millis(100);

impl CgroupHandle {
    /// Create the container's directory in every hierarchy, with missing
    /// parents. The directories made are remembered (and serialized with the
    /// handle) so `destroy` removes only those. On v1, every level of the
    /// cpuset hierarchy gets `cpuset.cpus`/`cpuset.mems` from its parent if
    /// empty (tasks cannot join an empty cpuset); on v2, each parent enables
    /// the controllers it has for its children, best effort as runc does.
    /// On failure, what this call made is removed again. With the systemd
    /// driver this only checks that systemd is reachable: systemd makes the
    /// scope when the init's pid is added.
    pub fn create(&self) -> Result<(), CgroupError> {
        if let Some(done) = self.systemd_create() {
            return done;
        }
        self.create_fs()
    }

    /// [`CgroupHandle::create`] through cgroupfs only.
    pub(super) fn create_fs(&self) -> Result<(), CgroupError> {
        let mut made = Vec::new();
        match self.create_all(&mut made) {
            Ok(()) => {
                self.created_dirs().extend(made);
                Ok(())
            }
            Err(e) => {
                let base = self.base();
                for d in made.iter().rev() {
                    let _ = base.rmdir(d);
                }
                Err(e)
            }
        }
    }

    /// Whether the container's own directory existed before `create`, or may
    /// have: a plan written before `create` ran (see [`CgroupHandle::planned`])
    /// does not know. Either way its processes are not ours to kill by cgroup.
    pub fn is_preexisting(&self) -> bool {
        self.preexisting.load(Ordering::Relaxed) || self.tentative
    }

    /// What `create` may make, recorded in the `creating` state before it runs,
    /// so a husk killed between a mkdir and the next state write leaves nothing
    /// `delete --force` cannot find: every directory of each path below its
    /// hierarchy's root, parents first, marked tentative. Nothing is looked up:
    /// a lookup of a missing name in cgroupfs waits for the parent directory's
    /// lock, which every other container's mkdir and rmdir there holds, and
    /// `create` learns the same from mkdir's EEXIST. The state written after
    /// `create` holds the exact handle.
    pub fn planned(&self) -> CgroupHandle {
        let mut h = self.clone();
        if self.systemd.is_some() {
            return h;
        }
        let mut all: Vec<PathBuf> = Vec::new();
        for d in &self.dirs {
            let Ok(rel) = d.path.strip_prefix(&d.mount_point) else {
                continue;
            };
            let mut current = d.mount_point.clone();
            for comp in rel.components() {
                current.push(comp);
                if !all.contains(&current) {
                    all.push(current.clone());
                }
            }
        }
        h.created_dirs().extend(all);
        h.tentative = true;
        h
    }

    fn create_all(&self, made: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
        let base = self.base();
        for d in &self.dirs {
            let before = made.len();
            create_one(&base, d, made)?;
            // No stat first: a leaf `create_one` did not make was there already.
            if !made[before..].contains(&d.path) {
                self.preexisting.store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// Makes `d`'s directory and its missing parents; what it made goes to `made`.
pub(super) fn create_one(
    base: &Base,
    d: &CgroupDir,
    made: &mut Vec<PathBuf>,
) -> Result<(), CgroupError> {
    {
        {
            let rel = d
                .path
                .strip_prefix(&d.mount_point)
                .map_err(|_| CgroupError::BadPath {
                    path: d.path.display().to_string(),
                    reason: format!("is not below its hierarchy {}", d.mount_point.display()),
                })?;
            let cpuset =
                d.version == HierarchyVersion::V1 && d.controllers.iter().any(|c| c == "cpuset");
            let mut current = d.mount_point.clone();
            for comp in rel.components() {
                // Only plain names: the handle may come from a state file.
                let Component::Normal(name) = comp else {
                    return Err(CgroupError::BadPath {
                        path: d.path.display().to_string(),
                        reason: "has a component that is not a plain name".into(),
                    });
                };
                if d.version == HierarchyVersion::V2 {
                    enable_controllers(base, &current);
                }
                let parent = current.clone();
                current.push(name);
                match base.mkdir(&current) {
                    Ok(()) => made.push(current.clone()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(source) => {
                        return Err(CgroupError::Mkdir {
                            path: current,
                            source,
                        })
                    }
                }
                if cpuset {
                    inherit_cpuset(base, &parent, &current)?;
                }
            }
        }
        Ok(())
    }
}

impl CgroupHandle {
    /// Kill every process left (SIGKILL, thawing first so frozen ones can
    /// die), wait until the cgroup is empty (bounded), then remove the
    /// directories `create` made, deepest first, with any sub-cgroups the
    /// container made inside its own. Idempotent: missing directories are
    /// fine. A parent `create` made that now holds someone else's cgroup is
    /// left in place. With the systemd driver the scope is stopped between
    /// the kill and the removal, and one this handle did not start is left
    /// alone.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        if self.systemd_unit_not_ours() {
            return Ok(());
        }
        if self.tentative {
            self.remove_unverified();
            return Ok(());
        }
        if self.is_preexisting() {
            // Someone else's cgroup: its processes are not ours to kill (the
            // caller kills the init it started), and `created` holds no leaf.
            return self.remove_created(false).map(drop);
        }
        // The usual case, a container whose processes are all gone and that made
        // no sub-cgroups: one rmdir per directory. The kernel refuses (EBUSY) to
        // remove a cgroup with processes or children, so a busy leaf sends the
        // rest down the kill-and-walk path below, which finds what is left.
        if self.systemd.is_none() && self.remove_created(true)? {
            return Ok(());
        }
        self.kill_until_empty()?;
        self.systemd_stop()?;
        self.remove_created(false).map(drop)
    }

    /// Removes the directories `create` made, deepest first (a leaf with the
    /// sub-cgroups the container made inside it). With `empty_only`, a leaf gets
    /// one rmdir and no walk, and the first busy leaf stops the removal: `false`.
    fn remove_created(&self, empty_only: bool) -> Result<bool, CgroupError> {
        let created = self.created_dirs().clone();
        let base = self.base();
        for dir in created.iter().rev() {
            let is_leaf = self.dirs.iter().any(|d| &d.path == dir);
            if is_leaf && !empty_only {
                remove_tree(dir)?;
                continue;
            }
            match base.rmdir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {
                    if is_leaf {
                        return Ok(false);
                    }
                    // Another container's cgroup lives there now.
                    tracing::debug!(dir = %dir.display(), "shared parent cgroup kept");
                }
                Err(source) => {
                    return Err(CgroupError::Rmdir {
                        path: dir.clone(),
                        source,
                    })
                }
            }
        }
        self.created_dirs().clear();
        Ok(true)
    }

    /// A tentative plan's directories, deepest first, each only if it is empty
    /// (rmdir refuses a cgroup with processes or children): whichever existed
    /// before and is in use stays.
    fn remove_unverified(&self) {
        let planned = self.created_dirs().clone();
        let base = self.base();
        for dir in planned.iter().rev() {
            match base.rmdir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::debug!(dir = %dir.display(), "planned cgroup kept: {e}"),
            }
        }
        self.created_dirs().clear();
    }

    /// Every pid in any of the container's hierarchies (a failed `add_pid`
    /// can leave a process in some only).
    fn all_pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut all = Vec::new();
        for d in &self.dirs {
            all.extend(pids_under(&d.path)?);
        }
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    fn kill_until_empty(&self) -> Result<(), CgroupError> {
        let mut backoff = Duration::from_millis(1);
        let mut pids = self.all_pids()?;
        for _ in 0..KILL_ROUNDS {
            if pids.is_empty() {
                return Ok(());
            }
            // A frozen task only dies once thawed.
            if let Err(e) = self.thaw() {
                tracing::debug!("thaw before kill: {e}");
            }
            for &pid in &pids {
                // ESRCH: already gone, which is the point.
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
            pids = self.all_pids()?;
        }
        if pids.is_empty() {
            return Ok(());
        }
        let path = self
            .primary_dir()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Err(CgroupError::StillPopulated {
            path,
            pids,
            attempts: KILL_ROUNDS,
        })
    }
}

/// v2: let `dir`'s children use every controller `dir` has. Best effort,
/// as in runc: a cgroup with processes of its own cannot enable domain
/// controllers, and a resource that needs a missing one fails later with a
/// message naming it.
fn enable_controllers(base: &Base, dir: &Path) {
    let Ok(available) = base.read_string(&dir.join("cgroup.controllers")) else {
        return;
    };
    let enabled = base
        .read_string(&dir.join("cgroup.subtree_control"))
        .unwrap_or_default();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let missing: Vec<String> = available
        .split_whitespace()
        .filter(|c| !enabled.contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return;
    }
    let file = dir.join("cgroup.subtree_control");
    if base.write_value(&file, &missing.join(" ")).is_err() {
        for c in &missing {
            if let Err(e) = base.write_value(&file, c) {
                tracing::debug!(file = %file.display(), "cannot enable {c}: {e}");
            }
        }
    }
}

/// v1 cpuset: give `dir` its parent's cpus/mems where it has none.
fn inherit_cpuset(base: &Base, parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let current = base.read_string(&dir.join(file))?;
        if !current.trim().is_empty() {
            continue;
        }
        let value = base.read_string(&parent.join(file))?;
        let value = value.trim();
        let path = dir.join(file);
        base.write_value(&path, value)
            .map_err(|source| CgroupError::Write {
                field: format!("create (inherit {file} from {})", parent.display()),
                path,
                value: value.to_string(),
                source,
            })?;
    }
    Ok(())
}

/// rmdir `dir` and every cgroup below it, deepest first. Retries briefly on
/// EBUSY: a killed task can still be leaving.
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    if !dir.exists() {
        return Ok(());
    }
    let tree = fsio::walk_cgroup_tree(dir)?;
    for d in tree.iter().rev() {
        fsio::remove_cgroup_dir(d)?;
    }
    Ok(())
}
