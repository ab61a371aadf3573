//! The records of one container and its processes: [`Ctr`] and [`Proc`], with the
//! lifecycle [`Phase`] and exit status each process reports.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::TtrpcResult;

use crate::stdio::{Paths, ProcessIo};

use super::errors::not_found;
use super::lock;

/// Lifecycle of one process as the shim reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Created,
    Running,
    Stopped,
}

#[derive(Debug)]
pub(super) struct ProcState {
    pub(super) phase: Phase,
    pub(super) pid: i32,
    pub(super) exit_status: u32,
    pub(super) exited_at: Option<Timestamp>,
}

/// The init or an exec'd process.
pub(super) struct Proc {
    /// Empty for the init.
    pub(super) exec_id: String,
    /// The exec's process spec.
    pub(super) spec: Option<oci_spec::runtime::Process>,
    pub(super) paths: Paths,
    pub(super) state: Mutex<ProcState>,
    pub(super) exited: Condvar,
    pub(super) io: Mutex<ProcessIo>,
}

impl Proc {
    pub(super) fn new(
        exec_id: &str,
        spec: Option<oci_spec::runtime::Process>,
        paths: Paths,
    ) -> Proc {
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

    pub(super) fn is_init(&self) -> bool {
        self.exec_id.is_empty()
    }
}

/// One container of this shim.
pub(super) struct Ctr {
    pub(super) id: String,
    pub(super) bundle: String,
    pub(super) root: PathBuf,
    pub(super) handle: Mutex<husk::Container>,
    pub(super) init: Arc<Proc>,
    pub(super) execs: Mutex<HashMap<String, Arc<Proc>>>,
    pub(super) running_execs: Mutex<usize>,
    pub(super) execs_done: Condvar,
    pub(super) paused: AtomicBool,
    pub(super) rootfs_mounted: bool,
    pub(super) own_pid_ns: bool,
    /// Restored from a checkpoint at create: the init already runs, Start only
    /// reports it (containerd's order of events is kept).
    pub(super) restored: bool,
    pub(super) poststart_hooks: bool,
    pub(super) poststop_hooks: bool,
    /// OOM kills reported so far (TaskOOM sent), starting from the count at create.
    pub(super) oom_kills: AtomicU64,
    /// The counters at create, for an exit after systemd removed the cgroup.
    pub(super) oom_base: crate::oom::OomBase,
}

impl Ctr {
    pub(super) fn process(&self, exec_id: &str) -> TtrpcResult<Arc<Proc>> {
        if exec_id.is_empty() {
            return Ok(self.init.clone());
        }
        lock(&self.execs)
            .get(exec_id)
            .cloned()
            .ok_or_else(|| not_found(format!("exec {exec_id} not found in {}", self.id)))
    }

    pub(super) fn exec_started(&self) {
        *lock(&self.running_execs) += 1;
    }

    pub(super) fn exec_ended(&self) {
        let mut n = lock(&self.running_execs);
        *n = n.saturating_sub(1);
        self.execs_done.notify_all();
    }

    pub(super) fn wait_execs(&self, t: Duration) {
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
