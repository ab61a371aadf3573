//! Parsers for the stat file formats (pure, tested on fixture text), plus
//! the few read helpers v1 and v2 share.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::super::error::CgroupError;
use super::super::fsio;
use super::{BlkioEntry, Pids};

/// `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`, ...).
pub fn flat_keyed(path: &Path, text: &str) -> Result<BTreeMap<String, u64>, CgroupError> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        match (it.next(), it.next(), it.next()) {
            (Some(k), Some(v), None) => {
                out.insert(k.to_string(), fsio::parse_u64(path, v)?);
            }
            _ => {
                return Err(CgroupError::parse(
                    path,
                    format!("{line:?} is not \"key value\""),
                ))
            }
        }
    }
    Ok(out)
}

/// Read a flat-keyed file; a missing file reads as empty.
pub fn read_flat_keyed(path: &Path) -> Result<BTreeMap<String, u64>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(text) => flat_keyed(path, &text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(CgroupError::read(path, e)),
    }
}

/// Read one number; a missing file reads as 0 (optional counters such as
/// `memory.memsw.*` without swap accounting, `memory.peak` on old kernels).
pub fn read_u64_or_zero(path: &Path) -> Result<u64, CgroupError> {
    match fsio::read_u64(path) {
        Err(CgroupError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(0),
        other => other,
    }
}

/// Space-separated numbers (`cpuacct.usage_percpu`).
pub fn numbers(path: &Path, text: &str) -> Result<Vec<u64>, CgroupError> {
    text.split_whitespace()
        .map(|v| fsio::parse_u64(path, v))
        .collect()
}

/// `cpuacct.usage_all`: a `cpu user system` header then one line per CPU.
/// Returns (user, kernel) per CPU.
pub fn usage_all(path: &Path, text: &str) -> Result<(Vec<u64>, Vec<u64>), CgroupError> {
    let (mut user, mut kernel) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            return Err(CgroupError::parse(
                path,
                format!("{line:?} is not \"cpu user system\""),
            ));
        }
        user.push(fsio::parse_u64(path, f[1])?);
        kernel.push(fsio::parse_u64(path, f[2])?);
    }
    Ok((user, kernel))
}

/// v1 blkio files: `8:0 Read 100` lines (or `8:0 100` without an op), with
/// a `Total N` line skipped, as runc does.
pub fn blkio_v1(path: &Path, text: &str) -> Result<Vec<BlkioEntry>, CgroupError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 2 && f[0] == "Total" {
            continue;
        }
        let bad =
            || CgroupError::parse(path, format!("{line:?} is not \"major:minor [op] value\""));
        let (major, minor) = f.first().and_then(|d| d.split_once(':')).ok_or_else(bad)?;
        let (op, value) = match f.len() {
            2 => ("", f[1]),
            3 => (f[1], f[2]),
            _ => return Err(bad()),
        };
        out.push(BlkioEntry {
            major: fsio::parse_u64(path, major)?,
            minor: fsio::parse_u64(path, minor)?,
            op: op.to_string(),
            value: fsio::parse_u64(path, value)?,
        });
    }
    Ok(out)
}

/// v2 `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...` into runc's
/// (service bytes, serviced) entries with ops `Read`/`Write`.
pub fn io_stat(path: &Path, text: &str) -> Result<(Vec<BlkioEntry>, Vec<BlkioEntry>), CgroupError> {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace();
        let dev = f.next().unwrap_or_default();
        let (major, minor) = dev.split_once(':').ok_or_else(|| {
            CgroupError::parse(path, format!("{line:?} does not start with major:minor"))
        })?;
        let (major, minor) = (fsio::parse_u64(path, major)?, fsio::parse_u64(path, minor)?);
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (table, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            table.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value: fsio::parse_u64(path, v)?,
            });
        }
    }
    Ok((bytes, ios))
}

/// The kernel's name for a huge page size given in kB: 2048 -> `2MB`,
/// 1048576 -> `1GB`, 64 -> `64KB` (the names in hugetlb file names).
pub fn page_size_name(kb: u64) -> String {
    if kb >= 1 << 20 && kb.is_multiple_of(1 << 20) {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 && kb.is_multiple_of(1 << 10) {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

/// The huge page sizes this host supports, from /sys/kernel/mm/hugepages;
/// none when that is unreadable (no hugetlb support).
pub fn host_page_sizes() -> Vec<String> {
    let Ok(entries) = fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<u64> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()
        })
        .collect();
    sizes.sort_unstable();
    sizes.into_iter().map(page_size_name).collect()
}

/// pids.current / pids.max (same on v1 and v2; `max` is reported as 0).
pub fn pids(dir: &Path, current: &str, max: &str) -> Result<Pids, CgroupError> {
    let limit = read_u64_or_zero(&dir.join(max))?;
    Ok(Pids {
        current: read_u64_or_zero(&dir.join(current))?,
        limit: if limit == u64::MAX { 0 } else { limit },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/fixture";

    #[test]
    fn flat_keyed_parses_and_rejects() {
        let m = flat_keyed(Path::new(P), "cache 10\nrss 20\n\n").unwrap_or_default();
        assert_eq!(m.get("rss"), Some(&20));
        assert!(flat_keyed(Path::new(P), "a b c\n").is_err());
        let e = flat_keyed(Path::new(P), "a x\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("/fixture"), "{e}");
    }

    #[test]
    fn blkio_v1_lines() {
        let text = "254:0 Read 4096\n254:0 Write 0\n254:0 1000\nTotal 4096\n";
        let e = blkio_v1(Path::new(P), text).unwrap_or_default();
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[0],
            BlkioEntry {
                major: 254,
                minor: 0,
                op: "Read".into(),
                value: 4096
            }
        );
        assert_eq!(e[2].op, "");
        assert!(blkio_v1(Path::new(P), "garbage line here too\n").is_err());
        assert_eq!(blkio_v1(Path::new(P), "").map(|e| e.len()).ok(), Some(0));
    }

    #[test]
    fn io_stat_maps_to_read_write() {
        let text = "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n";
        let (b, i) = io_stat(Path::new(P), text).unwrap_or_default();
        assert_eq!(
            b.iter()
                .map(|e| (e.op.as_str(), e.value))
                .collect::<Vec<_>>(),
            vec![("Read", 100), ("Write", 200)]
        );
        assert_eq!(i.len(), 2);
        assert_eq!(i[1].minor, 0);
    }

    #[test]
    fn usage_all_and_numbers() {
        let (u, k) =
            usage_all(Path::new(P), "cpu user system\n0 10 20\n1 30 40\n").unwrap_or_default();
        assert_eq!((u, k), (vec![10, 30], vec![20, 40]));
        assert_eq!(
            numbers(Path::new(P), "1 2 3 \n").unwrap_or_default(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn page_size_names() {
        assert_eq!(page_size_name(2048), "2MB");
        assert_eq!(page_size_name(1_048_576), "1GB");
        assert_eq!(page_size_name(64), "64KB");
        assert_eq!(page_size_name(32_768), "32MB");
    }
}
