//! `husk exec`: the new process joins every namespace, the cgroup and the security
//! settings of the container; flags and `--process` override the configured process;
//! fds, cwd, HOME and signal dispositions are the container's; bad flags exit 255 with
//! runc's messages. (Exit statuses, signals, `--detach`/`--pid-file`, container
//! states and sub-cgroups: exec_lifecycle.rs.)

mod common;

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;

use common::*;
use serde_json::json;

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

#[test]
fn exec_stdio_pipes_belong_to_a_non_root_user() {
    // As runc does, the pipes the process gets are chowned to its uid, so it can
    // reopen them through /proc/self/fd; /dev/null (stdin here) is never chowned.
    let mut b = Bundle::new("exec-stdio");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let script = "stat -L -c %u /proc/self/fd/0 /proc/self/fd/1; echo reopened >> /proc/self/fd/1";
    let out = husk_command()
        .arg("--root")
        .arg(&b.root)
        .args(["exec", "--user", "1000:1000", &id, "sh", "-c", script])
        .env(MARK, &b.name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // /dev/null keeps whatever owner the host gave it (not always root: a CI
    // sandbox may map it), so compare with what the test sees.
    let null_owner = std::os::unix::fs::MetadataExt::uid(&fs::metadata("/dev/null").unwrap());
    assert_eq!(
        stdout,
        format!("{null_owner}\n1000\nreopened\n"),
        "{stderr}"
    );
}
