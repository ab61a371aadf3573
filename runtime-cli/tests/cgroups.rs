//! cgroups on this host (v1 hybrid): resources written and read back, limits that
//! really bite (OOM, pids, devices), pause/resume, update, events, and nothing left.
//! The same behaviours on cgroup v2 and systemd run in the qemu guest
//! (conformance/vm/cgroup-v2-tests.sh, systemd-tests.sh).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::Bundle;
use serde_json::json;

/// The host directory of `pid`'s cgroup in v1 hierarchy `ctrl`.
fn cg_dir(pid: i32, ctrl: &str) -> PathBuf {
    let data = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let line = data
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|x| x == ctrl))
        })
        .unwrap_or_else(|| panic!("no {ctrl} line in /proc/{pid}/cgroup:\n{data}"));
    let rel = line.splitn(3, ':').nth(2).unwrap().trim_start_matches('/');
    PathBuf::from("/sys/fs/cgroup").join(ctrl).join(rel)
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn resources_are_written_and_read_back() {
    let mut b = Bundle::new("cg-res");
    b.config["linux"]["resources"]["memory"] = json!({"limit": 67108864, "reservation": 33554432});
    b.config["linux"]["resources"]["pids"] = json!({"limit": 40});
    b.config["linux"]["resources"]["cpu"] =
        json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"});
    let (_id, pid) = b.run_detached(&["sleep", "30"]);
    assert_eq!(
        read(cg_dir(pid, "memory").join("memory.limit_in_bytes")),
        "67108864"
    );
    assert_eq!(
        read(cg_dir(pid, "memory").join("memory.soft_limit_in_bytes")),
        "33554432"
    );
    assert_eq!(read(cg_dir(pid, "pids").join("pids.max")), "40");
    assert_eq!(read(cg_dir(pid, "cpu").join("cpu.shares")), "512");
    assert_eq!(read(cg_dir(pid, "cpu").join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(cg_dir(pid, "cpu").join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(cg_dir(pid, "cpuset").join("cpuset.cpus")), "0");
}

#[test]
fn memory_limit_oom_kills_and_events_report_it() {
    let mut b = Bundle::new("cg-oom");
    b.config["linux"]["resources"]["memory"] = json!({"limit": 33554432});
    // Give `events` a moment to attach, then allocate twice the limit.
    b.set_script("sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd=$?; sleep 1");
    b.write_config();
    let id = b.new_id();
    b.husk(&["run", "--detach", "--bundle", b.dir_str(), &id])
        .ok();
    let events = b.dir.join("events.out");
    let out = b.husk_stdout_to(&["events", "--interval", "200ms", &id], &events);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&events).unwrap();
    assert!(
        text.lines().any(|l| l.contains(r#""type":"oom""#)),
        "no oom event:\n{text}"
    );
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    let mut b = Bundle::new("cg-pids");
    b.config["linux"]["resources"]["pids"] = json!({"limit": 8});
    b.set_script("i=0; while [ $i -lt 30 ]; do sleep 3 & i=$((i+1)); done; echo looped");
    let out = b.run_fg();
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("can't fork") || all.contains("Resource temporarily unavailable"),
        "the pids limit did not stop the loop: {all}"
    );
}

#[test]
fn denied_device_cannot_be_opened_allowed_one_can() {
    let mut b = Bundle::new("cg-dev");
    // /dev/kmsg (c 1:11) bound in from the host, with no cgroup rule allowing it.
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/dev/kmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]
    }));
    let out = b.sh("cat /dev/kmsg >/dev/null 2>&1 & sleep 0.2; kill $! 2>/dev/null; wait $!; echo kmsg=$?; echo hi > /dev/null && echo null=ok; head -c 1 /dev/zero | wc -c");
    assert!(out.contains("null=ok"), "{out}");
    assert!(
        out.lines().any(|l| l.trim() == "1"),
        "/dev/zero not readable: {out}"
    );
    let denied = b.sh("cat /dev/kmsg 2>&1 | head -1");
    assert!(
        denied.contains("Operation not permitted"),
        "/dev/kmsg was readable: {denied}"
    );
}

#[test]
fn pause_freezes_and_resume_restarts() {
    let mut b = Bundle::new("cg-pause");
    b.config["root"]["readonly"] = json!(false);
    let (id, _pid) = b.run_detached(&[
        "sh",
        "-c",
        // Write a temp file and rename it, so a reader never sees a half-written counter.
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done",
    ]);
    let count = || {
        std::fs::read_to_string(b.rootfs.join("tmp/count"))
            .unwrap_or_default()
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    std::thread::sleep(Duration::from_millis(300));
    b.husk(&["pause", &id]).ok();
    assert_eq!(b.status(&id), "paused");
    let a = count();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(count(), a, "the counter moved while paused");
    b.husk(&["resume", &id]).ok();
    assert_eq!(b.status(&id), "running");
    let start = std::time::Instant::now();
    while count() <= a && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(count() > a, "the counter did not move after resume");
    b.husk(&["resume", &id]).fails_with(&["not paused"]);
}

#[test]
fn update_changes_a_running_containers_limits() {
    let mut b = Bundle::new("cg-upd");
    b.config["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    let (id, pid) = b.run_detached(&["sleep", "30"]);
    b.husk(&[
        "update",
        "--memory",
        "100m",
        "--pids-limit",
        "77",
        "--cpu-share",
        "256",
        &id,
    ])
    .ok();
    assert_eq!(
        read(cg_dir(pid, "memory").join("memory.limit_in_bytes")),
        (100u64 << 20).to_string()
    );
    assert_eq!(read(cg_dir(pid, "pids").join("pids.max")), "77");
    assert_eq!(read(cg_dir(pid, "cpu").join("cpu.shares")), "256");
    // podman's form: a resources JSON file.
    let f = b.dir.join("res.json");
    std::fs::write(&f, r#"{"memory":{"limit":83886080}}"#).unwrap();
    b.husk(&["update", &format!("--resources={}", f.display()), &id])
        .ok();
    assert_eq!(
        read(cg_dir(pid, "memory").join("memory.limit_in_bytes")),
        "83886080"
    );
    let ps = b.husk(&["ps", "--format", "json", &id]).ok();
    assert_eq!(ps.stdout.trim(), format!("[{pid}]"));
}

#[test]
fn stats_and_kill_all() {
    let mut b = Bundle::new("cg-stats");
    let (id, _pid) = b.run_detached(&["sh", "-c", "sleep 30 & sleep 30"]);
    let st = b.husk(&["events", "--stats", &id]).ok();
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["type"], "stats");
    assert!(
        v["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
    assert!(
        v["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 2,
        "{v}"
    );
    b.husk(&["kill", "--all", &id, "KILL"]).ok();
    b.wait_status(&id, "stopped");
}

#[test]
fn nothing_left_after_delete_or_failed_create() {
    let mut b = Bundle::new("cg-left");
    let (id, _pid) = b.run_detached(&["sleep", "30"]);
    b.husk(&["delete", "--force", &id]).ok();
    b.assert_nothing_left(&id);
    b.config["linux"]["resources"]["cpu"] = json!({"cpus": "999"});
    b.set_args(&["true"]);
    let id = b.new_id();
    b.create(&id)
        .fails_with(&["linux.resources.cpu.cpus", "cpuset.cpus"]);
    b.assert_nothing_left(&id);
}

/// A container that made a sub-cgroup of its own: `delete` finds its cgroup busy,
/// kills what is left (also in the sub-cgroup) and removes the whole tree, both for
/// a running container (`--force`) and for one whose init has exited.
#[test]
fn sub_cgroups_the_container_made_are_removed() {
    let mut b = Bundle::new("cg-sub");
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/sys/fs/cgroup" {
            m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
        }
    }
    let script = "mkdir /sys/fs/cgroup/pids/sub && \
                  sh -c 'echo $$ > /sys/fs/cgroup/pids/sub/cgroup.procs; exec sleep 30' & \
                  while ! grep -q . /sys/fs/cgroup/pids/sub/cgroup.procs 2>/dev/null; do sleep 0.02; done; ";
    // The second init exits once the test has seen its cgroup (the file `go`).
    let go = b.rootfs.join("go");
    for (keep_running, tail) in [
        (true, "sleep 30"),
        (false, "while [ ! -e /go ]; do sleep 0.02; done"),
    ] {
        let (id, pid) = b.run_detached(&["sh", "-c", &format!("{script}{tail}")]);
        let sub = cg_dir(pid, "pids").join("sub");
        if !keep_running {
            std::fs::write(&go, "").unwrap();
        }
        let start = std::time::Instant::now();
        while !keep_running && b.status(&id) != "stopped" || !sub.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no {}",
                sub.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let args: &[&str] = if keep_running {
            &["delete", "--force", &id]
        } else {
            &["delete", &id]
        };
        b.husk(args).ok();
        assert!(!sub.exists(), "{} left", sub.display());
        b.assert_nothing_left(&id);
    }
}

/// `linux.cgroupsPath` naming cgroups that exist before `create` (a pod's, a parent
/// made by someone else): the container runs in them, and `delete` removes only what
/// `create` made — the new leaf below an existing parent, never an existing leaf.
#[test]
fn cgroups_that_existed_before_create_are_kept() {
    let mut b = Bundle::new("cg-pre");
    let parent = format!("husk-it-pre-{}", b.name);
    let dirs = |rel: &str| -> Vec<PathBuf> {
        ["pids", "memory"]
            .iter()
            .map(|c| PathBuf::from("/sys/fs/cgroup").join(c).join(rel))
            .collect()
    };
    for d in dirs(&parent) {
        std::fs::create_dir(&d).unwrap();
    }
    // Removes the parent however the test ends.
    struct Rmdir(Vec<PathBuf>);
    impl Drop for Rmdir {
        fn drop(&mut self) {
            for d in &self.0 {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
    let _rm = Rmdir(dirs(&parent));
    for (rel, leaf_kept) in [(parent.clone(), true), (format!("{parent}/leaf"), false)] {
        b.config["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
        let (id, pid) = b.run_detached(&["sleep", "30"]);
        assert_eq!(
            cg_dir(pid, "pids"),
            PathBuf::from("/sys/fs/cgroup/pids").join(&rel)
        );
        b.husk(&["delete", "--force", &id]).ok();
        for d in dirs(&rel) {
            assert_eq!(d.exists(), leaf_kept, "{} after delete", d.display());
        }
        for d in dirs(&parent) {
            assert!(d.exists(), "the existing {} was removed", d.display());
        }
    }
}
