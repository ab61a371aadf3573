//! Small helpers: commands, files, waiting, mounts.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs a command; its stdout on success, else a message with its stderr.
pub fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{:?} failed ({}): {}{}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

/// Runs a command; (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> Result<(i32, String, String), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The hex sha256 of a file (`sha256sum`).
pub fn sha256_file(p: &Path) -> Result<String, String> {
    let out = run_ok(Command::new("sha256sum").arg(p))?;
    out.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("sha256sum {}: no output", p.display()))
}

/// Polls `f` every 100 ms until it is true or `limit` passes.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Mount points (field 5 of mountinfo) of this process's mount namespace.
pub fn mount_points() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// Pids of processes whose command line contains `needle`.
pub fn pids_with(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// `mount --bind DIR DIR` then `--make-rshared`: a shared mount a Bidirectional or
/// HostToContainer hostPath needs as its source.
pub fn make_shared_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    run_ok(Command::new("mount").arg("--bind").arg(dir).arg(dir))?;
    run_ok(Command::new("mount").arg("--make-rshared").arg(dir)).map(|_| ())
}

/// Unmounts everything at or below `dir` (deepest first), lazily.
pub fn unmount_below(dir: &Path) {
    let d = dir.to_string_lossy().to_string();
    let mut mps: Vec<String> = mount_points()
        .into_iter()
        .filter(|m| m == &d || m.starts_with(&format!("{d}/")))
        .collect();
    mps.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mps {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&m)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Whether the host runs cgroup v2 only.
pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// A shell snippet printing the memory limit (v1 or v2) of the cgroup the container sees.
pub const MEM_LIMIT: &str =
    "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";
/// A shell snippet printing the CPU quota (v2 `cpu.max` or v1 `cfs_quota_us period`).
pub const CPU_LIMIT: &str = "cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo $(cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)";
