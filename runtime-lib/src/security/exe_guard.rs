//! CVE-2019-5736: a container process that makes the runtime exec `/proc/self/exe`
//! (e.g. `#!/proc/self/exe` as its /bin/sh) can reopen the runtime's binary for
//! writing once it exits, and overwrite it on the host.
//!
//! Defence, paid once per binary version: the runtime keeps an **immutable copy** of
//! itself (FS_IMMUTABLE_FL: no write, even by root, without CAP_LINUX_IMMUTABLE, which
//! containers do not get) and the CLI re-executes through it before it creates or
//! enters a container. No per-run copy (runc's memfd copy cost 60–70% of its exec).
//!
//! Rootless, the copy cannot be made immutable (that needs CAP_LINUX_IMMUTABLE), and
//! the container's root is the calling user, so it may write any file that user owns.
//! A binary the user cannot write (root's `/usr/bin/husk`, mode 0755) is already out
//! of the container's reach: nothing to do. Otherwise ([`rootless_needs_seal`]) the CLI
//! re-executes from a sealed memfd copy ([`sealed_copy`]), which nobody can write.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Default directory of the guarded copies.
pub const DEFAULT_DIR: &str = "/run/husk-exe";

/// The directory under `base` holding the guarded copies of the binary installed at
/// `exe`: one per path, so two husk binaries on one machine (a packaged one and a
/// local build) do not remove each other's copy, each then copying itself (8 MB and
/// an fsync) on every run; a new version at the same path replaces its predecessor's
/// copy ([`guarded_copy`]).
pub fn dir_for(base: &Path, exe: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    base.join(format!("p-{:016x}", fnv1a(exe.as_os_str().as_bytes())))
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and releases (std's
/// `DefaultHasher` promises neither), for [`dir_for`]. Pure.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

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
/// in `dir` are removed, and so are the copies older husk versions kept directly in
/// `dir`'s parent (before [`dir_for`]) when that is [`DEFAULT_DIR`].
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
    let f = fs::File::open(&tmp)?;
    f.sync_all()?;
    // A filesystem without file attributes (tmpfs before 6.0: ENOTTY) cannot hold
    // an immutable copy: stop before the copy takes the shared name.
    if let Err(e) = get_flags(&f) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    drop(f);
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
    // tmpfs takes FS_IOC_[GS]ETFLAGS from 6.0 on: before, ENOTTY (the CLI then uses
    // a sealed memfd copy). A copy that could not be made immutable is removed.
    let set = get_flags(&f).and_then(|flags| set_flags(&f, flags | FS_IMMUTABLE_FL));
    if let Err(e) = set {
        if !is_immutable(&dest) {
            let _ = fs::remove_file(&dest);
            return Err(e);
        }
    }
    remove_stale(dir, &dest);
    if let Some(parent) = dir.parent().filter(|p| *p == Path::new(DEFAULT_DIR)) {
        remove_stale(parent, &dest);
        // Which binary the directory serves, so that it can go with the binary.
        let _ = fs::write(dir.join(SOURCE_FILE), exe.as_os_str().as_encoded_bytes());
        remove_orphans(parent, dir);
    }
    Ok(dest)
}

/// In a [`dir_for`] directory: the path of the binary its copy is of.
const SOURCE_FILE: &str = "source";

/// Removes the [`dir_for`] directories (other than `keep`) whose binary no longer
/// exists at its path (a build tree removed, a test's temporary copy): nothing
/// will run from them again. Run when a copy is made, i.e. once per new version.
fn remove_orphans(base: &Path, keep: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let d = e.path();
        if d == keep || !e.file_name().to_string_lossy().starts_with("p-") {
            continue;
        }
        // No source file: a copy still being made, or not ours to judge.
        let Ok(src) = fs::read(d.join(SOURCE_FILE)) else {
            continue;
        };
        let src = PathBuf::from(std::ffi::OsString::from_vec(src));
        if matches!(fs::symlink_metadata(&src), Err(e) if e.kind() == io::ErrorKind::NotFound) {
            remove_stale(&d, Path::new(""));
            let _ = fs::remove_file(d.join(SOURCE_FILE));
            let _ = fs::remove_dir(&d);
        }
    }
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

/// True if the running binary is already a guarded copy (immutable, or a sealed memfd).
pub fn running_guarded() -> bool {
    is_immutable(Path::new("/proc/self/exe")) || running_sealed()
}

/// The seals that make a memfd copy unwritable for good.
fn full_seals() -> nix::fcntl::SealFlag {
    use nix::fcntl::SealFlag as S;
    S::F_SEAL_SEAL | S::F_SEAL_SHRINK | S::F_SEAL_GROW | S::F_SEAL_WRITE
}

/// True if the running binary is a memfd sealed against writes.
pub fn running_sealed() -> bool {
    let Ok(f) = fs::File::open("/proc/self/exe") else {
        return false;
    };
    // Regular files answer EINVAL: only memfds carry seals.
    nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GET_SEALS)
        .map(|s| nix::fcntl::SealFlag::from_bits_truncate(s).contains(full_seals()))
        .unwrap_or(false)
}

/// Rootless: whether a container run by `euid` could write the binary described by
/// `meta` (it owns it, or it is group/other writable), so that it must be run from a
/// sealed copy. Pure.
pub fn rootless_needs_seal(meta: &fs::Metadata, euid: u32) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.uid() == euid || meta.permissions().mode() & 0o022 != 0
}

/// A copy of `exe` in a memfd sealed against any write, for `fexecve`. Made per run
/// (rootless only): a memfd lives as long as its last user.
pub fn sealed_copy(exe: &Path) -> io::Result<std::os::fd::OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags as M};
    let name = c"husk";
    let fd = memfd_create(name, M::MFD_CLOEXEC | M::MFD_ALLOW_SEALING)?;
    let mut dst = fs::File::from(fd);
    let mut src = fs::File::open(exe)?;
    io::copy(&mut src, &mut dst)?;
    nix::fcntl::fcntl(&dst, nix::fcntl::FcntlArg::F_ADD_SEALS(full_seals()))?;
    Ok(dst.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_installed_path_has_its_own_copy_directory() {
        let base = Path::new(DEFAULT_DIR);
        let a = dir_for(base, Path::new("/usr/bin/husk"));
        let b = dir_for(base, Path::new("/usr/local/bin/husk"));
        assert_ne!(a, b);
        assert_eq!(a, dir_for(base, Path::new("/usr/bin/husk")));
        assert_eq!(a.parent(), Some(base));
        // Stable across builds: the value is fixed by the algorithm.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn a_copy_directory_goes_with_its_binary() {
        let base = std::env::temp_dir().join(format!("husk-exe-orphans-{}", std::process::id()));
        let (gone, here, foreign) = (base.join("p-1"), base.join("p-2"), base.join("shim"));
        for d in [&gone, &here, &foreign] {
            fs::create_dir_all(d).unwrap();
            fs::write(d.join("husk-x"), b"copy").unwrap();
        }
        let me = fs::read_link("/proc/self/exe").unwrap();
        fs::write(
            gone.join(SOURCE_FILE),
            base.join("no-such-binary").as_os_str().as_encoded_bytes(),
        )
        .unwrap();
        fs::write(here.join(SOURCE_FILE), me.as_os_str().as_encoded_bytes()).unwrap();
        fs::write(foreign.join(SOURCE_FILE), b"/no/such/binary").unwrap();
        remove_orphans(&base, Path::new("/nonexistent"));
        assert!(!gone.exists());
        assert!(here.join("husk-x").exists());
        assert!(
            foreign.join("husk-x").exists(),
            "only p-* directories are judged"
        );
        fs::remove_dir_all(&base).unwrap();
    }

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

    #[test]
    fn sealed_copy_cannot_be_written() {
        let me = fs::read_link("/proc/self/exe").unwrap();
        let fd = sealed_copy(&me).unwrap();
        let len = fs::metadata(&me).unwrap().len();
        let f = fs::File::from(fd);
        assert_eq!(f.metadata().unwrap().len(), len);
        let path = format!("/proc/self/fd/{}", f.as_raw_fd());
        // Even the owner (root here) cannot write, truncate or grow it.
        let w = fs::OpenOptions::new().write(true).open(&path);
        let err = w
            .and_then(|mut w| io::Write::write_all(&mut w, b"x"))
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        assert!(f.set_len(1).is_err());
        assert!(!running_sealed());
    }

    #[test]
    fn rootless_seal_only_for_binaries_the_user_could_write() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("husk-exe-seal-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("bin");
        fs::write(&bin, b"x").unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let meta = fs::metadata(&bin).unwrap();
        assert!(rootless_needs_seal(&meta, meta.uid()));
        assert!(!rootless_needs_seal(&meta, meta.uid() + 1));
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o757)).unwrap();
        assert!(rootless_needs_seal(
            &fs::metadata(&bin).unwrap(),
            meta.uid() + 1
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
