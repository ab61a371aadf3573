//! The library as an embedder uses it (root, busybox bundles built here):
//! - typed errors from inside the container's init (a mount, a missing
//!   executable, a bad cwd, failing hooks), matched on their variants, both when
//!   the init is cloned directly and when a multi-threaded caller goes through
//!   the clone helper;
//! - a tokio runtime with 8 busy worker threads creating, starting, waiting for
//!   and deleting 200 containers: no deadlock (a deadline fails the test), no leak.
//!
//! `harness = false`: this binary's `main` calls `husk::helper::run_if_helper()`
//! first, so it can serve as the clone helper itself.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use husk::error::{HookError, HookKind, ProcessError, RootfsError};
use husk::Error;
use serde_json::json;
use support::{Bundle, Leaks};

fn main() {
    if let Some(code) = husk::helper::run_if_helper() {
        std::process::exit(code);
    }
    if !support::can_run() {
        return;
    }
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let tests: &[(&str, fn())] = &[
        ("typed_errors_direct", typed_errors_direct),
        (
            "typed_errors_through_the_helper",
            typed_errors_through_the_helper,
        ),
        ("exec_through_the_helper", exec_through_the_helper),
        ("stdio_fds_direct", stdio_fds_direct),
        ("stdio_fds_through_the_helper", stdio_fds_through_the_helper),
        (
            "stdio_with_a_terminal_is_refused",
            stdio_with_a_terminal_is_refused,
        ),
        ("helper_overhead", helper_overhead),
        ("tokio_stress_200_containers", tokio_stress_200_containers),
    ];
    let mut failed = Vec::new();
    for (name, f) in tests {
        if filter.as_deref().is_some_and(|p| !name.contains(p)) {
            continue;
        }
        let t = Instant::now();
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(()) => eprintln!("test {name} ... ok ({:.1?})", t.elapsed()),
            Err(_) => {
                eprintln!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(1);
    }
}

/// Creates a container from `b`'s config, expecting a failure; checks that
/// nothing is left behind.
fn create_fails(b: &Bundle) -> Error {
    b.write_config();
    let id = support::unique("err");
    let r = husk::ContainerBuilder::new(&id, &b.dir)
        .root(&b.root)
        .create();
    let e = match r {
        Ok(c) => {
            let _ = c.delete(true);
            panic!("create succeeded");
        }
        Err(e) => e,
    };
    assert!(
        b.state_entries().is_empty(),
        "state left: {:?}",
        b.state_entries()
    );
    e
}

fn check_typed_errors() {
    // A bind mount whose source does not exist.
    let mut b = Bundle::new("mnt");
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/data", "type": "bind", "source": "/no/such/source", "options": ["rbind"]}));
    match create_fails(&b) {
        Error::Rootfs(RootfsError::Apply { what, source, .. }) => {
            assert!(what.contains("/data"), "{what}");
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT), "{source}");
        }
        other => panic!("mount: {other:?}"),
    }

    // A missing executable, by path and through PATH.
    let mut b = Bundle::new("exe");
    b.config["process"]["args"] = json!(["/bin/no-such-binary"]);
    match create_fails(&b) {
        Error::Process(ProcessError::Executable {
            path,
            source,
            message,
        }) => {
            assert_eq!(path, "/bin/no-such-binary");
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            assert!(message.contains("no such file"), "{message}");
        }
        other => panic!("exe: {other:?}"),
    }
    b.config["process"]["args"] = json!(["no-such-binary"]);
    match create_fails(&b) {
        Error::Process(ProcessError::Executable {
            path,
            source,
            message,
        }) => {
            assert_eq!(path, "no-such-binary");
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            assert!(
                message.contains("executable file not found in $PATH"),
                "{message}"
            );
        }
        other => panic!("exe in PATH: {other:?}"),
    }

    // A cwd that is a file.
    let mut b = Bundle::new("cwd");
    b.config["process"]["cwd"] = json!("/etc/passwd");
    match create_fails(&b) {
        Error::Process(ProcessError::Cwd { path, source, .. }) => {
            assert_eq!(path, PathBuf::from("/etc/passwd"));
            assert_eq!(source.raw_os_error(), Some(libc::ENOTDIR), "{source}");
        }
        other => panic!("cwd: {other:?}"),
    }

    // Failing hooks: createContainer (run by the init) and createRuntime (run by us).
    for (kind, point) in [
        ("createContainer", HookKind::CreateContainer),
        ("createRuntime", HookKind::CreateRuntime),
        ("prestart", HookKind::Prestart),
    ] {
        let mut b = Bundle::new("hook");
        b.config["hooks"] = json!({ kind: [
            {"path": "/bin/true"},
            {"path": "/bin/sh", "args": ["sh", "-c", "head -c 6000 /dev/zero | tr '\\0' x >&2; echo; echo hook-says-no >&2; exit 3"]}
        ]});
        match create_fails(&b) {
            Error::Hook(HookError::Failed {
                hook,
                status,
                stderr,
                ..
            }) => {
                assert_eq!(hook.path, PathBuf::from("/bin/sh"));
                assert_eq!(hook.position, Some((point, 1)), "{kind}");
                assert_eq!(status.code(), Some(3));
                // The tail of stderr: the last 4 KiB, where the reason is.
                assert!(
                    stderr.ends_with("hook-says-no"),
                    "{kind}: {}",
                    &stderr[stderr.len().saturating_sub(40)..]
                );
                assert!(stderr.len() <= 4096 + 20, "{}", stderr.len());
            }
            other => panic!("{kind}: {other:?}"),
        }
    }
}

fn typed_errors_direct() {
    check_typed_errors();
}

/// Runs `f` while a second thread exists: create and exec go through the helper.
fn with_second_thread(f: impl FnOnce()) {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || rx.recv());
    f();
    let _ = tx.send(());
    let _ = t.join();
}

fn typed_errors_through_the_helper() {
    with_second_thread(check_typed_errors);
}

fn exec_through_the_helper() {
    with_second_thread(|| {
        let mut b = Bundle::new("exec");
        b.config["process"]["args"] = json!(["sleep", "30"]);
        b.write_config();
        let id = support::unique("exec");
        let mut c = husk::ContainerBuilder::new(&id, &b.dir)
            .root(&b.root)
            .create()
            .expect("create through the helper");
        c.start().expect("start");
        let opts = husk::ExecOptions {
            args: vec!["sh".into(), "-c".into(), "exit 7".into()],
            ..Default::default()
        };
        let e = c.exec(opts).expect("exec through the helper");
        assert_eq!(e.wait().expect("wait"), 7);
        c.kill(libc::SIGKILL, false).expect("kill");
        support::wait_pid(c.pid());
        c.delete(true).expect("delete");
    });
}

/// All of a pipe's output once every writer is gone.
fn read_all(r: std::os::fd::OwnedFd) -> String {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::from(r)
        .read_to_string(&mut s)
        .expect("read the pipe");
    s
}

/// `ContainerBuilder::stdio` and `ExecOptions::stdio`: the init's and an exec'd
/// process's stdin, stdout and stderr are the given pipes, each stream on its own
/// pipe; the caller's own fds 0-2 are never touched.
fn check_stdio() {
    use std::io::Write;
    let mut b = Bundle::new("stdio");
    b.config["process"]["args"] = json!([
        "sh",
        "-c",
        "read line; echo \"out:$line\"; echo err:init >&2; exec sleep 30"
    ]);
    b.write_config();
    let before = [0, 1, 2].map(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).ok());
    let (in_r, in_w) = nix::unistd::pipe().expect("pipe");
    let (out_r, out_w) = nix::unistd::pipe().expect("pipe");
    let (err_r, err_w) = nix::unistd::pipe().expect("pipe");
    let id = support::unique("stdio");
    let mut c = husk::ContainerBuilder::new(&id, &b.dir)
        .root(&b.root)
        .stdio(husk::Stdio::new().stdin(in_r).stdout(out_w).stderr(err_w))
        .create()
        .expect("create with stdio");
    c.start().expect("start");
    std::fs::File::from(in_w)
        .write_all(b"hello\n")
        .expect("write the init's stdin");
    // The builder (and with it our copies of the write ends) is gone; the init's
    // `sleep` holds them: read what it wrote up to the exec of sleep, line by line.
    let mut out = std::io::BufReader::new(std::fs::File::from(out_r));
    let mut err = std::io::BufReader::new(std::fs::File::from(err_r));
    let (mut o, mut e) = (String::new(), String::new());
    use std::io::BufRead;
    out.read_line(&mut o).expect("read stdout");
    err.read_line(&mut e).expect("read stderr");
    assert_eq!((o.as_str(), e.as_str()), ("out:hello\n", "err:init\n"));

    let (xo_r, xo_w) = nix::unistd::pipe().expect("pipe");
    let (xe_r, xe_w) = nix::unistd::pipe().expect("pipe");
    let opts = husk::ExecOptions {
        args: vec![
            "sh".into(),
            "-c".into(),
            "echo exec-out; echo exec-err >&2; ls /proc/self/fd | wc -l >&2; exit 3".into(),
        ],
        stdio: husk::Stdio::new().stdout(xo_w).stderr(xe_w),
        ..Default::default()
    };
    let x = c.exec(opts).expect("exec with stdio");
    // `opts` was moved into exec and dropped there: only the process holds the ends.
    assert_eq!(x.wait().expect("wait"), 3);
    assert_eq!(read_all(xo_r), "exec-out\n");
    let xerr = read_all(xe_r);
    assert!(xerr.starts_with("exec-err\n"), "{xerr:?}");
    // 0-2 and the fd of the directory ls reads: nothing of ours leaked.
    assert_eq!(xerr.lines().nth(1).map(str::trim), Some("4"), "{xerr:?}");
    c.kill(libc::SIGKILL, false).expect("kill");
    support::wait_pid(c.pid());
    c.delete(true).expect("delete");
    let after = [0, 1, 2].map(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).ok());
    assert_eq!(before, after, "the caller's stdio changed");
}

fn stdio_fds_direct() {
    check_stdio();
}

fn stdio_fds_through_the_helper() {
    with_second_thread(check_stdio);
}

fn stdio_with_a_terminal_is_refused() {
    let mut b = Bundle::new("stdio-tty");
    b.config["process"]["terminal"] = json!(true);
    b.write_config();
    let (_r, w) = nix::unistd::pipe().expect("pipe");
    let (ours, _theirs) = husk::tty::socketpair().expect("socketpair");
    let id = support::unique("stdio-tty");
    let created = husk::ContainerBuilder::new(&id, &b.dir)
        .root(&b.root)
        .console_fd(ours)
        .stdio(husk::Stdio::new().stdout(w))
        .create();
    let Err(e) = created else {
        panic!("stdio with a terminal must be refused");
    };
    assert!(
        matches!(e, Error::Tty(husk::tty::TtyError::StdioWithTerminal)),
        "{e:?}"
    );
    assert!(!b.root.join(&id).exists(), "state left behind");
}

/// create+start+wait+delete of `n` containers; the median wall time of one.
fn lifecycle_median(b: &Bundle, n: usize) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let id = support::unique("ovh");
            let mut c = husk::ContainerBuilder::new(&id, &b.dir)
                .root(&b.root)
                .create()
                .expect("create");
            c.start().expect("start");
            assert_eq!(support::wait_pid(c.pid()), 0);
            c.delete(false).expect("delete");
            t.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}

/// What the helper costs a multi-threaded caller (printed; the direct path must
/// still work and the helper path must not be wildly slower).
fn helper_overhead() {
    const N: usize = 21;
    let b = Bundle::new("ovh");
    let direct = lifecycle_median(&b, N);
    let mut helper = Duration::ZERO;
    with_second_thread(|| helper = lifecycle_median(&b, N));
    eprintln!(
        "helper overhead: create+start+wait+delete median direct {direct:.2?}, \
         through the helper {helper:.2?} ({N} each, this test binary as the helper)"
    );
    assert!(
        helper < direct * 10 + Duration::from_millis(100),
        "{helper:?} vs {direct:?}"
    );
}

fn tokio_stress_200_containers() {
    const CONTAINERS: usize = 200;
    const AT_ONCE: usize = 16;
    let b = Bundle::new("stress");
    let mark = format!("stress-{}", std::process::id());
    let before = Leaks::count(&mark);
    // tracing takes locks on every event: a fork while a worker holds one would hang.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing::Level::DEBUG)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(8)
        .max_blocking_threads(AT_ONCE + 4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let result = rt.block_on(async {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut noise = Vec::new();
        for w in 0..8 {
            let stop = stop.clone();
            noise.push(tokio::spawn(async move {
                let mut rounds = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Allocation-heavy work, holding malloc's locks often.
                    let v: Vec<String> = (0..200).map(|i| format!("{w}-{i}-{rounds}")).collect();
                    let total: usize = v.iter().map(String::len).sum();
                    tracing::debug!(worker = w, total, "noise");
                    drop(v);
                    rounds += 1;
                    if rounds.is_multiple_of(50) {
                        tokio::task::yield_now().await;
                    }
                }
                rounds
            }));
        }
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
        let mut tasks = Vec::new();
        for i in 0..CONTAINERS {
            let permit = sem.clone().acquire_owned().await.expect("semaphore");
            let (dir, root) = (b.dir.clone(), b.root.clone());
            let id = format!("{mark}-{i}");
            tasks.push(tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let mut c = husk::ContainerBuilder::new(&id, &dir)
                    .root(&root)
                    .create()?;
                c.start()?;
                let code = support::wait_pid(c.pid());
                c.delete(false)?;
                Ok::<i32, husk::Error>(code)
            }));
        }
        let deadline = tokio::time::timeout(Duration::from_secs(120), async {
            let mut codes = Vec::new();
            for t in tasks {
                codes.push(t.await.expect("task"));
            }
            codes
        })
        .await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut rounds = 0;
        for n in noise {
            rounds += n.await.unwrap_or(0);
        }
        (deadline, rounds)
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    let elapsed = started.elapsed();
    let (codes, rounds) = result;
    let codes = codes.expect("200 containers did not finish within 120 s: deadlock?");
    let errors: Vec<String> = codes
        .iter()
        .filter_map(|c| c.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert!(
        errors.is_empty(),
        "{} failed, first: {:?}",
        errors.len(),
        errors.first()
    );
    assert!(
        codes.iter().all(|c| matches!(c, Ok(0))),
        "exit codes: {codes:?}"
    );
    support::reap_children();
    let after = Leaks::count(&mark);
    eprintln!(
        "stress: {CONTAINERS} containers ({AT_ONCE} at once) in {elapsed:.1?} ({:.1} ms each) \
         beside 8 busy workers ({rounds} noise rounds); fds {}->{}, children {:?}->{:?}, \
         mounts {}->{}, cgroups {:?}, state {:?}",
        elapsed.as_secs_f64() * 1000.0 / CONTAINERS as f64,
        before.fds,
        after.fds,
        before.children,
        after.children,
        before.mounts,
        after.mounts,
        after.cgroups,
        b.state_entries(),
    );
    assert_eq!(after.fds, before.fds, "fd leak");
    assert_eq!(after.children, before.children, "child processes left");
    assert_eq!(after.mounts, before.mounts, "mounts left");
    assert!(
        after.cgroups.is_empty(),
        "cgroups left: {:?}",
        after.cgroups
    );
    assert!(
        b.state_entries().is_empty(),
        "state left: {:?}",
        b.state_entries()
    );
}
