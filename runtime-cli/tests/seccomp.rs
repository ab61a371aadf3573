//! Seccomp profiles seen from inside the container, with runc on the same bundle:
//! the ENOSYS stub for syscalls newer than the profile (so libc falls back), and a
//! minimal allowlist that only works when the filter is the last step before exec.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{json, Value};

/// A static C program that calls clone3 (435) and faccessat2 (439), newer than a
/// profile written for syscalls up to 434, and mkdirat, which the profile names;
/// it prints the errno each returns.
const PROBE_C: &str = r#"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
static void show(const char *name, long r) { printf("%s %d\n", name, r < 0 ? errno : 0); }
int main(void) {
    show("clone3", syscall(435, (void *)0, 0));
    show("faccessat2", syscall(439, AT_FDCWD, "/", F_OK, 0));
    show("mkdirat", syscall(SYS_mkdirat, AT_FDCWD, "/tmp/probe-dir", 0755));
    fflush(stdout);
    return 0;
}
"#;

/// A static C program that only writes "hello".
const HELLO_C: &str =
    "#include <unistd.h>\nint main(void) { write(1, \"hello\\n\", 6); return 0; }\n";

/// Compiles [`PROBE_C`] with gcc (-static) into `dir`.
fn build_probe(dir: &Path) -> PathBuf {
    build_c(dir, "probe", PROBE_C)
}

/// Compiles C `code` with gcc (-static) into `dir/name`.
fn build_c(dir: &Path, name: &str, code: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    fs::write(&src, code).unwrap();
    let out = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("gcc is needed to build the probe (apt-get install gcc libc6-dev)");
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// x86_64 syscall names numbered below `limit`, from the kernel headers.
fn syscalls_below(limit: u32) -> Vec<String> {
    let text = fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
        .expect("kernel headers (linux-libc-dev)");
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("#define")).then_some(())?;
            let name = w.next()?.strip_prefix("__NR_")?;
            let nr: u32 = w.next()?.parse().ok()?;
            (nr < limit).then(|| name.to_string())
        })
        .collect()
}

/// Runs the bundle with runc (foreground); returns its stdout.
fn run_with_runc(b: &Bundle) -> String {
    let id = format!("{}-runc", b.name);
    let out = Command::new("runc")
        .arg("--root")
        .arg(b.dir.join("runc-state"))
        .args(["run", "--bundle", b.dir_str(), &id])
        .env(MARK, &b.name)
        .output()
        .expect("runc");
    assert!(
        out.status.success(),
        "runc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    if cfg!(not(target_arch = "x86_64")) {
        return;
    }
    let mut b = Bundle::new("enosys");
    let probe = build_probe(&b.dir);
    fs::copy(&probe, b.rootfs.join("probe")).unwrap();
    let mut allowed = syscalls_below(435);
    allowed.retain(|n| n != "mkdir" && n != "mkdirat");
    b.config["process"]["noNewPrivileges"] = json!(true);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            { "names": allowed, "action": "SCMP_ACT_ALLOW" },
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 },
        ],
    });
    b.set_args(&["/probe"]);
    let want = "clone3 38\nfaccessat2 38\nmkdirat 13\n";
    let out = b.run_fg().ok().stdout;
    assert_eq!(out, want, "husk");
    assert_eq!(run_with_runc(&b), want, "runc");
    // A permissive default gets no stub: clone3 reaches the kernel (EFAULT/EINVAL).
    b.config["linux"]["seccomp"]["defaultAction"] = Value::from("SCMP_ACT_ALLOW");
    let out = b.run_fg().ok().stdout;
    assert!(!out.starts_with("clone3 38\n"), "{out}");
}

/// What the init may still do once the filter is loaded: without no_new_privs the
/// privilege drop (bounding set, stdio chown, groups and ids, umask, capabilities),
/// then the hand-over to the runtime (Ready, the exec fifo) and execve.
const AFTER_FILTER: &[&str] = &[
    "prctl",
    "capget",
    "capset",
    "setgroups",
    "setresgid",
    "setresuid",
    "umask",
    "newfstatat",
    "fstat",
    "statx",
    "fchown",
    "sendto",
    "poll",
    "read",
    "fcntl",
    "close",
    "execve",
    "rt_sigreturn",
    "restart_syscall",
];

/// What the static hello program needs (strace of it on this host).
const HELLO_NEEDS: &[&str] = &[
    "arch_prctl",
    "brk",
    "exit_group",
    "getrandom",
    "mprotect",
    "prlimit64",
    "readlink",
    "rseq",
    "set_robust_list",
    "set_tid_address",
    "write",
];

#[test]
fn a_minimal_allowlist_only_needs_the_privilege_drop_and_exec() {
    let mut b = Bundle::new("scminimal");
    let hello = build_c(&b.dir, "hello", HELLO_C);
    fs::copy(&hello, b.rootfs.join("hello")).unwrap();
    b.set_args(&["/hello"]);
    let names: Vec<&str> = AFTER_FILTER.iter().chain(HELLO_NEEDS).copied().collect();
    for default in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_ERRNO"] {
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": default,
            "syscalls": [{ "names": names, "action": "SCMP_ACT_ALLOW" }],
        });
        // With no_new_privs the filter is the last step; without it, it comes before
        // the user switch, which must then not touch procfs (fsopen, openat2, ...).
        for (nnp, uid) in [(true, 0), (false, 0), (false, 1000), (true, 1000)] {
            b.config["process"]["noNewPrivileges"] = json!(nnp);
            b.config["process"]["user"] = json!({ "uid": uid, "gid": uid });
            let out = b.run_fg();
            assert_eq!(
                (out.code, out.stdout.as_str()),
                (0, "hello\n"),
                "{default}, noNewPrivileges {nnp}, uid {uid}: {}",
                out.stderr
            );
        }
    }
}

/// Accepts one connection on `listener` (within 10 s) and returns the message and
/// the fds received with it.
fn receive_listener_message(listener: std::os::unix::net::UnixListener) -> (String, Vec<i32>) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::AsRawFd;
    listener.set_nonblocking(true).unwrap();
    let start = std::time::Instant::now();
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    start.elapsed().as_secs() < 10,
                    "nobody connected to the listener"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    let mut fds = Vec::new();
    for c in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(f) = c {
            fds.extend(f);
        }
    }
    let n = msg.bytes;
    (String::from_utf8_lossy(&buf[..n]).into_owned(), fds)
}

/// Checks what the agent got for container `id` (init `pid`) and closes the fd.
#[track_caller]
fn check_listener_message(text: &str, fds: &[i32], id: &str, pid: Option<i32>) {
    let msg: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(msg["fds"], json!(["seccompFd"]), "{text}");
    if let Some(pid) = pid {
        assert_eq!(msg["pid"], json!(pid), "{text}");
    }
    assert_eq!(msg["metadata"], json!("husk-test"), "{text}");
    assert_eq!(msg["state"]["id"], json!(id), "{text}");
    assert_eq!(fds.len(), 1, "{text}");
    let link = fs::read_link(format!("/proc/self/fd/{}", fds[0])).unwrap();
    assert_eq!(link.to_string_lossy(), "anon_inode:seccomp notify");
    // SAFETY: the fd came to us by SCM_RIGHTS and is ours to close.
    unsafe { libc::close(fds[0]) };
}

#[test]
fn seccomp_listener_gets_the_notify_fd_with_run_detach() {
    let mut b = Bundle::new("sclisten");
    for (i, nnp) in [true, false].into_iter().enumerate() {
        let sock = b.dir.join(format!("agent{i}.sock"));
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let agent = std::thread::spawn(move || receive_listener_message(listener));
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock.to_str().unwrap(),
            "listenerMetadata": "husk-test",
            "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY" }],
        });
        let (id, pid) = b.run_detached(&["sleep", "1000"]);
        let (text, fds) = agent.join().expect("agent thread");
        check_listener_message(&text, &fds, &id, Some(pid));
        b.husk(&["delete", "--force", &id]).ok();
    }
    // runc on the same config.
    let sock = b.dir.join("agent-runc.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || receive_listener_message(listener));
    b.config["linux"]["seccomp"]["listenerPath"] = json!(sock.to_str().unwrap());
    b.write_config();
    let id = format!("{}-runc", b.name);
    let runc = |args: &[&str]| {
        Command::new("runc")
            .arg("--root")
            .arg(b.dir.join("runc-state"))
            .args(args)
            .env(MARK, &b.name)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("runc")
    };
    assert!(runc(&["run", "--detach", "--bundle", b.dir_str(), &id]).success());
    let (text, fds) = agent.join().expect("agent thread");
    runc(&["delete", "--force", &id]);
    check_listener_message(&text, &fds, &id, None);
}
