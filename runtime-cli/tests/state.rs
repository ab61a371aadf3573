//! The state on disk and clean-up after failures (issue 11, "State and clean-up"):
//! private modes whatever the umask, an unsafe state root refused, unreadable
//! states listed with their error, a torn state left by a crash deleted, and a
//! failed create inside a cgroup that existed before killing and removing nothing
//! of someone else's.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};

use common::Bundle;
use serde_json::Value;

const SLEEP: &[&str] = &["sleep", "30"];

#[test]
fn state_dir_and_file_are_private_whatever_the_umask() {
    let mut b = Bundle::new("st-mode");
    b.set_args(SLEEP);
    b.write_config();
    let id = b.new_id();
    b.husk_with(&["create", "--bundle", b.dir_str(), &id], |c| {
        // SAFETY: umask is async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                libc::umask(0);
                Ok(())
            })
        };
    })
    .ok();
    let dir = b.state_dir(&id);
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    assert_eq!(
        fs::metadata(dir.join("state.json")).unwrap().mode() & 0o777,
        0o600
    );
    assert_eq!(fs::metadata(&b.root).unwrap().mode() & 0o777, 0o700);
    // Every later write keeps it private.
    b.husk(&["start", &id]).ok();
    assert_eq!(
        fs::metadata(dir.join("state.json")).unwrap().mode() & 0o777,
        0o600
    );
    b.husk(&["delete", "--force", &id]).ok();
}

#[test]
fn a_state_root_others_can_write_is_refused() {
    let mut b = Bundle::new("st-root");
    b.set_args(SLEEP);
    fs::create_dir_all(&b.root).unwrap();
    fs::set_permissions(&b.root, fs::Permissions::from_mode(0o777)).unwrap();
    let id = b.new_id();
    let root = b.root.display().to_string();
    b.create(&id)
        .fails_with(&[&root, "writable by group or others"]);
    b.assert_nothing_left(&id);
    fs::set_permissions(&b.root, fs::Permissions::from_mode(0o700)).unwrap();
    b.create_ok(&id);
    b.husk(&["delete", "--force", &id]).ok();
}

#[test]
fn list_shows_an_unreadable_state_with_its_error() {
    let mut b = Bundle::new("st-list");
    b.set_args(SLEEP);
    let good = b.new_id();
    b.create_ok(&good);
    let bad = b.new_id();
    fs::create_dir(b.state_dir(&bad)).unwrap();
    fs::write(b.state_dir(&bad).join("state.json"), b"{ torn").unwrap();

    let out = b.husk(&["list", "--format", "json"]).ok();
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("json");
    let entries = v.as_array().expect("array");
    let find = |id: &str| {
        entries
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing from {v}"))
    };
    assert_eq!(find(&good)["status"], "created");
    let e = find(&bad);
    assert_eq!(e["status"], "unknown");
    assert!(
        e["error"].as_str().unwrap_or("").contains("corrupt state"),
        "{e}"
    );

    let table = b.husk(&["list"]).ok();
    assert!(
        table
            .lines()
            .iter()
            .any(|l| l.starts_with(&bad) && l.contains("unknown")),
        "{}",
        table.stdout
    );
    assert!(table.stderr.contains(&bad), "{}", table.stderr);
    let q = b.husk(&["list", "-q"]).ok();
    assert!(q.lines().contains(&bad));
    fs::remove_dir_all(b.state_dir(&bad)).unwrap();
    b.husk(&["delete", "--force", &good]).ok();
}

/// Every cgroup hierarchy's mount point on this host (the unified one too).
fn hierarchies() -> Vec<PathBuf> {
    let root = PathBuf::from("/sys/fs/cgroup");
    if root.join("cgroup.procs").exists() {
        return vec![root];
    }
    fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect()
}

/// A cgroup `/name` in every hierarchy holding one `sleep`: someone else's
/// (a pod's, the caller's). Removed on drop.
struct ForeignCgroup {
    dirs: Vec<PathBuf>,
    sleeper: Child,
}

impl ForeignCgroup {
    fn new(name: &str) -> ForeignCgroup {
        let mut dirs = Vec::new();
        for h in hierarchies() {
            let d = h.join(name);
            fs::create_dir(&d).unwrap();
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(v) = fs::read_to_string(h.join(f)) {
                    fs::write(d.join(f), v.trim()).unwrap();
                }
            }
            dirs.push(d);
        }
        let sleeper = Command::new("/bin/busybox")
            .args(["sleep", "60"])
            .spawn()
            .unwrap();
        for d in &dirs {
            fs::write(d.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
        }
        ForeignCgroup { dirs, sleeper }
    }
}

impl Drop for ForeignCgroup {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
        for d in &self.dirs {
            let _ = fs::remove_dir(d);
        }
    }
}

#[test]
fn a_failed_create_in_an_existing_cgroup_kills_and_removes_nothing_else() {
    let mut b = Bundle::new("st-foreign");
    let name = format!("husk-{}", b.name);
    let mut foreign = ForeignCgroup::new(&name);
    b.config["linux"]["cgroupsPath"] = Value::String(format!("/{name}"));
    // Fails in the init, after the cgroup was joined.
    b.set_args(&["/no/such/binary"]);
    let id = b.new_id();
    b.create(&id).fails_with(&["/no/such/binary"]);
    assert!(
        foreign.sleeper.try_wait().unwrap().is_none(),
        "the failed create killed a process it did not start"
    );
    for d in &foreign.dirs {
        assert!(d.exists(), "the failed create removed {}", d.display());
    }
    assert!(!b.state_dir(&id).exists());

    // A container created there and deleted: the same.
    b.set_args(SLEEP);
    let id = b.new_id();
    b.create_ok(&id);
    b.husk(&["delete", "--force", &id]).ok();
    assert!(foreign.sleeper.try_wait().unwrap().is_none());
    for d in &foreign.dirs {
        assert!(d.exists(), "delete removed {}", d.display());
    }
}

#[test]
fn a_torn_state_from_before_the_boot_is_deleted_a_fresh_one_is_not() {
    let b = Bundle::new("st-torn");
    let (old, fresh) = (b.new_id(), b.new_id());
    fs::create_dir_all(&b.root).unwrap();
    for id in [&old, &fresh] {
        fs::create_dir(b.state_dir(id)).unwrap();
        fs::write(b.state_dir(id).join("state.json"), b"").unwrap();
    }
    // Written (by the clock) before the machine booted: what a crash leaves.
    let stat = fs::read_to_string("/proc/stat").unwrap();
    let btime: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .expect("btime in /proc/stat");
    let before_boot = std::time::UNIX_EPOCH + std::time::Duration::from_secs(btime - 60);
    fs::File::options()
        .write(true)
        .open(b.state_dir(&old).join("state.json"))
        .unwrap()
        .set_modified(before_boot)
        .unwrap();

    let st = b.husk(&["state", &old]);
    assert_ne!(st.code, 0);
    assert!(st.stderr.contains("before the last boot"), "{}", st.stderr);
    b.husk(&["delete", &old]).ok();
    assert!(!b.state_dir(&old).exists());

    // Torn during this boot: not something husk leaves; reported, kept.
    let del = b.husk(&["delete", &fresh]);
    assert_ne!(del.code, 0);
    assert!(del.stderr.contains("corrupt state"), "{}", del.stderr);
    assert!(b.state_dir(&fresh).exists());
    fs::remove_dir_all(b.state_dir(&fresh)).unwrap();
}
