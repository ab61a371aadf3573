//! The shim's command-line side, as containerd (1.6/1.7) runs it:
//!
//! * `start`: pick the group (the pod's sandbox id from the bundle's annotations,
//!   else the container id), start the long-lived shim for it (the crate's
//!   `spawn`, which re-executes this binary with `-socket`) unless it already runs,
//!   write `<bundle>/address` and print the address.
//! * `delete`: cleanup after a shim that died: force-delete the container with the
//!   library, unmount its rootfs, report it killed (137).
//! * otherwise: the ttrpc server with the task service, until `Shutdown` once the
//!   last container is gone.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use containerd_shim::api::DeleteResponse;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Config, ExitSignal, Flags, StartOpts};

use crate::service::{self, Service};
use crate::{helper, mounts};

/// The annotation the CRI plugin puts on every container of a pod.
pub const SANDBOX_ID_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

/// The shim.
pub struct HuskShim {
    exit: Arc<ExitSignal>,
    id: String,
    namespace: String,
    bundle: String,
    socket: String,
}

/// The group a container's shim serves: its pod, or itself.
pub fn grouping(bundle: &Path, id: &str) -> String {
    oci_spec::runtime::Spec::load(bundle.join("config.json"))
        .ok()
        .and_then(|s| s.annotations().clone())
        .and_then(|a| a.get(SANDBOX_ID_ANNOTATION).cloned())
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| id.to_string())
}

impl containerd_shim::Shim for HuskShim {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        HuskShim {
            exit: Arc::new(ExitSignal::default()),
            id: args.id.clone(),
            namespace: args.namespace.clone(),
            bundle: args.bundle.clone(),
            socket: args.socket.clone(),
        }
    }

    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        // containerd runs `start` with cwd = the bundle.
        let group = grouping(Path::new("."), &opts.id);
        let (_, address) = containerd_shim::spawn(opts, &group, Vec::new())?;
        containerd_shim::util::write_address(&address)?;
        Ok(address)
    }

    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let bundle = if self.bundle.is_empty() {
            std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
        } else {
            PathBuf::from(&self.bundle)
        };
        let root = service::bundle_root(&bundle, &self.namespace);
        let pid = std::fs::read_to_string(bundle.join("init.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(0);
        // Through the helper: this process has the crate's reaper thread, which
        // would steal the exit statuses of poststop hooks the library waits for.
        if husk::Container::load(&root, &self.id).is_ok() {
            let req = helper::Request::Delete {
                root,
                id: self.id.clone(),
                force: true,
            };
            let done = helper::ChildStdio::null()
                .map_err(|e| e.to_string())
                .and_then(|null| helper::call(&req, null, &[], &|_| {}))
                .and_then(|r| r.error.map_or(Ok(()), Err));
            if let Err(e) = done {
                log::warn!("force delete {}: {e}", self.id);
            }
        }
        mounts::unmount_all(&bundle.join("rootfs"));
        let d = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(DeleteResponse {
            pid,
            exit_status: 128 + libc::SIGKILL as u32,
            exited_at: MessageField::some(Timestamp {
                seconds: d.as_secs() as i64,
                nanos: d.subsec_nanos() as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
        // The crate removes the socket named in `<cwd>/address`; the bundle it was
        // started in may be gone by now, so remove ours here.
        let path = self.socket.trim_start_matches("unix://");
        if !path.is_empty() {
            let _ = std::fs::remove_file(path);
        }
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Service {
        log::info!("husk shim for {} in {} serving", self.id, self.namespace);
        Service::new(&self.namespace, self.exit.clone(), publisher)
    }
}
