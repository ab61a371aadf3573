//! Small file helpers for cgroupfs, so every read and write reports the
//! file it touched.

use std::fs::{self, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

use super::error::CgroupError;

/// Read a whole file as text.
pub fn read_string(path: &Path) -> Result<String, CgroupError> {
    fs::File::open(path)
        .and_then(read_all)
        .map_err(|e| CgroupError::read(path, e))
}

/// The rest of `f` as text, read into a page-sized buffer first: procfs and
/// cgroupfs files report a size of 0, so `fs::read_to_string` starts with a
/// 32-byte read and doubles (/proc/self/mountinfo took eight reads).
fn read_all(mut f: fs::File) -> io::Result<String> {
    let mut s = String::with_capacity(4096);
    f.read_to_string(&mut s)?;
    Ok(s)
}

/// Read a file holding one number; `max` (v2 for "no limit") reads as
/// `u64::MAX`, which is how runc reports it.
pub fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let text = read_string(path)?;
    parse_u64(path, text.trim())
}

/// Parse one number as found in a control file.
pub fn parse_u64(path: &Path, text: &str) -> Result<u64, CgroupError> {
    if text == "max" {
        return Ok(u64::MAX);
    }
    text.parse::<u64>()
        .map_err(|e| CgroupError::parse(path, format!("{text:?} is not a number: {e}")))
}

/// Write `value` to a control file in exactly one `write(2)`.
///
/// cgroupfs parses each write on its own, so a value split over two writes
/// would be two (wrong) values; the file is never created (no `O_CREAT`), so
/// a missing knob fails with ENOENT instead of leaving a stray file.
pub fn write_value(path: &Path, value: &str) -> io::Result<()> {
    write_to(&mut open_for_write(path)?, value)
}

/// Opens a control file for [`write_to`] (never created, see [`write_value`]).
pub fn open_for_write(path: &Path) -> io::Result<fs::File> {
    OpenOptions::new().write(true).truncate(true).open(path)
}

/// Writes `value` to an open control file in exactly one `write(2)`: each write
/// is parsed on its own, so one open file takes several values (devices rules).
pub fn write_to(f: &mut fs::File, value: &str) -> io::Result<()> {
    let n = f.write(value.as_bytes())?;
    if n != value.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {n} of {} bytes", value.len()),
        ));
    }
    Ok(())
}

/// The directory above the hierarchies' mount points (`/sys/fs/cgroup`), open, so
/// that a run of operations on cgroup files looks each up from there instead of
/// from `/`. Lookups in kernfs leave the lock-free path walk and take the kernfs
/// root's lock for every component: sysfs's (`/sys/fs`), which each new network
/// namespace takes for writing to add its devices, and the hierarchy's, which
/// every cgroup mkdir and rmdir takes. With containers starting in parallel those
/// waits added up to milliseconds per container. Paths outside the base, or a base
/// that could not be opened, go the usual way. Opened per operation, not kept: an
/// open directory would keep the cgroup mounts busy in a long-lived process.
#[derive(Debug)]
pub struct Base {
    dir: PathBuf,
    fd: Option<OwnedFd>,
}

impl Base {
    /// Opens the deepest directory holding every one of `mount_points` (the single
    /// mount point itself on a pure v2 host); none when that is `/`.
    pub fn open<'a>(mount_points: impl IntoIterator<Item = &'a Path>) -> Base {
        let dir = common_ancestor(mount_points);
        let fd = (dir.components().count() > 1)
            .then(|| {
                openat(
                    nix::fcntl::AT_FDCWD,
                    &dir,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .ok()
            })
            .flatten();
        Base { dir, fd }
    }

    /// No base: every path is looked up from `/`.
    #[cfg(test)]
    pub fn none() -> Base {
        Base {
            dir: PathBuf::new(),
            fd: None,
        }
    }

    /// `path` below the base, relative to it.
    fn rel<'p>(&self, path: &'p Path) -> Option<(&OwnedFd, &'p Path)> {
        let fd = self.fd.as_ref()?;
        let rel = path.strip_prefix(&self.dir).ok()?;
        (!rel.as_os_str().is_empty()).then_some((fd, rel))
    }

    fn open_file(&self, path: &Path, flags: OFlag) -> io::Result<fs::File> {
        match self.rel(path) {
            Some((fd, rel)) => openat(fd, rel, flags | OFlag::O_CLOEXEC, Mode::empty())
                .map(fs::File::from)
                .map_err(io::Error::from),
            None if flags.contains(OFlag::O_WRONLY) => open_for_write(path),
            None => fs::File::open(path),
        }
    }

    /// [`open_for_write`] from the base.
    pub fn open_for_write(&self, path: &Path) -> io::Result<fs::File> {
        self.open_file(path, OFlag::O_WRONLY | OFlag::O_TRUNC)
    }

    /// [`write_value`] from the base.
    pub fn write_value(&self, path: &Path, value: &str) -> io::Result<()> {
        write_to(&mut self.open_for_write(path)?, value)
    }

    /// [`read_string`] from the base.
    pub fn read_string(&self, path: &Path) -> Result<String, CgroupError> {
        self.open_file(path, OFlag::O_RDONLY)
            .and_then(read_all)
            .map_err(|e| CgroupError::read(path, e))
    }

    /// mkdir(2) from the base (mode 0777 less the umask, as `fs::create_dir`).
    pub fn mkdir(&self, path: &Path) -> io::Result<()> {
        match self.rel(path) {
            Some((fd, rel)) => nix::sys::stat::mkdirat(fd, rel, Mode::from_bits_truncate(0o777))
                .map_err(io::Error::from),
            None => fs::create_dir(path),
        }
    }

    /// rmdir(2) from the base.
    pub fn rmdir(&self, path: &Path) -> io::Result<()> {
        match self.rel(path) {
            Some((fd, rel)) => {
                nix::unistd::unlinkat(fd, rel, nix::unistd::UnlinkatFlags::RemoveDir)
                    .map_err(io::Error::from)
            }
            None => fs::remove_dir(path),
        }
    }
}

/// The deepest directory that holds (or is) every path given; `/` for none.
fn common_ancestor<'a>(paths: impl IntoIterator<Item = &'a Path>) -> PathBuf {
    let mut it = paths.into_iter();
    let Some(first) = it.next() else {
        return PathBuf::from("/");
    };
    let mut common = first.to_path_buf();
    for p in it {
        while !p.starts_with(&common) {
            if !common.pop() {
                return PathBuf::from("/");
            }
        }
    }
    common
}

/// The pids listed in `<dir>/cgroup.procs`.
pub fn read_procs(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let path = dir.join("cgroup.procs");
    let text = read_string(&path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .parse::<i32>()
                .map_err(|e| CgroupError::parse(&path, format!("{l:?} is not a pid: {e}")))
        })
        .collect()
}

/// `dir` and every cgroup below it, parents before children.
///
/// Containers may create their own sub-cgroups (systemd in a container does),
/// and their processes belong to the container as much as those in `dir`.
pub fn walk_cgroup_tree(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let current = out[i].clone();
        match fs::read_dir(&current) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(|e| CgroupError::read(&current, e))?;
                    let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                    if is_dir {
                        out.push(entry.path());
                    }
                }
            }
            // A sub-cgroup removed while we walk is simply gone.
            Err(e) if e.kind() == io::ErrorKind::NotFound && i > 0 => {}
            Err(e) => return Err(CgroupError::read(&current, e)),
        }
        i += 1;
    }
    Ok(out)
}

/// rmdir one cgroup; already gone is fine. EBUSY is retried for a while
/// (about 2 s in all): a task that was just killed can still be leaving.
pub fn remove_cgroup_dir(dir: &Path) -> Result<(), CgroupError> {
    let mut attempt: u64 = 0;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 20 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10 * attempt));
            }
            Err(source) => {
                return Err(CgroupError::Rmdir {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_is_the_deepest_common_directory() {
        let v1 = [
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/cpu,cpuacct",
            "/sys/fs/cgroup/unified",
        ];
        let base = common_ancestor(v1.iter().map(Path::new));
        assert_eq!(base, Path::new("/sys/fs/cgroup"));
        let v2 = common_ancestor([Path::new("/sys/fs/cgroup")]);
        assert_eq!(v2, Path::new("/sys/fs/cgroup"));
        let odd = common_ancestor([Path::new("/cg/a"), Path::new("/sys/fs/cgroup/b")]);
        assert_eq!(odd, Path::new("/"));
        assert_eq!(common_ancestor([]), Path::new("/"));
        // A sibling with a common name prefix is not below the other.
        let sib = common_ancestor([Path::new("/x/cg"), Path::new("/x/cgroup")]);
        assert_eq!(sib, Path::new("/x"));
    }

    #[test]
    fn a_base_reaches_files_below_it_and_paths_outside_it() {
        let d = std::env::temp_dir().join(format!("husk-fsio-base-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let (a, b) = (d.join("h1"), d.join("h2"));
        fs::create_dir_all(&a).unwrap_or_default();
        fs::create_dir_all(&b).unwrap_or_default();
        let base = Base::open([a.as_path(), b.as_path()]);
        assert!(base.fd.is_some());
        let leaf = a.join("ctr");
        base.mkdir(&leaf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            base.mkdir(&leaf).map_err(|e| e.kind()),
            Err(io::ErrorKind::AlreadyExists)
        );
        fs::write(leaf.join("knob"), "").unwrap_or_default();
        base.write_value(&leaf.join("knob"), "7")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            base.read_string(&leaf.join("knob")).ok().as_deref(),
            Some("7")
        );
        // Never created: a missing knob is ENOENT.
        let missing = base
            .write_value(&leaf.join("nope"), "1")
            .map_err(|e| e.kind());
        assert_eq!(missing, Err(io::ErrorKind::NotFound));
        let outside = std::env::temp_dir().join(format!("husk-fsio-out-{}", std::process::id()));
        fs::write(&outside, "x").unwrap_or_default();
        assert_eq!(base.read_string(&outside).ok().as_deref(), Some("x"));
        let _ = fs::remove_file(&outside);
        fs::remove_file(leaf.join("knob")).unwrap_or_default();
        base.rmdir(&leaf).unwrap_or_else(|e| panic!("{e}"));
        assert!(!leaf.exists());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn parse_u64_reads_max_as_unlimited() {
        let p = Path::new("/x/pids.max");
        assert_eq!(parse_u64(p, "max").ok(), Some(u64::MAX));
        assert_eq!(parse_u64(p, "42").ok(), Some(42));
        let err = parse_u64(p, "-1")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/x/pids.max"), "{err}");
    }
}
