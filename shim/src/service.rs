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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use containerd_shim::api::{
    CheckpointTaskRequest, CloseIORequest, ConnectRequest, ConnectResponse, CreateTaskRequest,
    CreateTaskResponse, DeleteRequest, DeleteResponse, Empty, ExecProcessRequest, KillRequest,
    PauseRequest, PidsRequest, PidsResponse, ResizePtyRequest, ResumeRequest, ShutdownRequest,
    StartRequest, StartResponse, StateRequest, StateResponse, StatsRequest, StatsResponse,
    UpdateTaskRequest, WaitRequest, WaitResponse,
};
use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::shim::oci::ProcessDetails;
use containerd_shim::protos::topics;
use containerd_shim::protos::ttrpc::{self, Code};
use containerd_shim::protos::types::task::{ProcessInfo, Status};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{ExitSignal, Task, TtrpcContext, TtrpcResult};

use crate::events::Events;
use crate::helper::{self, CreateRequest, ExecRequest, Request};
use crate::memory;
use crate::options;
use crate::stdio::{self, Paths, ProcessIo};
use crate::{metrics, mounts};

/// How long an exit may wait for its pid to be registered.
const UNMATCHED_TTL: Duration = Duration::from_secs(10);
/// How long a terminal's output may take to drain after its process exited.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the init's exit waits for running execs' exits to be reported first.
const EXECS_FIRST_TIMEOUT: Duration = Duration::from_secs(3);
/// OOM polling period.
const OOM_POLL: Duration = Duration::from_millis(500);

fn status_err(code: Code, msg: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg.into()))
}
fn not_found(msg: impl Into<String>) -> ttrpc::Error {
    status_err(Code::NOT_FOUND, msg)
}
fn precondition(msg: impl Into<String>) -> ttrpc::Error {
    status_err(Code::FAILED_PRECONDITION, msg)
}
fn unimplemented(msg: impl Into<String>) -> ttrpc::Error {
    status_err(Code::UNIMPLEMENTED, msg)
}
fn internal(msg: impl Into<String>) -> ttrpc::Error {
    status_err(Code::UNKNOWN, msg)
}
fn invalid(msg: impl Into<String>) -> ttrpc::Error {
    status_err(Code::INVALID_ARGUMENT, msg)
}

/// Maps a library error to a ttrpc status.
fn lib_err(e: husk::Error) -> ttrpc::Error {
    let msg = e.to_string();
    match e {
        husk::Error::State { .. } if msg.contains("not running") => not_found(msg),
        husk::Error::State { .. } => precondition(msg),
        husk::Error::Unsupported(_) => unimplemented(msg),
        _ => internal(msg),
    }
}

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

/// Lifecycle of one process as the shim reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    Running,
    Stopped,
}

#[derive(Debug)]
struct ProcState {
    phase: Phase,
    pid: i32,
    exit_status: u32,
    exited_at: Option<Timestamp>,
}

/// The init or an exec'd process.
struct Proc {
    /// Empty for the init.
    exec_id: String,
    /// The exec's process spec.
    spec: Option<oci_spec::runtime::Process>,
    paths: Paths,
    state: Mutex<ProcState>,
    exited: Condvar,
    io: Mutex<ProcessIo>,
}

impl Proc {
    fn new(exec_id: &str, spec: Option<oci_spec::runtime::Process>, paths: Paths) -> Proc {
        Proc {
            exec_id: exec_id.to_string(),
            spec,
            paths,
            state: Mutex::new(ProcState {
                phase: Phase::Created,
                pid: 0,
                exit_status: 0,
                exited_at: None,
            }),
            exited: Condvar::new(),
            io: Mutex::new(ProcessIo::default()),
        }
    }

    fn is_init(&self) -> bool {
        self.exec_id.is_empty()
    }
}

/// One container of this shim.
struct Ctr {
    id: String,
    bundle: String,
    root: PathBuf,
    handle: Mutex<husk::Container>,
    init: Arc<Proc>,
    execs: Mutex<HashMap<String, Arc<Proc>>>,
    running_execs: Mutex<usize>,
    execs_done: Condvar,
    paused: AtomicBool,
    rootfs_mounted: bool,
    own_pid_ns: bool,
    poststart_hooks: bool,
    poststop_hooks: bool,
    oom_kills: AtomicU64,
}

impl Ctr {
    fn process(&self, exec_id: &str) -> TtrpcResult<Arc<Proc>> {
        if exec_id.is_empty() {
            return Ok(self.init.clone());
        }
        lock(&self.execs)
            .get(exec_id)
            .cloned()
            .ok_or_else(|| not_found(format!("exec {exec_id} not found in {}", self.id)))
    }

    fn exec_started(&self) {
        *lock(&self.running_execs) += 1;
    }

    fn exec_ended(&self) {
        let mut n = lock(&self.running_execs);
        *n = n.saturating_sub(1);
        self.execs_done.notify_all();
    }

    fn wait_execs(&self, t: Duration) {
        let deadline = Instant::now() + t;
        let mut n = lock(&self.running_execs);
        while *n > 0 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            n = self
                .execs_done
                .wait_timeout(n, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[derive(Clone)]
enum Watch {
    /// A container process.
    Proc(Arc<Ctr>, Arc<Proc>),
    /// A helper or logging binary: its exit means nothing.
    Ignore,
}

#[derive(Default)]
struct ExitTable {
    by_pid: HashMap<i32, Watch>,
    unmatched: HashMap<i32, (i32, SystemTime, Instant)>,
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

    /// Registers `pid`; an exit that already came is handled now.
    fn watch(self: &Arc<Self>, pid: i32, w: Watch) {
        let early = {
            let mut t = lock(&self.exits);
            match t.unmatched.remove(&pid) {
                Some(e) => Some(e),
                None => {
                    t.by_pid.insert(pid, w.clone());
                    None
                }
            }
        };
        if let (Some((code, at, _)), Watch::Proc(c, p)) = (early, w) {
            self.clone().exited(c, p, code, at);
        }
    }

    fn unwatch(&self, pid: i32) {
        lock(&self.exits).by_pid.remove(&pid);
    }

    fn ignore_pid(self: &Arc<Self>, pid: i32) {
        self.watch(pid, Watch::Ignore);
    }

    fn on_exit(self: &Arc<Self>, pid: i32, code: i32, at: SystemTime) {
        let w = {
            let mut t = lock(&self.exits);
            match t.by_pid.remove(&pid) {
                Some(w) => w,
                None => {
                    let now = Instant::now();
                    t.unmatched
                        .retain(|_, (_, _, seen)| now.duration_since(*seen) < UNMATCHED_TTL);
                    t.unmatched.insert(pid, (code, at, now));
                    return;
                }
            }
        };
        if let Watch::Proc(c, p) = w {
            self.clone().exited(c, p, code, at);
        }
    }

    /// A container process exited: drain its terminal, record, publish TaskExit,
    /// wake waiters. On its own thread: it may wait for the output and for the
    /// lock `Start` holds until TaskStart is queued.
    fn exited(self: Arc<Self>, c: Arc<Ctr>, p: Arc<Proc>, code: i32, at: SystemTime) {
        let spawned = std::thread::Builder::new()
            .name("exit".into())
            .spawn(move || {
                lock(&p.io).drain(DRAIN_TIMEOUT);
                if p.is_init() {
                    // An OOM kill of the init ends it before the poller looks:
                    // report it now, before the exit (as containerd's runc shim).
                    self.check_oom(&c);
                    if !c.own_pid_ns {
                        // Nothing kills the rest with the init: do it, as runc's shim.
                        let _ = lock(&c.handle).kill(libc::SIGKILL, true);
                    }
                    c.wait_execs(EXECS_FIRST_TIMEOUT);
                }
                let mut st = lock(&p.state);
                st.phase = Phase::Stopped;
                st.exit_status = code as u32;
                let ts = timestamp(at);
                st.exited_at = Some(ts.clone());
                self.events.send(
                    topics::TASK_EXIT_EVENT_TOPIC,
                    TaskExit {
                        container_id: c.id.clone(),
                        id: if p.is_init() {
                            c.id.clone()
                        } else {
                            p.exec_id.clone()
                        },
                        pid: st.pid as u32,
                        exit_status: code as u32,
                        exited_at: MessageField::some(ts),
                        ..Default::default()
                    },
                );
                p.exited.notify_all();
                drop(st);
                if !p.is_init() {
                    c.exec_ended();
                }
            });
        if let Err(e) = spawned {
            log::error!("exit thread: {e}");
        }
    }

    fn poll_oom(&self) {
        let list: Vec<Arc<Ctr>> = lock(&self.containers).values().cloned().collect();
        for c in list {
            if lock(&c.init.state).phase != Phase::Stopped {
                self.check_oom(&c);
            }
        }
    }

    /// Publishes TaskOOM when the container's OOM-kill count went up.
    fn check_oom(&self, c: &Ctr) {
        let Some(n) = lock(&c.handle).oom_kills() else {
            return;
        };
        let before = c.oom_kills.fetch_max(n, Ordering::SeqCst);
        if n > before {
            self.events.send(
                topics::TASK_OOM_EVENT_TOPIC,
                TaskOOM {
                    container_id: c.id.clone(),
                    ..Default::default()
                },
            );
        }
    }

    fn call_helper(
        self: &Arc<Self>,
        req: &Request,
        child: helper::ChildStdio,
    ) -> Result<i32, String> {
        let resp = helper::call(req, child, &[], &|pid| self.ignore_pid(pid))?;
        match resp.error {
            Some(e) => Err(e),
            None => Ok(resp.pid),
        }
    }

    fn create(self: &Arc<Self>, req: CreateTaskRequest) -> TtrpcResult<CreateTaskResponse> {
        if !req.checkpoint.is_empty() || !req.parent_checkpoint.is_empty() {
            return Err(unimplemented(
                "husk does not support restoring from a checkpoint (no CRIU support)",
            ));
        }
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
        let creq = Request::Create(CreateRequest {
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
        });
        let mut io = prepared.io;
        let pid = self
            .call_helper(&creq, prepared.child)
            .map_err(|e| internal(format!("create container {}: {e}", req.id)))?;
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
        let hooks = handle.raw_state().hooks.clone().unwrap_or_default();
        let poststart_hooks = hooks.poststart().as_ref().is_some_and(|h| !h.is_empty());
        let poststop_hooks = hooks.poststop().as_ref().is_some_and(|h| !h.is_empty());
        let oom_kills = handle.oom_kills().unwrap_or(0);
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
            own_pid_ns: own_pid_namespace(&bundle),
            poststart_hooks,
            poststop_hooks,
            oom_kills: AtomicU64::new(oom_kills),
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

    fn start(self: &Arc<Self>, req: StartRequest) -> TtrpcResult<StartResponse> {
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
            if c.poststart_hooks {
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
            Ok(pid) => pid,
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

    fn delete(self: &Arc<Self>, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
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

    fn exec(self: &Arc<Self>, req: ExecProcessRequest) -> TtrpcResult<Empty> {
        let c = self.container(&req.id)?;
        if lock(&c.init.state).phase == Phase::Stopped {
            return Err(precondition(format!("container {} is stopped", c.id)));
        }
        let spec_any = req
            .spec
            .as_ref()
            .ok_or_else(|| invalid("exec without a process spec"))?;
        let spec: oci_spec::runtime::Process = serde_json::from_slice(&spec_any.value)
            .map_err(|e| invalid(format!("exec process spec: {e}")))?;
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

    fn kill(self: &Arc<Self>, req: KillRequest) -> TtrpcResult<Empty> {
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

    fn state(&self, req: StateRequest) -> TtrpcResult<StateResponse> {
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

    fn pids(&self, req: PidsRequest) -> TtrpcResult<PidsResponse> {
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
                if let Ok(any) = containerd_shim::util::convert_to_any(Box::new(d)) {
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

    fn pause(&self, req: PauseRequest) -> TtrpcResult<Empty> {
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

    fn resume(&self, req: ResumeRequest) -> TtrpcResult<Empty> {
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

    fn update(&self, req: UpdateTaskRequest) -> TtrpcResult<Empty> {
        let c = self.container(&req.id)?;
        let Some(any) = req.resources.as_ref() else {
            return Err(invalid("update without resources"));
        };
        if !any.type_url.ends_with("LinuxResources") {
            return Err(unimplemented(format!(
                "update resources of type {:?} are not supported by husk",
                any.type_url
            )));
        }
        let r: oci_spec::runtime::LinuxResources = serde_json::from_slice(&any.value)
            .map_err(|e| invalid(format!("linux resources: {e}")))?;
        lock(&c.handle).update(&r).map_err(lib_err)?;
        Ok(Empty::new())
    }

    fn wait(&self, req: WaitRequest) -> TtrpcResult<WaitResponse> {
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

    fn stats(&self, req: StatsRequest) -> TtrpcResult<StatsResponse> {
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

    fn shutdown(&self) -> TtrpcResult<Empty> {
        if !lock(&self.containers).is_empty() {
            return Ok(Empty::new());
        }
        self.events.flush(Duration::from_secs(5));
        self.exit.signal();
        Ok(Empty::new())
    }
}

/// `IoUid`/`IoGid` of the runtime options, when not root.
fn io_owner(o: &containerd_shim::api::Options) -> Option<(u32, u32)> {
    (o.io_uid != 0 || o.io_gid != 0).then_some((o.io_uid, o.io_gid))
}

/// Whether the bundle's config gives the container a pid namespace of its own
/// (then the kernel kills everything when the init exits).
fn own_pid_namespace(bundle: &Path) -> bool {
    let Ok(spec) = oci_spec::runtime::Spec::load(bundle.join("config.json")) else {
        return true;
    };
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none()
            })
        })
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
        self.inner.container(&req.id)?;
        Err(unimplemented(
            "husk does not support checkpoint (no CRIU integration); the container keeps running",
        ))
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
