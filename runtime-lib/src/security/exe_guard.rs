//! CVE-2019-5736: a container process that makes the runtime exec `/proc/self/exe`
//! (e.g. `#!/proc/self/exe` as its /bin/sh) can reopen the runtime's binary for
//! writing once it exits, and overwrite it on the host.
//!
//! Defence, paid once per binary version: the runtime keeps an **immutable copy** of
//! itself (FS_IMMUTABLE_FL: no write, even by root, without CAP_LINUX_IMMUTABLE, which
//! containers do not get) and the CLI re-executes through it before it creates or
//! enters a container. No per-run copy (runc's memfd copy cost 60–70% of its exec).

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Default directory of the guarded copies.
pub const DEFAULT_DIR: &str = "/run/husk-exe";

const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
const FS_IMMUTABLE_FL: libc::c_long = 0x10;

fn get_flags(f: &fs::File) -> io::Result<libc::c_long> {
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one long into `flags`.
    if unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_GETFLAGS, &mut flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags)
}

fn set_flags(f: &fs::File, flags: libc::c_long) -> io::Result<()> {
    // SAFETY: FS_IOC_SETFLAGS reads one long from `flags`.
    if unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_SETFLAGS, &flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// True if `path` carries the immutable flag.
pub fn is_immutable(path: &Path) -> bool {
    fs::File::open(path)
        .and_then(|f| get_flags(&f))
        .map(|fl| fl & FS_IMMUTABLE_FL != 0)
        .unwrap_or(false)
}

/// The name of the guarded copy for a binary: tied to its identity, so a new build
/// or an upgrade gets a new copy.
pub fn copy_name(meta: &fs::Metadata) -> String {
    format!(
        "husk-{:x}-{:x}-{:x}-{:x}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime_nsec() ^ meta.mtime()
    )
}

/// Returns the immutable copy of `exe` in `dir`, making it first if needed. Older copies
/// in `dir` are removed.
pub fn guarded_copy(exe: &Path, dir: &Path) -> io::Result<PathBuf> {
    let meta = fs::metadata(exe)?;
    let dest = dir.join(copy_name(&meta));
    if is_immutable(&dest) {
        return Ok(dest);
    }
    fs::create_dir_all(dir)?;
    remove_dead_temps(dir);
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    fs::copy(exe, &tmp)?;
    fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o555))?;
    fs::File::open(&tmp)?.sync_all()?;
    // Several husk processes may race to make the first copy: whoever loses finds
    // the winner's immutable copy in place and uses it.
    if let Err(e) = fs::rename(&tmp, &dest) {
        let _ = fs::remove_file(&tmp);
        return if is_immutable(&dest) {
            Ok(dest)
        } else {
            Err(e)
        };
    }
    let f = fs::File::open(&dest)?;
    let flags = get_flags(&f)?;
    if let Err(e) = set_flags(&f, flags | FS_IMMUTABLE_FL) {
        if !is_immutable(&dest) {
            return Err(e);
        }
    }
    remove_stale(dir, &dest);
    Ok(dest)
}

/// Removes the half-made copies (`.tmp-<pid>`) of husk processes killed while
/// copying: each is a partial binary of several MB in tmpfs.
fn remove_dead_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(".tmp-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Removes copies of other binary versions (clearing their immutable flag first).
fn remove_stale(dir: &Path, keep: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p == keep || !e.file_name().to_string_lossy().starts_with("husk-") {
            continue;
        }
        if let Ok(f) = fs::File::open(&p) {
            if let Ok(fl) = get_flags(&f) {
                let _ = set_flags(&f, fl & !FS_IMMUTABLE_FL);
            }
        }
        let _ = fs::remove_file(&p);
    }
}

/// True if the running binary is already a guarded copy (immutable).
pub fn running_guarded() -> bool {
    is_immutable(Path::new("/proc/self/exe"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_left_by_killed_processes_are_removed() {
        let dir = std::env::temp_dir().join(format!("husk-exe-temps-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        // Pids never reach i32::MAX; our own pid is alive.
        let dead = dir.join(format!(".tmp-{}", i32::MAX));
        let alive = dir.join(format!(".tmp-{}", std::process::id()));
        fs::write(&dead, b"half").unwrap();
        fs::write(&alive, b"half").unwrap();
        remove_dead_temps(&dir);
        assert!(!dead.exists());
        assert!(alive.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn copy_is_immutable_and_reused() {
        let dir = std::env::temp_dir().join(format!("husk-exe-guard-{}", std::process::id()));
        let src = dir.join("src-bin");
        fs::create_dir_all(&dir).unwrap();
        fs::write(&src, b"#!/bin/true\n").unwrap();
        let guard_dir = dir.join("guard");
        let copy = match guarded_copy(&src, &guard_dir) {
            Ok(c) => c,
            // Filesystems without the flag (e.g. overlay on some hosts): nothing to check.
            Err(e)
                if e.raw_os_error() == Some(libc::ENOTTY)
                    || e.raw_os_error() == Some(libc::EOPNOTSUPP) =>
            {
                return
            }
            Err(e) => panic!("{e}"),
        };
        assert!(is_immutable(&copy));
        let err = fs::OpenOptions::new().write(true).open(&copy).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        assert_eq!(guarded_copy(&src, &guard_dir).unwrap(), copy);
        remove_stale(&guard_dir, Path::new("/nonexistent"));
        assert!(!copy.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
