//! Run D-Bus work in a short-lived child, so the runtime never has more than
//! one thread (see `bus.rs` for why zbus's threads must not live in it): a
//! forked child when the caller is single-threaded (the CLI), else husk's
//! exec'd helper binary ([`run_job`]; a fork of a multi-threaded embedder
//! would run zbus in a child that may inherit a lock another thread held).
//!
//! The child gets a closure, runs it, and sends lines back over a pipe:
//! `N<json string>` for progress notes (sent as they happen, so the parent
//! knows e.g. that a unit was created even if the child dies or times out
//! later) and one final `R<json result>`. It then `_exit`s: no destructors,
//! no atexit handlers of the runtime run twice. The parent waits for the
//! pipe's end with a deadline and SIGKILLs the child past it.
//!
//! The answer comes from the pipe, never from the exit status, so a caller
//! that reaps children on its own (a shim's SIGCHLD handler) does no harm.

use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::job::BusJob;

/// The child's end: progress notes.
pub struct Notes {
    fd: OwnedFd,
}

impl Notes {
    /// Send a note to the parent now.
    pub fn note(&mut self, s: &str) {
        let line = format!("N{}\n", serde_json::to_string(s).unwrap_or_default());
        self.send(line.as_bytes());
    }

    fn send(&mut self, bytes: &[u8]) {
        let mut f = std::fs::File::from(self.fd.try_clone().unwrap_or_else(|_| {
            // SAFETY: nothing else can be done in the child; exit quietly.
            unsafe { libc::_exit(3) }
        }));
        let _ = f.write_all(bytes);
    }
}

/// What the helper answered.
pub struct Answer<T> {
    /// The closure's result, or why there is none (fork failed, the child
    /// died, timed out, or sent garbage).
    pub result: Result<T, String>,
    /// The notes it sent, in order, even when `result` is an error.
    pub notes: Vec<String>,
}

/// Runs `job` in a child and returns its answer within `timeout`: forked from a
/// single-threaded caller, else in the exec'd helper binary (the caller's own
/// when its `main` calls `husk::helper::run_if_helper`, or the one named by
/// `husk::helper::set_binary` / `HUSK_HELPER`). Without any helper binary a
/// multi-threaded caller still gets the fork, with a warning: the child is
/// killed at the deadline, so a lock it inherited costs a timeout, not a hang.
pub(super) fn run_job(timeout: Duration, job: BusJob) -> Answer<String> {
    if crate::process::helper::caller_is_threaded() {
        match crate::process::helper::helper_binary() {
            Ok(bin) => return run_exec(&bin, timeout, &job),
            Err(e) => tracing::warn!("systemd D-Bus call forked from a threaded process: {e}"),
        }
    }
    run(timeout, |n| job.run(&mut |s| n.note(s)))
}

/// [`run_job`] through the exec'd helper: the job goes over a socket as JSON,
/// the answer comes back in the same lines as from a forked child.
fn run_exec(bin: &std::path::Path, timeout: Duration, job: &BusJob) -> Answer<String> {
    let fail = |e: String| Answer {
        result: Err(e),
        notes: Vec::new(),
    };
    let helper = crate::process::helper::BUS_HELPER_ARG;
    let (mut child, sock) = match crate::process::helper::spawn_helper(bin, helper, Vec::new()) {
        Ok(c) => c,
        Err(e) => return fail(format!("D-Bus helper {}: {e}", bin.display())),
    };
    let sent = serde_json::to_vec(job)
        .map_err(std::io::Error::other)
        .and_then(|j| {
            std::fs::File::from(sock.try_clone()?).write_all(&j)?;
            nix::sys::socket::shutdown(sock.as_raw_fd(), nix::sys::socket::Shutdown::Write)?;
            Ok(())
        });
    let (out, timed_out) = match sent {
        Ok(()) => read_until_eof(&sock, timeout),
        Err(e) => (String::new(), {
            tracing::debug!("sending the job to the D-Bus helper: {e}");
            false
        }),
    };
    if timed_out {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map(|s| s.to_string())
        .unwrap_or_else(|e| format!("status unknown: {e}"));
    let (notes, result) = parse::<String>(&out);
    let result = result.unwrap_or_else(|| {
        Err(if timed_out {
            format!("no answer from systemd within {} s", timeout.as_secs())
        } else {
            format!(
                "the D-Bus helper {} exited without an answer ({status}): does its main() \
                 call husk::helper::run_if_helper() first?",
                bin.display()
            )
        })
    });
    Answer { result, notes }
}

/// The exec'd helper's side of [`run_exec`]: reads the job from `sock`, runs it,
/// answers. Returns the process's exit status.
pub(crate) fn serve(sock: RawFd) -> i32 {
    // SAFETY: the fd number was passed to us by our parent for this purpose only.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(sock) });
    let mut buf = Vec::new();
    let job = file
        .read_to_end(&mut buf)
        .map_err(|e| format!("D-Bus helper: read the job: {e}"))
        .and_then(|_| {
            serde_json::from_slice::<BusJob>(&buf)
                .map_err(|e| format!("D-Bus helper: bad job: {e}"))
        });
    let mut note = |s: &str| {
        let line = format!("N{}\n", serde_json::to_string(s).unwrap_or_default());
        let _ = file
            .try_clone()
            .and_then(|mut f| f.write_all(line.as_bytes()));
    };
    let result = job.and_then(|j| j.run(&mut note));
    let line = format!("R{}\n", serde_json::to_string(&result).unwrap_or_default());
    match file.write_all(line.as_bytes()) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// Run `f` in a forked child and return its answer within `timeout`.
///
/// The caller must not hold locks another thread could need in the child;
/// the runtime is single-threaded, and glibc's `fork` makes malloc safe in
/// the child even for multi-threaded library users.
pub fn run<T, F>(timeout: Duration, f: F) -> Answer<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(&mut Notes) -> Result<T, String>,
{
    let fail = |e: String| Answer {
        result: Err(e),
        notes: Vec::new(),
    };
    let (r, w) = match pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return fail(format!("pipe for the D-Bus helper: {e}")),
    };
    // SAFETY: the child only runs `f` and `_exit`s; see the function docs.
    match unsafe { fork() } {
        Err(e) => fail(format!("fork the D-Bus helper: {e}")),
        Ok(ForkResult::Child) => {
            drop(r);
            // Do not outlive the runtime if it is killed meanwhile.
            let _ = crate::sys::set_pdeathsig(libc::SIGKILL);
            let mut notes = Notes { fd: w };
            let result = catch_unwind(AssertUnwindSafe(|| f(&mut notes)))
                .unwrap_or_else(|_| Err("the D-Bus helper panicked".to_string()));
            let line = format!("R{}\n", serde_json::to_string(&result).unwrap_or_default());
            notes.send(line.as_bytes());
            // SAFETY: leave without running the runtime's destructors or
            // atexit handlers (zbus's threads die with the process).
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(w);
            let (out, timed_out) = read_until_eof(&r, timeout);
            if timed_out {
                let _ = kill(child, Signal::SIGKILL);
            }
            let status = reap(child);
            let (notes, result) = parse::<T>(&out);
            let result = result.unwrap_or_else(|| {
                Err(if timed_out {
                    format!("no answer from systemd within {} s", timeout.as_secs())
                } else {
                    format!("the D-Bus helper exited without an answer ({status})")
                })
            });
            Answer { result, notes }
        }
    }
}

/// Everything the child writes until it closes the pipe, or until `timeout`.
fn read_until_eof(fd: &OwnedFd, timeout: Duration) -> (String, bool) {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (String::from_utf8_lossy(&out).into_owned(), true);
        }
        let ms = u16::try_from(left.as_millis().min(10_000)).unwrap_or(10_000);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), false)
}

/// Reap the child; its status in words (someone else may have reaped it).
fn reap(child: Pid) -> String {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return format!("exit status {code}"),
            Ok(WaitStatus::Signaled(_, sig, _)) => return format!("killed by {sig}"),
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(e) => return format!("status unknown: {e}"),
        }
    }
}

/// The child's lines: its notes, and its result if it sent one.
fn parse<T: DeserializeOwned>(out: &str) -> (Vec<String>, Option<Result<T, String>>) {
    let mut notes = Vec::new();
    let mut result = None;
    for line in out.lines() {
        if let Some(n) = line.strip_prefix('N') {
            notes.push(serde_json::from_str::<String>(n).unwrap_or_else(|_| n.to_string()));
        } else if let Some(r) = line.strip_prefix('R') {
            result = Some(
                serde_json::from_str::<Result<T, String>>(r)
                    .unwrap_or_else(|e| Err(format!("bad answer from the D-Bus helper: {e}"))),
            );
        }
    }
    (notes, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn lines_parse_into_notes_and_a_result() {
        let (notes, r) = parse::<u32>("N\"started\"\nN\"x\\ny\"\nR{\"Ok\":7}\n");
        assert_eq!(notes, ["started", "x\ny"]);
        assert_eq!(r, Some(Ok(7)));
        let (_, r) = parse::<u32>("R{\"Err\":\"no bus\"}\n");
        assert_eq!(r, Some(Err("no bus".to_string())));
        let (notes, r) = parse::<u32>("N\"started\"\n");
        assert_eq!((notes, r), (vec!["started".to_string()], None));
    }

    #[test]
    fn the_child_answers_with_notes() {
        let a = run(Duration::from_secs(20), |n| {
            n.note("one");
            Ok(std::process::id())
        });
        let child = a.result.unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(child, std::process::id(), "ran in the parent");
        assert_eq!(a.notes, ["one"]);
        let a: Answer<()> = run(Duration::from_secs(20), |_| Err("nope".into()));
        assert_eq!(a.result, Err("nope".to_string()));
    }

    /// The exec'd helper (the husk CLI, built beside this test by `cargo build
    /// --workspace`) runs the job and its answer comes back over the socket. No
    /// systemd here: the job's own error, from the helper, not a lost answer.
    #[test]
    fn a_job_runs_in_the_exec_d_helper_and_answers() {
        let exe = std::env::current_exe().unwrap();
        let bin = exe.parent().and_then(|d| d.parent()).unwrap().join("husk");
        if !bin.exists() {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "no husk binary at {}: cargo build --workspace first",
                bin.display()
            );
            eprintln!("skipped: no {}", bin.display());
            return;
        }
        for user in [false, true] {
            let job = BusJob::Stop {
                user,
                unit: "husk-helper-test.scope".into(),
            };
            let a = run_exec(&bin, Duration::from_secs(20), &job);
            let e = a.result.expect_err("no systemd here: the job must fail");
            assert!(
                !e.contains("without an answer") && !e.contains("no answer"),
                "{e}"
            );
        }
        // A helper that is not one (no run_if_helper in its main) is named in the error.
        let a = run_exec(
            Path::new("/bin/true"),
            Duration::from_secs(20),
            &BusJob::Stop {
                user: false,
                unit: "x.scope".into(),
            },
        );
        let e = a.result.expect_err("/bin/true answers nothing");
        assert!(
            e.contains("/bin/true") && e.contains("run_if_helper"),
            "{e}"
        );
    }

    #[test]
    fn a_hung_child_is_killed_at_the_deadline_and_notes_survive() {
        let t = Instant::now();
        let a: Answer<()> = run(Duration::from_millis(300), |n| {
            n.note("started");
            std::thread::sleep(Duration::from_secs(30));
            Ok(())
        });
        assert!(t.elapsed() < Duration::from_secs(10));
        assert_eq!(a.notes, ["started"]);
        let e = a.result.err().unwrap_or_default();
        assert!(e.contains("no answer from systemd within"), "{e}");
    }
}
