//! husk's cgroup statistics as containerd's metrics: cgroups v1
//! (`io.containerd.cgroups.v1.Metrics`) on a v1 or hybrid host, cgroups v2
//! (`io.containerd.cgroups.v2.Metrics`) on a unified host, as containerd decides
//! (`ctr task metrics` and the CRI plugin decode either).

use containerd_shim::protos::cgroups::metrics::{
    BlkIOEntry, BlkIOStat, CPUStat, CPUUsage, HugetlbStat, MemoryEntry, MemoryOomControl,
    MemoryStat, Metrics, PidsStat, Throttle,
};
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::MessageField;
use husk::cgroups::{BlkioEntry, MemoryEntry as HuskMemoryEntry, Stats};

fn entry(e: &HuskMemoryEntry) -> MessageField<MemoryEntry> {
    MessageField::some(MemoryEntry {
        limit: e.limit,
        usage: e.usage,
        max: e.max,
        failcnt: e.failcnt,
        ..Default::default()
    })
}

/// `/dev/NAME` of a block device from sysfs, as containerd fills `device`.
fn device_name(major: u64, minor: u64) -> String {
    std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"))
        .ok()
        .and_then(|u| {
            u.lines()
                .find_map(|l| l.strip_prefix("DEVNAME=").map(|n| format!("/dev/{n}")))
        })
        .unwrap_or_default()
}

fn blkio(v: &[BlkioEntry]) -> Vec<BlkIOEntry> {
    v.iter()
        .map(|e| BlkIOEntry {
            op: e.op.clone(),
            device: device_name(e.major, e.minor),
            major: e.major,
            minor: e.minor,
            value: e.value,
            ..Default::default()
        })
        .collect()
}

/// Converts; `oom_kills` is the memory cgroup's OOM-kill count.
pub fn to_v1(s: &Stats, oom_kills: Option<u64>) -> Metrics {
    let raw = |k: &str| s.memory.raw.get(k).copied().unwrap_or(0);
    let memory = MemoryStat {
        cache: raw("cache"),
        rss: raw("rss"),
        rss_huge: raw("rss_huge"),
        mapped_file: raw("mapped_file"),
        dirty: raw("dirty"),
        writeback: raw("writeback"),
        pg_pg_in: raw("pgpgin"),
        pg_pg_out: raw("pgpgout"),
        pg_fault: raw("pgfault"),
        pg_maj_fault: raw("pgmajfault"),
        inactive_anon: raw("inactive_anon"),
        active_anon: raw("active_anon"),
        inactive_file: raw("inactive_file"),
        active_file: raw("active_file"),
        unevictable: raw("unevictable"),
        hierarchical_memory_limit: raw("hierarchical_memory_limit"),
        hierarchical_swap_limit: raw("hierarchical_memsw_limit"),
        total_cache: raw("total_cache"),
        total_rss: raw("total_rss"),
        total_rss_huge: raw("total_rss_huge"),
        total_mapped_file: raw("total_mapped_file"),
        total_dirty: raw("total_dirty"),
        total_writeback: raw("total_writeback"),
        total_pg_pg_in: raw("total_pgpgin"),
        total_pg_pg_out: raw("total_pgpgout"),
        total_pg_fault: raw("total_pgfault"),
        total_pg_maj_fault: raw("total_pgmajfault"),
        total_inactive_anon: raw("total_inactive_anon"),
        total_active_anon: raw("total_active_anon"),
        total_inactive_file: raw("total_inactive_file"),
        total_active_file: raw("total_active_file"),
        total_unevictable: raw("total_unevictable"),
        usage: entry(&s.memory.usage),
        swap: entry(&s.memory.swap),
        kernel: entry(&s.memory.kernel),
        kernel_tcp: entry(&s.memory.kernel_tcp),
        ..Default::default()
    };
    let b = &s.blkio;
    Metrics {
        hugetlb: s
            .hugetlb
            .iter()
            .map(|(size, h)| HugetlbStat {
                usage: h.usage,
                max: h.max,
                failcnt: h.failcnt,
                pagesize: size.clone(),
                ..Default::default()
            })
            .collect(),
        pids: MessageField::some(PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(CPUStat {
            usage: MessageField::some(CPUUsage {
                total: s.cpu.usage.total,
                kernel: s.cpu.usage.kernel,
                user: s.cpu.usage.user,
                per_cpu: s.cpu.usage.percpu.clone(),
                ..Default::default()
            }),
            throttling: MessageField::some(Throttle {
                periods: s.cpu.throttling.periods,
                throttled_periods: s.cpu.throttling.throttled_periods,
                throttled_time: s.cpu.throttling.throttled_time,
                ..Default::default()
            }),
            ..Default::default()
        }),
        memory: MessageField::some(memory),
        blkio: MessageField::some(BlkIOStat {
            io_service_bytes_recursive: blkio(&b.io_service_bytes_recursive),
            io_serviced_recursive: blkio(&b.io_serviced_recursive),
            io_queued_recursive: blkio(&b.io_queued_recursive),
            io_service_time_recursive: blkio(&b.io_service_time_recursive),
            io_wait_time_recursive: blkio(&b.io_wait_time_recursive),
            io_merged_recursive: blkio(&b.io_merged_recursive),
            io_time_recursive: blkio(&b.io_time_recursive),
            sectors_recursive: blkio(&b.sectors_recursive),
            ..Default::default()
        }),
        memory_oom_control: match oom_kills {
            Some(n) => MessageField::some(MemoryOomControl {
                oom_kill: n,
                ..Default::default()
            }),
            None => MessageField::none(),
        },
        ..Default::default()
    }
}

/// Whether the host is cgroup v2 only (`/sys/fs/cgroup` is a cgroup2 mount).
pub fn unified_host() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// Converts for a v2 host; `oom_kills` is `memory.events`' `oom_kill`.
pub fn to_v2(s: &Stats, oom_kills: Option<u64>) -> v2::Metrics {
    let raw = |k: &str| s.memory.raw.get(k).copied().unwrap_or(0);
    // husk reports swap as memory+swap (runc's v1 shape); v2 wants swap alone.
    let swap_usage = s.memory.swap.usage.saturating_sub(s.memory.usage.usage);
    let swap_limit = if s.memory.swap.limit == u64::MAX || s.memory.usage.limit == u64::MAX {
        s.memory.swap.limit
    } else {
        s.memory.swap.limit.saturating_sub(s.memory.usage.limit)
    };
    let mut io: Vec<v2::IOEntry> = Vec::new();
    let mut entry = |major: u64, minor: u64| -> usize {
        match io.iter().position(|e| e.major == major && e.minor == minor) {
            Some(i) => i,
            None => {
                io.push(v2::IOEntry {
                    major,
                    minor,
                    ..Default::default()
                });
                io.len() - 1
            }
        }
    };
    let mut pending = Vec::new();
    for e in &s.blkio.io_service_bytes_recursive {
        pending.push((entry(e.major, e.minor), e.op.as_str(), true, e.value));
    }
    for e in &s.blkio.io_serviced_recursive {
        pending.push((entry(e.major, e.minor), e.op.as_str(), false, e.value));
    }
    for (i, op, bytes, v) in pending {
        let e = &mut io[i];
        match (op, bytes) {
            ("Read", true) => e.rbytes = v,
            ("Write", true) => e.wbytes = v,
            ("Read", false) => e.rios = v,
            ("Write", false) => e.wios = v,
            _ => {}
        }
    }
    v2::Metrics {
        pids: MessageField::some(v2::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(v2::CPUStat {
            usage_usec: s.cpu.usage.total / 1000,
            user_usec: s.cpu.usage.user / 1000,
            system_usec: s.cpu.usage.kernel / 1000,
            nr_periods: s.cpu.throttling.periods,
            nr_throttled: s.cpu.throttling.throttled_periods,
            throttled_usec: s.cpu.throttling.throttled_time / 1000,
            ..Default::default()
        }),
        memory: MessageField::some(v2::MemoryStat {
            anon: raw("anon"),
            file: raw("file"),
            kernel_stack: raw("kernel_stack"),
            slab: raw("slab"),
            sock: raw("sock"),
            shmem: raw("shmem"),
            file_mapped: raw("file_mapped"),
            file_dirty: raw("file_dirty"),
            file_writeback: raw("file_writeback"),
            anon_thp: raw("anon_thp"),
            inactive_anon: raw("inactive_anon"),
            active_anon: raw("active_anon"),
            inactive_file: raw("inactive_file"),
            active_file: raw("active_file"),
            unevictable: raw("unevictable"),
            slab_reclaimable: raw("slab_reclaimable"),
            slab_unreclaimable: raw("slab_unreclaimable"),
            pgfault: raw("pgfault"),
            pgmajfault: raw("pgmajfault"),
            workingset_refault: raw("workingset_refault"),
            workingset_activate: raw("workingset_activate"),
            workingset_nodereclaim: raw("workingset_nodereclaim"),
            pgrefill: raw("pgrefill"),
            pgscan: raw("pgscan"),
            pgsteal: raw("pgsteal"),
            pgactivate: raw("pgactivate"),
            pgdeactivate: raw("pgdeactivate"),
            pglazyfree: raw("pglazyfree"),
            pglazyfreed: raw("pglazyfreed"),
            thp_fault_alloc: raw("thp_fault_alloc"),
            thp_collapse_alloc: raw("thp_collapse_alloc"),
            usage: s.memory.usage.usage,
            usage_limit: s.memory.usage.limit,
            swap_usage,
            swap_limit,
            max_usage: s.memory.usage.max,
            ..Default::default()
        }),
        io: MessageField::some(v2::IOStat {
            usage: io,
            ..Default::default()
        }),
        hugetlb: s
            .hugetlb
            .iter()
            .map(|(size, h)| v2::HugeTlbStat {
                current: h.usage,
                max: h.max,
                pagesize: size.clone(),
                ..Default::default()
            })
            .collect(),
        memory_events: MessageField::some(v2::MemoryEvents {
            max: s.memory.usage.failcnt,
            oom_kill: oom_kills.unwrap_or(0),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The metrics for this host, as the `Any` containerd expects.
pub fn to_any(s: &Stats, oom_kills: Option<u64>) -> Result<Any, String> {
    if unified_host() {
        crate::any::pack(crate::any::CGROUPS_V2, &to_v2(s, oom_kills))
    } else {
        crate::any::pack(crate::any::CGROUPS_V1, &to_v1(s, oom_kills))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::protobuf::Message;

    #[test]
    fn stats_map_to_v1_metrics() {
        let mut s = Stats::default();
        s.cpu.usage.total = 5;
        s.cpu.usage.percpu = vec![2, 3];
        s.memory.usage.usage = 4096;
        s.memory.usage.limit = 1 << 20;
        s.memory.raw.insert("total_rss".into(), 77);
        s.memory.raw.insert("hierarchical_memsw_limit".into(), 9);
        s.pids.current = 3;
        s.pids.limit = 10;
        let m = to_v1(&s, Some(2));
        assert_eq!(m.cpu.usage.per_cpu, vec![2, 3]);
        assert_eq!(m.memory.usage.usage, 4096);
        assert_eq!(m.memory.total_rss, 77);
        assert_eq!(m.memory.hierarchical_swap_limit, 9);
        assert_eq!(m.pids.current, 3);
        assert_eq!(m.memory_oom_control.oom_kill, 2);
        let bytes = m.write_to_bytes().expect("encodes");
        let back = Metrics::parse_from_bytes(&bytes).expect("decodes");
        assert_eq!(back, m);
        assert_eq!(
            <Metrics as containerd_shim::protos::protobuf::MessageFull>::descriptor().full_name(),
            "io.containerd.cgroups.v1.Metrics"
        );
    }

    #[test]
    fn stats_map_to_v2_metrics() {
        let mut s = Stats::default();
        s.cpu.usage.total = 5_000;
        s.cpu.usage.user = 3_000;
        s.memory.usage.usage = 100;
        s.memory.usage.limit = 1000;
        s.memory.swap.usage = 130;
        s.memory.swap.limit = 1500;
        s.memory.raw.insert("anon".into(), 64);
        for (op, v) in [("Read", 10), ("Write", 20)] {
            s.blkio.io_service_bytes_recursive.push(BlkioEntry {
                major: 8,
                minor: 0,
                op: op.into(),
                value: v,
            });
            s.blkio.io_serviced_recursive.push(BlkioEntry {
                major: 8,
                minor: 0,
                op: op.into(),
                value: v / 10,
            });
        }
        let m = to_v2(&s, Some(1));
        assert_eq!(m.cpu.usage_usec, 5);
        assert_eq!(m.cpu.user_usec, 3);
        assert_eq!((m.memory.swap_usage, m.memory.swap_limit), (30, 500));
        assert_eq!(m.memory.anon, 64);
        assert_eq!(m.io.usage.len(), 1);
        let e = &m.io.usage[0];
        assert_eq!((e.rbytes, e.wbytes, e.rios, e.wios), (10, 20, 1, 2));
        assert_eq!(m.memory_events.oom_kill, 1);
        assert_eq!(
            <v2::Metrics as containerd_shim::protos::protobuf::MessageFull>::descriptor()
                .full_name(),
            "io.containerd.cgroups.v2.Metrics"
        );
    }
}
