//! `husk create --dry-run` / `husk run --dry-run`: the plan husk would apply, as
//! JSON, checked against what a real create then does (mounts in mountinfo, in the
//! same order with the same options; cgroup files holding the planned values), proven
//! to change nothing (no mount, clone, mkdir or file write under strace, no state, no
//! cgroup), and failing on a bad config with the very message create gives.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

/// `husk create --dry-run`, parsed.
#[track_caller]
fn dry_run(b: &Bundle, id: &str) -> Value {
    b.write_config();
    let out = b
        .husk(&["create", "--dry-run", "--bundle", b.dir_str(), id])
        .ok();
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("--dry-run is not JSON ({e}):\n{}", out.stdout))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// A bundle with one mount of each kind the plan must describe.
fn mounts_bundle(b: &mut Bundle) {
    let src = b.host_dir("ro-src");
    let rec = b.host_dir("rec-src");
    b.host_tmpfs(&rec.join("sub"));
    b.add_mount(json!({"destination": "/mnt/ro", "type": "bind",
        "source": src.to_str().unwrap(), "options": ["bind", "ro", "nosuid"]}));
    b.add_mount(
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "noexec", "nodev", "size=1m", "mode=710"]}),
    );
    b.add_mount(json!({"destination": "/mnt/rec", "type": "bind",
        "source": rec.to_str().unwrap(), "options": ["rbind", "rro", "nodev"]}));
    b.config["linux"]["maskedPaths"] = json!(["/proc/keys", "/sys/firmware"]);
    b.config["linux"]["readonlyPaths"] = json!(["/proc/sys", "/proc/bus"]);
}

#[test]
fn plan_mounts_are_the_mounts_in_mountinfo() {
    let mut b = Bundle::new("dryrun-mounts");
    mounts_bundle(&mut b);
    b.set_script("cat /proc/self/mountinfo");
    let plan = dry_run(&b, &b.new_id());
    let steps = plan["rootfs"]["mounts"]
        .as_array()
        .expect("rootfs.mounts")
        .clone();
    let out = b.run_fg().ok().stdout;
    let mi = parse_mountinfo(&out);

    // Every planned mount, readonly and masked path shows up, in the planned order
    // (other entries may sit between: submounts of an rbind, cgroup hierarchies).
    let mut at = 0;
    let mut seen = Vec::new();
    for s in &steps {
        let kind = s["step"].as_str().unwrap_or_default();
        if !["mount", "readonlyPath", "maskedPath"].contains(&kind) {
            continue;
        }
        let dest = s["destination"].as_str().expect("destination");
        let pos = mi[at..]
            .iter()
            .position(|m| m.mount_point == dest)
            .map(|p| p + at)
            .unwrap_or_else(|| {
                panic!("planned {kind} {dest} not in mountinfo after entry {at}:\n{out}")
            });
        let m = &mi[pos];
        match kind {
            "mount" => {
                let mut flags = strs(&s["mount"]["flags"]);
                flags.extend(strs(&s["remount"]["flags"]));
                let ro = flags.iter().any(|f| f == "ro")
                    || strs(&s["recursive"]["set"]).iter().any(|a| a == "rro");
                assert_eq!(m.has_opt("ro"), ro, "{dest}: ro planned {ro}: {m:?}\n{s}");
                for f in ["nosuid", "nodev", "noexec"] {
                    if flags.iter().any(|x| x == f) {
                        assert!(m.has_opt(f), "{dest}: {f} planned: {m:?}\n{s}");
                    }
                }
                let typ = s["type"].as_str().unwrap_or_default();
                if typ != "bind" && typ != "cgroup" {
                    assert_eq!(m.fstype, typ, "{dest}: {m:?}");
                }
                if typ == "tmpfs" {
                    let data = s["mount"]["data"].as_str().unwrap_or_default();
                    // The kernel does not show tmpfs's default mode, 1777.
                    let modes = data.split(',').filter(|o| o.starts_with("mode="));
                    for mode in modes.filter(|o| o[5..].trim_start_matches('0') != "1777") {
                        let want = format!("mode={}", mode[5..].trim_start_matches('0'));
                        assert!(m.has_super_opt(&want), "{dest}: {want}: {m:?}");
                    }
                }
                if strs(&s["recursive"]["set"]).iter().any(|a| a == "rro") {
                    // Recursive: the submounts below are read-only too.
                    let below = format!("{dest}/");
                    let subs: Vec<_> = mi
                        .iter()
                        .filter(|x| x.mount_point.starts_with(&below))
                        .collect();
                    assert!(!subs.is_empty(), "{dest}: no submount:\n{out}");
                    assert!(subs.iter().all(|x| x.has_opt("ro")), "{subs:?}");
                }
            }
            "readonlyPath" => assert!(m.has_opt("ro"), "{dest}: {m:?}"),
            _ => {
                if Path::new(dest).starts_with("/sys") {
                    // A directory: an empty read-only tmpfs.
                    assert_eq!(m.fstype, "tmpfs", "{m:?}");
                    assert!(m.has_opt("ro"), "{m:?}");
                } else {
                    // A file: the container's /dev/null bound over it.
                    assert!(m.root.ends_with("/null"), "{m:?}");
                }
            }
        }
        seen.push(dest.to_string());
        at = pos + 1;
    }
    for want in [
        "/mnt/ro",
        "/scratch",
        "/mnt/rec",
        "/proc/keys",
        "/sys/firmware",
        "/proc/sys",
    ] {
        assert!(
            seen.iter().any(|d| d == want),
            "{want} not planned: {seen:?}"
        );
    }
    // The plan names the options as they were given and resolved.
    let ro = steps
        .iter()
        .find(|s| s["destination"] == "/mnt/ro")
        .expect("/mnt/ro");
    assert_eq!(strs(&ro["mount"]["flags"]), ["bind"]);
    assert_eq!(
        strs(&ro["remount"]["flags"]),
        ["ro", "nosuid", "remount", "bind"]
    );
    let rec = steps
        .iter()
        .find(|s| s["destination"] == "/mnt/rec")
        .expect("/mnt/rec");
    assert_eq!(strs(&rec["mount"]["flags"]), ["bind", "rec"]);
    assert_eq!(strs(&rec["recursive"]["set"]), ["rro"]);
}

#[test]
fn dry_run_changes_nothing() {
    let mut b = Bundle::new("dryrun-nothing");
    mounts_bundle(&mut b);
    b.config["linux"]["resources"] = json!({"pids": {"limit": 50}});
    b.write_config();
    let id = b.new_id();
    let trace = b.dir.join("strace.log");
    let out = b.husk_with(
        &["create", "--dry-run", "--bundle", b.dir_str(), &id],
        |cmd| {
            // The same command, under strace -f (every thread and child it might make).
            let prog = cmd.get_program().to_owned();
            let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
            let mut s = Command::new("strace");
            s.arg("-f")
                .arg("-qq")
                .arg("-o")
                .arg(&trace)
                .arg(prog)
                .args(args);
            for (k, v) in cmd.get_envs() {
                if let Some(v) = v {
                    s.env(k, v);
                }
            }
            s.current_dir(&b.dir);
            *cmd = s;
        },
    );
    if out.code != 0 && !Path::new("/usr/bin/strace").exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "strace is missing"
        );
        eprintln!("skipping: no strace (apt-get install strace)");
        return;
    }
    let out = out.ok();
    let plan: Value = serde_json::from_str(&out.stdout).expect("plan JSON");
    assert_eq!(plan["id"], id.as_str());
    let log = fs::read_to_string(&trace).expect("strace log");
    // The trace really is husk's: it read the bundle's config.
    assert!(log.contains("config.json"), "strace saw nothing:\n{log}");
    let forbidden = [
        "mount(",
        "umount2(",
        "clone(",
        "clone3(",
        "fork(",
        "vfork(",
        "unshare(",
        "setns(",
        "mkdir(",
        "mkdirat(",
        "mknodat(",
        "pivot_root(",
        "fsopen(",
        "fsmount(",
        "open_tree(",
        "move_mount(",
        "mount_setattr(",
        "rmdir(",
        "unlink(",
        "unlinkat(",
        "rename(",
        "renameat2(",
        "kill(",
        "symlinkat(",
    ];
    for line in log.lines() {
        // `<pid> syscall(args) = ret`
        let call = line
            .split_once(' ')
            .map(|(_, c)| c.trim_start())
            .unwrap_or(line);
        for f in forbidden {
            assert!(!call.starts_with(f), "dry run made {f}..): {line}");
        }
        if call.starts_with("openat(") || call.starts_with("open(") {
            for w in ["O_WRONLY", "O_RDWR", "O_CREAT"] {
                assert!(!call.contains(w), "dry run opened for writing: {line}");
            }
        }
    }
    assert!(!b.root.join(&id).exists(), "a state dir was made");
    assert!(cgroup_dirs(&[&id]).is_empty(), "a cgroup was made");
    // And the plan's cgroup writes name the container's own directory.
    let writes = plan["cgroup"]["writes"].as_array().expect("writes");
    let pids = writes
        .iter()
        .find(|w| w["path"].as_str().is_some_and(|p| p.ends_with("/pids.max")))
        .expect("a pids.max write");
    assert_eq!(pids["value"], "50");
    assert!(
        pids["path"].as_str().unwrap_or_default().contains(&id),
        "{pids}"
    );
    b.assert_nothing_left(&id);
}

#[test]
fn cgroup_writes_in_the_plan_are_the_files_after_create() {
    let mut b = Bundle::new("dryrun-cgroup");
    b.config["linux"]["resources"] = json!({
        "memory": {"limit": 67108864},
        "cpu": {"shares": 333},
        "pids": {"limit": 77}
    });
    b.set_args(&["sleep", "30"]);
    let id = b.new_id();
    let plan = dry_run(&b, &id);
    let writes = plan["cgroup"]["writes"].as_array().expect("writes").clone();
    b.create_ok(&id);
    let mut checked = 0;
    for w in &writes {
        let path = w["path"].as_str().expect("path");
        // devices.allow/deny are write-only (the result is devices.list).
        if path.contains("/devices.") {
            continue;
        }
        let got = fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            got.trim(),
            w["value"].as_str().unwrap_or_default(),
            "{path}"
        );
        checked += 1;
    }
    assert!(checked >= 3, "too few writes checked: {writes:?}");
    b.husk(&["delete", "--force", &id]).ok();
    b.assert_nothing_left(&id);
}

/// The `msg="..."` of husk's error line (the time differs between two runs).
fn message(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.split_once("msg=").map(|(_, m)| m.to_string()))
        .unwrap_or_else(|| stderr.to_string())
}

#[test]
fn a_bad_config_fails_as_create_fails() {
    let mut b = Bundle::new("dryrun-errors");
    let bad: [(&str, Value); 3] = [
        ("linux.rootfsPropagation", json!("sideways")),
        ("mounts[0].options", json!("ro")),
        (
            "process.rlimits",
            json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]),
        ),
    ];
    for (field, value) in bad {
        let mut c = b.config.clone();
        match field {
            "linux.rootfsPropagation" => c["linux"]["rootfsPropagation"] = value,
            "mounts[0].options" => c["mounts"][0]["options"] = value,
            _ => c["process"]["rlimits"] = value,
        }
        let saved = std::mem::replace(&mut b.config, c);
        b.write_config();
        let id = b.new_id();
        let dry = b.husk(&["create", "--dry-run", "--bundle", b.dir_str(), &id]);
        let real = b.husk(&["create", "--bundle", b.dir_str(), &id]);
        b.config = saved;
        assert_eq!(dry.code, 1, "{field}: {dry:?}");
        assert_eq!(real.code, 1, "{field}: {real:?}");
        assert_eq!(message(&dry.stderr), message(&real.stderr), "{field}");
        let prefix = field.split('[').next().unwrap_or(field);
        assert!(dry.stderr.contains(prefix), "{field}: {}", dry.stderr);
        b.assert_nothing_left(&id);
    }
}

#[test]
fn run_dry_run_prints_the_plan_too() {
    let mut b = Bundle::new("dryrun-run");
    b.config["process"]["terminal"] = json!(true);
    b.write_config();
    let id = b.new_id();
    let out = b
        .husk(&["run", "--dry-run", "--bundle", b.dir_str(), &id])
        .ok();
    let plan: Value = serde_json::from_str(&out.stdout).expect("plan JSON");
    assert_eq!(plan["process"]["terminal"], true);
    let console = plan["rootfs"]["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["step"] == "console");
    assert!(console, "{}", plan["rootfs"]["mounts"]);
    assert!(!b.root.join(&id).exists());
    b.assert_nothing_left(&id);
}
