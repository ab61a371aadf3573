//! Exec helpers shared by the exec suites: the namespaces an exec'd process
//! must share with the init, `husk exec --detach --pid-file`, and reading pid files.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::Bundle;

/// Namespace kinds to compare between the init and an exec'd process.
pub const NS: &[&str] = &[
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

/// The `/proc/PID/ns/KIND` link of `pid`.
pub fn ns_link(pid: i32, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// Waits until `path` holds a pid; returns it.
#[track_caller]
pub fn read_pid_file(path: &Path) -> i32 {
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
pub fn exec_detached(b: &Bundle, id: &str, args: &[&str]) -> i32 {
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
pub fn assert_joined(init: i32, pid: i32) {
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
