//! Creating, starting, deleting, exec'ing and signalling processes: the RPCs that
//! go through the helper or fork, register pids for exit dispatch and publish
//! TaskCreate/TaskStart/TaskExecAdded/TaskExecStarted/TaskDelete.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex};
use std::time::SystemTime;

use containerd_shim::api::{
    CreateTaskRequest, CreateTaskResponse, DeleteRequest, DeleteResponse, Empty,
    ExecProcessRequest, KillRequest, StartRequest, StartResponse,
};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskIO, TaskStart,
};
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::topics;
use containerd_shim::protos::ttrpc::Code;
use containerd_shim::TtrpcResult;

use crate::helper::{self, CreateRequest, ExecRequest, Request};
use crate::mounts;
use crate::options;
use crate::stdio::{self, Paths, ProcessIo};

use super::container::{Ctr, Phase, Proc, ProcState};
use super::errors::{
    internal, invalid, lib_err, not_found, precondition, status_err, unimplemented,
};
use super::exits::Watch;
use super::{lock, timestamp, Inner};

impl Inner {
    fn call_helper(
        self: &Arc<Self>,
        req: &Request,
        child: helper::ChildStdio,
    ) -> Result<helper::Response, String> {
        let resp = helper::call(req, child, &[], &|pid| self.ignore_pid(pid))?;
        match resp.error {
            Some(e) => Err(e),
            None => Ok(resp),
        }
    }

    pub(super) fn create(
        self: &Arc<Self>,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        if lock(&self.containers).contains_key(&req.id) {
            return Err(status_err(
                Code::ALREADY_EXISTS,
                format!("container {} already exists in this shim", req.id),
            ));
        }
        let opts = options::parse(req.options.as_ref(), &self.namespace)
            .map_err(|e| unimplemented(e.0))?;
        options::save(&req.bundle, &opts);
        let paths = Paths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
            owner: io_owner(&opts.raw),
        };
        let prepared = stdio::prepare(&paths, &req.id, &self.namespace, &|pid| {
            self.ignore_pid(pid)
        })
        .map_err(|e| internal(format!("stdio: {e}")))?;
        let bundle = PathBuf::from(&req.bundle);
        let create = CreateRequest {
            id: req.id.clone(),
            bundle: bundle.clone(),
            root: opts.root.clone(),
            mounts: req
                .rootfs
                .iter()
                .map(|m| mounts::Mount {
                    typ: m.type_.clone(),
                    source: m.source.clone(),
                    options: m.options.clone(),
                })
                .collect(),
            console_socket: prepared.console.as_ref().map(|c| c.path()),
            pid_file: Some(bundle.join("init.pid")),
            no_pivot: opts.no_pivot_root,
            no_new_keyring: opts.no_new_keyring,
            systemd_cgroup: opts.systemd_cgroup,
        };
        let restored = !req.checkpoint.is_empty();
        let creq = if restored {
            // Restored here rather than at Start: the helper that forks the
            // container's processes is the one with its stdio.
            let work = &opts.raw.criu_work_path;
            Request::Restore(Box::new(crate::criu::RestoreRequest {
                create,
                image_path: PathBuf::from(&req.checkpoint),
                work_path: (!work.is_empty()).then(|| PathBuf::from(work)),
            }))
        } else {
            Request::Create(create)
        };
        let mut io = prepared.io;
        let created = self
            .call_helper(&creq, prepared.child)
            .map_err(|e| internal(format!("create container {}: {e}", req.id)))?;
        let pid = created.pid;
        let rootfs_mounted = !req.rootfs.is_empty();
        let undo = |why: String| {
            if let Ok(c) = husk::Container::load(&opts.root, &req.id) {
                let _ = c.delete(true);
            }
            if rootfs_mounted {
                mounts::unmount_all(&bundle.join("rootfs"));
            }
            internal(why)
        };
        if let Some(console) = &prepared.console {
            let master = console
                .receive()
                .map_err(|e| undo(format!("terminal: {e}")))?;
            io.attach_master(master)
                .map_err(|e| undo(format!("terminal: {e}")))?;
        }
        let handle = husk::Container::load(&opts.root, &req.id).map_err(|e| undo(e.to_string()))?;
        let hooks = handle.hooks().cloned().unwrap_or_default();
        let poststart_hooks = hooks.poststart().as_ref().is_some_and(|h| !h.is_empty());
        let poststop_hooks = hooks.poststop().as_ref().is_some_and(|h| !h.is_empty());
        let oom_kills = handle.oom_kills().unwrap_or(0);
        let oom_base = crate::oom::OomBase {
            own: oom_kills,
            parent: handle.parent_oom_kills(),
        };
        let init = Arc::new(Proc::new("", None, paths.clone()));
        *lock(&init.io) = io;
        let c = Arc::new(Ctr {
            id: req.id.clone(),
            bundle: req.bundle.clone(),
            root: opts.root.clone(),
            handle: Mutex::new(handle),
            init: init.clone(),
            execs: Mutex::new(HashMap::new()),
            running_execs: Mutex::new(0),
            execs_done: Condvar::new(),
            paused: AtomicBool::new(false),
            rootfs_mounted,
            own_pid_ns: created.own_pid_ns.unwrap_or(true),
            restored,
            poststart_hooks,
            poststop_hooks,
            oom_kills: AtomicU64::new(oom_kills),
            oom_base,
        });
        let mut st = lock(&init.state);
        st.pid = pid;
        lock(&self.containers).insert(req.id.clone(), c.clone());
        self.watch(pid, Watch::Proc(c.clone(), init.clone()));
        self.events.send(
            topics::TASK_CREATE_EVENT_TOPIC,
            TaskCreate {
                container_id: req.id.clone(),
                bundle: req.bundle.clone(),
                rootfs: req.rootfs.clone(),
                io: MessageField::some(TaskIO {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                    ..Default::default()
                }),
                checkpoint: req.checkpoint.clone(),
                pid: pid as u32,
                ..Default::default()
            },
        );
        drop(st);
        Ok(CreateTaskResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    pub(super) fn start(self: &Arc<Self>, req: StartRequest) -> TtrpcResult<StartResponse> {
        let c = self.container(&req.id)?;
        let p = c.process(&req.exec_id)?;
        let mut st = lock(&p.state);
        if st.phase != Phase::Created {
            return Err(precondition(format!(
                "process {} is not in the created state",
                if p.is_init() { &c.id } else { &p.exec_id }
            )));
        }
        if p.is_init() {
            if c.restored {
                // Already running since the restore at create.
            } else if c.poststart_hooks {
                self.call_helper(
                    &Request::Start {
                        root: c.root.clone(),
                        id: c.id.clone(),
                    },
                    helper::ChildStdio::null().map_err(|e| internal(e.to_string()))?,
                )
                .map_err(internal)?;
            } else {
                lock(&c.handle).start().map_err(lib_err)?;
            }
            st.phase = Phase::Running;
            self.events.send(
                topics::TASK_START_EVENT_TOPIC,
                TaskStart {
                    container_id: c.id.clone(),
                    pid: st.pid as u32,
                    ..Default::default()
                },
            );
            return Ok(StartResponse {
                pid: st.pid as u32,
                ..Default::default()
            });
        }
        // An exec: the helper runs it now (runc's `exec --detach` at start).
        let spec = p.spec.clone().unwrap_or_default();
        let fail = |st: &mut ProcState, e: String| {
            st.phase = Phase::Stopped;
            st.exit_status = 255;
            st.exited_at = Some(timestamp(SystemTime::now()));
            p.exited.notify_all();
            internal(e)
        };
        let prepared = match stdio::prepare(&p.paths, &c.id, &self.namespace, &|pid| {
            self.ignore_pid(pid)
        }) {
            Ok(x) => x,
            Err(e) => return Err(fail(&mut st, format!("stdio: {e}"))),
        };
        let ereq = Request::Exec(Box::new(ExecRequest {
            root: c.root.clone(),
            id: c.id.clone(),
            process: spec,
            console_socket: prepared.console.as_ref().map(|c| c.path()),
        }));
        let mut io = prepared.io;
        let pid = match self.call_helper(&ereq, prepared.child) {
            Ok(r) => r.pid,
            Err(e) => return Err(fail(&mut st, format!("OCI runtime exec failed: {e}"))),
        };
        if let Some(console) = &prepared.console {
            let attached = console
                .receive()
                .map_err(|e| e.to_string())
                .and_then(|m| io.attach_master(m));
            if let Err(e) = attached {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                return Err(fail(&mut st, format!("terminal: {e}")));
            }
        }
        *lock(&p.io) = io;
        st.pid = pid;
        st.phase = Phase::Running;
        c.exec_started();
        self.watch(pid, Watch::Proc(c.clone(), p.clone()));
        self.events.send(
            topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            TaskExecStarted {
                container_id: c.id.clone(),
                exec_id: p.exec_id.clone(),
                pid: pid as u32,
                ..Default::default()
            },
        );
        Ok(StartResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    pub(super) fn delete(self: &Arc<Self>, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        let c = self.container(&req.id)?;
        if !req.exec_id.is_empty() {
            let p = c.process(&req.exec_id)?;
            let st = lock(&p.state);
            if st.phase == Phase::Running {
                return Err(precondition(format!(
                    "cannot delete running exec {}",
                    p.exec_id
                )));
            }
            lock(&c.execs).remove(&req.exec_id);
            return Ok(DeleteResponse {
                pid: st.pid as u32,
                exit_status: st.exit_status,
                exited_at: MessageField::from_option(st.exited_at.clone()),
                ..Default::default()
            });
        }
        let mut st = lock(&c.init.state);
        if st.phase == Phase::Running {
            return Err(precondition(format!(
                "cannot delete running container {}",
                c.id
            )));
        }
        if st.phase == Phase::Created {
            // Never started: the library kills it; that exit is not reported.
            self.unwatch(st.pid);
            st.phase = Phase::Stopped;
            st.exit_status = 128 + libc::SIGKILL as u32;
            st.exited_at = Some(timestamp(SystemTime::now()));
            c.init.exited.notify_all();
        }
        let deleted = if c.poststop_hooks {
            self.call_helper(
                &Request::Delete {
                    root: c.root.clone(),
                    id: c.id.clone(),
                    force: false,
                },
                helper::ChildStdio::null().map_err(|e| internal(e.to_string()))?,
            )
            .map(|_| ())
        } else {
            match husk::Container::load(&c.root, &c.id) {
                Ok(h) => h.delete(false).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        };
        if let Err(e) = deleted {
            if husk::Container::load(&c.root, &c.id).is_ok() {
                return Err(internal(format!("delete container {}: {e}", c.id)));
            }
            // Already gone (deleted by hand, or by the cleanup of an earlier shim).
            log::warn!("delete {}: {e}", c.id);
        }
        if c.rootfs_mounted {
            mounts::unmount_all(&Path::new(&c.bundle).join("rootfs"));
        }
        *lock(&c.init.io) = ProcessIo::default();
        lock(&self.containers).remove(&c.id);
        let resp = DeleteResponse {
            pid: st.pid as u32,
            exit_status: st.exit_status,
            exited_at: MessageField::from_option(st.exited_at.clone()),
            ..Default::default()
        };
        self.events.send(
            topics::TASK_DELETE_EVENT_TOPIC,
            TaskDelete {
                container_id: c.id.clone(),
                pid: st.pid as u32,
                exit_status: st.exit_status,
                exited_at: MessageField::from_option(st.exited_at.clone()),
                id: c.id.clone(),
                ..Default::default()
            },
        );
        Ok(resp)
    }

    pub(super) fn exec(self: &Arc<Self>, req: ExecProcessRequest) -> TtrpcResult<Empty> {
        let c = self.container(&req.id)?;
        if lock(&c.init.state).phase == Phase::Stopped {
            return Err(precondition(format!("container {} is stopped", c.id)));
        }
        let spec = exec_spec(&req)?;
        let mut execs = lock(&c.execs);
        if execs.contains_key(&req.exec_id) {
            return Err(status_err(
                Code::ALREADY_EXISTS,
                format!("exec {} already exists", req.exec_id),
            ));
        }
        let paths = Paths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
            owner: c.init.paths.owner,
        };
        let mut spec = spec;
        spec.set_terminal(Some(req.terminal));
        execs.insert(
            req.exec_id.clone(),
            Arc::new(Proc::new(&req.exec_id, Some(spec), paths)),
        );
        self.events.send(
            topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            TaskExecAdded {
                container_id: c.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            },
        );
        Ok(Empty::new())
    }

    pub(super) fn kill(self: &Arc<Self>, req: KillRequest) -> TtrpcResult<Empty> {
        let c = self.container(&req.id)?;
        let p = c.process(&req.exec_id)?;
        let st = lock(&p.state);
        if p.is_init() {
            if st.phase == Phase::Stopped && !req.all {
                return Err(not_found("process already finished"));
            }
            lock(&c.handle)
                .kill(req.signal as i32, req.all)
                .map_err(lib_err)?;
            return Ok(Empty::new());
        }
        match st.phase {
            Phase::Stopped => Err(not_found("process already finished")),
            Phase::Created => Err(precondition(format!(
                "exec {} has not been started",
                p.exec_id
            ))),
            Phase::Running => {
                let sig = nix::sys::signal::Signal::try_from(req.signal as i32)
                    .map_err(|e| invalid(format!("signal {}: {e}", req.signal)))?;
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.pid), sig)
                    .map_err(|e| internal(format!("kill exec {}: {e}", p.exec_id)))?;
                Ok(Empty::new())
            }
        }
    }
}

/// `IoUid`/`IoGid` of the runtime options, when not root.
/// Decodes an exec request's process spec (JSON in an Any, from the client).
pub(super) fn exec_spec(req: &ExecProcessRequest) -> TtrpcResult<oci_spec::runtime::Process> {
    let spec_any = req
        .spec
        .as_ref()
        .ok_or_else(|| invalid("exec without a process spec"))?;
    serde_json::from_slice(&spec_any.value).map_err(|e| invalid(format!("exec process spec: {e}")))
}

fn io_owner(o: &containerd_shim::api::Options) -> Option<(u32, u32)> {
    (o.io_uid != 0 || o.io_gid != 0).then_some((o.io_uid, o.io_gid))
}
