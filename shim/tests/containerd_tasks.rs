//! Tasks under a real containerd (1.6, Debian's): a detached task driven with
//! `ctr task` (exec, ps, pause/resume, metrics, update, kill), the order of the
//! events containerd receives, and the task RPCs ctr does not reach, called on
//! the shim's socket. Each test has a private containerd (see `common`); they
//! skip when containerd cannot run here (fail under CI).

mod common;

use std::collections::HashSet;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{alive, ctr_events, ctx, shim, Env};
#[path = "../../runtime-cli/tests/common/signals.rs"]
mod signals;
use containerd_shim::api;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::ttrpc;
use containerd_shim::protos::types::task::Status;
use signals::wait_for_caught;

/// The husk shim, by path.
fn husk() -> Vec<&'static str> {
    vec!["--runtime", shim()]
}
/// Events seen by `ctr events` while `f` runs: (topic, body) in order.
fn with_events(env: &Env, f: impl FnOnce()) -> Vec<(String, String)> {
    let (mut child, rx) = ctr_events(env);
    std::thread::sleep(Duration::from_millis(300));
    f();
    std::thread::sleep(Duration::from_millis(500));
    let _ = child.kill();
    let _ = child.wait();
    // "2026-... +0000 UTC <namespace> /tasks/exit {...}"
    rx.try_iter()
        .filter_map(|l| {
            let i = l.find(" /")?;
            let rest = &l[i + 1..];
            let (topic, body) = rest.split_once(' ').unwrap_or((rest, ""));
            Some((topic.to_string(), body.to_string()))
        })
        .collect()
}

fn topics_for<'a>(ev: &'a [(String, String)], needle: &str) -> Vec<&'a str> {
    ev.iter()
        .filter(|(_, b)| b.contains(needle))
        .map(|(t, _)| t.as_str())
        .collect()
}

#[test]
fn detached_exec_ps_pause_resume_metrics_kill_and_events() {
    let Some(env) = Env::start("life") else {
        return;
    };
    let id = "life1";
    let ev = with_events(&env, || {
        env.run_detached(
            &husk(),
            &["--memory-limit", "268435456"],
            id,
            &["sh", "-c", "sleep 1000 & sleep 1000"],
        );
        assert!(env.wait_status(id, "RUNNING"), "{}", env.log());
        let init = env.task_pid(id).expect("init pid");

        // exec: output and exit status.
        let r = env.ctr(&[
            "task",
            "exec",
            "--exec-id",
            "e1",
            id,
            "sh",
            "-c",
            "echo exec-out; exit 5",
        ]);
        assert_eq!(r.code, 5, "{r:?}");
        assert!(r.stdout.contains("exec-out"), "{r:?}");

        // An exec killed by a signal: 128 + 9 (an init cannot SIGKILL itself).
        let r = env.ctr(&[
            "task",
            "exec",
            "--exec-id",
            "e0",
            id,
            "sh",
            "-c",
            "kill -9 $$",
        ]);
        assert_eq!(r.code, 137, "{r:?}");

        // ps: the init, the background sleep; an exec shows its id.
        let r = env.ctr(&["task", "ps", id]);
        let pids: HashSet<i32> = r
            .stdout
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        assert!(pids.contains(&init) && pids.len() >= 2, "{r:?}");
        let exec = Command::new("ctr")
            .arg("-a")
            .arg(&env.sock)
            .args([
                "-n",
                &env.ns,
                "task",
                "exec",
                "--exec-id",
                "e2",
                id,
                "sleep",
                "30",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("exec");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut shown = false;
        while Instant::now() < deadline && !shown {
            shown = env.ctr(&["task", "ps", id]).stdout.contains("e2");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            shown,
            "exec id not in ps: {:?}",
            env.ctr(&["task", "ps", id])
        );

        // pause / resume.
        let r = env.ctr(&["task", "pause", id]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(env.task_status(id).as_deref(), Some("PAUSED"));
        let r = env.ctr(&["task", "resume", id]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(env.task_status(id).as_deref(), Some("RUNNING"));

        // metrics (cgroups v1 Metrics) and update.
        let r = env.ctr(&["task", "metrics", id]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains("pids.current"), "{r:?}");
        assert!(
            r.stdout.contains("memory.limit_in_bytes") && r.stdout.contains("268435456"),
            "{r:?}"
        );
        // ctr 1.6 has no `task update`: call the shim's Update as containerd
        // would (LinuxResources as JSON in an Any), then read it back.
        let client = common::task_client(&env, id);
        let mut req = api::UpdateTaskRequest::new();
        req.id = id.into();
        req.resources = MessageField::some(Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into(),
            value: br#"{"memory":{"limit":134217728},"cpu":{"shares":512}}"#.to_vec(),
            ..Default::default()
        });
        client.update(ctx(), &req).expect("Update");
        let r = env.ctr(&["task", "metrics", id]);
        assert!(r.stdout.contains("134217728"), "update not applied: {r:?}");

        // Connect, and State of a finished exec.
        let mut req = api::ConnectRequest::new();
        req.id = id.into();
        let c = client.connect(ctx(), &req).expect("Connect");
        assert_eq!(c.task_pid as i32, init);
        assert_eq!(Some(c.shim_pid as i32), env.shim_of(id));
        // State: the running exec; a finished one is gone (ctr deleted it).
        let mut req = api::StateRequest::new();
        req.id = id.into();
        req.exec_id = "e2".into();
        let st = client.state(ctx(), &req).expect("State");
        assert_eq!(st.status.enum_value_or_default(), Status::RUNNING);
        assert_eq!(st.id, "e2");
        assert!(st.pid > 0);
        req.exec_id = "e1".into();
        match client.state(ctx(), &req) {
            Err(ttrpc::Error::RpcStatus(s)) => assert_eq!(s.code(), ttrpc::Code::NOT_FOUND),
            other => panic!("State of a deleted exec: {other:?}"),
        }

        // checkpoint (leave running): where CRIU cannot run (this project's kernel
        // makes its feature detection fail) the error says so; either way the task
        // keeps running. The checkpoints themselves are tested in a qemu guest
        // (conformance/vm/test-criu.sh).
        let criu_works = std::process::Command::new("criu")
            .arg("check")
            .output()
            .is_ok_and(|o| o.status.success());
        let r = env.ctr(&["task", "checkpoint", id]);
        if criu_works {
            assert_eq!(r.code, 0, "{r:?}");
        } else {
            assert_ne!(r.code, 0, "{r:?}");
            assert!(
                r.stderr.contains("CRIU") || r.stderr.contains("criu"),
                "{r:?}"
            );
        }
        assert_eq!(env.task_status(id).as_deref(), Some("RUNNING"));

        // kill --all: every process of the container, the exec too.
        let r = env.ctr(&["task", "kill", "--all", "-s", "SIGKILL", id]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(env.wait_status(id, "STOPPED"));
        let mut exec = exec;
        let _ = exec.wait();
        for p in pids {
            assert!(!alive(p), "pid {p} survived kill --all");
        }
        let r = env.remove(id);
        assert!(r.stderr.contains("137"), "{r:?}");
    });
    let t = topics_for(&ev, &format!("\"{id}\""));
    let pos = |topic: &str| t.iter().position(|x| *x == topic);
    for want in [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exec-added",
        "/tasks/exec-started",
        "/tasks/paused",
        "/tasks/resumed",
        "/tasks/exit",
        "/tasks/delete",
    ] {
        assert!(pos(want).is_some(), "no {want} in {t:?}");
    }
    assert!(pos("/tasks/create") < pos("/tasks/start"), "{t:?}");
    assert!(
        pos("/tasks/exec-added") < pos("/tasks/exec-started"),
        "{t:?}"
    );
    assert!(pos("/tasks/paused") < pos("/tasks/resumed"), "{t:?}");
    assert!(pos("/tasks/start") < pos("/tasks/exit"), "{t:?}");
    let last_exit = t.iter().rposition(|x| *x == "/tasks/exit");
    assert!(last_exit < pos("/tasks/delete"), "{t:?}");
    // The exec's exit carries its exec id.
    assert!(
        ev.iter()
            .any(|(tp, b)| tp == "/tasks/exit" && b.contains("\"e1\"")),
        "{ev:?}"
    );
}

#[test]
fn kill_reports_status_and_start_precedes_exit() {
    let Some(env) = Env::start("kill") else {
        return;
    };
    let ev = with_events(&env, || {
        // SIGTERM handled by the container: its own exit status.
        env.run_detached(
            &husk(),
            &[],
            "k1",
            &[
                "sh",
                "-c",
                "trap 'exit 42' TERM; while true; do sleep 0.1; done",
            ],
        );
        assert!(env.wait_status("k1", "RUNNING"));
        // A TERM sent before the shell has run `trap` is dropped (pid 1, no handler).
        wait_for_caught(env.task_pid("k1").expect("k1 pid"), libc::SIGTERM);
        let r = env.ctr(&["task", "kill", "k1"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(env.wait_status("k1", "STOPPED"));
        // Killing a stopped task fails (NotFound: process already finished).
        let r = env.ctr(&["task", "kill", "k1"]);
        assert_ne!(r.code, 0, "{r:?}");
        let r = env.remove("k1");
        assert!(r.stderr.contains("exit code 42"), "{r:?}");
        // A process that exits at once: TaskStart still comes first.
        let r = env.run_rm(&husk(), "k2", &["true"]);
        assert_eq!(r.code, 0, "{r:?}");
        // Out of memory (no newline in /dev/zero: tail buffers it all).
        let r = env.ctr(&[
            "run",
            "--rm",
            "--runtime",
            shim(),
            "--memory-limit",
            "33554432",
            common::IMAGE,
            "k3",
            "tail",
            "/dev/zero",
        ]);
        assert_eq!(r.code, 137, "{r:?}");
    });
    let t = topics_for(&ev, "\"k3\"");
    let oom = t.iter().position(|x| *x == "/tasks/oom");
    let exit = t.iter().position(|x| *x == "/tasks/exit");
    assert!(
        oom.is_some() && oom < exit,
        "no TaskOOM before TaskExit: {t:?}"
    );
    for id in ["k1", "k2"] {
        let t = topics_for(&ev, &format!("\"{id}\""));
        let s = t.iter().position(|x| *x == "/tasks/start");
        let e = t.iter().position(|x| *x == "/tasks/exit");
        assert!(s.is_some() && s < e, "{id}: {t:?}");
    }
}

/// The RPCs ctr does not reach, called directly on the shim's socket as containerd
/// would: Exec with fifos the test holds, Start, CloseIO (the process sees EOF
/// while the test still holds the stdin fifo open), Wait, Kill of a finished
/// process, Delete of the exec, ResizePty without a terminal, a duplicate exec.
#[test]
fn rpc_exec_closeio_wait_kill_delete() {
    let Some(env) = Env::start("rpc") else {
        return;
    };
    env.run_detached(&husk(), &[], "rpc1", &["sleep", "1000"]);
    assert!(env.wait_status("rpc1", "RUNNING"));
    let client = common::task_client(&env, "rpc1");
    let stdin = env.dir.join("x-stdin");
    let stdout = env.dir.join("x-stdout");
    for f in [&stdin, &stdout] {
        nix::unistd::mkfifo(f, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    }
    // Our ends: a reader of stdout, a writer of stdin (kept open: no EOF from us).
    let out_r = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&stdout)
        .expect("open stdout fifo");
    let spec = br#"{"args":["sh","-c","cat; echo after-eof"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}"#;
    let mut req = api::ExecProcessRequest::new();
    req.id = "rpc1".into();
    req.exec_id = "x".into();
    req.stdin = stdin.to_string_lossy().into();
    req.stdout = stdout.to_string_lossy().into();
    req.spec = MessageField::some(Any {
        type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
        value: spec.to_vec(),
        ..Default::default()
    });
    client.exec(ctx(), &req).expect("Exec");
    match client.exec(ctx(), &req) {
        Err(ttrpc::Error::RpcStatus(s)) => assert_eq!(s.code(), ttrpc::Code::ALREADY_EXISTS),
        other => panic!("duplicate Exec: {other:?}"),
    }
    // The shim opens the stdin fifo for reading at start: open our writer after.
    let opener = {
        let stdin = stdin.clone();
        std::thread::spawn(move || {
            std::fs::OpenOptions::new()
                .write(true)
                .open(stdin)
                .expect("open stdin fifo")
        })
    };
    let mut req = api::StartRequest::new();
    req.id = "rpc1".into();
    req.exec_id = "x".into();
    let started = client.start(ctx(), &req).expect("Start");
    assert!(started.pid > 0);
    let mut stdin_w = opener.join().expect("stdin writer");
    use std::io::Write;
    stdin_w.write_all(b"via-stdin\n").expect("write stdin");
    let mut req = api::ResizePtyRequest::new();
    req.id = "rpc1".into();
    req.exec_id = "x".into();
    req.width = 80;
    req.height = 24;
    client
        .resize_pty(ctx(), &req)
        .expect("ResizePty without a terminal");
    std::thread::sleep(Duration::from_millis(300));
    let mut req = api::CloseIORequest::new();
    req.id = "rpc1".into();
    req.exec_id = "x".into();
    req.stdin = true;
    client.close_io(ctx(), &req).expect("CloseIO");
    let mut req = api::WaitRequest::new();
    req.id = "rpc1".into();
    req.exec_id = "x".into();
    let w = client.wait(ctx(), &req).expect("Wait");
    assert_eq!(w.exit_status, 0);
    // Everything the process wrote is in the fifo.
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(&out_r, &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EAGAIN) => break,
            Err(e) => panic!("read stdout: {e}"),
        }
    }
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("via-stdin\nafter-eof"), "{out:?}");
    drop(stdin_w);
    let mut req = api::KillRequest::new();
    req.id = "rpc1".into();
    req.exec_id = "x".into();
    req.signal = 9;
    match client.kill(ctx(), &req) {
        Err(ttrpc::Error::RpcStatus(s)) => assert_eq!(s.code(), ttrpc::Code::NOT_FOUND),
        other => panic!("Kill of a finished exec: {other:?}"),
    }
    let mut req = api::DeleteRequest::new();
    req.id = "rpc1".into();
    req.exec_id = "x".into();
    let d = client.delete(ctx(), &req).expect("Delete exec");
    assert_eq!(d.pid, started.pid);
    // Delete of the running init is refused.
    let mut req = api::DeleteRequest::new();
    req.id = "rpc1".into();
    match client.delete(ctx(), &req) {
        Err(ttrpc::Error::RpcStatus(s)) => {
            assert_eq!(s.code(), ttrpc::Code::FAILED_PRECONDITION)
        }
        other => panic!("Delete of a running init: {other:?}"),
    }
    // Pids: the init.
    let mut req = api::PidsRequest::new();
    req.id = "rpc1".into();
    let p = client.pids(ctx(), &req).expect("Pids");
    assert_eq!(p.processes.len(), 1, "{p:?}");
    // Stats: cgroups v1 metrics.
    let mut req = api::StatsRequest::new();
    req.id = "rpc1".into();
    let st = client.stats(ctx(), &req).expect("Stats");
    assert_eq!(st.stats.type_url, "io.containerd.cgroups.v1.Metrics");
    // Shutdown with a container left: the shim stays.
    let mut req = api::ShutdownRequest::new();
    req.id = "rpc1".into();
    client.shutdown(ctx(), &req).expect("Shutdown");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        env.shim_of("rpc1").is_some(),
        "shim exited with a container left"
    );
    assert_eq!(env.task_status("rpc1").as_deref(), Some("RUNNING"));
}

/// containerd's CRI puts its AppArmor profile in every exec's process: the shim
/// hands `apparmorProfile` to the library unchanged. A profile the host cannot
/// apply (here: never loaded, or AppArmor off) fails Start naming it, and the
/// container carries on (the guest set conformance/vm/test-lsm.sh checks that a
/// loaded profile confines the exec'd process).
#[test]
fn exec_apparmor_profile_reaches_the_library() {
    let Some(env) = Env::start("lsm") else {
        return;
    };
    env.run_detached(&husk(), &[], "lsm1", &["sleep", "1000"]);
    assert!(env.wait_status("lsm1", "RUNNING"));
    let client = common::task_client(&env, "lsm1");
    let profile = format!("husk-shim-test-no-such-profile-{}", std::process::id());
    let spec = format!(
        r#"{{"args":["true"],"cwd":"/","env":["PATH=/bin"],"user":{{"uid":0,"gid":0}},"apparmorProfile":"{profile}"}}"#
    );
    let mut req = api::ExecProcessRequest::new();
    req.id = "lsm1".into();
    req.exec_id = "aa".into();
    req.spec = MessageField::some(Any {
        type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
        value: spec.into_bytes(),
        ..Default::default()
    });
    client.exec(ctx(), &req).expect("Exec");
    let mut req = api::StartRequest::new();
    req.id = "lsm1".into();
    req.exec_id = "aa".into();
    match client.start(ctx(), &req) {
        Err(ttrpc::Error::RpcStatus(s)) => {
            assert!(s.message().contains(&profile), "{}", s.message());
            assert!(s.message().contains("apparmorProfile"), "{}", s.message());
        }
        other => panic!("Start of an exec with an unusable profile: {other:?}"),
    }
    assert_eq!(env.task_status("lsm1").as_deref(), Some("RUNNING"));
}
