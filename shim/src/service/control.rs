//! Inspecting and controlling running containers: state, pids, pause/resume,
//! update, wait, stats and shutdown (all in-process library calls).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use containerd_shim::api::{
    Empty, PauseRequest, PidsRequest, PidsResponse, ResumeRequest, StateRequest, StateResponse,
    StatsRequest, StatsResponse, UpdateTaskRequest, WaitRequest, WaitResponse,
};
use containerd_shim::protos::events::task::{TaskPaused, TaskResumed};
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::shim::oci::ProcessDetails;
use containerd_shim::protos::topics;
use containerd_shim::protos::types::task::{ProcessInfo, Status};
use containerd_shim::TtrpcResult;

use crate::metrics;

use super::container::Phase;
use super::errors::{internal, invalid, lib_err, unimplemented};
use super::{lock, Inner};

impl Inner {
    pub(super) fn state(&self, req: StateRequest) -> TtrpcResult<StateResponse> {
        let c = self.container(&req.id)?;
        let p = c.process(&req.exec_id)?;
        let st = lock(&p.state);
        let status = match st.phase {
            Phase::Created => Status::CREATED,
            Phase::Stopped => Status::STOPPED,
            Phase::Running if p.is_init() && c.paused.load(Ordering::SeqCst) => Status::PAUSED,
            Phase::Running => Status::RUNNING,
        };
        Ok(StateResponse {
            id: if p.is_init() {
                c.id.clone()
            } else {
                p.exec_id.clone()
            },
            bundle: c.bundle.clone(),
            pid: st.pid as u32,
            status: status.into(),
            stdin: p.paths.stdin.clone(),
            stdout: p.paths.stdout.clone(),
            stderr: p.paths.stderr.clone(),
            terminal: p.paths.terminal,
            exit_status: st.exit_status,
            exited_at: MessageField::from_option(st.exited_at.clone()),
            exec_id: p.exec_id.clone(),
            ..Default::default()
        })
    }

    pub(super) fn pids(&self, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        let c = self.container(&req.id)?;
        let pids = lock(&c.handle).processes().map_err(lib_err)?;
        let execs: HashMap<i32, String> = lock(&c.execs)
            .values()
            .map(|p| (lock(&p.state).pid, p.exec_id.clone()))
            .filter(|(pid, _)| *pid > 0)
            .collect();
        let mut processes = Vec::new();
        for pid in pids {
            let mut info = ProcessInfo {
                pid: pid as u32,
                ..Default::default()
            };
            if let Some(exec_id) = execs.get(&pid) {
                let d = ProcessDetails {
                    exec_id: exec_id.clone(),
                    ..Default::default()
                };
                if let Ok(any) = crate::any::pack(crate::any::RUNC_V1, &d) {
                    info.info = MessageField::some(any);
                }
            }
            processes.push(info);
        }
        Ok(PidsResponse {
            processes,
            ..Default::default()
        })
    }

    pub(super) fn pause(&self, req: PauseRequest) -> TtrpcResult<Empty> {
        let c = self.container(&req.id)?;
        lock(&c.handle).pause().map_err(lib_err)?;
        c.paused.store(true, Ordering::SeqCst);
        self.events.send(
            topics::TASK_PAUSED_EVENT_TOPIC,
            TaskPaused {
                container_id: c.id.clone(),
                ..Default::default()
            },
        );
        Ok(Empty::new())
    }

    pub(super) fn resume(&self, req: ResumeRequest) -> TtrpcResult<Empty> {
        let c = self.container(&req.id)?;
        lock(&c.handle).resume().map_err(lib_err)?;
        c.paused.store(false, Ordering::SeqCst);
        self.events.send(
            topics::TASK_RESUMED_EVENT_TOPIC,
            TaskResumed {
                container_id: c.id.clone(),
                ..Default::default()
            },
        );
        Ok(Empty::new())
    }

    pub(super) fn update(&self, req: UpdateTaskRequest) -> TtrpcResult<Empty> {
        let c = self.container(&req.id)?;
        let r = update_resources(&req)?;
        lock(&c.handle).update(&r).map_err(lib_err)?;
        Ok(Empty::new())
    }

    pub(super) fn wait(&self, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        let c = self.container(&req.id)?;
        let p = c.process(&req.exec_id)?;
        let mut st = lock(&p.state);
        while st.phase != Phase::Stopped {
            st = p.exited.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        Ok(WaitResponse {
            exit_status: st.exit_status,
            exited_at: MessageField::from_option(st.exited_at.clone()),
            ..Default::default()
        })
    }

    pub(super) fn stats(&self, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        let c = self.container(&req.id)?;
        let h = lock(&c.handle);
        let s = h.stats().map_err(lib_err)?;
        let oom = h.oom_kills();
        drop(h);
        let any = metrics::to_any(&s, oom).map_err(internal)?;
        Ok(StatsResponse {
            stats: MessageField::some(any),
            ..Default::default()
        })
    }

    pub(super) fn shutdown(&self) -> TtrpcResult<Empty> {
        if !lock(&self.containers).is_empty() {
            return Ok(Empty::new());
        }
        self.events.flush(Duration::from_secs(5));
        self.exit.signal();
        Ok(Empty::new())
    }
}

/// Decodes an update request's resources (JSON `LinuxResources` in an Any).
pub(super) fn update_resources(
    req: &UpdateTaskRequest,
) -> TtrpcResult<oci_spec::runtime::LinuxResources> {
    let Some(any) = req.resources.as_ref() else {
        return Err(invalid("update without resources"));
    };
    if !any.type_url.ends_with("LinuxResources") {
        return Err(unimplemented(format!(
            "update resources of type {:?} are not supported by husk",
            any.type_url
        )));
    }
    serde_json::from_slice(&any.value).map_err(|e| invalid(format!("linux resources: {e}")))
}
