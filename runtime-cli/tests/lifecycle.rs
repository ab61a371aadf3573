//! Lifecycle: create, start, state, kill, delete, list, concurrency, logging
//! (the foreground and detached `run`: tests/run.rs).

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use serde_json::Value;

const SLEEP: &[&str] = &["sleep", "1000"];

#[test]
fn create_start_kill_delete() {
    let mut b = Bundle::new("life");
    b.set_args(SLEEP);
    let id = b.new_id();
    let pid = b.create_ok(&id);
    assert!(pid > 0);

    let st = b.state(&id);
    assert_eq!(st["status"], "created");
    for key in [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ] {
        assert!(st.get(key).is_some(), "state lacks {key}: {st}");
    }
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["pid"], pid);
    assert_eq!(st["ociVersion"], b.config["ociVersion"]);
    let bundle = fs::canonicalize(&b.dir).unwrap();
    assert_eq!(st["bundle"], bundle.to_str().unwrap());
    assert_eq!(st["rootfs"], bundle.join("rootfs").to_str().unwrap());
    let created = st["created"].as_str().unwrap();
    assert!(
        created.len() >= 20 && created.as_bytes()[4] == b'-' && created.contains('T'),
        "created is not RFC 3339: {created}"
    );
    assert_eq!(st["owner"], "");
    // The init exists and waits (it has not exec'd the user process yet).
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(
        !cgroup_dirs(&[id.as_str()]).is_empty(),
        "no cgroup made for {id}"
    );

    b.husk(&["start", &id]).ok();
    assert_eq!(b.status(&id), "running");
    assert_eq!(b.state(&id)["pid"], pid);

    b.husk(&["kill", &id, "KILL"]).ok();
    b.wait_status(&id, "stopped");
    assert_eq!(b.state(&id)["pid"], 0, "a stopped container shows pid 0");

    b.husk(&["delete", &id]).ok();
    b.assert_nothing_left(&id);
    b.husk(&["state", &id]).fails_with(&[&id, "does not exist"]);
}

#[test]
fn kill_by_number_and_sigprefix() {
    let mut b = Bundle::new("killnum");
    let (id, _) = b.run_detached(SLEEP);
    assert_eq!(b.status(&id), "running");
    b.husk(&["kill", &id, "9"]).ok();
    b.wait_status(&id, "stopped");
    // Signalling a stopped container is an error (runc: "container not running").
    b.husk(&["kill", &id, "9"]).fails_with(&["not running"]);
    b.husk(&["delete", &id]).ok();
    b.assert_nothing_left(&id);

    let (id2, _) = b.run_detached(SLEEP);
    b.husk(&["kill", &id2, "SIGKILL"]).ok();
    b.wait_status(&id2, "stopped");
}

#[test]
fn kill_default_signal_is_term() {
    let mut b = Bundle::new("killterm");
    // PID 1 ignores signals it has no handler for: install one.
    let (id, pid) = b.run_detached(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM; while :; do sleep 0.05; done",
    ]);
    // A TERM sent before the shell has run `trap` is dropped (no handler yet):
    // wait until the kernel shows SIGTERM as caught.
    wait_for_caught(pid, libc::SIGTERM);
    b.husk(&["kill", &id]).ok();
    b.wait_status(&id, "stopped");
}

#[test]
fn kill_rejects_bad_signal() {
    let mut b = Bundle::new("killbad");
    let (id, _) = b.run_detached(SLEEP);
    b.husk(&["kill", &id, "BOGUS"]).fails_with(&["BOGUS"]);
    assert_eq!(b.status(&id), "running");
}

#[test]
fn kill_created_container() {
    let mut b = Bundle::new("killcreated");
    b.set_args(SLEEP);
    let id = b.new_id();
    b.create_ok(&id);
    b.husk(&["kill", &id, "KILL"]).ok();
    b.wait_status(&id, "stopped");
    b.husk(&["delete", &id]).ok();
    b.assert_nothing_left(&id);
}

#[test]
fn delete_running_needs_force() {
    let mut b = Bundle::new("delforce");
    let (id, pid) = b.run_detached(SLEEP);
    b.husk(&["delete", &id])
        .fails_with(&[&id, "not stopped", "running"]);
    assert_eq!(
        b.status(&id),
        "running",
        "a refused delete must not harm the container"
    );
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    b.husk(&["delete", "--force", &id]).ok();
    b.assert_nothing_left(&id);
    b.husk(&["state", &id]).fails_with(&["does not exist"]);
}

#[test]
fn delete_created_without_force() {
    // runc deletes a created container (killing its init) without --force.
    let mut b = Bundle::new("delcreated");
    b.set_args(SLEEP);
    let id = b.new_id();
    let pid = b.create_ok(&id);
    b.husk(&["delete", &id]).ok();
    b.assert_nothing_left(&id);
    reap(&[pid]);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn list_formats() {
    let mut b = Bundle::new("list");
    // An empty (even missing) root lists nothing.
    let out = b.husk(&["list", "-q"]).ok();
    assert_eq!(out.stdout, "");
    let out = b.husk(&["list", "--format", "json"]).ok();
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    assert!(
        v.as_array().map(|a| a.is_empty()).unwrap_or(v.is_null()),
        "{v}"
    );

    let (running, pid) = b.run_detached(SLEEP);
    b.set_args(SLEEP);
    let created = b.new_id();
    b.create_ok(&created);

    let q = b.husk(&["list", "-q"]).ok();
    let mut ids = q.lines();
    ids.sort();
    let mut want = vec![running.clone(), created.clone()];
    want.sort();
    assert_eq!(ids, want);

    let table = b.husk(&["list"]).ok();
    let lines = table.lines();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    assert_eq!(lines.len(), 3, "{}", table.stdout);
    let bundle = fs::canonicalize(&b.dir).unwrap();
    let row = lines
        .iter()
        .find(|l| l.starts_with(&format!("{running} ")))
        .expect("row of the running container");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[0], running);
    assert_eq!(cols[1], pid.to_string());
    assert_eq!(cols[2], "running");
    assert_eq!(cols[3], bundle.to_str().unwrap());
    assert_eq!(cols[5], "root");
    let row = lines
        .iter()
        .find(|l| l.starts_with(&format!("{created} ")))
        .expect("row of the created container");
    assert!(row.split_whitespace().nth(2) == Some("created"), "{row}");

    let json = b.husk(&["list", "--format", "json"]).ok();
    let v: Value = serde_json::from_str(json.stdout.trim()).expect("list json");
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 2);
    let r = arr.iter().find(|c| c["id"] == running.as_str()).unwrap();
    assert_eq!(r["status"], "running");
    assert_eq!(r["pid"], pid);
    assert_eq!(r["bundle"], bundle.to_str().unwrap());
    let c = arr.iter().find(|c| c["id"] == created.as_str()).unwrap();
    assert_eq!(c["status"], "created");
}

#[test]
fn start_twice_fails() {
    let mut b = Bundle::new("start2");
    b.set_args(SLEEP);
    let id = b.new_id();
    b.create_ok(&id);
    b.husk(&["start", &id]).ok();
    b.husk(&["start", &id]).fails_with(&[&id, "running"]);
    assert_eq!(b.status(&id), "running");
}

#[test]
fn start_stopped_fails() {
    let mut b = Bundle::new("startstopped");
    b.set_script("exit 0");
    let id = b.new_id();
    b.create_ok(&id);
    b.husk(&["start", &id]).ok();
    b.wait_status(&id, "stopped");
    b.husk(&["start", &id]).fails_with(&[&id, "stopped"]);
    b.husk(&["delete", &id]).ok();
    b.assert_nothing_left(&id);
}

#[test]
fn create_existing_id_fails_and_keeps_the_first() {
    let mut b = Bundle::new("dupid");
    b.set_script("echo first-started; exec sleep 1000");
    let id = b.new_id();
    let pid = b.create_ok(&id);
    let before = b.state(&id);

    b.husk(&["create", "--bundle", b.dir_str(), &id])
        .fails_with(&[&id, "already exists"]);
    let after = b.state(&id);
    assert_eq!(before, after, "the first container's state changed");
    assert_eq!(after["status"], "created");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let cg = cgroup_dirs(&[id.as_str()]);
    assert!(!cg.is_empty(), "the first container lost its cgroup");

    // `run` with the taken id fails the same way.
    b.husk(&["run", "-d", "--bundle", b.dir_str(), &id])
        .fails_with(&["already exists"]);
    assert_eq!(b.status(&id), "created");

    // And the first still starts.
    b.husk(&["start", &id]).ok();
    assert_eq!(b.status(&id), "running");
}

#[test]
fn unknown_id_errors() {
    let b = Bundle::new("unknown");
    let id = b.new_id();
    for args in [
        vec!["state", id.as_str()],
        vec!["start", id.as_str()],
        vec!["kill", id.as_str(), "KILL"],
        vec!["delete", id.as_str()],
    ] {
        let out = b.husk(&args);
        out.fails_with(&[&id, "does not exist"]);
    }
    // runc: deleting a missing container with --force succeeds.
    b.husk(&["delete", "--force", &id]).ok();
    assert!(!b.state_dir(&id).exists());
}

#[test]
fn parallel_starts_exactly_one_wins() {
    let mut b = Bundle::new("race");
    b.set_script("echo started; exec sleep 1000");
    b.write_config();
    let id = b.new_id();
    let out_file = b.dir.join("container-stdout");
    b.husk_stdout_to(&["create", "--bundle", b.dir_str(), &id], &out_file)
        .ok();
    let outs: Vec<Out> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| b.husk(&["start", &id])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = outs.iter().filter(|o| o.code == 0).count();
    assert_eq!(ok, 1, "exactly one start must succeed: {outs:#?}");
    for o in outs.iter().filter(|o| o.code != 0) {
        assert_eq!(o.code, 1, "{o:?}");
        assert!(o.stderr.contains(&id), "{o:?}");
    }
    let st = b.state(&id);
    assert_eq!(st["status"], "running");
    assert!(st["pid"].as_i64().unwrap() > 0);
    // The state file is intact JSON and the process started once.
    let raw = fs::read_to_string(b.state_dir(&id).join("state.json")).unwrap();
    serde_json::from_str::<Value>(&raw).expect("state.json stays valid JSON");
    wait_for_content(&out_file, "started");
    std::thread::sleep(Duration::from_millis(200));
    let text = fs::read_to_string(&out_file).unwrap();
    assert_eq!(
        text.matches("started").count(),
        1,
        "the user process ran more than once"
    );
}

#[test]
fn pid_file_is_written() {
    let mut b = Bundle::new("pidfile");
    b.set_args(SLEEP);
    b.write_config();
    let id = b.new_id();
    let pid_file = b.dir.join("init.pid");
    b.husk(&[
        "create",
        "--bundle",
        b.dir_str(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ])
    .ok();
    let st = b.state(&id);
    let written = fs::read_to_string(&pid_file).expect("pid file");
    assert_eq!(written.trim(), st["pid"].to_string());

    // A relative pid file is relative to husk's cwd (the bundle dir here), as with runc.
    let id2 = b.new_id();
    b.husk(&[
        "run",
        "-d",
        "--bundle",
        b.dir_str(),
        "--pid-file",
        "rel.pid",
        &id2,
    ])
    .ok();
    let st2 = b.state(&id2);
    let written = fs::read_to_string(b.dir.join("rel.pid")).expect("relative pid file");
    assert_eq!(written.trim(), st2["pid"].to_string());
}

#[test]
fn json_log_on_failure() {
    let b = Bundle::new("log");
    let log = b.dir.join("husk.log");
    let id = b.new_id();
    let out = b.husk(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        &id,
    ]);
    assert_eq!(out.code, 1);
    let text = fs::read_to_string(&log).expect("log file written");
    let last = text.lines().last().expect("a log line");
    let v: Value = serde_json::from_str(last).expect("log line is JSON");
    assert_eq!(v["level"], "error");
    let msg = v["msg"].as_str().expect("msg string");
    assert!(msg.contains(&id) && msg.contains("does not exist"), "{msg}");
    let time = v["time"].as_str().expect("time string");
    assert!(time.contains('T') && time.len() >= 20, "{time}");
    assert!(v.as_object().unwrap().len() == 3, "{v}");

    // A failed create appends another line (the log is appended to, as runc).
    fs::remove_dir_all(&b.rootfs).unwrap();
    b.write_config();
    let out = b.husk(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        b.dir_str(),
        &id,
    ]);
    assert_eq!(out.code, 1);
    let text = fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    let v: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("root.path"), "{v}");
}

#[test]
fn version() {
    let out = husk(&["--version"]).ok();
    let lines = out.lines();
    let first = &lines[0];
    let ver = first
        .strip_prefix("husk version ")
        .unwrap_or_else(|| panic!("first line: {first}"));
    let parts: Vec<&str> = ver.split('.').collect();
    assert_eq!(parts.len(), 3, "{ver}");
    assert!(parts.iter().all(|p| p.parse::<u32>().is_ok()), "{ver}");
    let spec = lines
        .iter()
        .find_map(|l| l.strip_prefix("spec: "))
        .unwrap_or_else(|| panic!("no spec line: {}", out.stdout));
    let sp: Vec<&str> = spec.split('.').collect();
    assert_eq!(sp.len(), 3, "{spec}");
    assert_eq!(sp[0], "1");
    let short = husk(&["-v"]).ok();
    assert_eq!(short.stdout, out.stdout);
}

#[test]
fn relative_bundle_is_made_absolute() {
    let mut b = Bundle::new("relbundle");
    b.set_args(SLEEP);
    b.write_config();
    let id = b.new_id();
    // husk runs with the bundle as its cwd (see Bundle::husk).
    b.husk(&["create", "--bundle", ".", &id]).ok();
    let st = b.state(&id);
    let bundle = fs::canonicalize(&b.dir).unwrap();
    assert_eq!(st["bundle"], bundle.to_str().unwrap());
    assert_eq!(st["rootfs"], bundle.join("rootfs").to_str().unwrap());
}

#[test]
fn delete_force_kills_every_process_without_pid_namespace() {
    let mut b = Bundle::new("nopidns");
    b.remove_namespace("pid");
    let (id, pid) = b.run_detached(&["sh", "-c", "sleep 1001 & sleep 1002 & exec sleep 1003"]);
    // Wait until the three sleeps run.
    let start = std::time::Instant::now();
    let procs = loop {
        let p = b.marked_processes();
        if p.len() >= 3 {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{p:?}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(procs.contains(&pid));
    b.husk(&["delete", "--force", &id]).ok();
    // The background sleeps were re-parented to us (subreaper): reap them.
    reap(&procs);
    b.assert_nothing_left(&id);
}
