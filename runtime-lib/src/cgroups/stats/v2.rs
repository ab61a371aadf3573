//! Reading v2 statistics from the container's single directory.

use std::collections::BTreeMap;
use std::path::Path;

use super::super::error::CgroupError;
use super::super::fsio;
use super::parse::{io_stat, pids, read_flat_keyed, read_u64_or_zero};
use super::{Blkio, Hugetlb, MemoryEntry, Stats};

/// Everything, from one v2 directory.
pub fn read_all(dir: &Path, pages: &[String], s: &mut Stats) -> Result<(), CgroupError> {
    cpu(dir, s)?;
    memory(dir, s)?;
    s.pids = pids(dir, "pids.current", "pids.max")?;
    s.blkio = io(dir)?;
    s.hugetlb = hugetlb(dir, pages)?;
    Ok(())
}

/// `cpu.stat` (microseconds) into runc's nanoseconds.
fn cpu(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let stat = read_flat_keyed(&dir.join("cpu.stat"))?;
    let get = |k: &str| stat.get(k).copied().unwrap_or(0);
    s.cpu.usage.total = get("usage_usec").saturating_mul(1000);
    s.cpu.usage.user = get("user_usec").saturating_mul(1000);
    s.cpu.usage.kernel = get("system_usec").saturating_mul(1000);
    s.cpu.throttling.periods = get("nr_periods");
    s.cpu.throttling.throttled_periods = get("nr_throttled");
    s.cpu.throttling.throttled_time = get("throttled_usec").saturating_mul(1000);
    Ok(())
}

fn memory_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry, CgroupError> {
    let events = read_flat_keyed(&dir.join(format!("{prefix}.events")))?;
    Ok(MemoryEntry {
        limit: read_u64_or_zero(&dir.join(format!("{prefix}.max")))?,
        usage: read_u64_or_zero(&dir.join(format!("{prefix}.current")))?,
        max: read_u64_or_zero(&dir.join(format!("{prefix}.peak")))?,
        failcnt: events.get("max").copied().unwrap_or(0),
    })
}

/// Memory, with swap reported as memory+swap for v1 compatibility, as runc
/// does (and no peak for the sum, which cannot be derived).
fn memory(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let m = &mut s.memory;
    m.raw = read_flat_keyed(&dir.join("memory.stat"))?;
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    m.usage = memory_entry(dir, "memory")?;
    let mut swap = memory_entry(dir, "memory.swap")?;
    swap.usage = swap.usage.saturating_add(m.usage.usage);
    if swap.limit != u64::MAX {
        swap.limit = swap.limit.saturating_add(m.usage.limit);
    }
    swap.max = 0;
    m.swap = swap;
    Ok(())
}

fn io(dir: &Path) -> Result<Blkio, CgroupError> {
    let path = dir.join("io.stat");
    if !path.exists() {
        return Ok(Blkio::default());
    }
    let (bytes, ios) = io_stat(&path, &fsio::read_string(&path)?)?;
    Ok(Blkio {
        io_service_bytes_recursive: bytes,
        io_serviced_recursive: ios,
        ..Blkio::default()
    })
}

/// `hugetlb.<size>.current` and the `max` count of `hugetlb.<size>.events`.
pub fn hugetlb(dir: &Path, pages: &[String]) -> Result<BTreeMap<String, Hugetlb>, CgroupError> {
    let mut out = BTreeMap::new();
    for size in pages {
        let current = dir.join(format!("hugetlb.{size}.current"));
        if !current.exists() {
            continue;
        }
        let events = read_flat_keyed(&dir.join(format!("hugetlb.{size}.events")))?;
        out.insert(
            size.clone(),
            Hugetlb {
                usage: fsio::read_u64(&current)?,
                max: 0,
                failcnt: events.get("max").copied().unwrap_or(0),
            },
        );
    }
    Ok(out)
}
