//! Per-container state on disk: `<root>/<id>/state.json`, an exclusive lock per
//! container, and the status derived from the live process.

mod file;
mod lock;
mod time;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use file::{create_dir, ensure_root, remove_dir, replace_atomic};
pub use lock::Lock;
pub use time::rfc3339_nano;

/// Name of the fifo the container's init blocks on until `start`.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";

/// Errors about a container's on-disk state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No container with this id under the state root.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// The id is taken.
    #[error("container with id {0} already exists")]
    Exists(String),
    /// The id has characters runc refuses (path separators, `..`, ...).
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.', not starting with '.'")]
    InvalidId(String),
    /// A filesystem operation on the state directory failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The state root is not a private directory of the user running husk.
    #[error("state root {path}: {reason}")]
    UnsafeRoot {
        /// The state root.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another husk command holds the container's lock for too long.
    #[error(
        "container {id} is locked by another husk command (waited {waited_secs} s for {path})"
    )]
    LockTimeout {
        /// The container id.
        id: String,
        /// Its state directory.
        path: PathBuf,
        /// How long we waited.
        waited_secs: u64,
    },
    /// The init's start time (the guard against pid reuse) could not be read.
    #[error("read the start time of the container's init (pid {pid}) from /proc/{pid}/stat")]
    StartTime {
        /// The init's pid.
        pid: i32,
    },
    /// state.json could not be parsed.
    #[error("{path}: corrupt state: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// state.json could not be parsed and was written before the machine last
    /// booted: debris of a crash (state is not synced to disk, see
    /// `replace_atomic`). Nothing of that container can still exist: `delete`
    /// removes its directory.
    #[error("{path}: unreadable state written before the last boot (left by a crash): {source}")]
    Stale {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// Whether a file last modified at `mtime` (seconds since the epoch) was written
/// before a boot at `btime` (seconds since the epoch, `/proc/stat`). Pure.
pub fn written_before_boot(mtime: i64, btime: u64) -> bool {
    mtime < i64::try_from(btime).unwrap_or(i64::MAX)
}

/// `path` was last written before the machine booted (false when unknown).
fn stale(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(path), procfs::boot_time_secs()) {
        (Ok(m), Ok(btime)) => written_before_boot(m.mtime(), btime),
        _ => false,
    }
}

pub fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
    let path = path.to_path_buf();
    move |source| StateError::Io { op, path, source }
}

/// OCI status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created; the init is not ready yet.
    Creating,
    /// Created; the init waits for `start`.
    Created,
    /// The user process runs.
    Running,
    /// Frozen through the cgroup freezer.
    Paused,
    /// The container's process has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// Everything husk remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// OCI version of the bundle's config.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Pid of the container's init on the host (0 once gone).
    pub pid: i32,
    /// Start time of the init (field 22 of /proc/pid/stat), guarding against pid reuse.
    pub init_start_time: u64,
    /// Status recorded at the last transition; [`State::refresh`] derives the live one.
    pub status: Status,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// Owner (empty for root, as runc).
    #[serde(default)]
    pub owner: String,
    /// The config's annotations.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup, for kill --all, pause, delete, ps, update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<crate::cgroups::CgroupHandle>,
    /// Hooks from the config, kept for `delete` (poststop) and `start` (poststart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// Whether the config asked for a terminal.
    #[serde(default)]
    pub terminal: bool,
    /// What `exec` needs from the config (its process, seccomp, namespaces), saved at
    /// create. Absent in states written before exec existed: exec reads the bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<crate::process::ExecBase>,
    /// `linux.intelRdt`: the resctrl group to clean up on delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_rdt: Option<crate::intelrdt::RdtPlan>,
    /// While `creating`: the husk process making the container (pid, start time).
    /// Once it is gone the state is final: a container it left half-made is
    /// `creating` while its init lives, else `stopped`; `delete --force` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<(i32, u64)>,
}

impl State {
    /// The directory holding this container's state.
    pub fn dir(root: &Path, id: &str) -> PathBuf {
        root.join(id)
    }

    /// Loads the state of `id` under `root`.
    pub fn load(root: &Path, id: &str) -> Result<State, StateError> {
        validate_id(id)?;
        let path = Self::dir(root, id).join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_string()))
            }
            Err(e) => {
                return Err(StateError::Io {
                    op: "read",
                    path,
                    source: e,
                })
            }
        };
        serde_json::from_slice(&data).map_err(|source| {
            if stale(&path) {
                StateError::Stale { path, source }
            } else {
                StateError::Corrupt { path, source }
            }
        })
    }

    /// Writes the state (0600) by atomic replace, not synced (see [`replace_atomic`]).
    pub fn save(&self, root: &Path) -> Result<(), StateError> {
        let dest = Self::dir(root, &self.id).join(STATE_FILE);
        let data = serde_json::to_vec(self).map_err(|source| StateError::Corrupt {
            path: dest.clone(),
            source,
        })?;
        replace_atomic(&dest, &data)
    }

    /// Derives the live status: a dead or replaced init means stopped; an init still
    /// waiting on the exec fifo means created; a frozen cgroup means paused. A
    /// `creating` state stays so while its creator or its init lives.
    pub fn refresh(&mut self, root: &Path) {
        let init_alive = self.pid > 0 && process_alive(self.pid, self.init_start_time);
        if matches!(self.status, Status::Creating) {
            let creator_alive = self
                .creator
                .is_some_and(|(pid, start)| process_alive(pid, start));
            if !creator_alive && !init_alive {
                self.status = Status::Stopped;
            }
            return;
        }
        if !init_alive {
            self.status = Status::Stopped;
            return;
        }
        // The fifo alone does not say the init still waits: a `start` killed
        // between its write and the fifo's removal leaves it behind.
        let fifo = Self::dir(root, &self.id).join(EXEC_FIFO);
        if fifo.exists() && holds_open(self.pid, &fifo) {
            self.status = Status::Created;
            return;
        }
        let frozen = self
            .cgroup
            .as_ref()
            .and_then(|c| c.is_frozen().ok())
            .unwrap_or(false);
        self.status = if frozen {
            Status::Paused
        } else {
            Status::Running
        };
    }
}

/// Whether `pid` has `path` open (compared by device and inode).
fn holds_open(pid: i32, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(want) = fs::metadata(path) else {
        return false;
    };
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        // Cannot look (not root?): trust the fifo, as before.
        return true;
    };
    fds.flatten().any(|e| {
        fs::metadata(e.path()).is_ok_and(|m| m.dev() == want.dev() && m.ino() == want.ino())
    })
}

/// Container ids: what runc accepts (`^[\w+-\.]+$`, and not `.`/`..`).
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// Reads (state char, start time) from /proc/<pid>/stat (the `procfs` crate parses
/// it: the command name may hold spaces and parentheses).
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    Some((stat.state, stat.starttime))
}

/// The start time of `pid` (field 22 of /proc/pid/stat): an error, never 0, since
/// 0 would turn off the pid-reuse check.
pub fn start_time(pid: i32) -> Result<u64, StateError> {
    match proc_stat(pid) {
        Some((_, t)) if t > 0 => Ok(t),
        _ => Err(StateError::StartTime { pid }),
    }
}

/// True if `pid` runs and is the same process we started (same start time), not a zombie.
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    match proc_stat(pid) {
        Some((state, start)) => {
            state != 'Z' && state != 'X' && (start_time == 0 || start == start_time)
        }
        None => false,
    }
}

/// Ids of all containers under `root` (directories holding a state.json).
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(StateError::Io {
                op: "read",
                path: root.to_path_buf(),
                source: e,
            })
        }
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// The OCI state document handed to hooks and seccomp agents.
pub fn oci_state_json(
    version: &str,
    id: &str,
    status: Status,
    pid: i32,
    bundle: &Path,
    annotations: &HashMap<String, String>,
) -> Vec<u8> {
    let mut v =
        serde_json::json!({"ociVersion": version, "id": id, "status": status, "bundle": bundle});
    if status != Status::Stopped {
        v["pid"] = pid.into();
    }
    if !annotations.is_empty() {
        v["annotations"] = serde_json::json!(annotations);
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

impl State {
    /// The OCI state document with `status` (for hooks).
    pub fn oci_json(&self, status: Status) -> Vec<u8> {
        oci_state_json(
            &self.oci_version,
            &self.id,
            status,
            self.pid,
            &self.bundle,
            &self.annotations,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_older_than_the_boot_are_stale() {
        assert!(written_before_boot(999, 1000));
        assert!(!written_before_boot(1000, 1000));
        assert!(!written_before_boot(1001, 1000));
        assert!(written_before_boot(0, u64::MAX));
    }

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn own_process_is_alive() {
        let pid = std::process::id() as i32;
        let (_, start) = proc_stat(pid).unwrap();
        assert!(process_alive(pid, start));
        assert!(!process_alive(pid, start + 1));
        assert_eq!(start_time(pid).unwrap(), start);
    }

    #[test]
    fn an_unreadable_start_time_is_an_error_not_zero() {
        // Pids never reach i32::MAX on Linux (pid_max <= 2^22).
        let e = start_time(i32::MAX).unwrap_err();
        assert!(e.to_string().contains("start time"), "{e}");
    }
}
