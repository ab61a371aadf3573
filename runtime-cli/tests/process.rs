//! The container process: args, env, cwd, user and groups, umask, hostname and
//! domainname, rlimits, capabilities, no_new_privs, oom_score_adj, sysctl, and
//! which file descriptors reach it.

mod common;

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use common::*;
use serde_json::json;

#[test]
fn args_env_and_cwd() {
    let mut b = Bundle::new("args");
    b.config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .extend([json!("FOO=bar baz"), json!("EMPTY=")]);
    b.config["process"]["cwd"] = json!("/tmp");
    b.set_args(&[
        "sh",
        "-c",
        "echo \"$0|$1|$FOO|${EMPTY-unset}|$(pwd)\"; env | sort",
        "first arg",
        "second",
    ]);
    let out = b.run_fg().ok().stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "first arg|second|bar baz||/tmp");
    let env: Vec<&str> = lines[1..].to_vec();
    assert!(env.contains(&"FOO=bar baz"), "{out}");
    assert!(env.contains(&"TERM=xterm"), "{out}");
    assert!(
        env.iter().any(|l| l.starts_with("PATH=/usr/local/sbin:")),
        "{out}"
    );
    // Nothing of the runtime's own environment leaks in.
    assert!(!env.iter().any(|l| l.starts_with("CARGO")), "{out}");
}

#[test]
fn absolute_executable_and_path_lookup() {
    let mut b = Bundle::new("exe");
    b.set_args(&["/bin/echo", "absolute"]);
    assert_eq!(b.run_fg().ok().stdout, "absolute\n");
    // Looked up with the process's own PATH, not husk's.
    b.config["process"]["env"] = json!(["PATH=/opt/tools", format!("{MARK}={}", b.name)]);
    fs::create_dir_all(b.rootfs.join("opt/tools")).unwrap();
    fs::write(
        b.rootfs.join("opt/tools/mytool"),
        "#!/bin/sh\necho via-path\n",
    )
    .unwrap();
    fs::set_permissions(
        b.rootfs.join("opt/tools/mytool"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    b.set_args(&["mytool"]);
    assert_eq!(b.run_fg().ok().stdout, "via-path\n");
}

#[test]
fn missing_cwd_is_created() {
    let mut b = Bundle::new("cwdmissing");
    b.config["root"]["readonly"] = json!(false);
    b.config["process"]["cwd"] = json!("/work/dir");
    assert_eq!(b.sh("pwd"), "/work/dir\n");
    assert!(b.rootfs.join("work/dir").is_dir());
}

#[test]
fn user_and_groups() {
    let mut b = Bundle::new("user");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]});
    let out = b.sh("id; grep -E '^(Uid|Gid|Groups):' /proc/self/status");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("uid=1000(user) gid=1000(user) groups="),
        "{out}"
    );
    assert_eq!(status_field(&out, "Uid"), "1000\t1000\t1000\t1000");
    assert_eq!(status_field(&out, "Gid"), "1000\t1000\t1000\t1000");
    assert_eq!(status_field(&out, "Groups"), "10 20");
}

#[test]
fn root_without_additional_groups() {
    let mut b = Bundle::new("rootgroups");
    let out = b.sh("id; grep -E '^(Uid|Gid|Groups):' /proc/self/status");
    assert!(out.starts_with("uid=0(root) gid=0(root)"), "{out}");
    assert_eq!(status_field(&out, "Uid"), "0\t0\t0\t0");
    // No supplementary groups are inherited from the runtime.
    assert_eq!(status_field(&out, "Groups"), "");
}

#[test]
fn umask() {
    let mut b = Bundle::new("umask");
    b.add_mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
    b.config["process"]["user"]["umask"] = json!(0o077);
    let out = b.sh("umask; touch /tmp/f; mkdir /tmp/d; stat -c %a /tmp/f /tmp/d");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["0077", "600", "700"]);

    // runc's default is 0022.
    b.config["process"]["user"]
        .as_object_mut()
        .unwrap()
        .remove("umask");
    let out = b.sh("umask; touch /tmp/f; stat -c %a /tmp/f");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["0022", "644"]);
}

#[test]
fn hostname_and_domainname() {
    let mut b = Bundle::new("uts");
    b.config["hostname"] = json!("box-under-test");
    b.config["domainname"] = json!("example.test");
    let out = b.sh("hostname; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["box-under-test", "box-under-test", "example.test"]
    );
    // The host's are untouched.
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "box-under-test");
}

#[test]
fn rlimits() {
    let mut b = Bundle::new("rlimits");
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 77, "hard": 88}
    ]);
    let out = b.sh("ulimit -n; ulimit -Hn; cat /proc/self/limits");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["123", "456"]);
    let limit = |name: &str| -> Vec<String> {
        let l = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in {out}"));
        l[name.len()..]
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(limit("Max open files")[..2], ["123", "456"]);
    assert_eq!(limit("Max core file size")[..2], ["0", "0"]);
    assert_eq!(limit("Max processes")[..2], ["77", "88"]);
}

/// Bit mask of capability numbers.
fn caps(numbers: &[u32]) -> String {
    format!("{:016x}", numbers.iter().fold(0u64, |m, n| m | 1 << n))
}

const CAP_CHOWN: u32 = 0;
const CAP_KILL: u32 = 5;
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_AUDIT_WRITE: u32 = 29;
const CAP_SYS_ADMIN: u32 = 21;

fn cap_lines(out: &str) -> [String; 5] {
    ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map(|k| status_field(out, k))
}

#[test]
fn default_spec_capabilities() {
    // `husk spec`: bounding = effective = permitted = {AUDIT_WRITE, KILL, NET_BIND_SERVICE},
    // ambient listed too but no inheritable set (so the kernel cannot raise ambient).
    let mut b = Bundle::new("capdefault");
    let out = b.sh("grep ^Cap /proc/self/status");
    let want = caps(&[CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE]);
    let [inh, prm, eff, bnd, amb] = cap_lines(&out);
    assert_eq!(bnd, want, "CapBnd\n{out}");
    assert_eq!(prm, want, "CapPrm\n{out}");
    assert_eq!(eff, want, "CapEff\n{out}");
    assert_eq!(
        inh,
        caps(&[]),
        "CapInh must be empty when not asked for\n{out}"
    );
    assert_eq!(amb, caps(&[]), "CapAmb\n{out}");
}

#[test]
fn capabilities_match_the_config_exactly() {
    let mut b = Bundle::new("capexact");
    let set = json!([
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_ADMIN"
    ]);
    b.config["process"]["capabilities"] = json!({
        "bounding": set, "effective": set, "permitted": set,
        "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
    });
    let out = b.sh("grep ^Cap /proc/self/status");
    let all = caps(&[CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN]);
    let [inh, prm, eff, bnd, amb] = cap_lines(&out);
    assert_eq!(bnd, all, "CapBnd\n{out}");
    assert_eq!(prm, all, "CapPrm\n{out}");
    assert_eq!(eff, all, "CapEff\n{out}");
    assert_eq!(inh, caps(&[CAP_KILL]), "CapInh\n{out}");
    assert_eq!(amb, caps(&[CAP_KILL]), "CapAmb\n{out}");
}

#[test]
fn capabilities_of_a_non_root_user() {
    // For a non-root user without file capabilities, exec keeps only the ambient set
    // in permitted and effective: the sets must come through exactly.
    let mut b = Bundle::new("capuser");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let set = json!(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    b.config["process"]["capabilities"] = json!({
        "bounding": set, "effective": set, "permitted": set,
        "inheritable": ["CAP_KILL", "CAP_CHOWN"], "ambient": ["CAP_KILL"]
    });
    let out = b.sh("grep ^Cap /proc/self/status");
    let [inh, prm, eff, bnd, amb] = cap_lines(&out);
    assert_eq!(
        bnd,
        caps(&[CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE]),
        "{out}"
    );
    assert_eq!(inh, caps(&[CAP_CHOWN, CAP_KILL]), "{out}");
    assert_eq!(amb, caps(&[CAP_KILL]), "{out}");
    assert_eq!(prm, caps(&[CAP_KILL]), "{out}");
    assert_eq!(eff, caps(&[CAP_KILL]), "{out}");
}

#[test]
fn no_capabilities_object_means_none() {
    let mut b = Bundle::new("capnone");
    b.config["process"]
        .as_object_mut()
        .unwrap()
        .remove("capabilities");
    let out = b.sh("grep ^Cap /proc/self/status");
    for (k, v) in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
        .iter()
        .zip(cap_lines(&out))
    {
        assert_eq!(v, caps(&[]), "{k}\n{out}");
    }
}

#[test]
fn capabilities_take_effect() {
    // CAP_CHOWN lets root chown; without it the same chown fails.
    let mut b = Bundle::new("capeffect");
    b.config["root"]["readonly"] = json!(false);
    let with = json!(["CAP_CHOWN"]);
    b.config["process"]["capabilities"] =
        json!({"bounding": with, "effective": with, "permitted": with});
    let out = b.sh("touch /tmp/f; chown 1000 /tmp/f && echo chowned");
    assert_eq!(out.trim(), "chowned");
    b.config["process"]["capabilities"] =
        json!({"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]});
    b.set_script("touch /tmp/g; chown 1000 /tmp/g 2>&1; echo rc=$?");
    let out = b.run_fg().ok().stdout;
    assert!(
        out.contains("Operation not permitted") && out.contains("rc=1"),
        "{out}"
    );
}

#[test]
fn no_new_privileges() {
    let mut b = Bundle::new("nnp");
    b.config["process"]["noNewPrivileges"] = json!(true);
    assert_eq!(
        status_field(&b.sh("cat /proc/self/status"), "NoNewPrivs"),
        "1"
    );
    b.config["process"]["noNewPrivileges"] = json!(false);
    assert_eq!(
        status_field(&b.sh("cat /proc/self/status"), "NoNewPrivs"),
        "0"
    );
}

#[test]
fn oom_score_adj() {
    // Only raising works here (root of this VM lacks CAP_SYS_RESOURCE to lower it).
    let mut b = Bundle::new("oom");
    let base: i32 = fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let want = (base + 123).min(1000);
    b.config["process"]["oomScoreAdj"] = json!(want);
    assert_eq!(
        b.sh("cat /proc/self/oom_score_adj").trim(),
        want.to_string()
    );
}

#[test]
fn sysctl_in_network_namespace() {
    let mut b = Bundle::new("sysctl");
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
    let host_fwd = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let out = b.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["1", "1234"]);
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd,
        "the host's sysctl changed"
    );
}

/// Makes `raw` (a close-on-exec fd of the test) appear as each of `targets` in husk.
fn pass_fd(cmd: &mut std::process::Command, raw: i32, targets: &'static [i32]) {
    // SAFETY: dup2 and fcntl are async-signal-safe; `raw` stays open in the parent
    // until the spawn has returned.
    unsafe {
        cmd.pre_exec(move || {
            for &t in targets {
                // dup2(fd, fd) would keep FD_CLOEXEC: clear it instead.
                let r = if t == raw {
                    libc::fcntl(t, libc::F_SETFD, 0)
                } else {
                    libc::dup2(raw, t)
                };
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

#[test]
fn only_stdio_reaches_the_process() {
    let mut b = Bundle::new("fds");
    b.set_script("ls /proc/self/fd");
    b.write_config();
    let id = b.new_id();
    // Give husk an extra inherited fd 3 (and 7): it must not reach the container.
    let file = fs::File::open(b.rootfs.join("etc/passwd")).unwrap();
    let raw = file.as_raw_fd();
    let out = b
        .husk_with(&["run", "--bundle", b.dir_str(), &id], |cmd| {
            pass_fd(cmd, raw, &[3, 7])
        })
        .ok();
    drop(file);
    // ls opens the directory itself: 0 1 2 and that one.
    let fds: Vec<u32> = out
        .stdout
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(fds, [0, 1, 2, 3], "extra fds reached the process");
}

#[test]
fn preserve_fds_passes_fd_3() {
    let mut b = Bundle::new("preserve");
    let payload = b.dir.join("payload");
    fs::write(&payload, "passed-through-fd-3\n").unwrap();
    b.set_script("cat <&3; ls /proc/self/fd | tr '\\n' ' '");
    b.write_config();
    let id = b.new_id();
    let file = fs::File::open(&payload).unwrap();
    let raw = file.as_raw_fd();
    let out = b
        .husk_with(
            &["run", "--preserve-fds", "1", "--bundle", b.dir_str(), &id],
            |cmd| pass_fd(cmd, raw, &[3, 4]),
        )
        .ok();
    drop(file);
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("passed-through-fd-3"), "{out:?}");
    let fds: Vec<u32> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    // 0-2, the preserved 3, and ls's own directory fd (4 unless fd 4 leaked too).
    assert_eq!(fds, [0, 1, 2, 3, 4], "only fd 3 was asked for");
}

/// `husk run` through `sh` so that LISTEN_PID can be husk's own pid (systemd socket
/// activation), with `payload` open on fd 3.
fn run_socket_activated(b: &Bundle, payload: &std::path::Path) -> Out {
    b.write_config();
    let id = b.new_id();
    let file = fs::File::open(payload).unwrap();
    let raw = file.as_raw_fd();
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args([
        "-c",
        "export LISTEN_PID=$$ LISTEN_FDS=1; exec \"$0\" \"$@\"",
    ])
    .args(husk_argv())
    .arg("--root")
    .arg(&b.root)
    .args(["run", "--bundle", b.dir_str(), &id])
    .env(MARK, &b.name)
    .current_dir(&b.dir);
    pass_fd(&mut cmd, raw, &[3]);
    let out = exec(cmd, &b.dir);
    drop(file);
    out
}

#[test]
fn listen_fds_are_passed() {
    let mut b = Bundle::new("listenfds");
    let payload = b.dir.join("socket-standin");
    fs::write(&payload, "activated\n").unwrap();
    b.set_script("cat <&3");
    let out = run_socket_activated(&b, &payload).ok();
    assert_eq!(out.stdout, "activated\n");
}

#[test]
fn listen_fds_env_is_set() {
    let mut b = Bundle::new("listenenv");
    let payload = b.dir.join("socket-standin");
    fs::write(&payload, "activated\n").unwrap();
    b.set_script("echo \"$LISTEN_FDS $LISTEN_PID\"");
    let out = run_socket_activated(&b, &payload).ok();
    assert_eq!(out.stdout, "1 1\n");
}

#[test]
fn listen_pid_is_the_pid_the_process_sees() {
    // Without a pid namespace the process is not pid 1: LISTEN_PID must name it, or
    // sd_listen_fds() ignores the fds. husk's LISTEN_FDS/LISTEN_PID replace stale
    // values in process.env (one entry each, so getenv sees husk's).
    let mut b = Bundle::new("listenpid");
    b.remove_namespace("pid");
    b.config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .extend([json!("LISTEN_FDS=7"), json!("LISTEN_PID=99")]);
    let payload = b.dir.join("socket-standin");
    fs::write(&payload, "activated\n").unwrap();
    b.set_script("echo $$; tr '\\0' '\\n' < /proc/$$/environ | grep ^LISTEN_ | sort");
    let out = run_socket_activated(&b, &payload).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert_ne!(lines[0], "1");
    assert_eq!(lines[1], "LISTEN_FDS=1");
    assert_eq!(lines[2], format!("LISTEN_PID={}", lines[0]));
}
