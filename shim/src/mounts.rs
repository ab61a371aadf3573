//! The rootfs mounts containerd hands the shim (`CreateTaskRequest.rootfs`),
//! mounted at `<bundle>/rootfs` by the helper before the container is created, the
//! way containerd's own `mount.Mount` does: known options become mount flags, the
//! rest is the data string, propagation and bind read-only need a second call.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde::{Deserialize, Serialize};

/// One mount (containerd's `types.Mount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Filesystem type (`overlay`, `bind`, ...).
    pub typ: String,
    /// Source.
    pub source: String,
    /// Options, as in fstab.
    pub options: Vec<String>,
}

/// (flag, clears it) for each option containerd treats as a flag.
fn flag(opt: &str) -> Option<(MsFlags, bool)> {
    Some(match opt {
        "async" => (MsFlags::MS_SYNCHRONOUS, true),
        "atime" => (MsFlags::MS_NOATIME, true),
        "bind" => (MsFlags::MS_BIND, false),
        "defaults" => (MsFlags::empty(), false),
        "dev" => (MsFlags::MS_NODEV, true),
        "diratime" => (MsFlags::MS_NODIRATIME, true),
        "dirsync" => (MsFlags::MS_DIRSYNC, false),
        "exec" => (MsFlags::MS_NOEXEC, true),
        "mand" => (MsFlags::MS_MANDLOCK, false),
        "noatime" => (MsFlags::MS_NOATIME, false),
        "nodev" => (MsFlags::MS_NODEV, false),
        "nodiratime" => (MsFlags::MS_NODIRATIME, false),
        "noexec" => (MsFlags::MS_NOEXEC, false),
        "nomand" => (MsFlags::MS_MANDLOCK, true),
        "norelatime" => (MsFlags::MS_RELATIME, true),
        "nostrictatime" => (MsFlags::MS_STRICTATIME, true),
        "nosuid" => (MsFlags::MS_NOSUID, false),
        "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, false),
        "relatime" => (MsFlags::MS_RELATIME, false),
        "remount" => (MsFlags::MS_REMOUNT, false),
        "ro" => (MsFlags::MS_RDONLY, false),
        "rw" => (MsFlags::MS_RDONLY, true),
        "strictatime" => (MsFlags::MS_STRICTATIME, false),
        "suid" => (MsFlags::MS_NOSUID, true),
        "sync" => (MsFlags::MS_SYNCHRONOUS, false),
        _ => return None,
    })
}

fn propagation(opt: &str) -> Option<MsFlags> {
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// Splits options into (flags, propagation flags, data).
pub fn parse_options(options: &[String]) -> (MsFlags, MsFlags, Vec<String>) {
    let mut flags = MsFlags::empty();
    let mut prop = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        if let Some((f, clear)) = flag(o) {
            if clear {
                flags.remove(f);
            } else {
                flags.insert(f);
            }
        } else if let Some(p) = propagation(o) {
            prop.insert(p);
        } else {
            data.push(o.clone());
        }
    }
    (flags, prop, data)
}

/// For overlay options too long for one page: the longest common directory of the
/// lowerdirs, and the options with lowerdirs relative to it (containerd's
/// `compactLowerdirOption`). The caller chdirs there first (the helper may).
pub fn compact_lowerdir(data: &[String]) -> Option<(String, Vec<String>)> {
    let idx = data.iter().position(|o| o.starts_with("lowerdir="))?;
    let dirs: Vec<&str> = data[idx]["lowerdir=".len()..].split(':').collect();
    if dirs.len() < 2 {
        return None;
    }
    // Common prefix ending at a '/'.
    let first = dirs[0];
    let mut common = first.len();
    for d in &dirs[1..] {
        common = common.min(
            first
                .bytes()
                .zip(d.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    let prefix = &first[..common];
    let cut = prefix.rfind('/')?;
    let dir = &first[..=cut];
    if dir.len() <= 1 {
        return None;
    }
    let rel: Vec<&str> = dirs.iter().map(|d| &d[dir.len()..]).collect();
    let mut out = data.to_vec();
    out[idx] = format!("lowerdir={}", rel.join(":"));
    Some((dir.to_string(), out))
}

/// Mounts every entry at `target` (created 0711 when missing). Runs in the helper.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if let Err(e) = std::fs::DirBuilder::new().mode(0o711).create(target) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(format!("mkdir {}: {e}", target.display()));
        }
    }
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = mount_one(m, target) {
            for _ in 0..i {
                let _ = umount2(target, MntFlags::MNT_DETACH);
            }
            return Err(e);
        }
    }
    Ok(())
}

fn mount_one(m: &Mount, target: &Path) -> Result<(), String> {
    let (flags, prop, mut data) = parse_options(&m.options);
    let mut chdir_to = None;
    if m.typ == "overlay" && data.join(",").len() >= 4096 - 512 {
        if let Some((dir, d)) = compact_lowerdir(&data) {
            chdir_to = Some(dir);
            data = d;
        }
    }
    let data = data.join(",");
    if data.len() >= 4096 {
        return Err(format!("mount options for {} are too long", m.source));
    }
    let target = if chdir_to.is_some() {
        // The target must stay valid after the chdir.
        std::fs::canonicalize(target).map_err(|e| format!("{}: {e}", target.display()))?
    } else {
        target.to_path_buf()
    };
    if let Some(dir) = &chdir_to {
        std::env::set_current_dir(dir).map_err(|e| format!("chdir {dir}: {e}"))?;
    }
    let fstype = (!m.typ.is_empty()).then_some(m.typ.as_str());
    let source = (!m.source.is_empty()).then_some(m.source.as_str());
    let datao = (!data.is_empty()).then_some(data.as_str());
    if !flags.contains(MsFlags::MS_REMOUNT) || datao.is_some() {
        mount(source, &target, fstype, flags, datao).map_err(|e| {
            format!(
                "mount {} ({}) on {}: {e}",
                m.source,
                m.typ,
                target.display()
            )
        })?;
    }
    if !prop.is_empty() {
        mount::<str, Path, str, str>(None, &target, None, prop, None)
            .map_err(|e| format!("set propagation of {}: {e}", target.display()))?;
    }
    if flags.contains(MsFlags::MS_BIND) && flags.contains(MsFlags::MS_RDONLY) {
        mount::<str, Path, str, str>(None, &target, None, flags | MsFlags::MS_REMOUNT, None)
            .map_err(|e| format!("remount {} read-only: {e}", target.display()))?;
    }
    Ok(())
}

/// Unmounts everything stacked at `target` (containerd's `UnmountAll`); a busy
/// mount is detached.
pub fn unmount_all(target: &Path) {
    for _ in 0..64 {
        match umount2(target, MntFlags::empty()) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EBUSY) => {
                let _ = umount2(target, MntFlags::MNT_DETACH);
            }
            Err(_) => return, // EINVAL: not a mount point any more; ENOENT: gone
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let (f, p, d) = parse_options(&s(&["rbind", "ro", "rprivate", "index=off", "nosuid"]));
        assert!(f.contains(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert!(f.contains(MsFlags::MS_NOSUID));
        assert_eq!(p, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(d, s(&["index=off"]));
        let (f, _, _) = parse_options(&s(&["ro", "rw"]));
        assert!(!f.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn lowerdirs_are_compacted_to_their_common_directory() {
        let d = s(&[
            "workdir=/s/snapshots/9/work",
            "upperdir=/s/snapshots/9/fs",
            "lowerdir=/s/snapshots/8/fs:/s/snapshots/17/fs:/s/snapshots/1/fs",
        ]);
        let (dir, out) = compact_lowerdir(&d).expect("compactable");
        assert_eq!(dir, "/s/snapshots/");
        assert_eq!(out[2], "lowerdir=8/fs:17/fs:1/fs");
        assert_eq!(out[0], d[0]);
        assert!(compact_lowerdir(&s(&["lowerdir=/a/fs"])).is_none());
    }
}
