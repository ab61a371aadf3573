//! Writing a new user namespace's uid/gid maps, also from an unprivileged caller.
//!
//! The kernel lets a process without CAP_SETUID/CAP_SETGID in the parent namespace
//! write one line mapping its own effective id (and, for gid_map, only once
//! `setgroups` is `deny`). Anything else (the `/etc/subuid` ranges) goes through the
//! setuid helpers `newuidmap` / `newgidmap` (Debian package `uidmap`), as runc does.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::{NamespaceError, NamespacePlan};

/// How one map is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapWriter {
    /// Write `/proc/PID/{uid,gid}_map` directly.
    #[default]
    Direct,
    /// Run `newuidmap` / `newgidmap`.
    Helper,
}

/// How a new user namespace's maps are written (rootless needs more care).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapMethod {
    /// uid_map.
    pub uid: MapWriter,
    /// gid_map.
    pub gid: MapWriter,
    /// Write `deny` to `/proc/PID/setgroups` before gid_map (an unprivileged caller
    /// must, to write its own gid; the container then cannot call setgroups).
    pub deny_setgroups: bool,
}

/// True if `lines` is one line mapping the host id `own`, size 1.
fn only_own_id(lines: &str, own: u32) -> bool {
    let mut it = lines.lines().filter(|l| !l.trim().is_empty());
    let (Some(line), None) = (it.next(), it.next()) else {
        return false;
    };
    let f: Vec<&str> = line.split_whitespace().collect();
    f.len() == 3 && f[1] == own.to_string() && f[2] == "1"
}

impl MapMethod {
    /// The method for a caller with effective ids `euid`/`egid`: direct writes unless
    /// rootless with maps beyond the caller's own ids (pure).
    pub fn plan(rootless: bool, uid_map: &str, gid_map: &str, euid: u32, egid: u32) -> Self {
        if !rootless {
            return MapMethod::default();
        }
        let writer = |lines: &str, own| match lines.trim().is_empty() || only_own_id(lines, own) {
            true => MapWriter::Direct,
            false => MapWriter::Helper,
        };
        let gid = writer(gid_map, egid);
        MapMethod {
            uid: writer(uid_map, euid),
            gid,
            deny_setgroups: gid == MapWriter::Direct && !gid_map.trim().is_empty(),
        }
    }
}

/// Where `name` is: the first match in `PATH`, else the usual system directories
/// (podman and conmon may start the runtime with a short PATH).
fn find_helper(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `newuidmap PID ID HOSTID SIZE...` arguments for map `lines` (pure).
pub fn helper_args(pid: i32, lines: &str) -> Vec<String> {
    std::iter::once(pid.to_string())
        .chain(lines.split_whitespace().map(str::to_string))
        .collect()
}

fn run_helper(
    name: &'static str,
    field: &'static str,
    pid: i32,
    lines: &str,
) -> Result<(), NamespaceError> {
    let helper = find_helper(name).ok_or(NamespaceError::MapHelperMissing {
        helper: name,
        field,
    })?;
    let args = helper_args(pid, lines);
    let out = Command::new(&helper)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| NamespaceError::MapHelperRun {
            helper: helper.clone(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(NamespaceError::MapHelperRefused {
        field,
        command: format!("{} {}", helper.display(), args.join(" ")),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

fn write_proc(pid: i32, file: &'static str, data: &str) -> Result<(), NamespaceError> {
    std::fs::write(Path::new("/proc").join(pid.to_string()).join(file), data)
        .map_err(|source| NamespaceError::Write { file, pid, source })
}

/// Writes the id maps of a new user namespace owned by `pid` (done by the parent,
/// which holds the capabilities in the outer namespace, or runs the helpers).
pub fn write_id_maps(pid: i32, plan: &NamespacePlan) -> Result<(), NamespaceError> {
    let m = &plan.map_method;
    if !plan.uid_map.is_empty() {
        match m.uid {
            MapWriter::Direct => write_proc(pid, "uid_map", &plan.uid_map)?,
            MapWriter::Helper => run_helper("newuidmap", "linux.uidMappings", pid, &plan.uid_map)?,
        }
    }
    if m.deny_setgroups {
        write_proc(pid, "setgroups", "deny")?;
    }
    if !plan.gid_map.is_empty() {
        match m.gid {
            MapWriter::Direct => write_proc(pid, "gid_map", &plan.gid_map)?,
            MapWriter::Helper => run_helper("newgidmap", "linux.gidMappings", pid, &plan.gid_map)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_writes_every_map_itself() {
        let m = MapMethod::plan(false, "0 100000 65536\n", "0 100000 65536\n", 0, 0);
        assert_eq!(m, MapMethod::default());
    }

    #[test]
    fn own_id_is_written_directly_with_setgroups_denied() {
        let m = MapMethod::plan(true, "0 1000 1\n", "0 1001 1\n", 1000, 1001);
        assert_eq!(m.uid, MapWriter::Direct);
        assert_eq!(m.gid, MapWriter::Direct);
        assert!(m.deny_setgroups);
    }

    #[test]
    fn ranges_need_the_helpers_and_keep_setgroups() {
        let m = MapMethod::plan(
            true,
            "0 1000 1\n1 100000 65536\n",
            "0 1000 1\n1 100000 65536\n",
            1000,
            1000,
        );
        assert_eq!((m.uid, m.gid), (MapWriter::Helper, MapWriter::Helper));
        assert!(!m.deny_setgroups);
        // Someone else's id, even one: only the helper may.
        let m = MapMethod::plan(true, "0 1000 1\n", "0 0 1\n", 1000, 1000);
        assert_eq!((m.uid, m.gid), (MapWriter::Direct, MapWriter::Helper));
        assert!(!m.deny_setgroups);
        // Own id but size 2: not the kernel's unprivileged case.
        let m = MapMethod::plan(true, "0 1000 2\n", "", 1000, 1000);
        assert_eq!(m.uid, MapWriter::Helper);
        assert!(!m.deny_setgroups);
    }

    #[test]
    fn helper_args_flatten_the_lines() {
        assert_eq!(
            helper_args(42, "0 1000 1\n1 100000 65536\n"),
            ["42", "0", "1000", "1", "1", "100000", "65536"]
        );
    }

    #[test]
    fn missing_helper_is_named() {
        let e = NamespaceError::MapHelperMissing {
            helper: "newuidmap",
            field: "linux.uidMappings",
        };
        let s = e.to_string();
        assert!(
            s.contains("newuidmap") && s.contains("uidmap") && s.contains("linux.uidMappings"),
            "{s}"
        );
    }
}
