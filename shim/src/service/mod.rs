//! The `containerd.task.v2.Task` service: containers and their processes.
//!
//! One shim serves every container of its group (the containers of one pod, by the
//! `io.kubernetes.cri.sandbox-id` annotation, as the runc shim does), keyed by id.
//! Everything that forks a container process runs in the single-threaded helper
//! ([`crate::helper`]); the rest (start, kill, pause, resume, update, ps, stats,
//! delete) calls the husk library in-process, where it forks nothing (start and
//! delete go through the helper when the container has poststart/poststop hooks,
//! which the library runs and waits for).
//!
//! Exits: the crate's reaper thread reaps every child (the shim is a child
//! subreaper, so every container process ends up its child) and broadcasts
//! `(pid, status)`; [`Inner::on_exit`] matches pids to processes. An exit can come
//! before its pid is known (an exec'd process that exits at once): it waits in
//! `unmatched` until the pid is registered. Exit handling runs on its own thread
//! and takes the process's lock, which `Start` holds while it publishes TaskStart,
//! so TaskStart/TaskExecStarted always precede TaskExit.

mod checkpoint;
mod container;
mod control;
mod errors;
mod exits;
#[cfg(test)]
mod fuzz;
mod lifecycle;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use containerd_shim::api::{
    CheckpointTaskRequest, CloseIORequest, ConnectRequest, ConnectResponse, CreateTaskRequest,
    CreateTaskResponse, DeleteRequest, DeleteResponse, Empty, ExecProcessRequest, KillRequest,
    PauseRequest, PidsRequest, PidsResponse, ResizePtyRequest, ResumeRequest, ShutdownRequest,
    StartRequest, StartResponse, StateRequest, StateResponse, StatsRequest, StatsResponse,
    UpdateTaskRequest, WaitRequest, WaitResponse,
};
use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{ExitSignal, Task, TtrpcContext, TtrpcResult};

use crate::events::Events;
use crate::memory;
use crate::options;

use container::Ctr;
use errors::{internal, not_found};
use exits::ExitTable;

/// OOM polling period.
const OOM_POLL: Duration = Duration::from_millis(500);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
        ..Default::default()
    }
}

pub(crate) struct Inner {
    namespace: String,
    exit: Arc<ExitSignal>,
    events: Events,
    containers: Mutex<HashMap<String, Arc<Ctr>>>,
    exits: Mutex<ExitTable>,
}

/// The task service (cheap to clone).
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl Service {
    /// Starts the exit dispatcher, the event forwarder and the OOM poller.
    pub fn new(namespace: &str, exit: Arc<ExitSignal>, publisher: RemotePublisher) -> Service {
        let inner = Arc::new(Inner {
            namespace: namespace.to_string(),
            exit,
            events: Events::start(publisher, namespace.to_string()),
            containers: Mutex::new(HashMap::new()),
            exits: Mutex::new(ExitTable::default()),
        });
        // Subscribe before any child exists (the reaper starts after the server).
        match monitor_subscribe(Topic::All) {
            Ok(sub) => {
                let weak = Arc::downgrade(&inner);
                let _ = std::thread::Builder::new()
                    .name("exits".into())
                    .spawn(move || {
                        while let Ok(ev) = sub.rx.recv() {
                            let Some(inner) = weak.upgrade() else { return };
                            if let Subject::Pid(pid) = ev.subject {
                                inner.on_exit(pid, ev.exit_code, SystemTime::now());
                            }
                        }
                    });
            }
            Err(e) => log::error!("subscribe to exits: {e}"),
        }
        let weak = Arc::downgrade(&inner);
        let _ = std::thread::Builder::new()
            .name("oom".into())
            .spawn(move || loop {
                std::thread::sleep(OOM_POLL);
                let Some(inner) = weak.upgrade() else { return };
                inner.poll_oom();
            });
        Service { inner }
    }
}

impl Inner {
    fn container(&self, id: &str) -> TtrpcResult<Arc<Ctr>> {
        lock(&self.containers)
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(format!("container {id} not found")))
    }
}

impl Task for Service {
    fn state(&self, _ctx: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        self.inner.state(req)
    }

    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        log::info!("create {} (bundle {})", req.id, req.bundle);
        let r = self.inner.create(req);
        memory::trim();
        r
    }

    fn start(&self, _ctx: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        let r = self.inner.start(req);
        memory::trim();
        r
    }

    fn delete(&self, _ctx: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        let r = self.inner.delete(req);
        memory::trim();
        r
    }

    fn pids(&self, _ctx: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        self.inner.pids(req)
    }

    fn pause(&self, _ctx: &TtrpcContext, req: PauseRequest) -> TtrpcResult<Empty> {
        self.inner.pause(req)
    }

    fn resume(&self, _ctx: &TtrpcContext, req: ResumeRequest) -> TtrpcResult<Empty> {
        self.inner.resume(req)
    }

    fn checkpoint(&self, _ctx: &TtrpcContext, req: CheckpointTaskRequest) -> TtrpcResult<Empty> {
        let r = self.inner.checkpoint(req);
        memory::trim();
        r
    }

    fn kill(&self, _ctx: &TtrpcContext, req: KillRequest) -> TtrpcResult<Empty> {
        self.inner.kill(req)
    }

    fn exec(&self, _ctx: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<Empty> {
        let r = self.inner.exec(req);
        memory::trim();
        r
    }

    fn resize_pty(&self, _ctx: &TtrpcContext, req: ResizePtyRequest) -> TtrpcResult<Empty> {
        let c = self.inner.container(&req.id)?;
        let p = c.process(&req.exec_id)?;
        lock(&p.io)
            .resize(req.width, req.height)
            .map_err(internal)?;
        Ok(Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: CloseIORequest) -> TtrpcResult<Empty> {
        let c = self.inner.container(&req.id)?;
        let p = c.process(&req.exec_id)?;
        if req.stdin {
            lock(&p.io).close_stdin();
        }
        Ok(Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: UpdateTaskRequest) -> TtrpcResult<Empty> {
        self.inner.update(req)
    }

    fn wait(&self, _ctx: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        self.inner.wait(req)
    }

    fn stats(&self, _ctx: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        self.inner.stats(req)
    }

    fn connect(&self, _ctx: &TtrpcContext, req: ConnectRequest) -> TtrpcResult<ConnectResponse> {
        let task_pid = self
            .inner
            .container(&req.id)
            .map(|c| lock(&c.init.state).pid as u32)
            .unwrap_or(0);
        Ok(ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, _req: ShutdownRequest) -> TtrpcResult<Empty> {
        self.inner.shutdown()
    }
}

/// The options in force for a bundle (used by the `delete` cleanup).
pub fn bundle_root(bundle: &Path, namespace: &str) -> PathBuf {
    options::root_of_bundle(bundle, namespace)
}
