//! Rootless containers on this host (cgroup v1, no delegation): husk run by an
//! unprivileged user made for each test (`useradd`, removed after, even on failure),
//! with its ranges in /etc/subuid and /etc/subgid, through
//! `setpriv --reuid --regid --init-groups env -i ...` as runc is.
//!
//! The busybox rootfs comes from the suite's `Bundle`, handed to the user.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{exec, Bundle, Out, HUSK};
use serde_json::{json, Value};

/// Tools the tests need; missing ones skip a test, and fail it under CI.
fn prerequisites() -> bool {
    let missing: Vec<&str> = [
        "/usr/sbin/useradd",
        "/usr/bin/setpriv",
        "/usr/bin/newuidmap",
    ]
    .into_iter()
    .filter(|p| !Path::new(p).exists())
    .collect();
    if missing.is_empty() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    assert!(
        !ci,
        "rootless tests cannot run under CI: missing {missing:?}"
    );
    eprintln!("SKIP: missing {missing:?} (apt-get install passwd util-linux uidmap)");
    false
}

/// An unprivileged user, its runtime dir and a bundle it owns; all removed on drop.
struct User {
    name: String,
    uid: u32,
    gid: u32,
    sub: u32,
    xdg: PathBuf,
    scratch: PathBuf,
    bundle: Bundle,
}

impl User {
    fn new(prefix: &str) -> User {
        let bundle = Bundle::new(prefix);
        let name = format!("husk-rl-{:x}", rand_suffix());
        let ok = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", &name])
            .status()
            .expect("useradd");
        assert!(ok.success(), "useradd {name}");
        let mut u = User {
            uid: 0,
            gid: 0,
            sub: 0,
            xdg: bundle.dir.with_extension("xdg"),
            scratch: bundle.dir.with_extension("out"),
            name,
            bundle,
        };
        // From here on, Drop removes the user even if a step below fails.
        u.uid = id_of(&u.name, "-u");
        u.gid = id_of(&u.name, "-g");
        u.sub = ensure_subids(&u.name);
        for d in [&u.xdg, &u.scratch] {
            fs::create_dir_all(d).expect("create user dir");
            chown(d, u.uid, u.gid);
        }
        fs::set_permissions(&u.xdg, fs::Permissions::from_mode(0o700)).expect("chmod xdg");
        let status = Command::new("chown")
            .args(["-R", &format!("{}:{}", u.uid, u.gid)])
            .arg(&u.bundle.dir)
            .status()
            .expect("chown bundle");
        assert!(status.success());
        u
    }

    /// `husk ARGS` as the user, cwd the bundle, in a clean environment.
    fn husk(&self, args: &[&str]) -> Out {
        self.run(HUSK, args)
    }

    fn run(&self, prog: &str, args: &[&str]) -> Out {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid",
            &self.name,
            "--regid",
            &self.name,
            "--init-groups",
        ])
        .args(["env", "-i"])
        .arg(format!("HOME=/home/{}", self.name))
        .arg("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .arg(format!("XDG_RUNTIME_DIR={}", self.xdg.display()))
        .arg(prog)
        .args(args)
        .current_dir(&self.bundle.dir);
        exec(cmd, &self.scratch)
    }

    /// `husk spec --rootless` as the user, edited by `f`, written as config.json.
    fn config(&self, f: impl FnOnce(&mut Value)) {
        let path = self.bundle.dir.join("config.json");
        let _ = fs::remove_file(&path);
        self.husk(&["spec", "--rootless"]).ok();
        let mut c: Value =
            serde_json::from_str(&fs::read_to_string(&path).expect("config.json")).expect("json");
        c["process"]["terminal"] = json!(false);
        f(&mut c);
        fs::write(&path, serde_json::to_string_pretty(&c).expect("json")).expect("write");
        chown(&path, self.uid, self.gid);
    }

    fn state_root(&self) -> PathBuf {
        self.xdg.join("husk")
    }

    /// Pids of processes running as the user (the containers' ids map to it or to
    /// its subordinate range).
    fn processes(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(m) = fs::metadata(e.path()) else {
                continue;
            };
            let u = m.uid();
            if u != self.uid && !(u >= self.sub && u < self.sub + 65536) {
                continue;
            }
            // A container's init that exited is our zombie (we are its subreaper).
            let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            if zombie {
                common::reap(&[pid]);
                continue;
            }
            out.push(pid);
        }
        out
    }

    #[track_caller]
    fn assert_nothing_left(&self) {
        let left: Vec<_> = fs::read_dir(self.state_root())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "state left: {left:?}");
        assert!(
            self.processes().is_empty(),
            "processes left: {:?}",
            self.processes()
        );
    }
}

impl Drop for User {
    fn drop(&mut self) {
        for pid in self.processes() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        common::reap(&self.processes());
        std::thread::sleep(std::time::Duration::from_millis(50));
        let _ = Command::new("userdel").args(["-r", &self.name]).output();
        for f in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(text) = fs::read_to_string(f) {
                let keep: String = text
                    .lines()
                    .filter(|l| !l.starts_with(&format!("{}:", self.name)))
                    .map(|l| format!("{l}\n"))
                    .collect();
                if keep != text {
                    let _ = fs::write(f, keep);
                }
            }
        }
        let _ = fs::remove_dir_all(&self.xdg);
        let _ = fs::remove_dir_all(&self.scratch);
    }
}

fn rand_suffix() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (t ^ (u64::from(std::process::id()) << 20)) & 0xff_ffff
}

fn id_of(name: &str, flag: &str) -> u32 {
    let out = Command::new("id").args([flag, name]).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
}

/// The user's first subordinate id (useradd adds a range on Debian; add one if not).
fn ensure_subids(name: &str) -> u32 {
    let find = || {
        fs::read_to_string("/etc/subuid")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                let mut f = l.split(':');
                (f.next() == Some(name)).then(|| f.next()?.parse().ok())?
            })
    };
    if let Some(s) = find() {
        return s;
    }
    let range = "3000000000-3000065535";
    let st = Command::new("usermod")
        .args(["--add-subuids", range, "--add-subgids", range, name])
        .status()
        .expect("usermod");
    assert!(st.success(), "usermod --add-subuids");
    find().expect("subuid range")
}

#[test]
fn rootless_single_mapping_run_exec_kill_delete() {
    if !prerequisites() {
        return;
    }
    let u = User::new("rl-single");
    u.config(|c| c["process"]["args"] = json!(["sleep", "1000"]));
    let id = "rl1";
    u.husk(&["create", id]).ok();
    // The default root is $XDG_RUNTIME_DIR/husk, private to the user.
    let meta = fs::metadata(u.state_root()).expect("state root");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (u.uid, 0o700));
    u.husk(&["start", id]).ok();
    let st: Value = serde_json::from_str(&u.husk(&["state", id]).ok().stdout).expect("state");
    assert_eq!(st["status"], "running");
    let list = u.husk(&["list"]).ok().stdout;
    assert!(list.contains(&u.name), "OWNER is the user:\n{list}");
    // No cgroup of its own here: ps shows the init.
    let ps = u.husk(&["ps", "--format", "json", id]).ok().stdout;
    assert_eq!(ps.trim(), format!("[{}]", st["pid"]), "{ps}");
    let inside = u
        .husk(&[
            "exec",
            id,
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -g",
        ])
        .ok()
        .stdout;
    let words: Vec<&str> = inside.split_whitespace().collect();
    let (uid, gid) = (u.uid.to_string(), u.gid.to_string());
    assert_eq!(
        words,
        [
            "0",
            uid.as_str(),
            "1",
            "0",
            gid.as_str(),
            "1",
            "deny",
            "0",
            "0"
        ],
        "{inside}"
    );
    u.husk(&["kill", id, "KILL"]).ok();
    for _ in 0..100 {
        let st = u.husk(&["state", id]).stdout;
        if st.contains("stopped") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    u.husk(&["delete", id]).ok();
    u.assert_nothing_left();
}

#[test]
fn rootless_multi_range_goes_through_newuidmap() {
    if !prerequisites() {
        return;
    }
    let u = User::new("rl-multi");
    let maps = json!([
        {"containerID": 0, "hostID": u.uid, "size": 1},
        {"containerID": 1, "hostID": u.sub, "size": 65536}
    ]);
    let gmaps = json!([
        {"containerID": 0, "hostID": u.gid, "size": 1},
        {"containerID": 1, "hostID": u.sub, "size": 65536}
    ]);
    u.config(|c| {
        c["linux"]["uidMappings"] = maps.clone();
        c["linux"]["gidMappings"] = gmaps.clone();
        c["process"]["args"] = json!(["sh", "-c", "cat /proc/self/uid_map /proc/self/setgroups"]);
    });
    let out = u.husk(&["run", "rl2"]).ok().stdout;
    let words: Vec<&str> = out.split_whitespace().collect();
    let (uid, sub) = (u.uid.to_string(), u.sub.to_string());
    assert_eq!(
        words,
        ["0", uid.as_str(), "1", "1", sub.as_str(), "65536", "allow"],
        "{out}"
    );
    // exec as a subordinate id, which owns what it makes.
    u.config(|c| {
        c["linux"]["uidMappings"] = maps;
        c["linux"]["gidMappings"] = gmaps;
        c["process"]["args"] = json!(["sleep", "1000"]);
    });
    u.husk(&["run", "-d", "rl3"]).ok();
    let who = u
        .husk(&[
            "exec",
            "--user",
            "1000:1000",
            "rl3",
            "sh",
            "-c",
            "id -u; echo > /dev/shm/g; stat -c %u:%g /dev/shm/g",
        ])
        .ok()
        .stdout;
    assert_eq!(
        who.split_whitespace().collect::<Vec<_>>(),
        ["1000", "1000:1000"]
    );
    // podman always deletes with --force: nothing on stderr when nothing can be frozen.
    let del = u.husk(&["delete", "-f", "rl3"]).ok();
    assert!(del.stderr.is_empty(), "{}", del.stderr);
    u.assert_nothing_left();
}

#[test]
fn rootless_refused_range_names_the_helper_and_the_range() {
    if !prerequisites() {
        return;
    }
    let u = User::new("rl-refused");
    u.config(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1, "size": 10}]);
    });
    u.husk(&["run", "rl4"]).fails_with(&[
        "linux.uidMappings",
        "newuidmap",
        "not allowed",
        "/etc/subuid",
    ]);
    u.assert_nothing_left();
}

#[test]
fn rootless_memory_limit_without_delegation_is_refused_clearly() {
    if !prerequisites() {
        return;
    }
    let u = User::new("rl-limit");
    u.config(|c| c["linux"]["resources"] = json!({"memory": {"limit": 67108864}}));
    u.husk(&["run", "rl5"]).fails_with(&[
        "linux.resources.memory.limit",
        "rootless",
        "could not create or join a cgroup",
    ]);
    u.assert_nothing_left();
    // No limit asked: the same user runs fine without any cgroup of its own.
    u.config(|c| c["process"]["args"] = json!(["true"]));
    u.husk(&["run", "rl6"]).ok();
    u.assert_nothing_left();
}

#[test]
fn rootless_sys_and_its_cgroup_submounts_are_read_only() {
    if !prerequisites() {
        return;
    }
    let u = User::new("rl-sys");
    u.config(|c| {
        // The host's cgroupfs then arrives only as submounts of the /sys rbind.
        let mounts = c["mounts"].as_array_mut().expect("mounts");
        mounts.retain(|m| m["type"] != "cgroup");
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "grep -c ' /sys/fs/cgroup[^ ]* rw,' /proc/self/mountinfo; \
             grep -c ' /sys/fs/cgroup' /proc/self/mountinfo; \
             echo 1 > /sys/fs/cgroup/pids/cgroup.procs"
        ]);
    });
    let out = u.husk(&["run", "rl7"]);
    let lines = out.lines();
    assert_eq!(
        lines.first().map(String::as_str),
        Some("0"),
        "writable cgroup mounts:\n{}",
        out.stdout
    );
    assert!(
        lines.get(1).is_some_and(|n| n != "0"),
        "no cgroup mounts seen:\n{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    u.assert_nothing_left();
}

#[test]
fn rootless_binary_owned_by_the_user_runs_from_a_sealed_copy_quietly() {
    if !prerequisites() {
        return;
    }
    let u = User::new("rl-seal");
    let mine = u.scratch.join("husk");
    fs::copy(HUSK, &mine).expect("copy husk");
    chown(&mine, u.uid, u.gid);
    u.config(|c| c["process"]["args"] = json!(["sleep", "1000"]));
    let mine = mine.to_str().expect("utf-8");
    let out = u.run(mine, &["run", "-d", "rl8"]).ok();
    assert!(out.stderr.is_empty(), "no warning expected: {}", out.stderr);
    // The exec'ing husk runs from a sealed memfd: its exe is the memfd, not the file.
    let exe = u
        .run(
            "/bin/sh",
            &[
                "-c",
                &format!("{mine} exec rl8 sleep 2 & p=$!; sleep 1; readlink /proc/$p/exe; wait"),
            ],
        )
        .stdout;
    assert!(
        exe.contains("memfd:husk"),
        "exe of the exec'ing husk: {exe}"
    );
    u.run(mine, &["delete", "-f", "rl8"]).ok();
    u.assert_nothing_left();
}

#[test]
fn rootless_mount_needing_init_ns_privileges_says_so() {
    if !prerequisites() {
        return;
    }
    let u = User::new("rl-mount");
    // A block-device filesystem: only the initial user namespace may mount one.
    let dev = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let (_, post) = l.split_once(" - ")?;
            let f: Vec<&str> = post.split_whitespace().collect();
            (f.len() >= 2 && f[1].starts_with("/dev/"))
                .then(|| (f[0].to_string(), f[1].to_string()))
        });
    let Some((typ, src)) = dev else {
        eprintln!("SKIP: no block-device filesystem mounted here");
        return;
    };
    u.config(|c| {
        c["process"]["args"] = json!(["true"]);
        c["mounts"]
            .as_array_mut()
            .expect("mounts")
            .push(json!({"destination": "/mnt", "type": typ, "source": src, "options": ["ro"]}));
    });
    u.husk(&["run", "rl9"])
        .fails_with(&["/mnt", "running rootless", "initial user namespace"]);
    u.assert_nothing_left();
}
