//! Writing state to disk: private modes (state.json holds the process's
//! environment, which may carry secrets) and atomic replace; no fsync (see
//! [`replace_atomic`]).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::{io_err, StateError};

/// Mode of a container's state directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of state.json.
pub const FILE_MODE: u32 = 0o600;

/// Replaces `dest` with `data` atomically: a private temp file in the same
/// directory, written and swapped with `dest` (`RENAME_EXCHANGE`), then the old
/// one unlinked; renamed over `dest` where there is none yet or the filesystem
/// cannot swap. A failure removes the temp file and leaves `dest` as it was.
/// Readers see the old or the new state, never a torn one.
///
/// Why swap and unlink rather than rename over: ext4 (`auto_da_alloc`, the
/// default) allocates the blocks of a file renamed over another at once, so each
/// replaced state.json would later free a block, and with the `discard` mount
/// option every freed block is a synchronous discard (0.3–1 ms, twice per `run`
/// on a host whose /run is on disk). A state file swapped in and unlinked before
/// writeback never gets a block.
///
/// Nothing is synced (runc and crun do not either): each fsync cost ~0.5 ms on
/// ext4 here, several times per `run`, and far more when the disk is busy. What
/// a sync would keep across a crash is worthless, since after a crash every
/// container is stopped. What a crash can leave instead: the previous state, no
/// state.json (which `delete` removes as debris), or a torn file, which
/// [`super::State::load`] recognises as written before the last boot
/// ([`StateError::Stale`]) and `delete` removes too.
pub fn replace_atomic(dest: &Path, data: &[u8]) -> Result<(), StateError> {
    let dir = dest.parent().unwrap_or(Path::new("/"));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let res = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        f.write_all(data).map_err(io_err("write", &tmp))?;
        drop(f);
        match crate::sys::rename_exchange(&tmp, dest) {
            Ok(()) => {
                // The old state, now under the temp name; a failure here only
                // leaves it for the next write (O_TRUNC) or `delete`.
                let _ = fs::remove_file(&tmp);
                return Ok(());
            }
            // No `dest` yet, or no RENAME_EXCHANGE here (EINVAL; ENOSYS before 3.15).
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::EINVAL | libc::ENOSYS)
                ) => {}
            Err(e) => return Err(io_err("rename", dest)(e)),
        }
        fs::rename(&tmp, dest).map_err(io_err("rename", dest))?;
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Creates a container's state directory (0700, whatever the umask); an existing
/// one is [`StateError::Exists`].
pub fn create_dir(dir: &Path, id: &str) -> Result<(), StateError> {
    match fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(StateError::Exists(id.to_string()))
        }
        Err(e) => Err(io_err("create", dir)(e)),
    }
}

/// Makes the state root (0700, with parents) or checks an existing one: a
/// directory owned by us and writable by nobody else, since whoever can write
/// there can plant a state that makes `delete` or `kill` act on any process or
/// cgroup.
pub fn ensure_root(root: &Path) -> Result<(), StateError> {
    let unsafe_root = |reason: String| StateError::UnsafeRoot {
        path: root.to_path_buf(),
        reason,
    };
    match fs::symlink_metadata(root) {
        Ok(m) => {
            if !m.is_dir() {
                return Err(unsafe_root("is not a directory".into()));
            }
            // SAFETY: geteuid has no preconditions.
            let me = unsafe { libc::geteuid() };
            if m.uid() != me {
                return Err(unsafe_root(format!(
                    "is owned by uid {}, not by uid {me} running husk",
                    m.uid()
                )));
            }
            if m.mode() & 0o022 != 0 {
                return Err(unsafe_root(format!(
                    "has mode {:o}: writable by group or others",
                    m.mode() & 0o7777
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(root)
            .map_err(io_err("create state root", root)),
        Err(e) => Err(io_err("stat state root", root)(e)),
    }
}

/// Removes a container's state directory with state.json last, so a delete
/// killed midway leaves either a loadable state (delete again) or a directory
/// without one (which `delete` removes as debris).
pub fn remove_dir(dir: &Path) -> Result<(), StateError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read", dir)(e)),
    };
    let state = dir.join(super::STATE_FILE);
    for e in entries.flatten() {
        let p = e.path();
        if p == state {
            continue;
        }
        let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &p)(e)),
        }
    }
    match fs::remove_file(&state) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("remove", &state)(e)),
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove state directory", dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("husk-state-file-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replace_is_private_and_leaves_no_temp_file() {
        let d = scratch("replace");
        let f = d.join("state.json");
        fs::write(&f, b"old").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        replace_atomic(&f, b"new").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"new");
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn replace_swaps_in_a_new_file_and_creates_a_missing_one() {
        use std::os::unix::fs::MetadataExt;
        let d = scratch("swap");
        let f = d.join("state.json");
        replace_atomic(&f, b"first").unwrap();
        let first = fs::metadata(&f).unwrap().ino();
        // A reader holding the old file keeps reading the old content.
        let held = fs::File::open(&f).unwrap();
        replace_atomic(&f, b"second").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"second");
        assert_ne!(fs::metadata(&f).unwrap().ino(), first);
        assert_eq!(
            held.metadata().unwrap().nlink(),
            0,
            "the old file is unlinked"
        );
        assert_eq!(std::io::read_to_string(&held).unwrap(), "first");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_failed_replace_keeps_the_old_file() {
        let d = scratch("failed");
        let f = d.join("state.json");
        fs::write(&f, b"old").unwrap();
        // A directory in the temp file's place makes the create fail.
        fs::create_dir(d.join(".state.json.tmp")).unwrap();
        assert!(replace_atomic(&f, b"new").is_err());
        assert_eq!(fs::read(&f).unwrap(), b"old");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn state_dirs_are_private_whatever_the_umask() {
        let d = scratch("dirmode");
        // SAFETY: umask has no preconditions; restored below (tests in this crate do
        // not depend on the umask).
        let old = unsafe { libc::umask(0) };
        let r = create_dir(&d.join("c1"), "c1");
        unsafe { libc::umask(old) };
        r.unwrap();
        assert_eq!(fs::metadata(d.join("c1")).unwrap().mode() & 0o777, 0o700);
        assert!(matches!(
            create_dir(&d.join("c1"), "c1"),
            Err(StateError::Exists(_))
        ));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_root_others_can_write_is_refused() {
        let d = scratch("root");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        let e = ensure_root(&d).unwrap_err().to_string();
        assert!(e.contains("writable by group or others"), "{e}");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_root(&d).unwrap();
        let file = d.join("f");
        fs::write(&file, b"").unwrap();
        assert!(ensure_root(&file).is_err());
        ensure_root(&d.join("a/b")).unwrap();
        assert_eq!(fs::metadata(d.join("a/b")).unwrap().mode() & 0o777, 0o700);
        fs::remove_dir_all(&d).unwrap();
    }
}
