//! Apply a plan: the thin loop that writes each value, honouring the
//! per-write flags the planner set.

use std::io;
use std::path::{Path, PathBuf};

use super::error::CgroupError;
use super::fsio::{self, Base};
use super::plan::Write;

/// The v1 memory limit file, whose EBUSY means "below current usage".
const V1_MEMORY_LIMIT: &str = "memory.limit_in_bytes";

/// Write every entry of `plan` into the directory `dir_for` gives for it.
///
/// Writes flagged `retry_on_einval` that fail with EINVAL are retried once,
/// in order, after all other writes (the kernel checks them against values
/// written later).
pub fn execute(
    base: &Base,
    plan: &[Write],
    dir_for: impl Fn(&Write) -> Option<PathBuf>,
) -> Result<(), CgroupError> {
    let mut deferred: Vec<(&Write, PathBuf)> = Vec::new(); // (write, cgroup dir)
                                                           // The file of the last write stays open for the next one to the same file
                                                           // (a v1 devices list is one write per rule to devices.allow).
    let mut last: Option<(PathBuf, std::fs::File)> = None;
    for w in plan {
        let dir = dir_for(w).ok_or_else(|| CgroupError::ControllerMissing {
            field: w.field.clone(),
            controller: w.controller.clone(),
        })?;
        let path = dir.join(&w.file);
        let res = match &mut last {
            Some((p, f)) if *p == path => fsio::write_to(f, &w.value),
            _ => base.open_for_write(&path).and_then(|mut f| {
                let res = fsio::write_to(&mut f, &w.value);
                last = Some((path.clone(), f));
                res
            }),
        };
        match res {
            Ok(()) => verify(base, w, &path)?,
            Err(e) if w.ignore_missing && e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(file = %path.display(), "optional cgroup knob missing, skipped");
            }
            Err(e) if w.retry_on_einval && e.raw_os_error() == Some(libc::EINVAL) => {
                deferred.push((w, dir));
            }
            Err(e) => return Err(write_error(w, &path, &dir, e)),
        }
    }
    for (w, dir) in deferred {
        let path = dir.join(&w.file);
        base.write_value(&path, &w.value)
            .map_err(|e| write_error(w, &path, &dir, e))?;
        verify(base, w, &path)?;
    }
    Ok(())
}

fn verify(base: &Base, w: &Write, path: &Path) -> Result<(), CgroupError> {
    if !w.verify {
        return Ok(());
    }
    let actual = base.read_string(path)?;
    let actual = actual.trim();
    if actual != w.value {
        return Err(CgroupError::Clamped {
            field: w.field.clone(),
            path: path.to_path_buf(),
            wanted: w.value.clone(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

fn write_error(w: &Write, path: &Path, dir: &Path, source: io::Error) -> CgroupError {
    // v1 refuses a limit under the current usage with a bare EBUSY; say what
    // the usage is, as runc does.
    if source.raw_os_error() == Some(libc::EBUSY) && w.file == V1_MEMORY_LIMIT {
        let usage = fsio::read_u64(&dir.join("memory.usage_in_bytes"));
        let peak = fsio::read_u64(&dir.join("memory.max_usage_in_bytes"));
        if let (Ok(usage), Ok(peak)) = (usage, peak) {
            return CgroupError::MemoryBelowUsage {
                field: w.field.clone(),
                path: path.to_path_buf(),
                limit: w.value.clone(),
                usage,
                peak,
            };
        }
    }
    CgroupError::Write {
        field: w.field.clone(),
        path: path.to_path_buf(),
        value: w.value.clone(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::HierarchyVersion;
    use super::*;

    fn write(file: &str, value: &str) -> Write {
        Write {
            field: format!("linux.resources.test.{file}"),
            controller: "memory".into(),
            version: HierarchyVersion::V1,
            file: file.into(),
            value: value.into(),
            ignore_missing: false,
            retry_on_einval: false,
            verify: false,
        }
    }

    /// A scratch directory of plain files standing in for a cgroup.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("husk-apply-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    #[test]
    fn writes_values_and_skips_missing_optional_knobs() {
        let dir = scratch("ok");
        std::fs::write(dir.join("a"), "old").unwrap_or_else(|e| panic!("{e}"));
        let mut optional = write("absent", "1");
        optional.ignore_missing = true;
        let mut checked = write("a", "42");
        checked.verify = true;
        // From a base (the directory itself), as cgroup writes go.
        let base = Base::open([dir.as_path()]);
        let r = execute(&base, &[checked, optional], |_| Some(dir.clone()));
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(
            std::fs::read_to_string(dir.join("a")).unwrap_or_default(),
            "42"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_names_field_file_and_os_error() {
        let dir = scratch("err");
        let e = execute(&Base::none(), &[write("absent", "7")], |_| {
            Some(dir.clone())
        })
        .err()
        .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.starts_with("linux.resources.test.absent: cannot write \"7\" to "),
            "{e}"
        );
        assert!(e.contains("absent: No such file or directory"), "{e}");
        let e = execute(&Base::none(), &[write("x", "1")], |_| None)
            .err()
            .map(|e| e.to_string());
        assert!(e
            .unwrap_or_default()
            .contains("memory cgroup controller isn't mounted"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
