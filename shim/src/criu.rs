//! Checkpoint and restore in the helper: the requests the service sends for the
//! Checkpoint RPC and for a Create with a checkpoint path, and what the helper does
//! with them (the husk library drives CRIU; `criu swrk` is spawned with inherited
//! fds, which only a single-threaded process may do safely, hence the helper).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::helper::{CreateRequest, Response};
use crate::mounts;

/// [`crate::helper::Request::Checkpoint`]: containerd's `CheckpointOptions`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CheckpointRequest {
    /// State root.
    pub root: PathBuf,
    /// Container id.
    pub id: String,
    /// Where the images go (the RPC's path, or the options' image path).
    pub image_path: PathBuf,
    /// CRIU's work directory (its dump.log).
    pub work_path: PathBuf,
    /// Stop the container after the checkpoint (else it keeps running).
    pub exit: bool,
    /// Established TCP connections.
    pub open_tcp: bool,
    /// External unix sockets.
    pub external_unix_sockets: bool,
    /// A terminal outside the container (CRIU's shell job).
    pub terminal: bool,
    /// File locks.
    pub file_locks: bool,
    /// Namespaces CRIU leaves out.
    pub empty_namespaces: Vec<String>,
    /// soft, full, strict (empty: CRIU's default).
    pub cgroups_mode: String,
}

/// [`crate::helper::Request::Restore`]: a create from CRIU images. The container's
/// stdio are the helper's 0/1/2, which CRIU hands to the restored process.
#[derive(Debug, Serialize, Deserialize)]
pub struct RestoreRequest {
    /// What a create would do (id, bundle, root, rootfs mounts, console, pid file).
    pub create: CreateRequest,
    /// The images.
    pub image_path: PathBuf,
    /// CRIU's work directory (its restore.log); default: the images directory.
    pub work_path: Option<PathBuf>,
}

fn cgroups_mode(m: &str) -> Result<Option<husk::checkpoint::CgroupsMode>, String> {
    if m.is_empty() {
        return Ok(None);
    }
    m.parse()
        .map(Some)
        .map_err(|e: husk::checkpoint::CheckpointError| e.to_string())
}

/// Checkpoints the container; returns its (former) init pid.
pub fn checkpoint(r: CheckpointRequest) -> Result<i32, String> {
    let opts = husk::checkpoint::CheckpointOptions {
        image_path: r.image_path,
        work_path: Some(r.work_path),
        leave_running: !r.exit,
        tcp_established: r.open_tcp,
        ext_unix_sk: r.external_unix_sockets,
        shell_job: r.terminal,
        file_locks: r.file_locks,
        manage_cgroups_mode: cgroups_mode(&r.cgroups_mode)?,
        empty_ns: r.empty_namespaces,
        ..Default::default()
    };
    let mut c = husk::Container::load(&r.root, &r.id).map_err(|e| e.to_string())?;
    let pid = c.pid();
    c.checkpoint(&opts).map_err(|e| e.to_string())?;
    Ok(pid)
}

/// Restores a container (rootfs mounts first, undone on failure); the restored init
/// is the helper's child until the helper exits, then the shim's.
pub fn restore(r: RestoreRequest) -> Result<Response, String> {
    let c = &r.create;
    let rootfs = c.bundle.join("rootfs");
    let mounted = !c.mounts.is_empty();
    if mounted {
        mounts::mount_all(&c.mounts, &rootfs)?;
    }
    let mut b = husk::ContainerBuilder::new(&c.id, &c.bundle)
        .root(&c.root)
        .no_new_keyring(c.no_new_keyring)
        .systemd_cgroup(c.systemd_cgroup);
    if let Some(p) = &c.pid_file {
        b = b.pid_file(p);
    }
    if let Some(s) = &c.console_socket {
        b = b.console_socket(s);
    }
    let opts = husk::checkpoint::RestoreOptions {
        image_path: r.image_path.clone(),
        work_path: r.work_path.clone(),
        ..Default::default()
    };
    match b.restore(&opts) {
        Ok(ctr) => Ok(Response {
            own_pid_ns: Some(crate::helper::own_pid_namespace(
                oci_spec::runtime::Spec::load(c.bundle.join("config.json"))
                    .ok()
                    .as_ref(),
            )),
            ..Response::ok(ctr.pid())
        }),
        Err(e) => {
            if mounted {
                mounts::unmount_all(&rootfs);
            }
            Err(e.to_string())
        }
    }
}
