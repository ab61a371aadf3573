//! Resource usage, shaped like the `data` object of runc's
//! `events --stats` JSON (same keys, same omissions), so tools that parse
//! runc's output parse ours.

mod parse;
mod v1;
mod v2;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::CgroupError;
use super::handle::CgroupHandle;
use super::layout::{CgroupMode, HierarchyVersion};

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// All statistics of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: Cpu,
    /// Memory, swap and kernel memory.
    pub memory: Memory,
    /// Process count.
    pub pids: Pids,
    /// Block I/O.
    pub blkio: Blkio,
    /// Hugetlb usage per page size (`"2MB"`).
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

/// CPU statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    /// Time used.
    pub usage: CpuUsage,
    /// CFS throttling.
    pub throttling: Throttling,
}

/// CPU time, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    /// Total.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU, kernel mode (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU, user mode (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Kernel mode.
    pub kernel: u64,
    /// User mode.
    pub user: u64,
}

/// CFS bandwidth throttling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Time throttled, in nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// One memory counter set (bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEntry {
    /// The limit (`u64::MAX` for none).
    pub limit: u64,
    /// Current usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Memory statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    /// Page cache (v1 `cache`, v2 `file`).
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory + swap, as v1 reports it (v2 values are combined to match).
    pub swap: MemoryEntry,
    /// Kernel memory (v1 only).
    pub kernel: MemoryEntry,
    /// Kernel TCP memory (v1 only).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// Every line of `memory.stat`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Process count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pids {
    /// Processes now.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// Limit; 0 for none.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// One block I/O counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor.
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total` or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Block I/O statistics (recursive over sub-cgroups).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Blkio {
    /// Bytes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    /// Queued operations (CFQ only).
    #[serde(skip_serializing_if = "Vec::is_empty", rename = "ioQueueRecursive")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    /// Service time (CFQ only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    /// Wait time (CFQ only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    /// Merged operations (CFQ only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    /// Device time (CFQ only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    /// Sectors (CFQ only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

/// Hugetlb statistics for one page size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hugetlb {
    /// Bytes in use.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak bytes (v1 only).
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Allocations that failed on the limit.
    pub failcnt: u64,
}

impl CgroupHandle {
    /// cpu, memory, pids, blkio and hugetlb statistics, each read from the
    /// hierarchy that carries it. A controller this host lacks leaves its
    /// part at zero, as runc does.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        let pages = parse::host_page_sizes();
        if self.mode == CgroupMode::V2 {
            if let Some(d) = self.v2_dir() {
                v2::read_all(&d, &pages, &mut s)?;
            }
            return Ok(s);
        }
        let v1 = |c: &str| self.dir_for(HierarchyVersion::V1, c);
        if let Some(d) = v1("cpuacct") {
            v1::cpuacct(d, &mut s.cpu)?;
        }
        if let Some(d) = v1("cpu") {
            v1::cpu_throttling(d, &mut s.cpu.throttling)?;
        }
        if let Some(d) = v1("memory") {
            v1::memory(d, &mut s.memory)?;
        }
        if let Some(d) = v1("pids") {
            s.pids = parse::pids(d, "pids.current", "pids.max")?;
        }
        if let Some(d) = v1("blkio") {
            s.blkio = v1::blkio(d)?;
        }
        if let Some(d) = v1("hugetlb") {
            s.hugetlb = v1::hugetlb(d, &pages)?;
        } else if let Some(d) = self.dir_for(HierarchyVersion::V2, "hugetlb") {
            // Hybrid host with hugetlb on the unified hierarchy.
            if self.unified_has("hugetlb") {
                s.hugetlb = v2::hugetlb(d, &pages)?;
            }
        }
        Ok(s)
    }

    fn unified_has(&self, controller: &str) -> bool {
        self.dirs.iter().any(|d| {
            d.version == HierarchyVersion::V2 && d.controllers.iter().any(|c| c == controller)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_stats_serialize_like_runc() {
        let json = serde_json::to_string(&Stats::default()).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"cpu":{"usage":{"kernel":0,"user":0},"throttling":{}},"memory":{"usage":{"limit":0,"failcnt":0},"swap":{"limit":0,"failcnt":0},"kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0}},"pids":{},"blkio":{},"hugetlb":{}}"#
        );
    }

    #[test]
    fn keys_are_runcs() {
        let mut s = Stats::default();
        s.cpu.throttling.throttled_periods = 1;
        s.blkio.io_queued_recursive.push(BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 1,
        });
        s.hugetlb.insert(
            "2MB".into(),
            Hugetlb {
                usage: 1,
                max: 0,
                failcnt: 0,
            },
        );
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert!(json.contains(r#""throttledPeriods":1"#), "{json}");
        assert!(
            json.contains(r#""ioQueueRecursive":[{"major":8,"op":"Read","value":1}]"#),
            "{json}"
        );
        assert!(
            json.contains(r#""hugetlb":{"2MB":{"usage":1,"failcnt":0}}"#),
            "{json}"
        );
        let back: Stats = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, s);
    }
}
