//! Reading v1 statistics, one controller directory at a time.

use std::collections::BTreeMap;
use std::path::Path;

use super::super::error::CgroupError;
use super::super::fsio;
use super::parse::{blkio_v1, numbers, read_flat_keyed, read_u64_or_zero, usage_all};
use super::{Blkio, BlkioEntry, Cpu, Hugetlb, Memory, MemoryEntry, Throttling};

/// `cpuacct.*`: total, per-CPU and user/kernel time in nanoseconds.
pub fn cpuacct(dir: &Path, cpu: &mut Cpu) -> Result<(), CgroupError> {
    cpu.usage.total = read_u64_or_zero(&dir.join("cpuacct.usage"))?;
    let percpu = dir.join("cpuacct.usage_percpu");
    if percpu.exists() {
        cpu.usage.percpu = numbers(&percpu, &fsio::read_string(&percpu)?)?;
    }
    let all = dir.join("cpuacct.usage_all");
    if all.exists() {
        let (user, kernel) = usage_all(&all, &fsio::read_string(&all)?)?;
        cpu.usage.percpu_user = user;
        cpu.usage.percpu_kernel = kernel;
    }
    // cpuacct.stat counts USER_HZ ticks; runc reports nanoseconds.
    let stat = read_flat_keyed(&dir.join("cpuacct.stat"))?;
    let ns_per_tick = 1_000_000_000 / clock_ticks();
    cpu.usage.user = stat
        .get("user")
        .copied()
        .unwrap_or(0)
        .saturating_mul(ns_per_tick);
    cpu.usage.kernel = stat
        .get("system")
        .copied()
        .unwrap_or(0)
        .saturating_mul(ns_per_tick);
    Ok(())
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions and only reads configuration.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// `cpu.stat`: CFS throttling (throttled_time is already in ns on v1).
pub fn cpu_throttling(dir: &Path, t: &mut Throttling) -> Result<(), CgroupError> {
    let stat = read_flat_keyed(&dir.join("cpu.stat"))?;
    let get = |k: &str| stat.get(k).copied().unwrap_or(0);
    t.periods = get("nr_periods");
    t.throttled_periods = get("nr_throttled");
    t.throttled_time = get("throttled_time");
    Ok(())
}

fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry, CgroupError> {
    let f = |name: &str| read_u64_or_zero(&dir.join(format!("{prefix}.{name}")));
    Ok(MemoryEntry {
        limit: f("limit_in_bytes")?,
        usage: f("usage_in_bytes")?,
        max: f("max_usage_in_bytes")?,
        failcnt: f("failcnt")?,
    })
}

/// `memory.*`: usage, memsw, kmem, kmem.tcp and `memory.stat`.
pub fn memory(dir: &Path, m: &mut Memory) -> Result<(), CgroupError> {
    m.raw = read_flat_keyed(&dir.join("memory.stat"))?;
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    m.usage = entry(dir, "memory")?;
    m.swap = entry(dir, "memory.memsw")?;
    m.kernel = entry(dir, "memory.kmem")?;
    m.kernel_tcp = entry(dir, "memory.kmem.tcp")?;
    Ok(())
}

/// Read one blkio stat file; `None` when missing or empty.
fn blkio_file(dir: &Path, name: &str) -> Result<Option<Vec<BlkioEntry>>, CgroupError> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    let entries = blkio_v1(&path, &fsio::read_string(&path)?)?;
    Ok((!entries.is_empty()).then_some(entries))
}

/// Block I/O: the first group of files whose first file has data, in
/// runc's order: BFQ, CFQ, throttle (recursive), throttle.
pub fn blkio(dir: &Path) -> Result<Blkio, CgroupError> {
    type Set = fn(&mut Blkio, Vec<BlkioEntry>);
    let groups: [&[(&str, Set)]; 4] = [
        &[
            ("blkio.bfq.io_serviced_recursive", |b, e| {
                b.io_serviced_recursive = e
            }),
            ("blkio.bfq.io_service_bytes_recursive", |b, e| {
                b.io_service_bytes_recursive = e
            }),
        ],
        &[
            ("blkio.sectors_recursive", |b, e| b.sectors_recursive = e),
            ("blkio.io_service_bytes_recursive", |b, e| {
                b.io_service_bytes_recursive = e
            }),
            ("blkio.io_serviced_recursive", |b, e| {
                b.io_serviced_recursive = e
            }),
            ("blkio.io_queued_recursive", |b, e| {
                b.io_queued_recursive = e
            }),
            ("blkio.io_service_time_recursive", |b, e| {
                b.io_service_time_recursive = e
            }),
            ("blkio.io_wait_time_recursive", |b, e| {
                b.io_wait_time_recursive = e
            }),
            ("blkio.io_merged_recursive", |b, e| {
                b.io_merged_recursive = e
            }),
            ("blkio.time_recursive", |b, e| b.io_time_recursive = e),
        ],
        &[
            ("blkio.throttle.io_serviced_recursive", |b, e| {
                b.io_serviced_recursive = e
            }),
            ("blkio.throttle.io_service_bytes_recursive", |b, e| {
                b.io_service_bytes_recursive = e
            }),
        ],
        &[
            ("blkio.throttle.io_serviced", |b, e| {
                b.io_serviced_recursive = e
            }),
            ("blkio.throttle.io_service_bytes", |b, e| {
                b.io_service_bytes_recursive = e
            }),
        ],
    ];
    for group in groups {
        let mut b = Blkio::default();
        let Some(first) = blkio_file(dir, group[0].0)? else {
            continue;
        };
        (group[0].1)(&mut b, first);
        for (name, set) in &group[1..] {
            if let Some(e) = blkio_file(dir, name)? {
                set(&mut b, e);
            }
        }
        return Ok(b);
    }
    Ok(Blkio::default())
}

/// `hugetlb.<size>.*` for every page size of the host.
pub fn hugetlb(dir: &Path, pages: &[String]) -> Result<BTreeMap<String, Hugetlb>, CgroupError> {
    let mut out = BTreeMap::new();
    for size in pages {
        let f = |name: &str| read_u64_or_zero(&dir.join(format!("hugetlb.{size}.{name}")));
        out.insert(
            size.clone(),
            Hugetlb {
                usage: f("usage_in_bytes")?,
                max: f("max_usage_in_bytes")?,
                failcnt: f("failcnt")?,
            },
        );
    }
    Ok(out)
}
