//! Pause, resume and signal every member: v1 `freezer.state`, v2
//! `cgroup.freeze` / `cgroup.kill`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::error::CgroupError;
use super::fsio;
use super::handle::CgroupHandle;
use super::layout::{CgroupMode, HierarchyVersion};

/// How long v2 waits for `frozen 1` in `cgroup.events`.
const V2_FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
/// v1 write-and-check rounds before giving up, as in runc.
const V1_FREEZE_ROUNDS: u32 = 1000;

/// Which freezer a handle uses.
enum Freezer {
    V1(PathBuf),
    V2(PathBuf),
}

impl CgroupHandle {
    fn freezer(&self, operation: &'static str) -> Result<Freezer, CgroupError> {
        if self.mode == CgroupMode::V2 {
            if let Some(d) = self.dir_for(HierarchyVersion::V2, "") {
                // cgroup.freeze exists in every non-root cgroup since 5.2.
                if d.join("cgroup.freeze").exists() || !d.exists() {
                    return Ok(Freezer::V2(d.to_path_buf()));
                }
            }
            return Err(self.no_freezer(operation));
        }
        self.dir_for(HierarchyVersion::V1, "freezer")
            .map(|d| Freezer::V1(d.to_path_buf()))
            .ok_or_else(|| self.no_freezer(operation))
    }

    /// Freeze every process of the container (`pause`); returns once the
    /// kernel reports the cgroup frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.freezer("freeze")? {
            Freezer::V1(d) => freeze_v1(&d),
            Freezer::V2(d) => {
                write(&d.join("cgroup.freeze"), "1", "freeze")?;
                wait_v2_frozen(&d)
            }
        }
    }

    /// Thaw the container (`resume`).
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.freezer("thaw")? {
            Freezer::V1(d) => write(&d.join("freezer.state"), "THAWED", "thaw"),
            Freezer::V2(d) => write(&d.join("cgroup.freeze"), "0", "thaw"),
        }
    }

    /// True when the container itself is frozen (not merely an ancestor). A
    /// cgroup that does not exist is not frozen.
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        match self.freezer("is_frozen")? {
            Freezer::V1(d) => {
                if !d.exists() {
                    return Ok(false);
                }
                let state = fsio::read_string(&d.join("freezer.state"))?;
                if state.trim() != "FROZEN" {
                    return Ok(false);
                }
                // FROZEN is also shown when a parent is frozen; only our own
                // freeze counts as "paused", as in runc.
                match fsio::read_string(&d.join("freezer.self_freezing")) {
                    Ok(s) => Ok(s.trim() == "1"),
                    Err(CgroupError::Read { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        Ok(true)
                    }
                    Err(e) => Err(e),
                }
            }
            Freezer::V2(d) => {
                if !d.exists() {
                    return Ok(false);
                }
                Ok(fsio::read_string(&d.join("cgroup.freeze"))?.trim() == "1")
            }
        }
    }

    /// Send `sig` to every process of the container (`kill --all`): freeze
    /// so nothing forks past the list, signal each pid, thaw. A paused
    /// container stays paused unless the signal is SIGKILL (which can only
    /// take effect once thawed). On v2, SIGKILL uses `cgroup.kill`.
    /// Without a freezer the signals are sent anyway.
    pub fn signal_all(&self, sig: i32) -> Result<(), CgroupError> {
        // 0 only checks existence; anything else must be a real signal.
        let signal = if sig == 0 {
            None
        } else {
            Some(Signal::try_from(sig).map_err(|_| CgroupError::BadSignal { signal: sig })?)
        };
        if signal == Some(Signal::SIGKILL) && self.mode == CgroupMode::V2 {
            if let Some(d) = self.v2_dir() {
                let file = d.join("cgroup.kill");
                if file.exists() {
                    return write(&file, "1", "kill --all");
                }
            }
        }
        let was_frozen = self.is_frozen().unwrap_or(false);
        let froze = match self.freeze() {
            Ok(()) => true,
            // Rootless without a cgroup of its own: nothing to freeze, nothing to say
            // (podman always deletes with --force).
            Err(e @ CgroupError::RootlessNoCgroup { .. }) => {
                tracing::debug!("kill --all without freezing: {e}");
                false
            }
            Err(e) => {
                tracing::warn!("kill --all without freezing: {e}");
                false
            }
        };
        let mut first_error = None;
        for pid in self.pids()? {
            match kill(Pid::from_raw(pid), signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(source) => {
                    first_error.get_or_insert(CgroupError::Signal {
                        signal: sig,
                        pid,
                        source,
                    });
                }
            }
        }
        if froze && (!was_frozen || signal == Some(Signal::SIGKILL)) {
            self.thaw()?;
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn write(path: &Path, value: &str, op: &str) -> Result<(), CgroupError> {
    fsio::write_value(path, value).map_err(|source| CgroupError::Write {
        field: op.to_string(),
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// runc's v1 loop: write FROZEN until the state reads FROZEN, with an
/// occasional thaw-and-retry so tasks stuck mid-fork get another chance.
fn freeze_v1(dir: &Path) -> Result<(), CgroupError> {
    let file = dir.join("freezer.state");
    let start = Instant::now();
    for i in 0..V1_FREEZE_ROUNDS {
        if i % 50 == 49 {
            write(&file, "THAWED", "freeze")?;
            std::thread::sleep(Duration::from_millis(10));
        }
        write(&file, "FROZEN", "freeze")?;
        if i % 25 == 24 {
            std::thread::sleep(Duration::from_micros(10));
        }
        match fsio::read_string(&file)?.trim() {
            "FROZEN" => return Ok(()),
            "FREEZING" => continue,
            other => {
                return Err(CgroupError::parse(
                    &file,
                    format!("unexpected state {other:?} after writing FROZEN"),
                ))
            }
        }
    }
    // Leaving it stuck in FREEZING would hang the container: thaw it.
    let _ = write(&file, "THAWED", "freeze");
    Err(CgroupError::FreezeTimeout {
        path: file,
        state: "FROZEN",
        waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

fn wait_v2_frozen(dir: &Path) -> Result<(), CgroupError> {
    let events = dir.join("cgroup.events");
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        let text = fsio::read_string(&events)?;
        if text.lines().any(|l| l.trim() == "frozen 1") {
            return Ok(());
        }
        if start.elapsed() > V2_FREEZE_TIMEOUT {
            let _ = write(&dir.join("cgroup.freeze"), "0", "freeze");
            return Err(CgroupError::FreezeTimeout {
                path: events,
                state: "frozen 1",
                waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
