//! Exit dispatch: the pids the shim waits for ([`ExitTable`]), the reaper's
//! exits matched to processes, TaskExit (after the terminal drained and, for an
//! init, after TaskOOM and the running execs' exits), and the OOM poller.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use containerd_shim::protos::events::task::{TaskExit, TaskOOM};
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::topics;

use super::container::{Ctr, Phase, Proc};
use super::{lock, timestamp, Inner};

/// How long an exit may wait for its pid to be registered.
const UNMATCHED_TTL: Duration = Duration::from_secs(10);
/// How long a terminal's output may take to drain after its process exited.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the init's exit waits for running execs' exits to be reported first.
const EXECS_FIRST_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub(super) enum Watch {
    /// A container process.
    Proc(Arc<Ctr>, Arc<Proc>),
    /// A helper or logging binary: its exit means nothing.
    Ignore,
}

#[derive(Default)]
pub(super) struct ExitTable {
    by_pid: HashMap<i32, Watch>,
    unmatched: HashMap<i32, (i32, SystemTime, Instant)>,
}

impl Inner {
    /// Registers `pid`; an exit that already came is handled now.
    pub(super) fn watch(self: &Arc<Self>, pid: i32, w: Watch) {
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

    pub(super) fn unwatch(&self, pid: i32) {
        lock(&self.exits).by_pid.remove(&pid);
    }

    pub(super) fn ignore_pid(self: &Arc<Self>, pid: i32) {
        self.watch(pid, Watch::Ignore);
    }

    pub(super) fn on_exit(self: &Arc<Self>, pid: i32, code: i32, at: SystemTime) {
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
                    self.check_oom(&c, code == 128 + libc::SIGKILL);
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

    pub(super) fn poll_oom(&self) {
        let list: Vec<Arc<Ctr>> = lock(&self.containers).values().cloned().collect();
        for c in list {
            if lock(&c.init.state).phase != Phase::Stopped {
                self.check_oom(&c, false);
            }
        }
    }

    /// Publishes TaskOOM when the container's OOM-kill count went up. `sigkilled`
    /// (the init's exit) lets an exit after the cgroup is gone count (`crate::oom`).
    fn check_oom(&self, c: &Ctr, sigkilled: bool) {
        let reading = {
            let h = lock(&c.handle);
            crate::oom::OomReading {
                own: h.oom_kills(),
                parent: if sigkilled {
                    h.parent_oom_kills()
                } else {
                    None
                },
                reported: c.oom_kills.load(Ordering::SeqCst),
                sigkilled,
            }
        };
        let Some(n) = crate::oom::kills(c.oom_base, reading) else {
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
}
