//! What a runtime can leak, counted on the host: mounts below the work
//! directory, cgroup directories named with the run's id prefix (per
//! hierarchy), the stress process's own fds and live children, processes that
//! carry the run's marker, entries under the state root, `/run/husk-exe`
//! copies and kernel keyrings named after the run's containers. Only things
//! this run can make are counted, so other users of the machine add no noise.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::bundle::MARKER_ENV;
use crate::cleanup::{find_cgroups_prefix, mounts_below, CGROUP_ROOT};

/// One count of everything a runtime could leave behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// name -> count.
    pub counts: BTreeMap<String, i64>,
}

/// Children of `pid` that are zombies (not yet reaped).
fn zombie_children(pid: u32) -> i64 {
    let mut n = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut f = rest.split(' ');
        let state = f.next().unwrap_or("");
        let ppid: u32 = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == pid && state == "Z" {
            n += 1;
        }
    }
    n
}

fn marked(marker: &str) -> i64 {
    let needle = format!("{MARKER_ENV}={marker}");
    let me = std::process::id().to_string();
    let mut n = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me.as_str() {
            continue;
        }
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
                n += 1;
            }
        }
    }
    n
}

fn count_dir(p: &Path) -> i64 {
    std::fs::read_dir(p).map(|d| d.count() as i64).unwrap_or(0)
}

impl Snapshot {
    /// Counts now. `work`: the run's directory (bundles); `roots`: the state
    /// roots; `prefix`: the start of every container id of the run; `marker`:
    /// the value of the marker variable in its containers.
    pub fn take(work: &Path, roots: &[&Path], prefix: &str, marker: &str) -> Snapshot {
        let mut c = BTreeMap::new();
        c.insert("mounts".into(), mounts_below(work).len() as i64);
        let mut per_h: BTreeMap<String, i64> = BTreeMap::new();
        for d in find_cgroups_prefix(prefix) {
            let h = d
                .strip_prefix(CGROUP_ROOT)
                .ok()
                .and_then(|r| r.components().next())
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            *per_h.entry(format!("cgroup dirs ({h})")).or_default() += 1;
        }
        // Every hierarchy gets a line, zero or not, so deltas line up.
        for e in std::fs::read_dir(CGROUP_ROOT)
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let name = e.file_name().to_string_lossy().into_owned();
                per_h.entry(format!("cgroup dirs ({name})")).or_default();
            }
        }
        c.extend(per_h);
        c.insert(
            "fds of this process".into(),
            count_dir(Path::new("/proc/self/fd")),
        );
        c.insert(
            "zombie children".into(),
            zombie_children(std::process::id()),
        );
        c.insert("marked processes".into(), marked(marker));
        c.insert(
            "state entries".into(),
            roots.iter().map(|r| count_dir(r)).sum(),
        );
        c.insert(
            "/run/husk-exe copies".into(),
            count_dir(Path::new("/run/husk-exe")),
        );
        let keys = std::fs::read_to_string("/proc/keys").unwrap_or_default();
        let needle = format!("_ses.{prefix}");
        c.insert(
            "keyrings".into(),
            // Only keys still in use: a released keyring lingers until the
            // kernel's key garbage collector runs.
            keys.lines()
                .filter(|l| l.contains(&needle))
                .filter(|l| l.split_whitespace().nth(2).is_some_and(|u| u != "0"))
                .count() as i64,
        );
        Snapshot { counts: c }
    }

    /// `after - self`, only the non-zero entries.
    pub fn growth(&self, after: &Snapshot) -> Vec<(String, i64)> {
        after
            .counts
            .iter()
            .map(|(k, v)| (k.clone(), v - self.counts.get(k).copied().unwrap_or(0)))
            .filter(|(_, d)| *d != 0)
            .collect()
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        f.write_str(&parts.join(", "))
    }
}
