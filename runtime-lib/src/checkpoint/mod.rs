//! Checkpoint and restore with CRIU.
//!
//! `plan.rs` turns a container's plan (mounts, masked paths, devices, cgroup,
//! namespaces) and the caller's options into CRIU's RPC options, as runc describes a
//! container to CRIU (pure, unit-tested). `swrk.rs` drives `criu swrk` over its
//! socket: one request, notifications answered, the final response. The container
//! side (what is checkpointed, what a restore leaves in the state directory) is in
//! `container/checkpoint.rs`.

pub(crate) mod plan;
mod swrk;

use std::path::PathBuf;

pub use plan::CgroupsMode;
pub(crate) use swrk::{Notify, Swrk};

/// The name of the file, in the images directory, listing the init's stdio as
/// `/proc/<pid>/fd/{0,1,2}` linked to at checkpoint time (runc's format: a JSON
/// array of three strings). Restore maps the pipes among them to its own stdio.
pub(crate) const DESCRIPTORS_FILE: &str = "descriptors.json";
/// CRIU's log of a dump or pre-dump, in the work directory.
pub(crate) const DUMP_LOG: &str = "dump.log";
/// CRIU's log of a restore, in the work directory.
pub(crate) const RESTORE_LOG: &str = "restore.log";

/// What `checkpoint` does (runc's `checkpoint` flags).
#[derive(Debug, Clone, Default)]
pub struct CheckpointOptions {
    /// Where CRIU writes the images (created if missing).
    pub image_path: PathBuf,
    /// Where CRIU writes its log; default: the images directory.
    pub work_path: Option<PathBuf>,
    /// Images of a previous pre-dump (relative to `image_path`, as CRIU reads it).
    pub parent_path: Option<PathBuf>,
    /// Keep the container running after the dump (else it is deleted).
    pub leave_running: bool,
    /// Checkpoint established TCP connections.
    pub tcp_established: bool,
    /// Allow external unix sockets.
    pub ext_unix_sk: bool,
    /// Allow a shell job (a controlling terminal outside the container).
    pub shell_job: bool,
    /// Checkpoint file locks.
    pub file_locks: bool,
    /// Only dump memory (the container keeps running), for a later dump with
    /// `parent_path` pointing here.
    pub pre_dump: bool,
    /// How CRIU treats cgroups.
    pub manage_cgroups_mode: Option<CgroupsMode>,
    /// Namespaces CRIU must not dump (CRIU supports only `network`).
    pub empty_ns: Vec<String>,
    /// Deduplicate memory pages against the parent images.
    pub auto_dedup: bool,
    /// Send pages to a CRIU page server at (address, port) instead of the images.
    pub page_server: Option<(String, i32)>,
}

/// What `restore` does (runc's `restore` flags).
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The images to restore from.
    pub image_path: PathBuf,
    /// Where CRIU writes its log; default: the images directory.
    pub work_path: Option<PathBuf>,
    /// Restore established TCP connections.
    pub tcp_established: bool,
    /// Allow external unix sockets.
    pub ext_unix_sk: bool,
    /// Allow a shell job.
    pub shell_job: bool,
    /// Restore file locks.
    pub file_locks: bool,
    /// How CRIU treats cgroups.
    pub manage_cgroups_mode: Option<CgroupsMode>,
    /// Namespaces CRIU must not restore (CRIU supports only `network`).
    pub empty_ns: Vec<String>,
    /// Deduplicate pages.
    pub auto_dedup: bool,
    /// LSM profile for the restored process (`apparmor:NAME`, `selinux:LABEL`).
    pub lsm_profile: Option<String>,
    /// SELinux context for the restored mounts.
    pub lsm_mount_context: Option<String>,
}

/// Checkpoint/restore errors. Every CRIU failure names CRIU's log.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The `criu` binary is missing.
    #[error(
        "checkpoint/restore needs CRIU: {path} not found ({source}); install the criu package"
    )]
    NoCriu {
        /// The binary looked for.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// CRIU exists but cannot run on this kernel (its kernel feature detection fails).
    #[error("CRIU cannot run on this host (kernel {kernel}): {reason}; see {log}")]
    CriuUnusable {
        /// `uname -r`.
        kernel: String,
        /// CRIU's first error line.
        reason: String,
        /// CRIU's log.
        log: PathBuf,
    },
    /// CRIU answered with a failure.
    #[error("criu {action} failed{errno}: {msg}; log file: {log}")]
    Criu {
        /// dump, pre-dump, restore.
        action: &'static str,
        /// ` (errno N)` when CRIU gave one.
        errno: String,
        /// CRIU's message (its last error line).
        msg: String,
        /// CRIU's log.
        log: PathBuf,
    },
    /// Talking to `criu swrk` failed.
    #[error("criu swrk: {what}: {source}")]
    Rpc {
        /// The step.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// An option husk cannot honour or that is malformed.
    #[error("{0}")]
    Option(String),
    /// A file or directory of the checkpoint could not be used.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

pub(crate) fn io_err(
    op: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let path = path.to_path_buf();
    move |source| CheckpointError::Io { op, path, source }
}
