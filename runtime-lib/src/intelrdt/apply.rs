//! Applying an [`RdtPlan`] to the resctrl filesystem, and undoing it.

use std::path::{Path, PathBuf};

use super::{schemata_match, RdtPlan};

/// resctrl errors; each names `linux.intelRdt` and the file.
#[derive(Debug, thiserror::Error)]
pub enum RdtError {
    /// No resctrl filesystem is mounted in the runtime's mount namespace.
    #[error(
        "linux.intelRdt: no resctrl filesystem is mounted (mount -t resctrl resctrl /sys/fs/resctrl; \
         the CPU and kernel must support RDT)"
    )]
    NotMounted,
    /// A `closID` group without schemata must exist already.
    #[error("linux.intelRdt.closID: resctrl group {0} does not exist")]
    NoGroup(PathBuf),
    /// An existing `closID` group has other schemata than the config.
    #[error("linux.intelRdt: {line:?} does not match the schemata of the existing group {group}")]
    Mismatch {
        /// The group directory.
        group: PathBuf,
        /// The config line.
        line: String,
    },
    /// A file operation failed.
    #[error("linux.intelRdt: {op} {path}: {source}")]
    Io {
        /// What was done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RdtError {
    let path = path.to_path_buf();
    move |source| RdtError::Io { op, path, source }
}

/// The first resctrl mount point in `mountinfo` text.
pub fn resctrl_in(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-")?;
        let point = f.get(4)?;
        (f.get(sep + 1) == Some(&"resctrl")).then(|| PathBuf::from(unescape(point)))
    })
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The resctrl mount point of the runtime's mount namespace. (mountinfo is read by
/// hand as in `cgroups/mountinfo.rs`: procfs's parser keeps `\040` escapes in paths.)
pub fn resctrl_root() -> Result<PathBuf, RdtError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(io("read", Path::new("/proc/self/mountinfo")))?;
    resctrl_in(&text).ok_or(RdtError::NotMounted)
}

/// Errors when resctrl is not mounted (the runtime-spec requires an error then).
pub fn check_available() -> Result<(), RdtError> {
    resctrl_root().map(|_| ())
}

fn write(path: &Path, data: &str) -> Result<(), RdtError> {
    std::fs::write(path, data).map_err(io("write", path))
}

/// Puts `pid` (the container's init) into the plan's group, creating it and writing
/// its schemata as the plan says. On failure, what this call created is removed.
pub fn apply(plan: &RdtPlan, pid: i32) -> Result<(), RdtError> {
    let root = resctrl_root()?;
    let dir = root.join(&plan.group);
    let mut created = false;
    if !dir.is_dir() {
        if !plan.owned && plan.schemata.is_empty() {
            return Err(RdtError::NoGroup(dir));
        }
        std::fs::create_dir(&dir).map_err(io("create", &dir))?;
        created = true;
    } else if !plan.owned && !plan.compare.is_empty() {
        let file = dir.join("schemata");
        let current = std::fs::read_to_string(&file).map_err(io("read", &file))?;
        if let Some(line) = plan.compare.iter().find(|l| !schemata_match(&current, l)) {
            return Err(RdtError::Mismatch {
                group: dir,
                line: line.clone(),
            });
        }
    }
    let res = (|| {
        for line in &plan.schemata {
            write(&dir.join("schemata"), &format!("{line}\n"))?;
        }
        write(&dir.join("tasks"), &pid.to_string())?;
        if let Some(m) = &plan.mon_group {
            let mon = dir.join("mon_groups").join(m);
            std::fs::create_dir(&mon).map_err(io("create", &mon))?;
            write(&mon.join("tasks"), &pid.to_string())?;
        }
        Ok(())
    })();
    if res.is_err() && created {
        let _ = std::fs::remove_dir(&dir);
    }
    res
}

/// On delete: removes the monitoring group and, if the container had its own
/// group (no `closID`), the group. A missing resctrl mount or group is not an error.
pub fn remove(plan: &RdtPlan) -> Result<(), RdtError> {
    let Ok(root) = resctrl_root() else {
        return Ok(());
    };
    let dir = root.join(&plan.group);
    let mut dirs = Vec::new();
    if let Some(m) = &plan.mon_group {
        dirs.push(dir.join("mon_groups").join(m));
    }
    if plan.owned && !plan.group.is_empty() {
        dirs.push(dir);
    }
    for d in dirs {
        match std::fs::remove_dir(&d) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("remove", &d)(e));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_resctrl_mounts() {
        let mi = "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n\
                  40 22 0:35 / /sys/fs/resctrl rw,relatime - resctrl resctrl rw,mba_MBps\n";
        assert_eq!(resctrl_in(mi), Some(PathBuf::from("/sys/fs/resctrl")));
        assert_eq!(resctrl_in("22 1 0:21 / /sys rw - sysfs sysfs rw\n"), None);
    }

    #[test]
    fn this_host_reports_a_missing_mount() {
        // resctrl is not mounted on the test VMs; skip where it is.
        if let Err(e) = check_available() {
            assert!(e.to_string().contains("linux.intelRdt"), "{e}");
        }
    }
}
