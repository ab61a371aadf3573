//! Small file helpers for cgroupfs, so every read and write reports the
//! file it touched.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::CgroupError;

/// Read a whole file as text.
pub fn read_string(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|e| CgroupError::read(path, e))
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
