//! The systemd cgroup driver (`--systemd-cgroup`): systemd creates the
//! container's cgroup as a transient scope and owns it; husk asks it to over
//! D-Bus and does the rest through the cgroupfs code, like runc.
//!
//! **Naming** (`name.rs`, runc's rules): `linux.cgroupsPath` is
//! `slice:prefix:name` and the unit is `<prefix>-<name>.scope` in `slice`
//! (empty: `system.slice`); no cgroupsPath means `:husk:<id>`. The scope's
//! cgroup is `<expanded slice>/<unit>` from every hierarchy's root
//! (`a-b.slice` expands to `/a.slice/a-b.slice`). The handle gets the usual
//! [`CgroupDir`]s for that path, so pause/resume, kill --all, ps, stats,
//! exec and the cgroup mounts work on it unchanged, and it is stored in
//! state.json with a `systemd` member naming the unit.
//!
//! **Lifecycle**, mapped onto the handle's calls during `create`:
//! 1. `create` (before the init is cloned): only checks that systemd runs
//!    and a bus is reachable, so a host without systemd fails with a clear
//!    error before anything is made.
//! 2. `apply` (before the clone): the scope does not exist yet; the
//!    resources are checked (conversion errors surface now) and kept.
//! 3. `add_pid(init)` (after the clone, in the parent): `StartTransientUnit`
//!    with `PIDs=[init]`, `Delegate=true`, `Slice=`, `Description=`,
//!    `DefaultDependencies=false`, accounting on, and the resources systemd
//!    has properties for (`props.rs`); wait for the job's `JobRemoved`
//!    (systemd has moved the pid then; checked in `/proc/<pid>/cgroup`).
//!    An existing unit of that name is reset (a failed leftover) and tried
//!    once more, then refused. Then the cgroupfs code makes what systemd did
//!    not (v1 hierarchies systemd does not manage, v2 parents' controllers),
//!    joins the pid there and writes every resource to the scope's files.
//! 4. Later `apply`s (`update`): `SetUnitProperties(runtime)`, then the
//!    files. Later `add_pid`s (`exec`) write `cgroup.procs` of the scope, as
//!    runc does (the scope is delegated).
//! 5. `destroy`: kill what is left, `StopUnit` (wait for the job),
//!    `ResetFailedUnit`, then remove what the cgroupfs code made. A scope
//!    this handle did not start is not touched at all: after a `UnitExists`
//!    failure its directories are the other container's.
//!
//! **Threads.** The D-Bus calls run in a forked helper process
//! (`helper.rs`), never in the runtime: zbus's blocking API starts threads
//! (its connection executor and async-io's global reactor, which never
//! exits), and the runtime must stay single-threaded (inits are cloned from
//! it; `husk run` blocks the signals it forwards only after `create`). The
//! helper is forked after the init's clone, so even its short life overlaps
//! no clone.
//!
//! Not done: `org.systemd.property.*` annotations, device rules as
//! `DeviceAllow=` (the cgroupfs device code applies them to the scope), a
//! `.slice` name (runc's kubelet case), and systemd's private socket when no
//! bus daemon runs (see `bus.rs`).
//!
//! **Rootless** (`user`): the scope is asked of the user's own manager on the
//! session bus (`DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`), in
//! `user.slice` by default, so its cgroup is
//! `/user.slice/user-UID.slice/user@UID.service/<slice>/<unit>`; with
//! `Delegate=true` the user owns it and the cgroupfs code applies the limits.

mod bus;
pub(crate) mod helper;
mod job;
mod name;
mod preflight;
mod props;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::CgroupError;
use super::handle::{CgroupDir, CgroupHandle};
use super::layout::{CgroupMode, HostLayout};
use super::path;

pub use name::{is_systemd_cgroups_path, ScopeName};

/// Starting the scope: systemd's job, plus connecting.
const START_TIMEOUT: Duration = Duration::from_secs(40);
/// Stopping it or setting properties.
const CALL_TIMEOUT: Duration = Duration::from_secs(40);
/// How long the pid may take to show up in the scope after the job is done.
const MOVE_TIMEOUT: Duration = Duration::from_secs(2);
/// The directory that exists when systemd is the init (`sd_booted(3)`).
const SYSTEMD_RUNTIME_DIR: &str = "/run/systemd/system";
/// The note the helper sends once the unit exists.
const STARTED: &str = "started";

/// What went wrong in the systemd driver.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    /// `linux.cgroupsPath` is not a usable `slice:prefix:name`.
    #[error("linux.cgroupsPath {path:?}: {reason}")]
    BadPath {
        /// The value (or the part of it) refused.
        path: String,
        /// Why.
        reason: String,
    },
    /// systemd does not run here, or no bus to it is reachable.
    #[error("systemd cgroup driver: {0}")]
    Unavailable(String),
    /// A call to systemd failed.
    #[error("systemd cgroup driver: {op} {unit}: {reason}")]
    Call {
        /// What was asked: `start`, `stop`, `set properties of`.
        op: &'static str,
        /// The unit.
        unit: String,
        /// systemd's (or the bus's) answer.
        reason: String,
    },
}

/// The systemd side of a [`CgroupHandle`]: which unit holds the container.
/// Serialized into state.json with the handle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SystemdUnit {
    /// The scope, e.g. `husk-c1.scope`.
    pub unit: String,
    /// Its parent slice, e.g. `system.slice`.
    pub slice: String,
    /// The `name` part of cgroupsPath (the description says it).
    pub name: String,
    /// Whether this handle started the unit (so `destroy` may stop it).
    /// Shared by clones: the create path's undo copy is taken before the
    /// start and must see it.
    #[serde(serialize_with = "ser_flag", deserialize_with = "de_flag")]
    started: Arc<AtomicBool>,
    /// The resources `apply` got before the scope existed.
    #[serde(skip)]
    pending: Arc<Mutex<Option<LinuxResources>>>,
    /// Rootless: the unit belongs to the user's manager (session bus).
    #[serde(default, skip_serializing_if = "is_false")]
    pub user: bool,
    /// Rootless: the user manager's own cgroup, which the slice is below
    /// (`/user.slice/user-UID.slice/user@UID.service`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl PartialEq for SystemdUnit {
    fn eq(&self, other: &Self) -> bool {
        self.unit == other.unit
            && self.slice == other.slice
            && self.name == other.name
            && self.started() == other.started()
            && self.user == other.user
            && self.base == other.base
    }
}

fn ser_flag<S: Serializer>(f: &Arc<AtomicBool>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(f.load(Ordering::SeqCst))
}

fn de_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<AtomicBool>, D::Error> {
    Ok(Arc::new(AtomicBool::new(bool::deserialize(d)?)))
}

impl SystemdUnit {
    fn new(scope: &ScopeName, user: bool, base: &str) -> Self {
        SystemdUnit {
            user,
            base: base.to_string(),
            unit: scope.unit.clone(),
            slice: scope.slice.clone(),
            name: scope.name.clone(),
            started: Arc::new(AtomicBool::new(false)),
            pending: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether this handle started the unit.
    pub fn started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    fn scope(&self) -> ScopeName {
        ScopeName {
            slice: self.slice.clone(),
            unit: self.unit.clone(),
            name: self.name.clone(),
        }
    }

    fn call_err(&self, op: &'static str, reason: String) -> CgroupError {
        SystemdError::Call {
            op,
            unit: self.unit.clone(),
            reason,
        }
        .into()
    }
}

impl CgroupHandle {
    /// [`CgroupHandle::resolve`] for the systemd driver: the scope's
    /// directories in every hierarchy of this host. Nothing is created.
    pub(super) fn resolve_systemd(
        cgroups_path: Option<&str>,
        id: &str,
        rootless: bool,
    ) -> Result<Self, CgroupError> {
        let layout = HostLayout::detect()?;
        if rootless {
            let uid = crate::rootless::host_euid();
            return Self::from_layout_systemd_user(&layout, cgroups_path, id, uid);
        }
        Self::from_layout_systemd(&layout, cgroups_path, id)
    }

    /// Rootless: the scope under the manager of user `uid`
    /// (`user@UID.service`, whose cgroup systemd delegates to the user).
    pub fn from_layout_systemd_user(
        layout: &HostLayout,
        cgroups_path: Option<&str>,
        id: &str,
        uid: u32,
    ) -> Result<Self, CgroupError> {
        let scope = name::parse_with(cgroups_path, id, name::DEFAULT_USER_SLICE)?;
        let base = format!("/user.slice/user-{uid}.slice/user@{uid}.service");
        Self::for_scope(layout, scope, &base, true)
    }

    /// The pure part of [`CgroupHandle::resolve_systemd`].
    pub fn from_layout_systemd(
        layout: &HostLayout,
        cgroups_path: Option<&str>,
        id: &str,
    ) -> Result<Self, CgroupError> {
        Self::for_scope(layout, name::parse(cgroups_path, id)?, "", false)
    }

    fn for_scope(
        layout: &HostLayout,
        scope: ScopeName,
        base: &str,
        user: bool,
    ) -> Result<Self, CgroupError> {
        let cgroup = format!("{base}{}", scope.cgroup_path()?);
        let dirs = layout
            .hierarchies
            .iter()
            .map(|h| {
                Ok(CgroupDir {
                    version: h.version,
                    controllers: h.controllers.clone(),
                    mount_point: h.mount_point.clone(),
                    path: path::host_dir(h, &cgroup)?,
                })
            })
            .collect::<Result<Vec<_>, CgroupError>>()?;
        Ok(CgroupHandle {
            preexisting: false.into(),
            tentative: false,
            mode: layout.mode,
            dirs,
            created: Mutex::new(Vec::new()),
            systemd: Some(SystemdUnit::new(&scope, user, base)),
            skipped: Vec::new(),
        })
    }

    /// The systemd unit holding the container, with the systemd driver.
    #[cfg(test)]
    pub fn systemd_unit(&self) -> Option<&SystemdUnit> {
        self.systemd.as_ref()
    }

    /// The systemd part of `create`: `None` to go on with the cgroupfs code.
    pub(super) fn systemd_create(&self) -> Option<Result<(), CgroupError>> {
        self.systemd.as_ref().filter(|sd| !sd.started())?;
        Some(preflight::preflight(
            self.systemd.as_ref().is_some_and(|sd| sd.user),
        ))
    }

    /// The systemd part of `apply`: `None` to go on with the cgroupfs code.
    pub(super) fn systemd_apply(&self, r: &LinuxResources) -> Option<Result<(), CgroupError>> {
        let sd = self.systemd.as_ref()?;
        let v2 = self.mode == CgroupMode::V2;
        if !sd.started() {
            // Check the conversions now, before the init exists.
            let checked = props::resource_properties(r, v2, u32::MAX).map(|_| {
                *sd.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(r.clone());
            });
            return Some(checked);
        }
        Some(self.systemd_update(sd, r, v2))
    }

    fn systemd_update(
        &self,
        sd: &SystemdUnit,
        r: &LinuxResources,
        v2: bool,
    ) -> Result<(), CgroupError> {
        let (_, fs) = props::resource_properties(r, v2, u32::MAX)?;
        let answer = helper::run_job(
            CALL_TIMEOUT,
            job::BusJob::SetProperties {
                user: sd.user,
                unit: sd.unit.clone(),
                v2,
                resources: Box::new(r.clone()),
            },
        );
        answer
            .result
            .map_err(|e| sd.call_err("set properties of", e))?;
        self.apply_fs(&fs)
    }

    /// The systemd part of `add_pid`: the first pid (the init) starts the
    /// scope; `None` to go on with the cgroupfs code (later pids, `exec`).
    pub(super) fn systemd_add_pid(&self, pid: i32) -> Option<Result<(), CgroupError>> {
        let sd = self.systemd.as_ref().filter(|sd| !sd.started())?;
        Some(self.start_scope(sd, pid))
    }

    fn start_scope(&self, sd: &SystemdUnit, pid: i32) -> Result<(), CgroupError> {
        let v2 = self.mode == CgroupMode::V2;
        let pending = sd.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        let resources = pending.clone().unwrap_or_default();
        let (_, fs) = props::resource_properties(&resources, v2, u32::MAX)?;
        let upid =
            u32::try_from(pid).map_err(|_| sd.call_err("start", format!("invalid pid {pid}")))?;
        let answer = helper::run_job(
            START_TIMEOUT,
            job::BusJob::StartScope {
                user: sd.user,
                slice: sd.slice.clone(),
                unit: sd.unit.clone(),
                name: sd.name.clone(),
                pid: upid,
                v2,
                resources: Box::new(resources),
            },
        );
        if answer.notes.iter().any(|n| n == STARTED) {
            sd.started.store(true, Ordering::SeqCst);
        }
        answer.result.map_err(|e| sd.call_err("start", e))?;
        self.wait_moved(sd, pid)?;
        // What systemd does not do: v1 hierarchies it does not manage, the
        // v2 parents' subtree_control for controllers it does not enable.
        self.create_fs()?;
        self.add_pid_fs(pid)?;
        if pending.is_some() {
            self.apply_fs(&fs)?;
        }
        Ok(())
    }

    /// Wait until `/proc/<pid>/cgroup` shows the scope (the v2 entry, or
    /// v1's `name=systemd`).
    fn wait_moved(&self, sd: &SystemdUnit, pid: i32) -> Result<(), CgroupError> {
        let want = sd
            .scope()
            .cgroup_path()
            .map(|p| format!("{}{p}", sd.base))
            .map_err(|e| sd.call_err("start", e.to_string()))?;
        let file = format!("/proc/{pid}/cgroup");
        let deadline = Instant::now() + MOVE_TIMEOUT;
        loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if in_cgroup(&text, &want) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(sd.call_err(
                    "start",
                    format!(
                        "systemd reported the scope started but pid {pid} is not in {want} ({file}: {:?})",
                        text.trim()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// With the systemd driver, whether the scope is someone else's: this
    /// handle never started it (the start failed, e.g. because a unit of that
    /// name exists). `destroy` must then leave the cgroup alone: its
    /// directories are the other unit's.
    pub(super) fn systemd_unit_not_ours(&self) -> bool {
        self.systemd.as_ref().is_some_and(|sd| !sd.started())
    }

    /// The systemd part of `destroy`, after the members are killed: stop the
    /// unit this handle started and let systemd forget it, then remove what
    /// is left of the scope's cgroup (sub-cgroups the container made).
    pub(super) fn systemd_stop(&self) -> Result<(), CgroupError> {
        let Some(sd) = self.systemd.as_ref().filter(|sd| sd.started()) else {
            return Ok(());
        };
        let answer = helper::run_job(
            CALL_TIMEOUT,
            job::BusJob::Stop {
                user: sd.user,
                unit: sd.unit.clone(),
            },
        );
        let result = answer.result.map_err(|e| sd.call_err("stop", e))?;
        if !result.is_empty() && result != "done" {
            tracing::warn!("stopping {}: the job ended with \"{result}\"", sd.unit);
        }
        sd.started.store(false, Ordering::SeqCst);
        for d in &self.dirs {
            remove_leftover(&d.path)?;
        }
        Ok(())
    }
}

/// Whether `/proc/<pid>/cgroup` text puts the process in `path` (v2's `0::`
/// line or v1's `name=systemd` one).
fn in_cgroup(proc_cgroup: &str, path: &str) -> bool {
    proc_cgroup.lines().any(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrl, p) = (parts.next(), parts.next(), parts.next());
        matches!(ctrl, Some("" | "name=systemd")) && p == Some(path)
    })
}

/// rmdir a cgroup and everything below it, deepest first. Gone is fine:
/// systemd removes the scope's cgroup itself, maybe while this runs; a
/// cgroup still busy with a dying task is retried for a while.
fn remove_leftover(dir: &Path) -> Result<(), CgroupError> {
    if !dir.exists() {
        return Ok(());
    }
    let tree = match super::fsio::walk_cgroup_tree(dir) {
        Ok(t) => t,
        Err(CgroupError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    for d in tree.iter().rev() {
        super::fsio::remove_cgroup_dir(d)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
