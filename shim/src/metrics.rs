//! husk's cgroup statistics as containerd's cgroups v1 metrics
//! (`io.containerd.cgroups.v1.Metrics`, what `ctr task metrics` and the CRI
//! plugin decode on a v1 or hybrid host).

use containerd_shim::protos::cgroups::metrics::{
    BlkIOEntry, BlkIOStat, CPUStat, CPUUsage, HugetlbStat, MemoryEntry, MemoryOomControl,
    MemoryStat, Metrics, PidsStat, Throttle,
};
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
}
