//! Cleanup after a scenario (or a benchmark): force-delete through the
//! runtime, kill leftover processes, remove cgroups named after the
//! containers, unmount anything below the scenario directory.
//!
//! Each step returns notes about what it had to remove, so leaks show up in
//! the report.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::bundle::MARKER_ENV;
use crate::runtime::Runtime;

/// Where cgroup hierarchies are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Runs the whole cleanup. `marker` is the value of [`MARKER_ENV`] in the
/// scenario's containers. Returns notes on anything that was left behind.
pub fn cleanup(rt: &Runtime, root: &Path, ids: &[String], marker: &str, dir: &Path) -> Vec<String> {
    let mut notes = Vec::new();
    for id in ids {
        if root.join(id).exists() {
            let mut cmd = rt.command(root, ["delete", "--force", id.as_str()]);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            match crate::proc::run(&mut cmd, Duration::from_secs(10)) {
                Ok(f) if f.success() => {}
                Ok(f) => notes.push(format!("delete --force {id}: {}", f.status)),
                Err(e) => notes.push(format!("delete --force {id}: {e}")),
            }
        }
    }
    let killed = kill_leftovers(marker, ids);
    if killed > 0 {
        notes.push(format!("killed {killed} leftover process(es)"));
    }
    crate::proc::reap_orphans();
    for id in ids {
        for cg in remove_cgroups(id) {
            notes.push(format!("removed cgroup {cg}"));
        }
    }
    for m in unmount_below(dir) {
        notes.push(format!("unmounted {m}"));
    }
    crate::proc::reap_orphans();
    notes
}

/// SIGKILLs processes that carry `MARKER_ENV=marker` or sit in a cgroup named
/// after one of `ids`; waits up to a second for them to go. Returns how many.
pub fn kill_leftovers(marker: &str, ids: &[String]) -> usize {
    let needle = format!("{MARKER_ENV}={marker}");
    let mut pids: Vec<i32> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if pid == std::process::id() as i32 {
                continue;
            }
            if let Ok(env) = std::fs::read(e.path().join("environ")) {
                if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
                    pids.push(pid);
                }
            }
        }
    }
    for id in ids {
        for cg in find_cgroups(id) {
            if let Ok(procs) = std::fs::read_to_string(cg.join("cgroup.procs")) {
                pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids.retain(|p| crate::proc::alive(*p));
    for p in &pids {
        // SAFETY: plain kill(2).
        unsafe { libc::kill(*p, libc::SIGKILL) };
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && pids.iter().any(|p| crate::proc::alive(*p)) {
        crate::proc::reap_orphans();
        std::thread::sleep(Duration::from_millis(5));
    }
    pids.len()
}

/// Cgroup directories named `id`, up to three levels below each hierarchy.
pub fn find_cgroups(id: &str) -> Vec<PathBuf> {
    if id.is_empty() {
        return Vec::new();
    }
    find_cgroups_by(&|name| name == id)
}

/// Cgroup directories whose name starts with `prefix`.
pub fn find_cgroups_prefix(prefix: &str) -> Vec<PathBuf> {
    if prefix.is_empty() {
        return Vec::new();
    }
    find_cgroups_by(&|name| name.starts_with(prefix))
}

fn find_cgroups_by(pred: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    fn walk(dir: &Path, pred: &dyn Fn(&str) -> bool, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let p = e.path();
            if pred(&e.file_name().to_string_lossy()) {
                out.push(p);
            } else if depth > 1 {
                walk(&p, pred, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(CGROUP_ROOT) {
        for e in rd.flatten() {
            // Skip symlinks such as cpu,cpuacct -> cpu.
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(&e.path(), pred, 3, &mut out);
            }
        }
    }
    out
}

/// Removes cgroups named `id` (children first), retrying briefly while their
/// processes die. Returns the ones removed.
pub fn remove_cgroups(id: &str) -> Vec<String> {
    let mut removed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let found = find_cgroups(id);
        if found.is_empty() {
            return removed;
        }
        for cg in found {
            let mut dirs = Vec::new();
            collect_dirs(&cg, &mut dirs);
            dirs.reverse();
            for d in dirs {
                if std::fs::remove_dir(&d).is_ok() && d == cg {
                    removed.push(cg.display().to_string());
                }
            }
        }
        if Instant::now() > deadline {
            return removed;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// Mount points in our mount namespace at or below `dir`, in mount order.
pub fn mounts_below(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().trim_end_matches('/').to_string();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(crate::mountinfo::unescape)
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .collect()
}

/// Lazily unmounts everything at or below `dir`, deepest (latest) first.
pub fn unmount_below(dir: &Path) -> Vec<String> {
    let mut done = Vec::new();
    for _ in 0..8 {
        let mounts = mounts_below(dir);
        if mounts.is_empty() {
            break;
        }
        for m in mounts.iter().rev() {
            let Ok(c) = std::ffi::CString::new(m.as_str()) else {
                continue;
            };
            // SAFETY: c is a valid C string.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
                done.push(m.clone());
            }
        }
    }
    done
}

/// Removes a directory tree after unmounting what is below it.
pub fn remove_tree(dir: &Path) -> std::io::Result<()> {
    unmount_below(dir);
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}
