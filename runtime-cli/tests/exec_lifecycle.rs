//! `husk exec` over a process's life and the container's: exit statuses and signals
//! propagate; `--detach --pid-file` returns at once; the managers' form (`--process F
//! --detach --pid-file P`) works; exec into a created container works, into a paused,
//! stopped or unknown one fails with runc's messages; `--cgroup` picks a sub-cgroup.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// `husk exec -d <flags> --pid-file <pid_file> <id> sleep 1000`, which must succeed.
fn exec_sleep_detached(b: &Bundle, id: &str, flags: &[&str], pid_file: &Path) {
    let mut a = vec!["exec", "-d"];
    a.extend_from_slice(flags);
    a.extend_from_slice(&[
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
        "sleep",
        "1000",
    ]);
    b.husk(&a).ok();
}

#[test]
fn exec_exit_status_propagates() {
    let mut b = Bundle::new("exec-status");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    assert_eq!(b.husk(&["exec", &id, "true"]).code, 0);
    assert_eq!(b.husk(&["exec", &id, "sh", "-c", "exit 7"]).code, 7);
    assert_eq!(b.husk(&["exec", &id, "sh", "-c", "kill -9 $$"]).code, 137);
    // Everything after the id is the command's, even what looks like a husk flag.
    let out = b.husk(&["exec", &id, "echo", "-t", "--detach"]).ok();
    assert_eq!(out.stdout, "-t --detach\n");
}

#[test]
fn exec_detach_writes_the_pid_file_and_returns() {
    let mut b = Bundle::new("exec-detach");
    let (id, init) = b.run_detached(&["sleep", "1000"]);
    let pid_file = b.dir.join("p.pid");
    let start = Instant::now();
    exec_sleep_detached(&b, &id, &[], &pid_file);
    assert!(start.elapsed() < Duration::from_secs(10));
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cmdline = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "sleep\x001000\x00");
    assert_joined(init, pid);
    // `husk ps` style membership: the process is in the container's cgroup.procs tree.
    assert!(b.husk(&["state", &id]).ok().stdout.contains("running"));
}

#[test]
fn exec_into_stopped_or_unknown_container_fails() {
    let mut b = Bundle::new("exec-stopped");
    let (id, _) = b.run_detached(&["true"]);
    b.wait_status(&id, "stopped");
    let out = b.husk(&["exec", &id, "true"]);
    assert_eq!(out.code, 255, "{out:?}");
    assert!(
        out.stderr.contains("cannot exec in a stopped container"),
        "{}",
        out.stderr
    );
    let out = b.husk(&["exec", "no-such-container", "true"]);
    assert_eq!(out.code, 255, "{out:?}");
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
}

#[test]
fn exec_into_created_container_works() {
    let mut b = Bundle::new("exec-created");
    b.set_args(&["sleep", "1000"]);
    let id = b.new_id();
    let init = b.create_ok(&id);
    let pid = exec_detached(&b, &id, &["sleep", "1000"]);
    assert_joined(init, pid);
    assert_eq!(b.status(&id), "created");
}

#[test]
fn exec_into_paused_container_is_refused() {
    let mut b = Bundle::new("exec-paused");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    b.husk(&["pause", &id]).ok();
    let out = b.husk(&["exec", &id, "true"]);
    assert_eq!(out.code, 255, "{out:?}");
    assert!(
        out.stderr
            .contains("cannot exec in a paused container (use --ignore-paused to override)"),
        "{}",
        out.stderr
    );
    b.husk(&["resume", &id]).ok();
    b.husk(&["exec", &id, "true"]).ok();
}

#[test]
fn managers_form_process_json_detach_pid_file() {
    let mut b = Bundle::new("exec-json");
    let (id, init) = b.run_detached(&["sleep", "1000"]);
    let process = json!({
        "terminal": false,
        "user": {"uid": 1000, "gid": 1000},
        "args": ["sh", "-c", "echo \"$X $(id -u) $(pwd)\" > /dev/shm/out; exec sleep 1000"],
        "env": ["PATH=/bin", "X=from-json", format!("{MARK}={}", b.name)],
        "cwd": "/home/user",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
        "noNewPrivileges": true
    });
    let pf = b.dir.join("process.json");
    fs::write(&pf, serde_json::to_vec(&process).unwrap()).unwrap();
    let pid_file = b.dir.join("json.pid");
    b.husk(&[
        "exec",
        "--process",
        pf.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ])
    .ok();
    let pid = read_pid_file(&pid_file);
    assert_joined(init, pid);
    let out = wait_for_content(
        Path::new(&format!("/proc/{init}/root/dev/shm/out")),
        "from-json",
    );
    assert_eq!(out, "from-json 1000 /home/user\n");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(
        status_field(&status, "CapBnd"),
        format!("{:016x}", 1u64 << 5)
    );
}

#[test]
fn exec_into_a_sub_cgroup() {
    let mut b = Bundle::new("exec-subcg");
    let (id, init) = b.run_detached(&["sleep", "1000"]);
    let own = fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    // v1: "N:pids:/path"; v2 (or hybrid's unified): "0::/path".
    let (ctrl, mount) = if Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
        ("pids", "/sys/fs/cgroup/pids")
    } else {
        ("", "/sys/fs/cgroup")
    };
    let line = own
        .lines()
        .find(|l| l.split(':').nth(1) == Some(ctrl))
        .unwrap_or_else(|| panic!("no {ctrl:?} line in {own}"));
    let path = line.splitn(3, ':').nth(2).unwrap();
    let sub = Path::new(mount)
        .join(path.trim_start_matches('/'))
        .join("sub");
    fs::create_dir_all(&sub).unwrap();
    let arg = if ctrl.is_empty() {
        "sub".to_string()
    } else {
        format!("{ctrl}:sub")
    };
    let pid_file = b.dir.join("sub.pid");
    exec_sleep_detached(&b, &id, &["--cgroup", &arg], &pid_file);
    let pid = read_pid_file(&pid_file);
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mine = cg
        .lines()
        .find(|l| l.split(':').nth(1) == Some(ctrl))
        .unwrap();
    let kept = mine.ends_with("/sub");
    let out = b.husk(&["exec", "--cgroup", "nosuch-sub", &id, "true"]);
    // SAFETY: plain kill(2) of the process this test started (re-parented to us).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    reap(&[pid]);
    let start = Instant::now();
    while fs::remove_dir(&sub).is_err() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(kept, "{cg}");
    assert_eq!(out.code, 255, "{out:?}");
}

#[test]
fn foreground_exec_forwards_signals() {
    let mut b = Bundle::new("exec-signal");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let out_path = b.dir.join("signal.out");
    let mut child = husk_command()
        .arg("--root")
        .arg(&b.root)
        .args([
            "exec",
            &id,
            "sh",
            "-c",
            "trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done",
        ])
        .env(MARK, &b.name)
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_content(&out_path, "ready");
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "husk exec hung");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(status.code(), Some(9), "{status:?}");
    assert!(fs::read_to_string(&out_path).unwrap().contains("got-term"));
}
