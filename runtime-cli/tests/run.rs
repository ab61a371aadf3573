//! `husk run`: foreground (exit code, signals forwarded, death by signal, `--keep`,
//! nothing left, `--debug` phase timings) and detached.

mod common;

use std::fs;
use std::time::Duration;

use common::*;

#[test]
fn run_propagates_exit_code() {
    let mut b = Bundle::new("runexit");
    b.set_script("echo out; echo err >&2; exit 3");
    let out = b.run_fg();
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stdout, "out\n");
    assert!(out.stderr.contains("err"), "{out:?}");
    // `run` deletes the container when it exits.
    let list = b.husk(&["list", "-q"]).ok();
    assert_eq!(list.stdout.trim(), "", "run left a container behind");

    b.set_script("exit 0");
    assert_eq!(b.run_fg().code, 0);
    b.set_script("exit 255");
    assert_eq!(b.run_fg().code, 255);
}

#[test]
fn run_foreground_leaves_nothing() {
    let mut b = Bundle::new("runclean");
    b.set_script("true");
    b.write_config();
    let id = b.new_id();
    b.husk(&["run", "--bundle", b.dir_str(), &id]).ok();
    b.assert_nothing_left(&id);
}

#[test]
fn run_detach() {
    let mut b = Bundle::new("rundetach");
    b.set_script("echo hello-from-detached; exec sleep 1000");
    b.write_config();
    let id = b.new_id();
    let stdout = b.dir.join("detached-stdout");
    let started = std::time::Instant::now();
    b.husk_stdout_to(&["run", "-d", "--bundle", b.dir_str(), &id], &stdout)
        .ok();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(b.status(&id), "running");
    // The container inherited husk's stdout and goes on after husk returned.
    wait_for_content(&stdout, "hello-from-detached");
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");
    b.husk(&["delete", "--force", &id]).ok();
    b.assert_nothing_left(&id);
}

/// Spawns `husk run` in the background (stdout/stderr to files in the bundle).
/// A background `husk run`, killed and reaped on drop if the test fails midway.
struct BgRun(std::process::Child);

impl Drop for BgRun {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn spawn_run(b: &Bundle, id: &str, extra: &[&str]) -> BgRun {
    let mut cmd = husk_command();
    cmd.arg("--root").arg(&b.root).arg("run").args(extra);
    cmd.args(["--bundle", b.dir_str(), id]);
    cmd.env(MARK, &b.name)
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(b.dir.join("bg-stdout")).unwrap())
        .stderr(fs::File::create(b.dir.join("bg-stderr")).unwrap());
    BgRun(cmd.spawn().expect("spawn husk run"))
}

fn wait_child(child: &mut BgRun) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            return s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0));
        }
        if start.elapsed() > Duration::from_secs(20) {
            panic!("husk run did not exit");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn run_forwards_signals() {
    let mut b = Bundle::new("runsig");
    b.set_script("trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done");
    b.write_config();
    let id = b.new_id();
    let mut child = spawn_run(&b, &id, &[]);
    wait_for_content(&b.dir.join("bg-stdout"), "ready");
    // SAFETY: plain kill(2) of our child.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let code = wait_child(&mut child);
    assert_eq!(
        code,
        42,
        "{}",
        fs::read_to_string(b.dir.join("bg-stderr")).unwrap()
    );
    assert!(fs::read_to_string(b.dir.join("bg-stdout"))
        .unwrap()
        .contains("got-term"));
    b.assert_nothing_left(&id);
}

#[test]
fn run_reports_death_by_signal() {
    let mut b = Bundle::new("runkilled");
    b.set_script("echo ready; exec sleep 1000");
    b.write_config();
    let id = b.new_id();
    let mut child = spawn_run(&b, &id, &[]);
    wait_for_content(&b.dir.join("bg-stdout"), "ready");
    b.husk(&["kill", &id, "KILL"]).ok();
    assert_eq!(wait_child(&mut child), 128 + 9);
    b.assert_nothing_left(&id);
}

#[test]
fn run_keep_leaves_a_stopped_container() {
    let mut b = Bundle::new("runkeep");
    b.set_script("exit 5");
    b.write_config();
    let id = b.new_id();
    let out = b.husk(&["run", "--keep", "--bundle", b.dir_str(), &id]);
    assert_eq!(out.code, 5, "{out:?}");
    assert_eq!(b.status(&id), "stopped");
    b.husk(&["delete", &id]).ok();
    b.assert_nothing_left(&id);
}

/// `--debug` times the phases of a foreground `run` (create's from the library,
/// start/run/delete from the CLI; `husk-conformance bench` tabulates them);
/// without it none is logged.
#[test]
fn debug_run_logs_its_phases() {
    let mut b = Bundle::new("phases");
    b.set_args(&["true"]);
    b.write_config();
    let id = b.new_id();
    let out = b
        .husk(&["--debug", "run", "--bundle", b.dir_str(), &id])
        .ok();
    for phase in [
        "load and plan config.json",
        "clone init and wait until ready",
    ] {
        assert!(
            out.stderr.contains(&format!("create {id}: {phase}: ")),
            "no create phase {phase:?}:\n{}",
            out.stderr
        );
    }
    for phase in ["start", "container process runs and exits", "delete"] {
        assert!(
            out.stderr.contains(&format!("run {id}: {phase}: ")),
            "no run phase {phase:?}:\n{}",
            out.stderr
        );
    }
    let id2 = b.new_id();
    let out = b.husk(&["run", "--bundle", b.dir_str(), &id2]).ok();
    assert!(
        !out.stderr.contains(&format!("run {id2}:")),
        "{}",
        out.stderr
    );
}
