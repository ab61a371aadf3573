//! Leaving nothing behind: the bundle tracks the pids of its containers, and
//! on drop deletes them, kills what carries its mark, reaps, unmounts and
//! removes its dirs and cgroups. Also the checks that nothing is left.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{exec, husk_command, Bundle, LIVE_BUNDLES, MARK, TEST_ROOT};

impl Bundle {
    /// Records the init pid of every container in our root, so drop can reap it.
    pub(super) fn remember_pids(&self) {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for e in entries.flatten() {
            if let Some(pid) = state_file_pid(&e.path()) {
                self.track_pid(pid);
            }
        }
    }

    pub fn track_pid(&self, pid: i32) {
        if pid > 0 {
            let mut p = self.pids.lock().unwrap_or_else(|e| e.into_inner());
            if !p.contains(&pid) {
                p.push(pid);
            }
        }
    }

    /// Live processes (other than the test itself) carrying this bundle's mark.
    pub fn marked_processes(&self) -> Vec<i32> {
        marked_processes(&self.name)
    }

    /// Asserts that nothing of container `id` is left: no state dir, no cgroup dir,
    /// no process of this bundle.
    #[track_caller]
    pub fn assert_nothing_left(&self, id: &str) {
        assert!(
            !self.state_dir(id).exists(),
            "state dir {} is left",
            self.state_dir(id).display()
        );
        let cg = cgroup_dirs(&[id]);
        assert!(cg.is_empty(), "cgroup dirs are left: {cg:?}");
        // A failed create reaps its init before it exits; give the kernel a moment.
        let start = Instant::now();
        loop {
            let procs = self.marked_processes();
            if procs.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "processes are left: {procs:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn cleanup(&mut self) {
        let mut ids: BTreeSet<String> = self
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let mut existing = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.root) {
            for e in entries.flatten() {
                if let Some(pid) = state_file_pid(&e.path()) {
                    self.track_pid(pid);
                }
                let id = e.file_name().to_string_lossy().into_owned();
                ids.insert(id.clone());
                existing.push(id);
            }
        }
        // Processes of ours that are not the init (children of a container without a
        // pid namespace) are re-parented to us when the init dies: reap them too.
        for pid in marked_processes(&self.name) {
            self.track_pid(pid);
        }
        for id in &existing {
            let mut cmd = husk_command();
            cmd.arg("--root")
                .arg(&self.root)
                .args(["delete", "--force", id]);
            let _ = exec(cmd, &std::env::temp_dir());
        }
        // Anything of ours still alive (a runtime bug, or a test that failed midway).
        for pid in marked_processes(&self.name) {
            // SAFETY: plain kill(2).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            self.track_pid(pid);
        }
        let pids = self.pids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        reap(&pids);
        for m in self
            .host_mounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
        {
            if let Ok(c) = std::ffi::CString::new(m.to_str().unwrap_or_default()) {
                // SAFETY: c is a valid C string.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        for p in self
            .host_paths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = fs::remove_dir_all(p).or_else(|_| fs::remove_file(p));
        }
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_dir_all(&self.root);
        {
            let mut live = LIVE_BUNDLES.lock().unwrap_or_else(|e| e.into_inner());
            *live -= 1;
            if *live == 0 {
                let _ = fs::remove_dir(TEST_ROOT); // only if empty
            }
        }
        let ids: Vec<String> = ids.into_iter().collect();
        let mut dirs = cgroup_dirs(&ids);
        // Deepest first.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            let _ = fs::remove_dir(&d);
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// The `pid` of `<dir>/state.json`, if any.
fn state_file_pid(dir: &Path) -> Option<i32> {
    let text = fs::read_to_string(dir.join("state.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["pid"].as_i64().map(|p| p as i32)
}

/// Reaps each pid that is our child (waiting up to 5 s in all; SIGKILL after 2 s).
pub fn reap(pids: &[i32]) {
    let start = Instant::now();
    for &pid in pids {
        loop {
            let mut status = 0;
            // SAFETY: waitpid on one specific pid.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r != 0 {
                // Reaped, or not our child (ECHILD).
                break;
            }
            if start.elapsed() > Duration::from_secs(2) {
                // SAFETY: plain kill(2) of our own (unreaped) child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if start.elapsed() > Duration::from_secs(5) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Live processes whose environment holds `HUSK_TEST_MARK=<mark>` (not ourselves).
pub fn marked_processes(mark: &str) -> Vec<i32> {
    let needle = format!("{MARK}={mark}");
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            // Zombies have an empty environ, so this is a live process.
            out.push(pid);
        }
    }
    out
}

/// Directories named after one of `ids` in any cgroup hierarchy (up to 4 levels deep).
pub fn cgroup_dirs<S: AsRef<str>>(ids: &[S]) -> Vec<PathBuf> {
    let ids: Vec<String> = ids.iter().map(|s| s.as_ref().to_string()).collect();
    let ids = ids.as_slice();
    fn walk(dir: &Path, depth: usize, ids: &[String], out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if ids.contains(&name) {
                out.push(p.clone());
            }
            if depth > 1 {
                walk(&p, depth - 1, ids, out);
            }
        }
    }
    let mut out = Vec::new();
    if ids.is_empty() {
        return out;
    }
    let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
        return out;
    };
    let is_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if is_v2 {
        walk(Path::new("/sys/fs/cgroup"), 4, ids, &mut out);
        return out;
    }
    for h in hierarchies.flatten() {
        if h.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&h.path(), 4, ids, &mut out);
        }
    }
    out
}
