//! `husk exec`: the new process joins every namespace, the cgroup and the security
//! settings of the container; flags override the configured process; exit statuses
//! propagate; the managers' form (`--process F --detach --pid-file P`) works; failures
//! exit 255 with runc's messages.

mod common;

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Namespace kinds to compare between the init and an exec'd process.
const NS: &[&str] = &[
    "cgroup",
    "ipc",
    "mnt",
    "net",
    "pid",
    "pid_for_children",
    "time",
    "user",
    "uts",
];

fn ns_link(pid: i32, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// Waits until `path` holds a pid; returns it.
#[track_caller]
fn read_pid_file(path: &Path) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(pid) = fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no pid in {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `husk exec --detach --pid-file` of `args`; returns the process's host pid.
#[track_caller]
fn exec_detached(b: &Bundle, id: &str, args: &[&str]) -> i32 {
    let pid_file = b.dir.join(format!("exec-{}.pid", args.len()));
    let mut a = vec![
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
    ];
    a.extend_from_slice(args);
    b.husk(&a).ok();
    read_pid_file(&pid_file)
}

/// Asserts that the exec'd process shares each namespace, and the cgroups, of the init.
#[track_caller]
fn assert_joined(init: i32, pid: i32) {
    for kind in NS {
        assert_eq!(
            ns_link(pid, kind),
            ns_link(init, kind),
            "the exec'd process is not in the container's {kind} namespace"
        );
    }
    let cg = |p: i32| fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(
        cg(pid),
        cg(init),
        "the exec'd process is not in the container's cgroup"
    );
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup() {
    let mut b = Bundle::new("exec-ns");
    let (id, init) = b.run_detached(&["sleep", "1000"]);
    let pid = exec_detached(&b, &id, &["sleep", "1000"]);
    assert_joined(init, pid);
    assert_ne!(ns_link(pid, "net"), host_ns("net"));
    // Inside the pid namespace: not its init, and a real child of the container's tree.
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid = status_field(&status, "NSpid");
    let ids: Vec<&str> = nspid.split_whitespace().collect();
    assert_eq!(ids.len(), 2, "NSpid {nspid}: not in a nested pid namespace");
    assert_ne!(ids[1], "1");
    // The container's seccomp and no_new_privs settings apply (the default spec sets nnp).
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
}

#[test]
fn exec_joins_a_user_namespace() {
    let mut b = Bundle::new("exec-userns");
    b.set_namespace("user", None);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let (id, init) = b.run_detached(&["sleep", "1000"]);
    let pid = exec_detached(&b, &id, &["sleep", "1000"]);
    assert_joined(init, pid);
    assert_ne!(ns_link(pid, "user"), host_ns("user"));
    let out = b
        .husk(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map"])
        .ok();
    let lines = out.lines();
    assert_eq!(lines[0], "0", "{out:?}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    // Root of the container is uid 100000 on the host.
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status_field(&status, "Uid").starts_with("100000"),
        "{status}"
    );
}

#[test]
fn exec_sees_the_container_pid_namespace() {
    let mut b = Bundle::new("exec-pidns");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let out = b
        .husk(&["exec", &id, "sh", "-c", "echo $$; ps -o pid,args"])
        .ok();
    let lines = out.lines();
    let me: i32 = lines[0].parse().unwrap();
    assert_ne!(me, 1, "the exec'd shell must not be the namespace's init");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("1 ") && l.contains("sleep 1000")),
        "ps does not show the init as pid 1:\n{}",
        out.stdout
    );
    // Only the container's processes are visible: the header, init, sh and ps (or
    // just ps when the shell execs its last command).
    assert!(lines.len() <= 1 + 1 + 3, "{}", out.stdout);
}

#[test]
fn exec_uses_the_configured_process() {
    let mut b = Bundle::new("exec-cfg");
    b.config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("FROM_CONFIG=yes"));
    b.config["process"]["cwd"] = json!("/tmp");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [20]});
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let out = b
        .husk(&[
            "exec",
            &id,
            "sh",
            "-c",
            "echo $FROM_CONFIG; pwd; id -u; id -g; id -G; grep -E '^Cap(Eff|Bnd)' /proc/self/status",
        ])
        .ok();
    let lines = out.lines();
    assert_eq!(lines[0], "yes");
    assert_eq!(lines[1], "/tmp");
    assert_eq!(lines[2], "1000");
    assert_eq!(lines[3], "1000");
    assert_eq!(lines[4], "1000 20");
    // The default spec: CAP_KILL(5), CAP_NET_BIND_SERVICE(10), CAP_AUDIT_WRITE(29).
    // (uid 1000 keeps no effective capability across execve without inheritable ones.)
    let want = format!("{:016x}", (1u64 << 5) | (1 << 10) | (1 << 29));
    assert_eq!(lines[6], format!("CapBnd:\t{want}"), "{}", out.stdout);
    let out = b
        .husk(&[
            "exec",
            "-u",
            "0:0",
            &id,
            "grep",
            "^CapEff",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(out.stdout.trim(), format!("CapEff:\t{want}"));
}

#[test]
fn exec_flags_override_the_configured_process() {
    let mut b = Bundle::new("exec-flags");
    b.config["process"]["noNewPrivileges"] = json!(false);
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let out = b
        .husk(&[
            "exec",
            "--env",
            "ADDED=1",
            "-e",
            "TERM=dumb",
            "--cwd",
            "/home/user",
            "--user",
            "1000:1000",
            "-g",
            "7",
            "--additional-gids",
            "8",
            "--cap",
            "CAP_SYS_ADMIN",
            "-c",
            "CAP_NET_RAW",
            "--no-new-privs",
            &id,
            "sh",
            "-c",
            "echo $ADDED $TERM; pwd; id -u; id -G; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status",
        ])
        .ok();
    let lines = out.lines();
    assert_eq!(lines[0], "1 dumb", "later env entries win: {}", out.stdout);
    assert_eq!(lines[1], "/home/user");
    assert_eq!(lines[2], "1000");
    assert_eq!(lines[3], "1000 7 8");
    let bnd = u64::from_str_radix(lines[4].trim_start_matches("CapBnd:\t"), 16).unwrap();
    assert_eq!(
        bnd & (1 << 21),
        1 << 21,
        "CAP_SYS_ADMIN not added: {}",
        lines[4]
    );
    assert_eq!(
        bnd & (1 << 13),
        1 << 13,
        "CAP_NET_RAW not added: {}",
        lines[4]
    );
    assert_eq!(lines[5], "NoNewPrivs:\t1");
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
    b.husk(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "1000",
    ])
    .ok();
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
fn process_json_errors_name_the_field() {
    let mut b = Bundle::new("exec-json-bad");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let pf = b.dir.join("bad.json");
    fs::write(
        &pf,
        r#"{"user":{"uid":"root","gid":0},"args":["true"],"cwd":"/"}"#,
    )
    .unwrap();
    let out = b.husk(&["exec", "-p", pf.to_str().unwrap(), &id]);
    assert_eq!(out.code, 255, "{out:?}");
    assert!(out.stderr.contains("user.uid"), "{}", out.stderr);
    fs::write(
        &pf,
        r#"{"user":{"uid":0,"gid":0},"args":["true"],"cwd":"rel"}"#,
    )
    .unwrap();
    let out = b.husk(&["exec", "-p", pf.to_str().unwrap(), &id]);
    assert_eq!(out.code, 255, "{out:?}");
    assert!(out.stderr.contains("absolute"), "{}", out.stderr);
}

#[test]
fn bad_flags_are_refused_like_runc() {
    let mut b = Bundle::new("exec-badflags");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let cases: &[(&[&str], &str)] = &[
        (&["-u", "root"], "parsing root as int for uid failed"),
        (&["-u", "1000:wheel"], "parsing wheel as int for gid failed"),
        (&["-u", "-1"], "uids and gids must be in range 0-2147483647"),
        (&["-u", "12abc"], "parsing 12abc as int for uid failed"),
        (
            &["-g", "-5"],
            "additional-gids must be a positive number -5",
        ),
        (&["--cap", "CAP_BOGUS"], "CAP_BOGUS"),
        (&["--apparmor", "prof"], "apparmor"),
        (
            &["--process-label", "system_u:system_r:x"],
            "selinux label is specified in config, but selinux is disabled or not supported",
        ),
        (&["--cwd", "relative"], "absolute"),
        (&["--cgroup", "../../escape"], "--cgroup"),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&id, "true"]);
        let out = b.husk(&args);
        assert_eq!(out.code, 255, "{flags:?}: {out:?}");
        assert!(out.stderr.contains(needle), "{flags:?}: {}", out.stderr);
    }
    let out = b.husk(&["exec", &id]);
    assert_eq!(out.code, 255);
    assert!(
        out.stderr.contains("process args cannot be empty"),
        "{}",
        out.stderr
    );
    // A console socket needs --tty and --detach.
    let out = b.husk(&["exec", "--console-socket", "/tmp/x.sock", &id, "true"]);
    assert_eq!(out.code, 255);
    assert!(
        out.stderr.contains("cannot use console socket"),
        "{}",
        out.stderr
    );
    // Nothing was left running by the refused execs.
    let out = b
        .husk(&[
            "exec",
            &id,
            "sh",
            "-c",
            "ps -o pid > /dev/shm/ps; wc -l < /dev/shm/ps",
        ])
        .ok();
    assert_eq!(out.stdout.trim(), "4", "init, sh, ps and the header only");
}

#[test]
fn exec_preserve_fds_and_no_leaks() {
    let mut b = Bundle::new("exec-fds");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let payload = b.dir.join("payload");
    fs::write(&payload, "through-fd-3\n").unwrap();
    let file = fs::File::open(&payload).unwrap();
    let raw = file.as_raw_fd();
    let pass = |cmd: &mut std::process::Command| {
        // SAFETY: dup2/fcntl are async-signal-safe; `raw` stays open until spawn returns.
        unsafe {
            cmd.pre_exec(move || {
                let r = if raw == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0)
                } else {
                    libc::dup2(raw, 3)
                };
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    };
    let out = b
        .husk_with(
            &[
                "exec",
                "--preserve-fds",
                "1",
                &id,
                "sh",
                "-c",
                "cat <&3; ls /proc/self/fd | tr '\\n' ' '",
            ],
            pass,
        )
        .ok();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("through-fd-3"), "{out:?}");
    assert_eq!(lines.next().unwrap_or_default().trim(), "0 1 2 3 4");
    // Without --preserve-fds fd 3 does not reach the process, nor does anything of husk's.
    let out = b
        .husk_with(
            &["exec", &id, "sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"],
            pass,
        )
        .ok();
    drop(file);
    assert_eq!(out.stdout.trim(), "0 1 2 3", "{out:?}");
}

#[test]
fn exec_cwd_is_inside_the_container() {
    let mut b = Bundle::new("exec-cwd");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    // A cwd through a leaked fd (CVE-2024-21626) cannot resolve to a host directory.
    for n in 3..8 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = b.husk(&["exec", "--cwd", &cwd, &id, "pwd"]);
        assert_ne!(out.code, 0, "exec with cwd {cwd} ran: {}", out.stdout);
    }
    let out = b.husk(&["exec", "--cwd", "/dev", &id, "pwd"]).ok();
    assert_eq!(out.stdout, "/dev\n");
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
    b.husk(&[
        "exec",
        "-d",
        "--cgroup",
        &arg,
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "1000",
    ])
    .ok();
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
    let mut child = std::process::Command::new(HUSK)
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

#[test]
fn home_comes_from_the_container_passwd() {
    let mut b = Bundle::new("exec-home");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let home = |extra: &[&str]| {
        let mut a = vec!["exec"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[&id, "sh", "-c", "echo $HOME"]);
        b.husk(&a).ok().stdout.trim().to_string()
    };
    assert_eq!(home(&[]), "/root");
    assert_eq!(home(&["-u", "1000"]), "/home/user");
    assert_eq!(home(&["-u", "4242"]), "/");
    assert_eq!(home(&["-e", "HOME=/custom"]), "/custom");
    // The container's own process too.
    b.set_script("echo $HOME");
    assert_eq!(b.run_fg().ok().stdout, "/root\n");
}

#[test]
fn exec_does_not_create_a_missing_cwd() {
    let mut b = Bundle::new("exec-nocwd");
    let (id, init) = b.run_detached(&["sleep", "1000"]);
    let out = b.husk(&["exec", "--cwd", "/dev/shm/missing", &id, "pwd"]);
    assert_eq!(out.code, 255, "{out:?}");
    assert!(out.stderr.contains("/dev/shm/missing"), "{}", out.stderr);
    assert!(!Path::new(&format!("/proc/{init}/root/dev/shm/missing")).exists());
}

#[test]
fn processes_start_with_default_signals() {
    // SIGPIPE is not ignored (husk's Rust runtime ignores it) and nothing is blocked
    // (foreground husk blocks what it forwards); ignores of husk's caller pass through.
    let sigpipe = 1u64 << (libc::SIGPIPE - 1);
    let check = |status: &str| {
        let ign = u64::from_str_radix(&status_field(status, "SigIgn"), 16).unwrap();
        assert_eq!(ign & sigpipe, 0, "SIGPIPE is ignored: {status}");
        assert_eq!(status_field(status, "SigBlk"), "0000000000000000");
    };
    let mut b = Bundle::new("exec-signals");
    let (id, init) = b.run_detached(&["sleep", "1000"]);
    check(&fs::read_to_string(format!("/proc/{init}/status")).unwrap());
    let out = b.husk(&["exec", &id, "cat", "/proc/self/status"]).ok();
    check(&out.stdout);
}
