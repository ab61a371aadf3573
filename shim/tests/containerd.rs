//! The shim under a real containerd (1.6, Debian's), driven with `ctr` as a user
//! would: `ctr run --runtime /path/to/containerd-shim-husk-v2` (and by name,
//! `io.containerd.husk.v2`, from containerd's PATH), and containerd's own runc
//! shim pointed at the husk CLI (`--runc-binary`). Each test has a private
//! containerd (see `common`); they skip when containerd cannot run here (fail
//! under CI).
//! Detached tasks, events and the direct RPCs are in `containerd_tasks.rs`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{alive, script, shim, Env};

/// The husk shim, by path.
fn husk() -> Vec<&'static str> {
    vec!["--runtime", shim()]
}

#[test]
fn run_echo_exit_codes_and_stdio() {
    let Some(env) = Env::start("echo") else {
        return;
    };
    let r = env.run_rm(
        &husk(),
        "echo1",
        &["sh", "-c", "echo hello-out; echo hello-err >&2; exit 3"],
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stdout.contains("hello-out"), "{r:?}");
    assert!(r.stderr.contains("hello-err"), "{r:?}");

    // By name: containerd finds containerd-shim-husk-v2 on its PATH.
    let r = env.run_rm(&["--runtime", "io.containerd.husk.v2"], "echo2", &["true"]);
    assert_eq!(r.code, 0, "{r:?}");

    // stdin reaches the process, and its EOF too.
    let r = env.ctr_stdin(
        &[
            "run",
            "--rm",
            "--runtime",
            shim(),
            common::IMAGE,
            "echo4",
            "sh",
            "-c",
            "cat; echo done",
        ],
        b"line-from-stdin\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("line-from-stdin\ndone"),
        "stdin not copied or no EOF: {r:?}"
    );

    // The shim ignores nothing on the container's behalf: not SIGPIPE (Rust's
    // default), not glibc's internal signals 32 and 33 (posix_spawn's leftovers).
    let r = env.run_rm(&husk(), "echo5", &["cat", "/proc/self/status"]);
    let ign = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .expect("SigIgn");
    let bit = |sig: u32| 1u64 << (sig - 1);
    for sig in [13, 32, 33] {
        assert_eq!(
            ign & bit(sig),
            0,
            "signal {sig} ignored in the container: {r:?}"
        );
    }

    // ctr's default seccomp profile is loaded (a static shim links libseccomp in).
    let mut rt = husk();
    rt.push("--seccomp");
    let r = env.run_rm(&rt, "echo7", &["grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(r.code, 0, "{r:?}");
    let mode = r.stdout.split_whitespace().nth(1);
    assert_eq!(mode, Some("2"), "no seccomp filter: {r:?}");

    // A failing create is reported, and leaves nothing behind.
    let r = env.run_rm(&husk(), "echo6", &["/no/such/binary"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(env.ctr(&["container", "ls", "-q"]).stdout.trim().is_empty());
}

#[test]
fn large_output_is_not_truncated() {
    let Some(env) = Env::start("large") else {
        return;
    };
    let cli = common::husk_cli().map(|c| c.to_string_lossy().to_string());
    let mut runtimes = vec![("big1", husk())];
    match &cli {
        Some(c) => runtimes.push(("big2", vec!["--runc-binary", c.as_str()])),
        None => common::skip_part("no husk CLI for the runc shim"),
    }
    for (id, rt) in runtimes {
        let r = env.run_rm(&rt, id, &["seq", "1", "20000"]);
        assert_eq!(r.code, 0, "{id}: {r:?}");
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines.len(), 20000, "{id}: got {} lines", lines.len());
        assert_eq!(lines.first(), Some(&"1"), "{id}");
        assert_eq!(lines.last(), Some(&"20000"), "{id}");
    }
}

#[test]
fn shim_killed_then_task_and_container_removed() {
    let Some(env) = Env::start("recover") else {
        return;
    };
    env.run_detached(&husk(), &[], "r1", &["sleep", "1000"]);
    assert!(env.wait_status("r1", "RUNNING"));
    let init = env.task_pid("r1").expect("pid");
    let shim = env.shim_of("r1").expect("shim process");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill shim");
    // containerd notices, runs `shim delete`, which force-deletes the container.
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(init) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!alive(init), "container init survived its shim's cleanup");
    let _ = env.ctr(&["task", "rm", "r1"]);
    let r = env.ctr(&["container", "rm", "r1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(env.ctr(&["container", "ls", "-q"]).stdout.trim().is_empty());
    let state = format!("/run/containerd/husk/{}/r1", env.ns);
    assert!(
        !std::path::Path::new(&state).exists(),
        "state left in {state}"
    );
    // The namespace still works with a new shim.
    let r = env.run_rm(&husk(), "r2", &["echo", "again"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("again"));
}

#[test]
fn containers_of_one_pod_share_a_shim() {
    let Some(env) = Env::start("group") else {
        return;
    };
    let ann = "io.kubernetes.cri.sandbox-id=pod1";
    env.run_detached(&husk(), &["--annotation", ann], "pod1", &["sleep", "1000"]);
    env.run_detached(&husk(), &["--annotation", ann], "app1", &["sleep", "1000"]);
    assert!(env.wait_status("pod1", "RUNNING") && env.wait_status("app1", "RUNNING"));
    let husk_shims: Vec<_> = env
        .shims()
        .into_iter()
        .filter(|(_, c)| c.contains("husk"))
        .collect();
    assert_eq!(husk_shims.len(), 1, "{husk_shims:?}");
    let r = env.ctr(&["task", "exec", "--exec-id", "x", "app1", "echo", "in-app1"]);
    assert!(r.stdout.contains("in-app1"), "{r:?}");
    // Removing one keeps the shim for the other.
    let _ = env.ctr(&["task", "kill", "-s", "SIGKILL", "app1"]);
    assert!(env.wait_status("app1", "STOPPED"));
    env.remove("app1");
    assert_eq!(env.task_status("pod1").as_deref(), Some("RUNNING"));
    let r = env.ctr(&["task", "ps", "pod1"]);
    assert_eq!(r.code, 0, "{r:?}");
    let _ = env.ctr(&["task", "kill", "-s", "SIGKILL", "pod1"]);
    assert!(env.wait_status("pod1", "STOPPED"));
    env.remove("pod1");
    // The last delete shuts the shim down.
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.shims().iter().any(|(_, c)| c.contains("husk")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !env.shims().iter().any(|(_, c)| c.contains("husk")),
        "shim still running"
    );
}

/// `ctr run --rm` of `sh -c cmd` in the husk shim with its output sent to `uri`.
fn run_logged(env: &Env, uri: &str, id: &str, cmd: &str) -> common::Run {
    env.ctr(&[
        "run",
        "--rm",
        "--runtime",
        shim(),
        "--log-uri",
        uri,
        common::IMAGE,
        id,
        "sh",
        "-c",
        cmd,
    ])
}

#[test]
fn log_uri_file_and_binary() {
    let Some(env) = Env::start("logs") else {
        return;
    };
    let file = env.dir.join("out.log");
    let uri = format!("file://{}", file.display());
    let r = run_logged(&env, &uri, "lf1", "echo to-file; echo err-to-file >&2");
    assert_eq!(r.code, 0, "{r:?}");
    let got = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        got.contains("to-file") && got.contains("err-to-file"),
        "{got:?}"
    );

    // A logging binary: stdout on fd 3, stderr on fd 4, ready when fd 5 closes.
    let logger = env.dir.join("logger.sh");
    script(
        &logger,
        "#!/bin/sh\nexec 5>&-\n/bin/cat <&3 > \"$2.out\" &\n/bin/cat <&4 > \"$2.err\" &\nwait\necho \"$CONTAINER_ID $CONTAINER_NAMESPACE\" > \"$2.env\"\n",
    );
    let base = env.dir.join("bin-log");
    let uri = format!("binary://{}?out={}", logger.display(), base.display());
    let r = run_logged(&env, &uri, "lb1", "seq 1 5000; echo via-binary-err >&2");
    assert_eq!(r.code, 0, "{r:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let envf = base.with_extension("env");
    while !envf.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = std::fs::read_to_string(base.with_extension("out")).unwrap_or_default();
    let err = std::fs::read_to_string(base.with_extension("err")).unwrap_or_default();
    assert_eq!(out.lines().count(), 5000, "binary logger stdout");
    assert!(err.contains("via-binary-err"), "{err:?}");
    let e = std::fs::read_to_string(&envf).unwrap_or_default();
    assert_eq!(e.trim(), format!("lb1 {}", env.ns));
}

#[test]
fn terminal_and_resize() {
    let Some(env) = Env::start("tty") else {
        return;
    };
    if !std::path::Path::new("/usr/bin/script").exists() {
        common::skip_part("script(1) is needed to give ctr a terminal");
        return;
    }
    let cmd = format!(
        "stty cols 91 rows 37; timeout --foreground -k 5 60 ctr -a {} -n {} run --rm -t --runtime {} {} t1 sh -c 'tty; sleep 0.5; stty size; echo tty-ok'",
        env.sock.display(),
        env.ns,
        shim(),
        common::IMAGE
    );
    // script(1) runs the command with $SHELL; pin it so CI (no SHELL) and a
    // login shell behave alike. `timeout --foreground` keeps ctr in the pty's
    // foreground process group: in a background group its raw-mode tcsetattr
    // gets SIGTTOU and ctr stops, printing nothing.
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::null())
        .output()
        .expect("script");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("tty-ok"), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    // ctr sends its terminal's size with ResizePty.
    assert!(out.contains("37 91"), "{out}");

    // exec -t into a detached task.
    env.run_detached(&husk(), &[], "t2", &["sleep", "1000"]);
    assert!(env.wait_status("t2", "RUNNING"));
    let cmd = format!(
        "timeout --foreground -k 5 60 ctr -a {} -n {} task exec -t --exec-id te t2 sh -c 'tty; echo exec-tty-ok; exit 3'",
        env.sock.display(),
        env.ns
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::null())
        .output()
        .expect("script");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("exec-tty-ok") && out.contains("/dev/pts/"),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(3), "{out}");
}

#[test]
fn runc_v2_shim_with_husk_cli() {
    let Some(env) = Env::start("runcv2") else {
        return;
    };
    let Some(cli) = common::husk_cli() else {
        common::skip_part("no husk CLI binary");
        return;
    };
    let cli = cli.to_string_lossy().to_string();
    let rt = ["--runc-binary", cli.as_str()];
    let r = env.run_rm(&rt, "c1", &["sh", "-c", "echo via-runc-shim; exit 4"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.contains("via-runc-shim"), "{r:?}");

    env.run_detached(&rt, &[], "c2", &["sh", "-c", "sleep 1000 & sleep 1000"]);
    assert!(env.wait_status("c2", "RUNNING"), "{}", env.log());
    let r = env.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "c2",
        "sh",
        "-c",
        "echo exec-ok; exit 6",
    ]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.stdout.contains("exec-ok"), "{r:?}");
    let r = env.ctr(&["task", "ps", "c2"]);
    assert!(r.stdout.lines().count() >= 3, "{r:?}");
    assert_eq!(env.ctr(&["task", "pause", "c2"]).code, 0);
    assert_eq!(env.task_status("c2").as_deref(), Some("PAUSED"));
    assert_eq!(env.ctr(&["task", "resume", "c2"]).code, 0);
    assert_eq!(env.task_status("c2").as_deref(), Some("RUNNING"));
    let r = env.ctr(&["task", "metrics", "c2"]);
    assert!(r.stdout.contains("pids.current"), "{r:?}");
    let r = env.ctr(&["task", "kill", "--all", "-s", "SIGKILL", "c2"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(env.wait_status("c2", "STOPPED"));
    let r = env.remove("c2");
    assert!(r.stderr.contains("137"), "{r:?}");
}
