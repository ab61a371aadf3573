//! Reading what a container did, from the host: mountinfo, /proc status
//! fields, namespace links, file contents and owners.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// One line of /proc/PID/mountinfo.
#[derive(Debug, Clone)]
pub struct MountInfo {
    /// Root of the mount within its filesystem.
    pub root: String,
    /// Mount point.
    pub mount_point: String,
    /// Per-mount options (ro, nosuid, ...).
    pub opts: Vec<String>,
    /// Optional fields (shared:N, master:N, ...).
    pub optional: Vec<String>,
    /// Filesystem type.
    pub fstype: String,
    /// Mount source.
    pub source: String,
    /// Superblock options.
    pub super_opts: Vec<String>,
}

impl MountInfo {
    /// True if the per-mount options contain `o`.
    pub fn has_opt(&self, o: &str) -> bool {
        self.opts.iter().any(|x| x == o)
    }
    /// True if the superblock options contain `o`.
    pub fn has_super_opt(&self, o: &str) -> bool {
        self.super_opts.iter().any(|x| x == o)
    }
    /// True if an optional field starts with `prefix` (e.g. "shared:").
    pub fn has_optional(&self, prefix: &str) -> bool {
        self.optional.iter().any(|x| x.starts_with(prefix))
    }
}

/// Parses mountinfo text (lines that do not parse are skipped).
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.len() < sep + 3 || sep < 6 {
            continue;
        }
        out.push(MountInfo {
            root: f[3].to_string(),
            mount_point: f[4].to_string(),
            opts: f[5].split(',').map(String::from).collect(),
            optional: f[6..sep].iter().map(|s| s.to_string()).collect(),
            fstype: f[sep + 1].to_string(),
            source: f[sep + 2].to_string(),
            super_opts: f
                .get(sep + 3)
                .map(|s| s.split(',').map(String::from).collect())
                .unwrap_or_default(),
        });
    }
    out
}

/// The last mountinfo entry at `mount_point` (the one visible there).
#[track_caller]
pub fn mount_at<'a>(mounts: &'a [MountInfo], mount_point: &str) -> &'a MountInfo {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == mount_point)
        .unwrap_or_else(|| panic!("no mount at {mount_point} in {mounts:#?}"))
}

/// Host (test process) namespace inode link, e.g. `net:[4026531840]`.
pub fn host_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .expect("read host ns link")
        .to_string_lossy()
        .into_owned()
}

/// Value of a `Key:\tvalue` line of /proc/PID/status text.
#[track_caller]
pub fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in status:\n{status}"))
}

/// Polls `path` until its content contains `needle` (at most 10 s); returns the content.
#[track_caller]
pub fn wait_for_content(path: &Path, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never contained {needle:?}: {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Owner uid of a host path.
pub fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).expect("stat");
    (m.uid(), m.gid())
}
