//! start, kill, delete.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::Container;
use crate::hooks::HookKind;
use crate::state::{Lock, Status, EXEC_FIFO};
use crate::{sys, Error};

impl Container {
    /// Starts the user process of a `created` container.
    pub fn start(&mut self) -> crate::Result<()> {
        let _lock = Lock::acquire(&self.dir())?;
        self.state = crate::state::State::load(&self.root, self.id())?;
        self.state.refresh(&self.root);
        match self.state.status {
            Status::Created => {}
            Status::Stopped => {
                return Err(Error::State {
                    id: self.id().into(),
                    msg: "cannot start a container that has stopped".into(),
                })
            }
            s => {
                return Err(Error::State {
                    id: self.id().into(),
                    msg: format!("cannot start an already {s} container"),
                })
            }
        }
        let fifo = self.dir().join(EXEC_FIFO);
        let fd = nix::fcntl::open(
            &fifo,
            OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::State {
            id: self.id().into(),
            msg: format!(
                "the container's init is not waiting on {} ({e})",
                fifo.display()
            ),
        })?;
        nix::unistd::write(&fd, b"0").map_err(|e| Error::State {
            id: self.id().into(),
            msg: format!("signal start: {e}"),
        })?;
        drop(fd);
        crate::fault::point("start");
        let _ = std::fs::remove_file(&fifo);
        // Not saved: the status is derived on every load (`State::refresh`: an init
        // alive and no longer waiting on the fifo is running), so a write (and its
        // fsync on a disk-backed root) would only record what refresh finds anyway.
        self.state.status = Status::Running;
        self.run_hooks_warn(HookKind::Poststart, Status::Running);
        Ok(())
    }

    /// Sends `signal` to the init, or with `all` to every process of the container.
    ///
    /// ```no_run
    /// let mut c = husk::Container::load("/run/husk".as_ref(), "c1")?;
    /// c.kill(libc::SIGTERM, false)?;
    /// # Ok::<(), husk::Error>(())
    /// ```
    pub fn kill(&mut self, signal: i32, all: bool) -> crate::Result<()> {
        self.state.refresh(&self.root);
        if all {
            if let Some(cg) = &self.state.cgroup {
                cg.signal_all(signal)?;
                return Ok(());
            }
        }
        if self.state.status == Status::Stopped {
            return Err(Error::State {
                id: self.id().into(),
                msg: "container not running".into(),
            });
        }
        self.signal_init(signal)
    }

    fn signal_init(&self, signal: i32) -> crate::Result<()> {
        let pidfd = match sys::pidfd_open(self.state.pid) {
            Ok(fd) => Some(fd),
            // Before 5.3: the pid itself, right after the start-time check below.
            Err(e) if sys::is_enosys(&e) => None,
            Err(e) => {
                return Err(Error::Sys {
                    what: "pidfd_open",
                    source: e,
                })
            }
        };
        // The pid could have been reused between load and pidfd_open: check it is still ours.
        if !crate::state::process_alive(self.state.pid, self.state.init_start_time) {
            return Err(Error::State {
                id: self.id().into(),
                msg: "container not running".into(),
            });
        }
        let res = match &pidfd {
            Some(fd) => sys::pidfd_send_signal(fd.as_fd(), signal),
            None => {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.state.pid), sig(signal)?)
                    .map_err(std::io::Error::from)
            }
        };
        res.map_err(|e| Error::Sys {
            what: "kill",
            source: e,
        })
    }

    /// Deletes the container: its cgroup and state. A created or running container
    /// is refused unless `force`, which kills it first (a created one is killed too,
    /// as runc does).
    pub fn delete(mut self, force: bool) -> crate::Result<()> {
        let _lock = Lock::acquire(&self.dir())?;
        // Reread under the lock: the command we waited for may have changed it.
        self.state = crate::state::State::load(&self.root, self.id())?;
        // A create killed midway: its init may live (stopped, or past its
        // parent-death signal) whatever the status says.
        let half_made = self.state.creator.is_some();
        self.state.refresh(&self.root);
        match self.state.status {
            Status::Stopped if half_made => self.kill_and_wait()?,
            Status::Stopped => {}
            Status::Created => self.kill_and_wait()?,
            s if force => {
                let _ = s;
                self.kill_and_wait()?
            }
            s => {
                return Err(Error::State {
                    id: self.id().into(),
                    msg: format!(
                        "cannot delete container {} that is not stopped: {s}",
                        self.id()
                    ),
                });
            }
        }
        if let Some(cg) = &self.state.cgroup {
            cg.destroy()?;
        }
        if let Some(rdt) = &self.state.intel_rdt {
            crate::intelrdt::remove(rdt)?;
        }
        crate::fault::point("delete");
        crate::state::remove_dir(&self.dir())?;
        self.run_hooks_warn(HookKind::Poststop, Status::Stopped);
        Ok(())
    }

    /// poststart and poststop failures are warnings: the lifecycle goes on (runtime-spec).
    fn run_hooks_warn(&self, kind: HookKind, status: Status) {
        let Some(h) = &self.state.hooks else { return };
        let list = kind.select(h);
        if list.is_empty() {
            return;
        }
        // Each failure is a warning and the remaining hooks still run.
        let state = self.state.oci_json(status);
        for (i, hook) in list.iter().enumerate() {
            if let Err(e) = crate::hooks::run_hook(hook, &state) {
                tracing::warn!("{}", e.at(kind, i));
            }
        }
    }

    /// SIGKILL the init (and the cgroup), then wait until the init has exited.
    fn kill_and_wait(&self) -> crate::Result<()> {
        if let Some(cg) = self.state.cgroup.as_ref().filter(|c| !c.is_preexisting()) {
            let _ = cg.signal_all(libc::SIGKILL);
            let _ = cg.thaw();
        }
        if self.state.pid <= 0 {
            return Ok(());
        }
        let pidfd = match sys::pidfd_open(self.state.pid) {
            Ok(fd) => Some(fd),
            Err(e) if sys::is_enosys(&e) => None,
            Err(_) => return Ok(()),
        };
        if !crate::state::process_alive(self.state.pid, self.state.init_start_time) {
            return Ok(());
        }
        let Some(pidfd) = pidfd else {
            // Before 5.3: kill by pid (just checked to be our init) and poll its state.
            let pid = nix::unistd::Pid::from_raw(self.state.pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            for _ in 0..1000 {
                if !crate::state::process_alive(self.state.pid, self.state.init_start_time) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            return Ok(());
        };
        let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
        let mut fds = [nix::poll::PollFd::new(
            pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(10_000u16));
        // Give a zombie's parent a moment to reap it; the status check treats zombies as stopped.
        let _ = Duration::ZERO;
        Ok(())
    }
}

/// A signal number as nix's type (0, the existence check, is `None`-able in kill(2)
/// but not here: husk never sends it).
fn sig(n: i32) -> crate::Result<nix::sys::signal::Signal> {
    nix::sys::signal::Signal::try_from(n).map_err(|e| Error::Sys {
        what: "kill: signal number",
        source: e.into(),
    })
}
