//! The Checkpoint RPC: containerd's `CheckpointOptions` (runc shim's) turned into a
//! husk checkpoint run by the helper. CRIU's work directory is the options'
//! `work_path`, else `<bundle>/criu-work`, kept when the checkpoint fails (the error
//! names its dump.log) and removed when it succeeds, as the runc shim does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use containerd_shim::api::{CheckpointTaskRequest, Empty};
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::oci::CheckpointOptions;
use containerd_shim::TtrpcResult;

use super::errors::{internal, invalid, unimplemented};
use super::Inner;
use crate::criu::CheckpointRequest;
use crate::helper::{self, Request};

const CHECKPOINT_OPTIONS: &str = "containerd.runc.v1.CheckpointOptions";

/// Decodes the request's options (none: containerd's defaults, leave running).
pub(super) fn options(req: &CheckpointTaskRequest) -> TtrpcResult<CheckpointOptions> {
    let Some(any) = req.options.as_ref() else {
        return Ok(CheckpointOptions::new());
    };
    let kind = any.type_url.rsplit('/').next().unwrap_or(&any.type_url);
    if kind != CHECKPOINT_OPTIONS {
        return Err(unimplemented(format!(
            "checkpoint options of type {kind:?}: husk takes {CHECKPOINT_OPTIONS}"
        )));
    }
    CheckpointOptions::parse_from_bytes(&any.value)
        .map_err(|e| invalid(format!("checkpoint options: {e}")))
}

impl Inner {
    pub(super) fn checkpoint(self: &Arc<Self>, req: CheckpointTaskRequest) -> TtrpcResult<Empty> {
        let c = self.container(&req.id)?;
        let o = options(&req)?;
        let image_path = if o.image_path.is_empty() {
            PathBuf::from(&req.path)
        } else {
            PathBuf::from(&o.image_path)
        };
        if image_path.as_os_str().is_empty() {
            return Err(invalid("checkpoint: no image path"));
        }
        let default_work = o.work_path.is_empty();
        let work_path = if default_work {
            Path::new(&c.bundle).join("criu-work")
        } else {
            PathBuf::from(&o.work_path)
        };
        let r = CheckpointRequest {
            root: c.root.clone(),
            id: c.id.clone(),
            image_path,
            work_path: work_path.clone(),
            exit: o.exit,
            open_tcp: o.open_tcp,
            external_unix_sockets: o.external_unix_sockets,
            terminal: o.terminal,
            file_locks: o.file_locks,
            empty_namespaces: o.empty_namespaces.clone(),
            cgroups_mode: o.cgroups_mode.clone(),
        };
        let stdio = helper::ChildStdio::null().map_err(|e| internal(e.to_string()))?;
        let resp = helper::call(&Request::Checkpoint(Box::new(r)), stdio, &[], &|pid| {
            self.ignore_pid(pid)
        })
        .map_err(internal)?;
        if let Some(e) = resp.error {
            return Err(internal(format!("checkpoint {}: {e}", c.id)));
        }
        if default_work {
            let _ = std::fs::remove_dir_all(&work_path);
        }
        Ok(Empty::new())
    }
}

#[cfg(test)]
mod tests {
    use containerd_shim::protos::protobuf::well_known_types::any::Any;
    use containerd_shim::protos::protobuf::MessageField;

    use super::*;

    fn req(any: Option<Any>) -> CheckpointTaskRequest {
        CheckpointTaskRequest {
            id: "c1".into(),
            path: "/var/lib/ckpt".into(),
            options: MessageField::from_option(any),
            ..Default::default()
        }
    }

    #[test]
    fn no_options_means_leave_running() {
        let o = options(&req(None)).expect("options");
        assert!(!o.exit && o.image_path.is_empty());
    }

    #[test]
    fn runc_checkpoint_options_are_decoded() {
        let mut o = CheckpointOptions::new();
        o.exit = true;
        o.open_tcp = true;
        o.empty_namespaces = vec!["network".into()];
        o.work_path = "/w".into();
        let any = Any {
            type_url: format!("type.googleapis.com/{CHECKPOINT_OPTIONS}"),
            value: o.write_to_bytes().expect("encode"),
            ..Default::default()
        };
        let got = options(&req(Some(any))).expect("options");
        assert!(got.exit && got.open_tcp);
        assert_eq!(got.empty_namespaces, vec!["network".to_string()]);
        assert_eq!(got.work_path, "/w");
    }

    #[test]
    fn other_option_types_are_refused() {
        let any = Any {
            type_url: "type.googleapis.com/containerd.runhcs.v1.Options".into(),
            ..Default::default()
        };
        let e = options(&req(Some(any))).expect_err("refused");
        assert!(format!("{e:?}").contains("runhcs"), "{e:?}");
    }
}
