//! The scenarios. Each checks observable behaviour against what the OCI
//! runtime spec (and, where the spec is silent, runc) prescribes, and stops at
//! the first difference.
//!
//! Not registered yet (to add once husk implements them; no placeholders):
//! cgroup resources, `exec`, terminal/console socket, hooks, seccomp.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::bundle::push;
use crate::scenario::{code_str, expect, expect_eq, fail, Case, Check, Scenario};

const SLEEP: [&str; 2] = ["sleep", "1000"];
const WAIT: Duration = Duration::from_secs(5);

macro_rules! scenario {
    ($name:literal, $area:literal, $checker:literal, $what:literal, $f:path) => {
        Scenario {
            name: $name,
            area: $area,
            what: $what,
            needs_checker: $checker,
            run: $f,
        }
    };
}

/// Areas with no scenarios yet (to be written against real behaviour once
/// they are covered; deliberately no placeholder rows).
pub const NOT_YET_COVERED: &[&str] = &[
    "cgroup resources",
    "exec",
    "terminal / console socket",
    "hooks",
    "seccomp",
];

/// Every registered scenario, in report order.
pub fn all() -> Vec<Scenario> {
    vec![
        scenario!(
            "lifecycle-create",
            "lifecycle",
            false,
            "create: state fields, status created, process not started",
            lifecycle_create
        ),
        scenario!(
            "lifecycle-start",
            "lifecycle",
            false,
            "start: status running, same pid, process runs",
            lifecycle_start
        ),
        scenario!(
            "lifecycle-kill",
            "lifecycle",
            false,
            "kill TERM reaches the process's trap; status stopped",
            lifecycle_kill
        ),
        scenario!(
            "lifecycle-kill-created",
            "lifecycle",
            false,
            "kill KILL on a created container; then stopped and deletable",
            lifecycle_kill_created
        ),
        scenario!(
            "lifecycle-delete",
            "lifecycle",
            false,
            "delete a stopped container: state, list and cgroups gone",
            lifecycle_delete
        ),
        scenario!(
            "lifecycle-delete-force",
            "lifecycle",
            false,
            "delete --force a running container: process killed",
            lifecycle_delete_force
        ),
        scenario!(
            "run-exit-code",
            "lifecycle",
            false,
            "run propagates the exit status and deletes the container",
            run_exit_code
        ),
        scenario!(
            "run-output",
            "lifecycle",
            false,
            "run passes stdout and stderr through",
            run_output
        ),
        scenario!(
            "error-unknown-id",
            "errors",
            false,
            "state/start/kill/delete of an unknown id fail",
            error_unknown_id
        ),
        scenario!(
            "error-existing-id",
            "errors",
            false,
            "create with an id in use fails; the first container is intact",
            error_existing_id
        ),
        scenario!(
            "error-start-twice",
            "errors",
            false,
            "start of a running container fails",
            error_start_twice
        ),
        scenario!(
            "error-bad-config",
            "errors",
            false,
            "invalid JSON, missing rootfs, empty args: create fails, no state",
            error_bad_config
        ),
        scenario!(
            "ns-pid1",
            "namespaces",
            true,
            "pid 1; pid/mnt/uts/ipc/net inodes differ from host, user/cgroup shared",
            ns_pid1
        ),
        scenario!(
            "ns-hostname",
            "namespaces",
            true,
            "hostname from config",
            ns_hostname
        ),
        scenario!(
            "ns-join-path",
            "namespaces",
            true,
            "namespace paths join existing net and ipc namespaces",
            ns_join_path
        ),
        scenario!(
            "mounts-default",
            "mounts",
            true,
            "default mounts: types and flags of /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys",
            mounts_default
        ),
        scenario!(
            "mounts-tmpfs",
            "mounts",
            true,
            "tmpfs with nosuid,nodev,noexec,mode,size",
            mounts_tmpfs
        ),
        scenario!(
            "mounts-bind",
            "mounts",
            true,
            "bind mounts: ro is read-only, rw writes reach the host",
            mounts_bind
        ),
        scenario!(
            "rootfs-readonly",
            "mounts",
            true,
            "root.readonly true and false",
            rootfs_readonly
        ),
        scenario!(
            "devices-default",
            "devices",
            true,
            "default device nodes (/dev/null 1:3 ...) and /dev symlinks",
            devices_default
        ),
        scenario!(
            "devices-custom",
            "devices",
            true,
            "linux.devices: type, numbers, mode and owner",
            devices_custom
        ),
        scenario!(
            "masked-paths",
            "paths",
            true,
            "default and custom maskedPaths read as empty",
            masked_paths
        ),
        scenario!(
            "readonly-paths",
            "paths",
            true,
            "default and custom readonlyPaths are read-only",
            readonly_paths
        ),
        scenario!(
            "process-user",
            "process",
            true,
            "uid, gid and additionalGids",
            process_user
        ),
        scenario!(
            "process-env",
            "process",
            true,
            "env passed verbatim",
            process_env
        ),
        scenario!(
            "process-env-home",
            "process",
            true,
            "HOME from /etc/passwd when env has none",
            process_env_home
        ),
        scenario!("process-cwd", "process", true, "cwd", process_cwd),
        scenario!(
            "caps-default",
            "process",
            true,
            "default spec capabilities in /proc/self/status",
            caps_default
        ),
        scenario!(
            "caps-custom",
            "process",
            true,
            "custom bounding/effective/permitted/inheritable/ambient",
            caps_custom
        ),
        scenario!(
            "caps-nonroot",
            "process",
            true,
            "uid 1000 keeps ambient capabilities",
            caps_nonroot
        ),
        scenario!(
            "no-new-privs",
            "process",
            true,
            "noNewPrivileges true and false",
            no_new_privs
        ),
        scenario!("rlimits", "process", true, "rlimits applied", rlimits),
        scenario!(
            "oom-score-adj",
            "process",
            true,
            "oomScoreAdj applied",
            oom_score_adj
        ),
        scenario!("umask", "process", true, "user.umask applied", umask),
        scenario!(
            "sysctl",
            "process",
            true,
            "linux.sysctl for namespaced keys",
            sysctl
        ),
    ]
}

// ---------------------------------------------------------------- lifecycle

fn lifecycle_create(c: &mut Case) -> Check {
    let b = c.bundle(
        "b",
        &["sh", "-c", "echo started; exec sleep 1000"],
        |cfg, _| {
            cfg["annotations"] = json!({ "org.husk.conformance": "yes" });
        },
    )?;
    let id = c.id("");
    let out = c.create(&b, &id)?;
    let st = c.state(&id)?;
    expect_eq("state.id", st["id"].as_str().unwrap_or(""), id.as_str())?;
    expect_eq(
        "state.status",
        st["status"].as_str().unwrap_or(""),
        "created",
    )?;
    expect(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        || "state.ociVersion missing".into(),
    )?;
    let pid = st["pid"].as_i64().unwrap_or(0) as i32;
    expect(pid > 0, || format!("state.pid: got {}", st["pid"]))?;
    expect(crate::proc::alive(pid), || {
        format!("state.pid {pid} is not alive")
    })?;
    expect_eq(
        "state.bundle",
        st["bundle"].as_str().unwrap_or(""),
        b.to_string_lossy().as_ref(),
    )?;
    expect_eq(
        "state.annotations",
        st["annotations"]["org.husk.conformance"]
            .to_string()
            .as_str(),
        "\"yes\"",
    )?;
    std::thread::sleep(Duration::from_millis(150));
    let early = std::fs::read_to_string(&out.stdout_path).unwrap_or_default();
    expect(!early.contains("started"), || {
        "the process ran before start".into()
    })
}

fn lifecycle_start(c: &mut Case) -> Check {
    let b = c.bundle(
        "b",
        &["sh", "-c", "echo started; exec sleep 1000"],
        |_, _| {},
    )?;
    let id = c.id("");
    let out = c.create(&b, &id)?;
    let pid = c.state(&id)?["pid"].as_i64().unwrap_or(0);
    c.call_ok(&["start", &id])?;
    c.wait_output(&out.stdout_path, "started", WAIT)?;
    let st = c.state(&id)?;
    expect_eq(
        "state.status",
        st["status"].as_str().unwrap_or(""),
        "running",
    )?;
    expect_eq(
        "state.pid after start",
        &st["pid"].as_i64().unwrap_or(0),
        &pid,
    )
}

fn lifecycle_kill(c: &mut Case) -> Check {
    let script = "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done";
    let b = c.bundle("b", &["sh", "-c", script], |_, _| {})?;
    let id = c.id("");
    let out = c.create(&b, &id)?;
    c.call_ok(&["start", &id])?;
    c.wait_output(&out.stdout_path, "ready", WAIT)?;
    c.call_ok(&["kill", &id, "TERM"])?;
    c.wait_status(&id, "stopped", WAIT)?;
    c.wait_output(&out.stdout_path, "got-term", Duration::from_secs(1))
}

fn lifecycle_kill_created(c: &mut Case) -> Check {
    let b = c.bundle("b", &SLEEP, |_, _| {})?;
    let id = c.id("");
    c.create(&b, &id)?;
    c.call_ok(&["kill", &id, "KILL"])?;
    c.wait_status(&id, "stopped", WAIT)?;
    c.call_ok(&["delete", &id])?;
    Ok(())
}

fn lifecycle_delete(c: &mut Case) -> Check {
    let b = c.bundle("b", &SLEEP, |_, _| {})?;
    let id = c.id("");
    c.create(&b, &id)?;
    let pid = c.state(&id)?["pid"].as_i64().unwrap_or(0) as i32;
    c.call_ok(&["start", &id])?;
    c.call_ok(&["kill", &id, "KILL"])?;
    c.wait_status(&id, "stopped", WAIT)?;
    c.call_ok(&["delete", &id])?;
    c.call_fails(&["state", &id])?;
    let list = c.call_ok(&["list"])?;
    expect(!list.stdout.contains(&id), || {
        "list still shows the container".into()
    })?;
    expect(!crate::proc::alive(pid), || {
        "the init is still alive".into()
    })?;
    let cgs = crate::cleanup::find_cgroups(&id);
    expect(cgs.is_empty(), || {
        format!("cgroup left behind: {}", cgs[0].display())
    })
}

fn lifecycle_delete_force(c: &mut Case) -> Check {
    let b = c.bundle("b", &SLEEP, |_, _| {})?;
    let id = c.id("");
    c.create(&b, &id)?;
    let pid = c.state(&id)?["pid"].as_i64().unwrap_or(0) as i32;
    c.call_ok(&["start", &id])?;
    c.call_ok(&["delete", "--force", &id])?;
    c.call_fails(&["state", &id])?;
    let end = std::time::Instant::now() + Duration::from_secs(2);
    while crate::proc::alive(pid) && std::time::Instant::now() < end {
        crate::proc::reap_orphans();
        std::thread::sleep(Duration::from_millis(10));
    }
    expect(!crate::proc::alive(pid), || {
        "the process survived delete --force".into()
    })
}

fn run_exit_code(c: &mut Case) -> Check {
    let b = c.bundle("b", &["sh", "-c", "exit 7"], |_, _| {})?;
    let id = c.id("");
    let o = c.run(&b, &id)?;
    expect_eq("exit status of run", code_str(o.code).as_str(), "7")?;
    c.call_fails(&["state", &id])
        .map_err(|_| fail("the container is left after run"))?;
    Ok(())
}

fn run_output(c: &mut Case) -> Check {
    let b = c.bundle(
        "b",
        &["sh", "-c", "echo to-stdout; echo to-stderr >&2"],
        |_, _| {},
    )?;
    let id = c.id("");
    let o = c.run(&b, &id)?;
    expect_eq("exit status of run", code_str(o.code).as_str(), "0")?;
    expect_eq("stdout", o.stdout.as_str(), "to-stdout\n")?;
    expect(o.stderr.contains("to-stderr"), || {
        format!("stderr {:?} lacks to-stderr", o.stderr)
    })
}

// ---------------------------------------------------------------- errors

fn error_unknown_id(c: &mut Case) -> Check {
    let id = c.id("missing");
    c.call_fails(&["state", &id])?;
    c.call_fails(&["start", &id])?;
    c.call_fails(&["kill", &id, "KILL"])?;
    c.call_fails(&["delete", &id])?;
    Ok(())
}

fn error_existing_id(c: &mut Case) -> Check {
    let b = c.bundle("b", &SLEEP, |_, _| {})?;
    let id = c.id("");
    c.create(&b, &id)?;
    let pid = c.state(&id)?["pid"].as_i64().unwrap_or(0);
    let bs = b.to_string_lossy().into_owned();
    c.call_fails(&["create", "--bundle", &bs, &id])?;
    let st = c.state(&id)?;
    expect_eq(
        "state.status",
        st["status"].as_str().unwrap_or(""),
        "created",
    )?;
    expect_eq("state.pid", &st["pid"].as_i64().unwrap_or(0), &pid)
}

fn error_start_twice(c: &mut Case) -> Check {
    let b = c.bundle("b", &SLEEP, |_, _| {})?;
    let id = c.id("");
    c.create(&b, &id)?;
    c.call_ok(&["start", &id])?;
    c.call_fails(&["start", &id])?;
    expect_eq("state.status", c.status(&id)?.as_str(), "running")
}

fn error_bad_config(c: &mut Case) -> Check {
    // Invalid JSON.
    let b = c.bundle("json", &SLEEP, |_, _| {})?;
    std::fs::write(b.join("config.json"), "{ \"ociVersion\": ").map_err(|e| fail(e.to_string()))?;
    let id = c.id("json");
    let bs = b.to_string_lossy().into_owned();
    c.call_fails(&["create", "--bundle", &bs, &id])
        .map_err(|_| fail("create with invalid JSON succeeded"))?;
    c.call_fails(&["state", &id])
        .map_err(|_| fail("state exists after a failed create (invalid JSON)"))?;
    // Missing rootfs.
    let b = c.bundle("noroot", &SLEEP, |cfg, _| {
        cfg["root"]["path"] = json!("no-such-rootfs")
    })?;
    let id = c.id("noroot");
    let bs = b.to_string_lossy().into_owned();
    c.call_fails(&["create", "--bundle", &bs, &id])
        .map_err(|_| fail("create with a missing rootfs succeeded"))?;
    c.call_fails(&["state", &id])
        .map_err(|_| fail("state exists after a failed create (missing rootfs)"))?;
    // Empty process.args.
    let b = c.bundle("noargs", &[], |_, _| {})?;
    let id = c.id("noargs");
    let bs = b.to_string_lossy().into_owned();
    c.call_fails(&["create", "--bundle", &bs, &id])
        .map_err(|_| fail("create with empty process.args succeeded"))?;
    c.call_fails(&["state", &id])
        .map_err(|_| fail("state exists after a failed create (empty args)"))?;
    Ok(())
}

// ---------------------------------------------------------------- namespaces

fn ns_pid1(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |_, _| {})?;
    r.expect("pid", "1")?;
    for ns in ["pid", "mnt", "uts", "ipc", "net"] {
        let got = r.get(&format!("ns.{ns}"))?;
        let host = c.host.ns.get(ns).map(String::as_str).unwrap_or("");
        expect(got != host, || format!("ns.{ns} is the host's ({host})"))?;
    }
    for ns in ["user", "cgroup"] {
        let Some(host) = c.host.ns.get(ns) else {
            continue;
        };
        r.expect(&format!("ns.{ns}"), host)?;
    }
    Ok(())
}

fn ns_hostname(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["hostname"] = json!("husk-conf")
    })?;
    r.expect("hostname", "husk-conf")
}

/// A helper process in fresh net and ipc namespaces; killed on drop.
struct NsHelper(Option<crate::proc::Running>);

impl Drop for NsHelper {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            // SAFETY: killing our own child.
            unsafe { libc::kill(r.pid(), libc::SIGKILL) };
            let _ = r.wait(Duration::from_secs(5));
        }
    }
}

fn ns_join_path(c: &mut Case) -> Check {
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--net", "--ipc", "--", "sleep", "60"]);
    cmd.stdin(std::process::Stdio::null());
    let helper = NsHelper(Some(
        crate::proc::spawn(&mut cmd).map_err(|e| fail(format!("harness: unshare: {e}")))?,
    ));
    let pid = helper.0.as_ref().map(|r| r.pid()).unwrap_or(0);
    let read = |ns: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let end = std::time::Instant::now() + WAIT;
    while Some(&read("net")) == c.host.ns.get("net") && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (net, ipc) = (read("net"), read("ipc"));
    if Some(&net) == c.host.ns.get("net") {
        return Err(fail(
            "harness: unshare helper did not enter a new net namespace",
        ));
    }
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["linux"]["namespaces"] = json!([
            { "type": "pid" }, { "type": "network", "path": format!("/proc/{pid}/ns/net") },
            { "type": "ipc", "path": format!("/proc/{pid}/ns/ipc") }, { "type": "uts" }, { "type": "mount" },
        ]);
    })?;
    r.expect("ns.net", &net)?;
    r.expect("ns.ipc", &ipc)?;
    drop(helper);
    Ok(())
}

// ---------------------------------------------------------------- mounts

fn mounts_default(c: &mut Case) -> Check {
    let r = c.checker(
        "b",
        &[
            "mount",
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "ro",
            "/sys",
            "/proc",
        ],
        |_, _| {},
    )?;
    for (p, fs) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        let v = r.get(&format!("mount:{p}"))?;
        expect_eq(&format!("{p} type"), v.split('|').next().unwrap_or(""), fs)?;
    }
    r.expect_options("mount:/dev", 1, &["nosuid"])?;
    r.expect_options("mount:/dev", 2, &["mode=755", "size=65536k"])?;
    r.expect_options("mount:/dev/pts", 1, &["nosuid", "noexec"])?;
    r.expect_options("mount:/dev/pts", 2, &["gid=5", "mode=620", "ptmxmode=666"])?;
    r.expect_options("mount:/dev/shm", 1, &["nosuid", "nodev", "noexec"])?;
    r.expect_options("mount:/dev/shm", 2, &["size=65536k"])?;
    r.expect_options("mount:/dev/mqueue", 1, &["nosuid", "nodev", "noexec"])?;
    r.expect_options("mount:/sys", 1, &["ro", "nosuid", "nodev", "noexec"])?;
    r.expect("ro:/sys", "1")?;
    r.expect("ro:/proc", "0")
}

fn mounts_tmpfs(c: &mut Case) -> Check {
    let r = c.checker(
        "b",
        &[
            "mount",
            "/mnt/tmpfs",
            "stat",
            "/mnt/tmpfs",
            "write",
            "/mnt/tmpfs",
        ],
        |cfg, _| {
            push(
                cfg,
                &["mounts"],
                json!({
                    "destination": "/mnt/tmpfs", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "nodev", "noexec", "mode=1770", "size=128k"],
                }),
            );
        },
    )?;
    let v = r.get("mount:/mnt/tmpfs")?;
    expect_eq(
        "/mnt/tmpfs type",
        v.split('|').next().unwrap_or(""),
        "tmpfs",
    )?;
    r.expect_options("mount:/mnt/tmpfs", 1, &["nosuid", "nodev", "noexec"])?;
    r.expect_options("mount:/mnt/tmpfs", 2, &["size=128k", "mode=1770"])?;
    r.expect("stat:/mnt/tmpfs", "d 0:0 1770 0:0")?;
    r.expect("write:/mnt/tmpfs", "ok")
}

fn mounts_bind(c: &mut Case) -> Check {
    let ro = c.dir.join("shared-ro");
    let rw = c.dir.join("shared-rw");
    let h = |e: std::io::Error| fail(format!("harness: {e}"));
    std::fs::create_dir_all(&ro).map_err(h)?;
    std::fs::create_dir_all(&rw).map_err(h)?;
    std::fs::write(ro.join("hello.txt"), "husk\n").map_err(h)?;
    let (ros, rws) = (
        ro.to_string_lossy().into_owned(),
        rw.to_string_lossy().into_owned(),
    );
    let args = [
        "cat",
        "/mnt/ro/hello.txt",
        "write",
        "/mnt/ro",
        "/mnt/ro/hello.txt",
        "ro",
        "/mnt/ro",
        "/mnt/rw",
        "create",
        "/mnt/rw/from-container",
    ];
    let r = c.checker("b", &args, |cfg, _| {
        push(cfg, &["mounts"], json!({ "destination": "/mnt/ro", "type": "bind", "source": ros, "options": ["rbind", "ro"] }));
        push(cfg, &["mounts"], json!({ "destination": "/mnt/rw", "type": "bind", "source": rws, "options": ["rbind", "rw"] }));
    })?;
    r.expect("cat:/mnt/ro/hello.txt", "husk\\n")?;
    r.expect("write:/mnt/ro", "EROFS")?;
    r.expect("write:/mnt/ro/hello.txt", "EROFS")?;
    r.expect("ro:/mnt/ro", "1")?;
    r.expect("ro:/mnt/rw", "0")?;
    r.expect("create:/mnt/rw/from-container", "ok")?;
    let host = std::fs::read_to_string(rw.join("from-container")).unwrap_or_default();
    expect_eq(
        "host view of /mnt/rw/from-container",
        host.as_str(),
        "husk-checker",
    )
}

fn rootfs_readonly(c: &mut Case) -> Check {
    let r = c.checker(
        "ro",
        &["write", "/", "/etc/passwd", "ro", "/", "mount", "/"],
        |_, _| {},
    )?;
    r.expect("write:/", "EROFS")?;
    r.expect("write:/etc/passwd", "EROFS")?;
    r.expect("ro:/", "1")?;
    r.expect_options("mount:/", 1, &["ro"])?;
    let mut rootfs = std::path::PathBuf::new();
    let r = c.checker(
        "rw",
        &["write", "/", "ro", "/", "create", "/created-in-container"],
        |cfg, rf| {
            cfg["root"]["readonly"] = json!(false);
            rootfs = rf.to_path_buf();
        },
    )?;
    r.expect("write:/", "ok")?;
    r.expect("ro:/", "0")?;
    r.expect("create:/created-in-container", "ok")?;
    expect(rootfs.join("created-in-container").exists(), || {
        "the file written to / is not in the bundle's rootfs".into()
    })
}

// ---------------------------------------------------------------- devices

fn devices_default(c: &mut Case) -> Check {
    let nodes = [
        ("/dev/null", "c 1:3 0666 0:0"),
        ("/dev/zero", "c 1:5 0666 0:0"),
        ("/dev/full", "c 1:7 0666 0:0"),
        ("/dev/random", "c 1:8 0666 0:0"),
        ("/dev/urandom", "c 1:9 0666 0:0"),
        ("/dev/tty", "c 5:0 0666 0:0"),
        ("/dev/fd", "l -> /proc/self/fd"),
        ("/dev/stdin", "l -> /proc/self/fd/0"),
        ("/dev/stdout", "l -> /proc/self/fd/1"),
        ("/dev/stderr", "l -> /proc/self/fd/2"),
        ("/dev/ptmx", "l -> pts/ptmx"),
    ];
    let mut args = vec!["stat"];
    args.extend(nodes.iter().map(|(p, _)| *p));
    args.extend(["read", "/dev/zero", "/dev/urandom", "write", "/dev/null"]);
    let r = c.checker("b", &args, |_, _| {})?;
    for (p, want) in nodes {
        r.expect(&format!("stat:{p}"), want)?;
    }
    r.expect("read:/dev/zero", "ok 4096")?;
    r.expect("read:/dev/urandom", "ok 4096")?;
    r.expect("write:/dev/null", "ok")
}

fn devices_custom(c: &mut Case) -> Check {
    let r = c.checker("b", &["stat", "/dev/husk-zero", "/dev/husk-null", "read", "/dev/husk-zero"], |cfg, _| {
        push(cfg, &["linux", "devices"], json!({ "path": "/dev/husk-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 0, "gid": 0 }));
        push(cfg, &["linux", "devices"], json!({ "path": "/dev/husk-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 1000, "gid": 1000 }));
        push(cfg, &["linux", "resources", "devices"], json!({ "allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm" }));
    })?;
    r.expect("stat:/dev/husk-zero", "c 1:5 0640 0:0")?;
    r.expect("stat:/dev/husk-null", "c 1:3 0600 1000:1000")?;
    r.expect("read:/dev/husk-zero", "ok 4096")
}

// ---------------------------------------------------------------- paths

/// The base config's `linux.<key>` entries that exist on this host (the
/// kernel may lack some, e.g. /proc/kcore or /proc/sysrq-trigger).
fn default_paths(key: &str) -> Vec<String> {
    let cfg = crate::bundle::default_config(&[], "");
    cfg["linux"][key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|p| Path::new(p).exists())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn masked_paths(c: &mut Case) -> Check {
    let defaults = default_paths("maskedPaths");
    let (dirs, files): (Vec<&String>, Vec<&String>) =
        defaults.iter().partition(|p| Path::new(p).is_dir());
    let mut args = vec!["stat"];
    args.extend(files.iter().map(|p| p.as_str()));
    args.push("read");
    args.extend(defaults.iter().map(String::as_str));
    args.extend([
        "/husk-masked-file",
        "/husk-masked-dir",
        "/husk-visible-file",
    ]);
    let r = c.checker("b", &args, |cfg, rootfs| {
        let _ = std::fs::write(rootfs.join("husk-masked-file"), "secret\n");
        let _ = std::fs::create_dir_all(rootfs.join("husk-masked-dir"));
        let _ = std::fs::write(rootfs.join("husk-masked-dir/inner"), "secret\n");
        let _ = std::fs::write(rootfs.join("husk-visible-file"), "visible\n");
        push(cfg, &["linux", "maskedPaths"], json!("/husk-masked-file"));
        push(cfg, &["linux", "maskedPaths"], json!("/husk-masked-dir"));
    })?;
    for f in &files {
        let st = r.get(&format!("stat:{f}"))?;
        expect(st.starts_with("c 1:3 "), || {
            format!("stat:{f}: got {st:?}, want /dev/null (c 1:3)")
        })?;
        r.expect(&format!("read:{f}"), "ok 0")?;
    }
    for d in &dirs {
        r.expect(&format!("read:{d}"), "dir 0")?;
    }
    r.expect("read:/husk-masked-file", "ok 0")?;
    r.expect("read:/husk-masked-dir", "dir 0")?;
    r.expect("read:/husk-visible-file", "ok 8")
}

fn readonly_paths(c: &mut Case) -> Check {
    let ro = default_paths("readonlyPaths");
    let mut args = vec!["ro"];
    args.extend(ro.iter().map(String::as_str));
    args.extend([
        "/proc",
        "/proc/self",
        "write",
        "/husk-ro-dir",
        "/husk-ro-dir/file",
        "/husk-rw-dir",
    ]);
    let r = c.checker("b", &args, |cfg, rootfs| {
        cfg["root"]["readonly"] = json!(false);
        let _ = std::fs::create_dir_all(rootfs.join("husk-ro-dir"));
        let _ = std::fs::write(rootfs.join("husk-ro-dir/file"), "x\n");
        let _ = std::fs::create_dir_all(rootfs.join("husk-rw-dir"));
        push(cfg, &["linux", "readonlyPaths"], json!("/husk-ro-dir"));
    })?;
    for p in &ro {
        r.expect(&format!("ro:{p}"), "1")?;
    }
    r.expect("ro:/proc", "0")?;
    r.expect("ro:/proc/self", "0")?;
    r.expect("write:/husk-ro-dir", "EROFS")?;
    r.expect("write:/husk-ro-dir/file", "EROFS")?;
    r.expect("write:/husk-rw-dir", "ok")
}

// ---------------------------------------------------------------- process

fn process_user(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["process"]["user"] = json!({ "uid": 1000, "gid": 1000, "additionalGids": [10, 20] });
    })?;
    r.expect("uid", "1000")?;
    r.expect("euid", "1000")?;
    r.expect("gid", "1000")?;
    r.expect("egid", "1000")?;
    r.expect("groups", "10,20")
}

fn process_env(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        let marker = cfg["process"]["env"][2].clone();
        cfg["process"]["env"] = json!([
            "PATH=/bin:/usr/bin",
            "FOO=bar",
            "EMPTY=",
            "WITH_EQ=a=b=c",
            "HOME=/custom",
            marker
        ]);
    })?;
    r.expect("env.PATH", "/bin:/usr/bin")?;
    r.expect("env.FOO", "bar")?;
    r.expect("env.EMPTY", "")?;
    r.expect("env.WITH_EQ", "a=b=c")?;
    r.expect("env.HOME", "/custom")
}

fn process_env_home(c: &mut Case) -> Check {
    let r = c.checker("root", &["report"], |_, _| {})?;
    r.expect("env.HOME", "/root")?;
    let r = c.checker("user", &["report"], |cfg, _| {
        cfg["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    })?;
    r.expect("env.HOME", "/home/husk")
}

fn process_cwd(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["process"]["cwd"] = json!("/var/lib")
    })?;
    r.expect("cwd", "/var/lib")
}

fn caps_default(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |_, _| {})?;
    r.expect("CapBnd", "0000000020000420")?;
    r.expect("CapPrm", "0000000020000420")?;
    r.expect("CapEff", "0000000020000420")?;
    r.expect("CapInh", "0000000000000000")?;
    r.expect("CapAmb", "0000000000000000")
}

fn caps_custom(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        let set = json!(["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN"]);
        cfg["process"]["capabilities"] = json!({
            "bounding": set, "effective": set, "permitted": set,
            "inheritable": ["CAP_NET_RAW"], "ambient": ["CAP_NET_RAW"],
        });
    })?;
    r.expect("CapBnd", "0000000000202001")?;
    r.expect("CapPrm", "0000000000202001")?;
    r.expect("CapEff", "0000000000202001")?;
    r.expect("CapInh", "0000000000002000")?;
    r.expect("CapAmb", "0000000000002000")
}

fn caps_nonroot(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        let set = json!(["CAP_NET_BIND_SERVICE"]);
        cfg["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
        cfg["process"]["capabilities"] = json!({
            "bounding": set, "effective": set, "permitted": set, "inheritable": set, "ambient": set,
        });
    })?;
    r.expect("uid", "1000")?;
    r.expect("CapBnd", "0000000000000400")?;
    r.expect("CapPrm", "0000000000000400")?;
    r.expect("CapEff", "0000000000000400")?;
    r.expect("CapAmb", "0000000000000400")
}

fn no_new_privs(c: &mut Case) -> Check {
    let r = c.checker("on", &["report"], |_, _| {})?;
    r.expect("no_new_privs", "1")?;
    r.expect("NoNewPrivs", "1")?;
    let r = c.checker("off", &["report"], |cfg, _| {
        cfg["process"]["noNewPrivileges"] = json!(false)
    })?;
    r.expect("no_new_privs", "0")
}

fn rlimits(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["process"]["rlimits"] = json!([
            { "type": "RLIMIT_NOFILE", "soft": 2048, "hard": 4096 },
            { "type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000 },
            { "type": "RLIMIT_CORE", "soft": 1024, "hard": 2048 },
            { "type": "RLIMIT_MSGQUEUE", "soft": 123456, "hard": 654321 },
        ]);
    })?;
    r.expect("rlimit.RLIMIT_NOFILE", "2048:4096")?;
    r.expect("rlimit.RLIMIT_NPROC", "1000:2000")?;
    r.expect("rlimit.RLIMIT_CORE", "1024:2048")?;
    r.expect("rlimit.RLIMIT_MSGQUEUE", "123456:654321")
}

fn oom_score_adj(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["process"]["oomScoreAdj"] = json!(123)
    })?;
    r.expect("oom_score_adj", "123")
}

fn umask(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["process"]["user"]["umask"] = json!(0o027)
    })?;
    r.expect("umask", "0027")
}

fn sysctl(c: &mut Case) -> Check {
    let r = c.checker(
        "b",
        &[
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
            "/proc/sys/kernel/domainname",
        ],
        |cfg: &mut Value, _| {
            cfg["linux"]["sysctl"] =
                json!({ "net.ipv4.ip_forward": "1", "kernel.domainname": "husk.test" });
        },
    )?;
    r.expect("cat:/proc/sys/net/ipv4/ip_forward", "1\\n")?;
    r.expect("cat:/proc/sys/kernel/domainname", "husk.test\\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique() {
        let all = super::all();
        let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
