//! Killed at every step (issue 14): `husk create` stopped at each phase boundary
//! (the test-only `HUSK_FAULT_PAUSE`), then the runtime or the container's init
//! SIGKILLed there. Afterwards `husk state` is coherent or a clear "does not
//! exist", `delete --force` succeeds, and nothing is left: no process, no mount,
//! no cgroup directory in any hierarchy, no state directory or exec fifo, no fd
//! open on the state. Then `start`, `delete`, `exec` and `update` killed midway.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{husk_command, marked_processes, reap, Bundle, MARK};

const SLEEP: &[&str] = &["sleep", "30"];

/// Who is SIGKILLed at the phase.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Victim {
    /// The `husk` command.
    Runtime,
    /// The container's init (the husk command is let go on).
    Init,
}

fn proc_state(pid: i32) -> Option<char> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 2..].chars().next()
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: plain kill(2).
    unsafe { libc::kill(pid, sig) };
}

/// `husk ARGS` on the bundle's root, not waited for, with `HUSK_FAULT_PAUSE=phase`.
fn spawn_husk(b: &Bundle, args: &[&str], phase: &str) -> Child {
    b.write_config();
    husk_command()
        .arg("--root")
        .arg(&b.root)
        .args(args)
        .env(MARK, &b.name)
        .env("HUSK_FAULT_PAUSE", phase)
        .current_dir(&b.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn husk")
}

/// The process of this bundle that stopped itself at the fault point.
#[track_caller]
fn wait_stopped(b: &Bundle, child: &mut Child) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(pid) = marked_processes(&b.name).into_iter().find(|&p| {
            fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "husk-fault")
                && matches!(proc_state(p), Some('T' | 'S'))
        }) {
            return pid;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "husk exited ({st}) before reaching the fault point {:?}",
                b.name
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nothing stopped at the fault point"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn recorded_pid(b: &Bundle, id: &str) -> i32 {
    fs::read_to_string(b.state_dir(id).join("state.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["pid"].as_i64())
        .unwrap_or(0) as i32
}

/// Lines of the host's mountinfo that mention `path`.
fn mounts_under(path: &Path) -> Vec<String> {
    let p = path.display().to_string();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&p))
        .map(String::from)
        .collect()
}

/// Open fds of any process pointing below `path`.
fn fds_under(path: &Path) -> Vec<String> {
    let p = path.display().to_string();
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        if e.file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
            .is_none()
        {
            continue;
        }
        for fd in fs::read_dir(e.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(t) = fs::read_link(fd.path()) {
                if t.to_string_lossy().starts_with(&p) {
                    out.push(format!("{} -> {}", fd.path().display(), t.display()));
                }
            }
        }
    }
    out
}

/// `husk state` is a coherent status or "does not exist"; `delete --force`
/// succeeds; nothing of `id` is left.
#[track_caller]
fn assert_recovers(b: &Bundle, id: &str, what: &str, init: i32) -> String {
    let st = b.husk(&["state", id]);
    let status = if st.code == 0 {
        let v: serde_json::Value = serde_json::from_str(&st.stdout)
            .unwrap_or_else(|e| panic!("{what}: state is not JSON ({e}): {}", st.stdout));
        v["status"].as_str().unwrap_or("").to_string()
    } else {
        assert!(
            st.stderr.contains("does not exist"),
            "{what}: state failed unclearly: {}",
            st.stderr
        );
        "absent".to_string()
    };
    assert!(
        ["absent", "creating", "created", "running", "stopped"].contains(&status.as_str()),
        "{what}: status {status:?}"
    );
    let del = b.husk(&["delete", "--force", id]);
    assert!(
        del.code == 0 || del.stderr.contains("does not exist"),
        "{what}: delete --force failed: {}",
        del.stderr
    );
    if init > 0 {
        b.track_pid(init);
        reap(&[init]);
    }
    b.assert_nothing_left(id);
    let fifo = b.state_dir(id).join("exec.fifo");
    assert!(!fifo.exists(), "{what}: exec fifo left");
    let m = mounts_under(&b.dir);
    assert!(m.is_empty(), "{what}: mounts left: {m:?}");
    let f = fds_under(&b.state_dir(id));
    assert!(f.is_empty(), "{what}: fds left open: {f:?}");
    status
}

/// The phases of create, in order, and where each stops (true: in the init).
const CREATE_PHASES: &[(&str, bool)] = &[
    ("state-dir", false),
    ("cgroup", false),
    ("clone", false),
    ("namespaces", true),
    ("mounts", true),
    ("pivot", true),
    ("ready", true),
    ("created", false),
];

fn kill_create_at(b: &Bundle, phase: &str, in_init: bool, victim: Victim) -> String {
    let id = b.new_id();
    let what = format!("create killed at {phase} ({victim:?})");
    let mut child = spawn_husk(b, &["create", "--bundle", b.dir_str(), &id], phase);
    let stopped = wait_stopped(b, &mut child);
    let husk = child.id() as i32;
    assert_eq!(stopped == husk, !in_init, "{what}: wrong process stopped");
    let init = recorded_pid(b, &id);
    match victim {
        Victim::Runtime => kill(husk, libc::SIGKILL),
        Victim::Init => {
            let target = if in_init { stopped } else { init };
            assert!(target > 0, "{what}: no init to kill");
            kill(target, libc::SIGKILL);
            kill(husk, libc::SIGCONT);
        }
    }
    let status = child.wait().expect("wait husk");
    if victim == Victim::Init && phase != "created" {
        assert!(!status.success(), "{what}: create succeeded");
    }
    let init = if in_init { stopped } else { init };
    assert_recovers(b, &id, &what, init)
}

#[test]
fn create_killed_at_every_phase_leaves_nothing() {
    let mut b = Bundle::new("fault-create");
    b.set_args(SLEEP);
    let mut seen = Vec::new();
    for &(phase, in_init) in CREATE_PHASES {
        for victim in [Victim::Runtime, Victim::Init] {
            if victim == Victim::Init && matches!(phase, "state-dir" | "cgroup") {
                continue; // no init yet
            }
            eprintln!("phase {phase} {victim:?}");
            let status = kill_create_at(&b, phase, in_init, victim);
            seen.push(format!("{phase}/{victim:?}: {status}"));
        }
    }
    // The runtime killed with the init alive past its parent-death signal: the
    // half-made container is visible as `creating` until deleted.
    assert!(
        seen.contains(&"created/Runtime: creating".to_string())
            && seen.contains(&"ready/Runtime: creating".to_string()),
        "{seen:?}"
    );
    eprintln!("{seen:#?}");
}

#[test]
fn start_and_delete_killed_midway_leave_nothing() {
    let mut b = Bundle::new("fault-ops");
    b.set_args(SLEEP);

    // start: the fifo written, the state not yet: the container runs.
    let id = b.new_id();
    let init = b.create_ok(&id);
    let mut child = spawn_husk(&b, &["start", &id], "start");
    let husk = wait_stopped(&b, &mut child);
    kill(husk, libc::SIGKILL);
    let _ = child.wait();
    b.wait_status(&id, "running");
    b.husk(&["start", &id]).fails_with(&["running"]);
    assert_recovers(&b, &id, "start killed", init);

    // delete: the cgroup gone, the state not yet: delete again finishes it.
    let id = b.new_id();
    let init = b.create_ok(&id);
    b.husk(&["start", &id]).ok();
    let mut child = spawn_husk(&b, &["delete", "--force", &id], "delete");
    let husk = wait_stopped(&b, &mut child);
    kill(husk, libc::SIGKILL);
    let _ = child.wait();
    assert_eq!(b.status(&id), "stopped");
    assert_recovers(&b, &id, "delete killed", init);
}

#[test]
fn exec_and_update_killed_midway_leave_nothing() {
    let mut b = Bundle::new("fault-exec");
    let (id, init) = b.run_detached(SLEEP);
    for delay_ms in [0u64, 1, 3, 10, 30] {
        for args in [
            vec!["exec", id.as_str(), "sleep", "20"],
            vec!["update", "--pids-limit", "50", id.as_str()],
        ] {
            let mut child = spawn_husk(&b, &args, "none");
            std::thread::sleep(Duration::from_millis(delay_ms));
            let _ = child.kill();
            let _ = child.wait();
            // The container is intact and still answers.
            assert_eq!(b.status(&id), "running", "{args:?} killed at {delay_ms} ms");
        }
    }
    b.husk(&["exec", &id, "true"]).ok();
    assert_recovers(&b, &id, "exec/update killed", init);
}

#[test]
fn a_held_lock_gives_a_clear_error_in_bounded_time() {
    let mut b = Bundle::new("fault-lock");
    b.set_args(SLEEP);
    let id = b.new_id();
    // A create stopped while it holds the container's lock.
    let mut child = spawn_husk(&b, &["create", "--bundle", b.dir_str(), &id], "cgroup");
    let husk = wait_stopped(&b, &mut child);
    let t = Instant::now();
    let out = b.husk_with(&["delete", "--force", &id], |c| {
        c.env("HUSK_LOCK_TIMEOUT", "0.5");
    });
    assert!(t.elapsed() < Duration::from_secs(5));
    out.fails_with(&["locked by another husk command"]);
    kill(husk, libc::SIGKILL);
    let _ = child.wait();
    assert_recovers(&b, &id, "lock holder killed", 0);
}

/// Killed after making its cgroups but before a state write said which it made
/// (the `creating` state holds only a plan): `delete --force` removes the
/// directories it made and keeps a cgroup that existed before with someone
/// else's process in it, and that process.
#[test]
fn create_killed_before_recording_its_cgroups_keeps_others() {
    let mut b = Bundle::new("fault-cgpre");
    b.set_args(SLEEP);
    let parent = format!("husk-it-fault-pre-{}", b.name);
    let dirs = |rel: &str| -> Vec<std::path::PathBuf> {
        ["pids", "memory"]
            .iter()
            .map(|c| Path::new("/sys/fs/cgroup").join(c).join(rel))
            .collect()
    };
    // The bystander is killed and the parent removed however the test ends.
    struct Others(Vec<std::path::PathBuf>, Child);
    impl Drop for Others {
        fn drop(&mut self) {
            let _ = self.1.kill();
            let _ = self.1.wait();
            for d in &self.0 {
                let _ = fs::remove_dir(d);
            }
        }
    }
    for d in dirs(&parent) {
        fs::create_dir(&d).expect("mkdir parent cgroup");
    }
    let sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn bystander");
    let pid = sleeper.id();
    let others = Others(dirs(&parent), sleeper);
    for d in dirs(&parent) {
        fs::write(d.join("cgroup.procs"), pid.to_string()).expect("move bystander");
    }
    for (rel, leaf_kept) in [(format!("{parent}/leaf"), false), (parent.clone(), true)] {
        b.config["linux"]["cgroupsPath"] = serde_json::json!(format!("/{rel}"));
        let id = b.new_id();
        let mut child = spawn_husk(&b, &["create", "--bundle", b.dir_str(), &id], "cgroup");
        let husk = wait_stopped(&b, &mut child);
        for d in dirs(&rel) {
            assert!(
                d.exists(),
                "{} not made before the fault point",
                d.display()
            );
        }
        kill(husk, libc::SIGKILL);
        let _ = child.wait();
        b.husk(&["delete", "--force", &id]).ok();
        for d in dirs(&rel) {
            assert_eq!(d.exists(), leaf_kept, "{} after delete", d.display());
        }
        for d in dirs(&parent) {
            assert!(d.exists(), "the existing {} was removed", d.display());
        }
        assert_eq!(
            proc_state(pid as i32).map(|s| s != 'Z'),
            Some(true),
            "bystander killed"
        );
        let cpu = Path::new("/sys/fs/cgroup/cpu").join(&rel);
        assert!(!cpu.exists(), "{} made by create is left", cpu.display());
    }
    drop(others);
}
