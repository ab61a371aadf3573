//! Child processes: spawned in their own process group, waited for with a
//! timeout through a pidfd, reaped with `wait4` (which also yields their
//! rusage), plus a sweep for orphans that were re-parented to us.
//!
//! The harness is a child subreaper (see [`become_subreaper`]), so container
//! inits whose runtime process exits become our children. Nothing here ever
//! calls `waitpid(-1)` blindly: the orphan sweep peeks with `WNOWAIT` and
//! leaves alone any pid that a [`Running`] handle is still waiting for.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Pids that a [`Running`] handle will reap itself.
static TRACKED: Mutex<Option<HashSet<i32>>> = Mutex::new(None);

fn track(pid: i32, on: bool) {
    let mut g = TRACKED.lock().unwrap_or_else(|e| e.into_inner());
    let set = g.get_or_insert_with(HashSet::new);
    if on {
        set.insert(pid);
    } else {
        set.remove(&pid);
    }
}

fn is_tracked(pid: i32) -> bool {
    let g = TRACKED.lock().unwrap_or_else(|e| e.into_inner());
    g.as_ref().is_some_and(|s| s.contains(&pid))
}

/// Makes this process a child subreaper, so that orphaned descendants (the
/// container inits left behind by `create`) are re-parented to it.
pub fn become_subreaper() -> io::Result<()> {
    Ok(nix::sys::prctl::set_child_subreaper(true)?)
}

/// CPU time and peak memory from `wait4`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User CPU time.
    pub user: Duration,
    /// System CPU time.
    pub sys: Duration,
    /// `ru_maxrss` in KiB.
    pub maxrss_kib: u64,
}

impl Usage {
    /// User plus system time.
    pub fn cpu(&self) -> Duration {
        self.user + self.sys
    }

    /// Adds CPU times and keeps the larger peak RSS.
    pub fn add(&mut self, o: &Usage) {
        self.user += o.user;
        self.sys += o.sys;
        self.maxrss_kib = self.maxrss_kib.max(o.maxrss_kib);
    }

    fn from_rusage(r: &libc::rusage) -> Usage {
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        Usage {
            user: tv(r.ru_utime),
            sys: tv(r.ru_stime),
            maxrss_kib: r.ru_maxrss.max(0) as u64,
        }
    }

    /// This process's own usage so far (`RUSAGE_SELF`).
    pub fn current_self() -> Usage {
        // SAFETY: rusage is plain data; getrusage fills it.
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
        Usage::from_rusage(&r)
    }

    /// `self - earlier` for CPU times (peak RSS is kept as is).
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            user: self.user.saturating_sub(earlier.user),
            sys: self.sys.saturating_sub(earlier.sys),
            maxrss_kib: self.maxrss_kib,
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exit status.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// Still running at the deadline; it was killed with SIGKILL.
    TimedOut,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Exited(c) => write!(f, "exit {c}"),
            Status::Signaled(s) => write!(f, "signal {s}"),
            Status::TimedOut => write!(f, "timed out"),
        }
    }
}

/// A finished process.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// How it ended.
    pub status: Status,
    /// From spawn to exit.
    pub wall: Duration,
    /// Its rusage (including its reaped descendants).
    pub usage: Usage,
}

impl Finished {
    /// The exit status, if it exited.
    pub fn code(&self) -> Option<i32> {
        match self.status {
            Status::Exited(c) => Some(c),
            _ => None,
        }
    }

    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.status == Status::Exited(0)
    }
}

/// Opens a pidfd for `pid`.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open(pid, 0) returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits until one of `fds` is readable (a pidfd is readable once the process
/// has exited). Returns the indices of the ready ones, empty on timeout.
pub fn poll_fds(fds: &[&OwnedFd], timeout: Duration) -> io::Result<Vec<usize>> {
    let deadline = Instant::now() + timeout;
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: pfds is a valid array of pollfd.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(pfds
            .iter()
            .enumerate()
            .filter(|(_, p)| p.revents != 0)
            .map(|(i, _)| i)
            .collect());
    }
}

/// Reaps `pid` (blocking unless `nohang`). `None` when it is not our child
/// (or, with `nohang`, still running).
pub fn wait4(pid: i32, nohang: bool) -> Option<(Status, Usage)> {
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let flags = if nohang { libc::WNOHANG } else { 0 };
    loop {
        // SAFETY: valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut ru) };
        if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if r <= 0 {
            return None;
        }
        let st = if libc::WIFEXITED(status) {
            Status::Exited(libc::WEXITSTATUS(status))
        } else {
            Status::Signaled(libc::WTERMSIG(status))
        };
        return Some((st, Usage::from_rusage(&ru)));
    }
}

/// A spawned child that we will reap ourselves.
#[derive(Debug)]
pub struct Running {
    pid: i32,
    pidfd: OwnedFd,
    started: Instant,
}

/// Spawns `cmd` in a new process group.
pub fn spawn(cmd: &mut Command) -> io::Result<Running> {
    cmd.process_group(0);
    let started = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    track(pid, true);
    // The child cannot have been reaped: only Running::wait reaps tracked pids.
    let pidfd = match pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = wait4(pid, false);
            track(pid, false);
            return Err(e);
        }
    };
    drop(child);
    Ok(Running {
        pid,
        pidfd,
        started,
    })
}

impl Running {
    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The pidfd (readable once the child exited).
    pub fn pidfd(&self) -> &OwnedFd {
        &self.pidfd
    }

    /// Waits up to `timeout`; on timeout kills the child's process group and
    /// reports [`Status::TimedOut`].
    pub fn wait(self, timeout: Duration) -> io::Result<Finished> {
        let ready = poll_fds(&[&self.pidfd], timeout)?;
        let wall = self.started.elapsed();
        let timed_out = ready.is_empty();
        if timed_out {
            // SAFETY: signalling our own child and its process group.
            unsafe {
                libc::kill(-self.pid, libc::SIGKILL);
                libc::kill(self.pid, libc::SIGKILL);
            }
        }
        self.reap(wall, timed_out)
    }

    /// Reaps a child whose pidfd is already readable.
    pub fn finish(self) -> io::Result<Finished> {
        let wall = self.started.elapsed();
        self.reap(wall, false)
    }

    fn reap(self, wall: Duration, timed_out: bool) -> io::Result<Finished> {
        let r = wait4(self.pid, false);
        track(self.pid, false);
        let (status, usage) =
            r.ok_or_else(|| io::Error::other(format!("cannot reap child {}", self.pid)))?;
        Ok(Finished {
            status: if timed_out { Status::TimedOut } else { status },
            wall,
            usage,
        })
    }
}

/// Runs `cmd` to completion with a timeout.
pub fn run(cmd: &mut Command, timeout: Duration) -> io::Result<Finished> {
    spawn(cmd)?.wait(timeout)
}

/// Reaps exited children that no [`Running`] handle waits for (container
/// inits re-parented to us). Returns how many were reaped.
pub fn reap_orphans() -> usize {
    let mut n = 0;
    loop {
        // SAFETY: siginfo_t is plain data that waitid fills.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r != 0 {
            return n;
        }
        // SAFETY: filled by waitid for a CLD_* event.
        let pid = unsafe { info.si_pid() };
        if pid == 0 || is_tracked(pid) {
            return n;
        }
        if wait4(pid, false).is_none() {
            return n;
        }
        n += 1;
    }
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|s| !matches!(s.state, 'Z' | 'X'))
}

/// A process's peak resident set (`VmHWM` in /proc/PID/status), in KiB.
pub fn vm_hwm_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod vm_hwm_tests {
    use super::parse_vm_hwm;

    #[test]
    fn reads_vm_hwm() {
        let s = "Name:\tsleep\nVmPeak:\t   10000 kB\nVmHWM:\t    2104 kB\nVmRSS:\t  2000 kB\n";
        assert_eq!(parse_vm_hwm(s), Some(2104));
        assert_eq!(parse_vm_hwm("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn own_status_has_vm_hwm() {
        assert!(super::vm_hwm_kib(std::process::id() as i32).is_some_and(|k| k > 0));
    }
}
