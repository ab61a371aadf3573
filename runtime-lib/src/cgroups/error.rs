//! The one error type of the cgroups module.
//!
//! Every variant that comes from a resource names the OCI field
//! (`linux.resources.memory.limit`), and every variant that comes from the
//! kernel names the file and carries the OS error, so a user can act on the
//! message without reading our code.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while resolving, creating, configuring,
/// inspecting or removing a container's cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The systemd driver (`--systemd-cgroup`) failed.
    #[error(transparent)]
    Systemd(#[from] super::systemd::SystemdError),

    /// Neither a cgroup v1 nor a cgroup v2 hierarchy is mounted.
    #[error("no cgroup hierarchy is mounted (nothing of type cgroup or cgroup2 in {mountinfo})")]
    NoHierarchy {
        /// The mountinfo file that was searched.
        mountinfo: PathBuf,
    },

    /// `linux.cgroupsPath` (or the container id used in its place) cannot
    /// name a cgroup.
    #[error("linux.cgroupsPath {path:?}: {reason}")]
    BadPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: String,
    },

    /// A value in `linux.resources` is invalid before anything is written.
    #[error("{field}: {reason}")]
    InvalidValue {
        /// The OCI field, e.g. `linux.resources.memory.swappiness`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A resource is set but the controller it needs has no hierarchy here.
    #[error("{field}: the {controller} cgroup controller isn't mounted on this host")]
    ControllerMissing {
        /// The OCI field that needs the controller.
        field: String,
        /// The controller, e.g. `net_cls`.
        controller: String,
    },

    /// Rootless: a resource is set but the user could not create the container's
    /// cgroup in the hierarchy of its controller.
    #[error(
        "{field}: cannot apply a {controller} limit: running rootless, the container \
         could not create or join a cgroup of its own there (no delegated cgroup for \
         this user; on a cgroup v2 host with systemd use --systemd-cgroup from the \
         user's session, or remove the limit)"
    )]
    RootlessNoCgroup {
        /// The OCI field that needs the controller.
        field: String,
        /// The controller, e.g. `memory`.
        controller: String,
    },

    /// A resource is set that this cgroup version cannot express.
    #[error("{field}: not supported on cgroup {version}: {reason}")]
    Unsupported {
        /// The OCI field.
        field: String,
        /// `v1` or `v2`.
        version: &'static str,
        /// What is missing and what to do instead.
        reason: String,
    },

    /// Writing a control file failed.
    #[error("{field}: cannot write {value:?} to {path}: {source}")]
    Write {
        /// The OCI field being applied (or the operation, e.g. `create`).
        field: String,
        /// The control file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The kernel accepted a value but stored another one (cpu.shares is
    /// clamped to [2, 262144] on v1).
    #[error("{field}: wrote {wanted} to {path} but the kernel kept {actual} (the allowed range ends at {actual})")]
    Clamped {
        /// The OCI field.
        field: String,
        /// The control file.
        path: PathBuf,
        /// The value written.
        wanted: String,
        /// The value read back.
        actual: String,
    },

    /// v1 refuses a memory limit below the current usage with EBUSY.
    #[error(
        "{field}: cannot set {path} to {limit}: below the current usage {usage} (peak {peak})"
    )]
    MemoryBelowUsage {
        /// The OCI field.
        field: String,
        /// The control file.
        path: PathBuf,
        /// The requested limit.
        limit: String,
        /// `memory.usage_in_bytes` / `memory.current`.
        usage: u64,
        /// `memory.max_usage_in_bytes` (0 where the kernel has none).
        peak: u64,
    },

    /// Reading a control file or procfs file failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A control file or procfs file held something unexpected.
    #[error("cannot parse {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// `mkdir` of a cgroup directory failed.
    #[error("cannot create cgroup directory {path}: {source}")]
    Mkdir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// `rmdir` of a cgroup directory failed.
    #[error("cannot remove cgroup directory {path}: {source}")]
    Rmdir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// Moving a process into the cgroup failed.
    #[error("cannot move pid {pid} into {path}: {source}")]
    AddPid {
        /// The process.
        pid: i32,
        /// The `cgroup.procs` file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// Sending a signal to a member of the cgroup failed.
    #[error("cannot send signal {signal} to pid {pid}: {source}")]
    Signal {
        /// The signal number.
        signal: i32,
        /// The process.
        pid: i32,
        /// The OS error.
        #[source]
        source: nix::errno::Errno,
    },

    /// The signal number is not one the kernel knows.
    #[error("invalid signal number {signal}")]
    BadSignal {
        /// The number given.
        signal: i32,
    },

    /// Pausing or resuming needs a freezer and there is none.
    #[error("{operation}: the freezer cgroup controller isn't mounted on this host")]
    NoFreezer {
        /// `freeze`, `thaw` or `is_frozen`.
        operation: &'static str,
    },

    /// The freezer did not settle in time.
    #[error("{path}: the cgroup did not reach {state} within {waited_ms} ms")]
    FreezeTimeout {
        /// The freezer control file.
        path: PathBuf,
        /// The state waited for.
        state: &'static str,
        /// How long we waited.
        waited_ms: u64,
    },

    /// Loading or attaching the cgroup-v2 eBPF device filter failed.
    #[error(
        "linux.resources.devices: cannot {op} the eBPF device filter of {path}: {source}{}",
        verifier_log(log)
    )]
    DeviceFilter {
        /// The container's cgroup directory.
        path: PathBuf,
        /// What failed: `load`, `attach`, ...
        op: &'static str,
        /// The OS error of bpf(2).
        #[source]
        source: io::Error,
        /// The verifier's log when the load failed (may be empty).
        log: String,
    },

    /// `destroy` killed the members but some never left.
    #[error("{path} still holds pids {pids:?} after {attempts} SIGKILL rounds")]
    StillPopulated {
        /// The cgroup directory.
        path: PathBuf,
        /// The processes that remained.
        pids: Vec<i32>,
        /// How many rounds were tried.
        attempts: u32,
    },
}

fn verifier_log(log: &str) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!("; verifier log:\n{log}")
    }
}

impl CgroupError {
    /// Shorthand for [`CgroupError::InvalidValue`].
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CgroupError::InvalidValue {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`CgroupError::Read`].
    pub(crate) fn read(path: impl Into<PathBuf>, source: io::Error) -> Self {
        CgroupError::Read {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`CgroupError::Parse`].
    pub(crate) fn parse(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        CgroupError::Parse {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_error_names_field_file_and_os_error() {
        let e = CgroupError::Write {
            field: "linux.resources.memory.limit".into(),
            path: "/sys/fs/cgroup/memory/foo/memory.limit_in_bytes".into(),
            value: "1024".into(),
            source: io::Error::from_raw_os_error(libc::EINVAL),
        };
        let msg = e.to_string();
        assert!(msg.contains("linux.resources.memory.limit"), "{msg}");
        assert!(
            msg.contains("/sys/fs/cgroup/memory/foo/memory.limit_in_bytes"),
            "{msg}"
        );
        assert!(msg.contains("Invalid argument"), "{msg}");
    }

    #[test]
    fn missing_controller_says_not_mounted() {
        let e = CgroupError::ControllerMissing {
            field: "linux.resources.network.classID".into(),
            controller: "net_cls".into(),
        };
        assert_eq!(
            e.to_string(),
            "linux.resources.network.classID: the net_cls cgroup controller isn't mounted on this host"
        );
    }
}
