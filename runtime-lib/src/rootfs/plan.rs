//! Mount options of `config.json` turned into mount(2)/mount_setattr(2) arguments.
//! Pure: no syscalls here.

use std::path::PathBuf;

use nix::mount::MsFlags;
use oci_spec::runtime::Mount;
use serde::{Deserialize, Serialize};

use super::RootfsError;

/// One entry of `mounts`, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountOp {
    /// Index in `mounts` (for error messages).
    pub index: usize,
    /// Destination inside the container.
    pub dest: PathBuf,
    /// Filesystem type ("bind" for bind mounts).
    pub typ: String,
    /// Source (host path for binds, made absolute against the bundle).
    pub source: Option<PathBuf>,
    /// MS_* flags to set (without propagation flags).
    pub flags: u64,
    /// MS_* flags explicitly cleared (rw, suid, dev, exec...): matter when remounting a bind.
    pub cleared: u64,
    /// Propagation changes applied after the mount (MS_SHARED|MS_REC, ...).
    pub propagation: Vec<u64>,
    /// Filesystem data (options mount(2) does not know as flags).
    pub data: String,
    /// Recursive attributes (rro, rnosuid, ...): (set, clear) MOUNT_ATTR_* bits.
    pub rec_attr: Option<(u64, u64)>,
    /// An idmapped bind (`uidMappings`/`gidMappings`, `idmap`/`ridmap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idmap: Option<super::idmap::IdmapOp>,
    /// `tmpcopyup` on a tmpfs: the new tmpfs starts with a copy of the directory it covers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub copyup: bool,
}

impl MountOp {
    /// True for bind and rbind mounts.
    pub fn is_bind(&self) -> bool {
        self.flags & MsFlags::MS_BIND.bits() != 0
    }
}

/// `option -> (clear?, flag)` for plain mount flags.
fn flag_option(o: &str) -> Option<(bool, MsFlags)> {
    use MsFlags as F;
    Some(match o {
        "async" => (true, F::MS_SYNCHRONOUS),
        "atime" => (true, F::MS_NOATIME),
        "bind" => (false, F::MS_BIND),
        "defaults" => (false, F::empty()),
        "dev" => (true, F::MS_NODEV),
        "diratime" => (true, F::MS_NODIRATIME),
        "dirsync" => (false, F::MS_DIRSYNC),
        "exec" => (true, F::MS_NOEXEC),
        "iversion" => (false, F::MS_I_VERSION),
        "lazytime" => (false, F::MS_LAZYTIME),
        "loud" => (true, F::MS_SILENT),
        "mand" => (false, F::MS_MANDLOCK),
        "noatime" => (false, F::MS_NOATIME),
        "nodev" => (false, F::MS_NODEV),
        "nodiratime" => (false, F::MS_NODIRATIME),
        "noexec" => (false, F::MS_NOEXEC),
        "noiversion" => (true, F::MS_I_VERSION),
        "nolazytime" => (true, F::MS_LAZYTIME),
        "nomand" => (true, F::MS_MANDLOCK),
        "norelatime" => (true, F::MS_RELATIME),
        "nostrictatime" => (true, F::MS_STRICTATIME),
        "nosuid" => (false, F::MS_NOSUID),
        "nosymfollow" => (false, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "rbind" => (false, F::MS_BIND | F::MS_REC),
        "relatime" => (false, F::MS_RELATIME),
        "remount" => (false, F::MS_REMOUNT),
        "ro" => (false, F::MS_RDONLY),
        "rw" => (true, F::MS_RDONLY),
        "silent" => (false, F::MS_SILENT),
        "strictatime" => (false, F::MS_STRICTATIME),
        "suid" => (true, F::MS_NOSUID),
        "sync" => (false, F::MS_SYNCHRONOUS),
        "symfollow" => (true, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        _ => return None,
    })
}

/// Propagation options.
pub fn propagation_option(o: &str) -> Option<u64> {
    use MsFlags as F;
    let f = match o {
        "private" => F::MS_PRIVATE,
        "rprivate" => F::MS_PRIVATE | F::MS_REC,
        "shared" => F::MS_SHARED,
        "rshared" => F::MS_SHARED | F::MS_REC,
        "slave" => F::MS_SLAVE,
        "rslave" => F::MS_SLAVE | F::MS_REC,
        "unbindable" => F::MS_UNBINDABLE,
        "runbindable" => F::MS_UNBINDABLE | F::MS_REC,
        _ => return None,
    };
    Some(f.bits())
}

/// Recursive (mount_setattr) options: `(clear?, MOUNT_ATTR_*)`.
fn recursive_option(o: &str) -> Option<(bool, u64)> {
    Some(match o {
        "rro" => (false, libc::MOUNT_ATTR_RDONLY),
        "rrw" => (true, libc::MOUNT_ATTR_RDONLY),
        "rnosuid" => (false, libc::MOUNT_ATTR_NOSUID),
        "rsuid" => (true, libc::MOUNT_ATTR_NOSUID),
        "rnodev" => (false, libc::MOUNT_ATTR_NODEV),
        "rdev" => (true, libc::MOUNT_ATTR_NODEV),
        "rnoexec" => (false, libc::MOUNT_ATTR_NOEXEC),
        "rexec" => (true, libc::MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (false, libc::MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (true, libc::MOUNT_ATTR_NODIRATIME),
        "rnoatime" => (false, libc::MOUNT_ATTR_NOATIME),
        "rrelatime" => (false, libc::MOUNT_ATTR_RELATIME),
        "rstrictatime" => (false, libc::MOUNT_ATTR_STRICTATIME),
        "rnosymfollow" => (false, libc::MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => (true, libc::MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// The mount point holding `rootfs` (the longest mount point of `mountinfo` that is
/// `rootfs` or a parent of it) when that mount is shared. With a shared
/// `linux.rootfsPropagation` the container's `/` stays a peer of the host's mounts, so
/// this mount must be made private before the rootfs is bound onto itself (else the
/// bind would show on the host, and pivot_root refuses a shared parent), as runc does.
pub fn shared_parent_mount(mountinfo: &str, rootfs: &std::path::Path) -> Option<PathBuf> {
    let mut best: Option<(PathBuf, bool)> = None;
    for line in mountinfo.lines() {
        let Some((left, _)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let Some(mp) = fields.get(4) else {
            continue;
        };
        let mp = PathBuf::from(crate::cgroups::unescape(mp));
        if !rootfs.starts_with(&mp) {
            continue;
        }
        let shared = fields.iter().skip(6).any(|f| f.starts_with("shared:"));
        // Later lines with the same mount point are mounted on top: they win.
        let longer = match &best {
            None => true,
            Some((b, _)) => mp.components().count() >= b.components().count(),
        };
        if longer {
            best = Some((mp, shared));
        }
    }
    best.and_then(|(mp, shared)| shared.then_some(mp))
}

/// Plans one `mounts[index]` entry. `bundle` makes relative bind sources absolute.
pub fn plan_mount(
    index: usize,
    m: &Mount,
    bundle: &std::path::Path,
) -> Result<MountOp, RootfsError> {
    let mut op = MountOp {
        index,
        dest: m.destination().clone(),
        typ: m.typ().clone().unwrap_or_default(),
        source: m.source().clone(),
        flags: 0,
        cleared: 0,
        propagation: Vec::new(),
        data: String::new(),
        rec_attr: None,
        idmap: None,
        copyup: false,
    };
    let mut data = Vec::new();
    for o in m.options().iter().flatten() {
        if let Some((clear, f)) = flag_option(o) {
            if clear {
                op.flags &= !f.bits();
                op.cleared |= f.bits();
            } else {
                op.flags |= f.bits();
                op.cleared &= !f.bits();
            }
        } else if let Some(p) = propagation_option(o) {
            op.propagation.push(p);
        } else if let Some((clear, a)) = recursive_option(o) {
            let (set, clr) = op.rec_attr.get_or_insert((0, 0));
            if clear {
                *clr |= a;
            } else {
                // The atime modes are one field: setting one clears the others.
                if a & libc::MOUNT_ATTR__ATIME != 0 || a == libc::MOUNT_ATTR_RELATIME {
                    *clr |= libc::MOUNT_ATTR__ATIME;
                }
                *set |= a;
            }
        } else if o == "idmap" || o == "ridmap" {
            // Not a mount(2) option: planned by `idmap::plan`.
        } else if o == "tmpcopyup" {
            // Not a mount(2) option; like runc, it only means something on a tmpfs.
            op.copyup = op.typ == "tmpfs";
        } else {
            data.push(o.as_str());
        }
    }
    if op.typ == "bind" {
        op.flags |= MsFlags::MS_BIND.bits();
    }
    if op.is_bind() {
        op.typ = "bind".into();
        if let Some(src) = &op.source {
            if src.is_relative() {
                op.source = Some(bundle.join(src));
            }
        }
    }
    op.data = data.join(",");
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn mount(json: &str) -> MountOp {
        let m: Mount = serde_json::from_str(json).unwrap();
        plan_mount(0, &m, Path::new("/bundle")).unwrap()
    }

    #[test]
    fn tmpfs_options() {
        let op = mount(
            r#"{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]}"#,
        );
        assert_eq!(
            op.flags,
            (MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME).bits()
        );
        assert_eq!(op.data, "mode=755,size=65536k");
        assert!(!op.is_bind());
    }

    #[test]
    fn rbind_ro_with_propagation() {
        let op = mount(
            r#"{"destination":"/data","source":"data","options":["rbind","ro","rprivate","nosuid"]}"#,
        );
        assert!(op.is_bind());
        assert_eq!(op.typ, "bind");
        assert_eq!(op.source.as_deref(), Some(Path::new("/bundle/data")));
        assert!(op.flags & MsFlags::MS_REC.bits() != 0);
        assert!(op.flags & MsFlags::MS_RDONLY.bits() != 0);
        assert_eq!(
            op.propagation,
            vec![(MsFlags::MS_PRIVATE | MsFlags::MS_REC).bits()]
        );
    }

    #[test]
    fn rw_clears_ro() {
        let op = mount(
            r#"{"destination":"/x","type":"tmpfs","source":"tmpfs","options":["ro","rw","exec"]}"#,
        );
        assert_eq!(op.flags & MsFlags::MS_RDONLY.bits(), 0);
        assert!(op.cleared & MsFlags::MS_RDONLY.bits() != 0);
        assert!(op.cleared & MsFlags::MS_NOEXEC.bits() != 0);
    }

    #[test]
    fn recursive_attrs() {
        let op = mount(
            r#"{"destination":"/x","source":"/y","options":["rbind","rro","rnosuid","rdev"]}"#,
        );
        let (set, clr) = op.rec_attr.unwrap();
        assert_eq!(set, libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID);
        assert_eq!(clr, libc::MOUNT_ATTR_NODEV);
    }

    #[test]
    fn tmpcopyup_only_on_tmpfs() {
        let op = mount(
            r#"{"destination":"/etc","type":"tmpfs","source":"tmpfs","options":["rw","tmpcopyup","size=65536k"]}"#,
        );
        assert!(op.copyup);
        assert_eq!(op.data, "size=65536k");
        let op = mount(r#"{"destination":"/x","source":"/y","options":["rbind","tmpcopyup"]}"#);
        assert!(!op.copyup);
        assert_eq!(op.data, "");
    }

    #[test]
    fn shared_parent_of_the_rootfs() {
        let mi = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                  30 22 0:25 / /dev/shm rw shared:4 - tmpfs tmpfs rw\n\
                  31 22 0:26 / /var/lib/x rw master:7 - tmpfs tmpfs rw\n\
                  32 22 0:27 / /srv/my\\040dir rw shared:9 - tmpfs tmpfs rw\n";
        let at = |p: &str| shared_parent_mount(mi, Path::new(p));
        assert_eq!(at("/dev/shm/b/rootfs"), Some(PathBuf::from("/dev/shm")));
        assert_eq!(at("/home/b/rootfs"), Some(PathBuf::from("/")));
        assert_eq!(at("/var/lib/x/b/rootfs"), None);
        assert_eq!(at("/srv/my dir/rootfs"), Some(PathBuf::from("/srv/my dir")));
        // /dev/shmx is not below /dev/shm.
        assert_eq!(at("/dev/shmx/rootfs"), Some(PathBuf::from("/")));
    }

    #[test]
    fn bind_type_without_option() {
        let op = mount(r#"{"destination":"/x","type":"bind","source":"/y"}"#);
        assert!(op.is_bind());
    }
}
