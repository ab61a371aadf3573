//! Unit properties (pure): what the scope is started with, and
//! `linux.resources` as the systemd properties that own the same cgroup
//! files, following runc's tables (docs/systemd.md there).
//!
//! systemd rewrites the files it owns from its properties whenever it
//! re-realizes the unit (daemon-reload, a sibling's change, ...), so every
//! resource it has a property for is given to it as that property. Every
//! field is *also* written to the scope's files by the cgroupfs code
//! afterwards (as runc's fs-backed systemd managers do), which covers what
//! systemd has no property for (hugetlb, rdma, io limits, swappiness, ...)
//! and makes the values exact.

use oci_spec::runtime::LinuxResources;

use super::super::error::CgroupError;
use super::super::plan::shares_to_weight;
use super::name::ScopeName;

/// systemd releases that added a property runc maps.
const V_CPU_QUOTA_PERIOD: u32 = 242;
const V_ALLOWED_CPUS: u32 = 244;
const V_CPU_IDLE: u32 = 252;
const V_OOM_POLICY: u32 = 253;

/// The v2 CFS period when only a quota is given.
const DEFAULT_PERIOD_US: u64 = 100_000;
/// systemd stores CPU quota as a percentage: per-second values are rounded
/// up to 10 ms.
const QUOTA_STEP_US: u64 = 10_000;

/// A D-Bus value of the types these properties use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `b`
    Bool(bool),
    /// `s`
    Str(String),
    /// `t` (`u64::MAX` is systemd's "infinity")
    U64(u64),
    /// `au`
    U32s(Vec<u32>),
    /// `ay` (CPU and NUMA node bitmasks)
    Bytes(Vec<u8>),
}

/// One unit property, as `StartTransientUnit` and `SetUnitProperties` take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The property, e.g. `MemoryMax`.
    pub name: String,
    /// Its value.
    pub value: Value,
}

fn prop(name: &str, value: Value) -> Property {
    Property {
        name: name.to_string(),
        value,
    }
}

/// The scope's own properties: description, slice, delegation, the init's
/// pid, accounting on for every controller (so stats work as with cgroupfs),
/// and no default dependencies (a container must not be ordered after
/// `basic.target` or stopped by `shutdown.target` ordering).
pub fn scope_properties(scope: &ScopeName, pid: u32, v2: bool) -> Vec<Property> {
    let io_accounting = if v2 {
        "IOAccounting"
    } else {
        "BlockIOAccounting"
    };
    vec![
        prop(
            "Description",
            Value::Str(format!("husk container {}", scope.name)),
        ),
        prop("Slice", Value::Str(scope.slice.clone())),
        prop("Delegate", Value::Bool(true)),
        prop("PIDs", Value::U32s(vec![pid])),
        prop("MemoryAccounting", Value::Bool(true)),
        prop("CPUAccounting", Value::Bool(true)),
        prop(io_accounting, Value::Bool(true)),
        prop("TasksAccounting", Value::Bool(true)),
        prop("DefaultDependencies", Value::Bool(false)),
    ]
}

/// Properties systemd takes only when the unit starts: `OOMPolicy` from
/// `unified["memory.oom.group"]` (systemd ≥ 253).
pub fn start_only_properties(r: &LinuxResources, version: u32) -> Vec<Property> {
    let Some(v) = r.unified().as_ref().and_then(|u| u.get("memory.oom.group")) else {
        return Vec::new();
    };
    if version < V_OOM_POLICY {
        return Vec::new();
    }
    match v.trim() {
        "1" => vec![prop("OOMPolicy", Value::Str("kill".into()))],
        "0" => vec![prop("OOMPolicy", Value::Str("continue".into()))],
        _ => Vec::new(),
    }
}

/// `r` as unit properties for a systemd of `version` (0 when unknown: only
/// what every systemd has), plus the resources the cgroupfs code should
/// write afterwards: `r` with the CPU quota rounded the way systemd rounds
/// it, so both agree.
pub fn resource_properties(
    r: &LinuxResources,
    v2: bool,
    version: u32,
) -> Result<(Vec<Property>, LinuxResources), CgroupError> {
    let mut out = Vec::new();
    let mut fs = r.clone();
    if let Some(m) = r.memory() {
        let limit = m.limit().unwrap_or(0);
        if limit != 0 {
            let name = if v2 { "MemoryMax" } else { "MemoryLimit" };
            out.push(prop(name, bytes(limit)));
        }
        if v2 {
            let reservation = m.reservation().unwrap_or(0);
            if reservation != 0 {
                out.push(prop("MemoryLow", bytes(reservation)));
            }
            let swap = swap_to_v2(m.swap().unwrap_or(0), limit)
                .map_err(|e| CgroupError::invalid("linux.resources.memory.swap", e))?;
            if swap != 0 {
                out.push(prop("MemorySwapMax", bytes(swap)));
            }
        }
    }
    if let Some(c) = r.cpu() {
        let idle = v2 && c.idle() == Some(1) && version >= V_CPU_IDLE;
        if idle {
            // CPUWeight=0 is systemd's way of writing cpu.idle=1.
            out.push(prop("CPUWeight", Value::U64(0)));
        }
        if let Some(shares) = c.shares().filter(|&s| s != 0) {
            if !v2 {
                out.push(prop("CPUShares", Value::U64(shares)));
            } else if !idle {
                out.push(prop("CPUWeight", Value::U64(shares_to_weight(shares))));
            }
        }
        let mut quota = c.quota().unwrap_or(0);
        let period = c.period().unwrap_or(0);
        cpu_quota(&mut out, &mut quota, period, version);
        if quota != c.quota().unwrap_or(0) {
            let mut cpu = c.clone();
            cpu.set_quota(Some(quota));
            fs.set_cpu(Some(cpu));
        }
        for (field, file, value) in [
            ("cpus", "AllowedCPUs", c.cpus()),
            ("mems", "AllowedMemoryNodes", c.mems()),
        ] {
            let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            let bits = range_to_bits(v)
                .map_err(|e| CgroupError::invalid(format!("linux.resources.cpu.{field}"), e))?;
            if version >= V_ALLOWED_CPUS {
                out.push(prop(file, Value::Bytes(bits)));
            }
        }
    }
    if let Some(p) = r.pids() {
        // As the cgroupfs planner: 0 is unset, negative is no limit.
        match p.limit() {
            0 => {}
            l if l < 0 => out.push(prop("TasksMax", Value::U64(u64::MAX))),
            l => out.push(prop("TasksMax", Value::U64(l.unsigned_abs()))),
        }
    }
    if !v2 {
        if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
            if w != 0 {
                out.push(prop("BlockIOWeight", Value::U64(u64::from(w))));
            }
        }
    }
    if v2 {
        if let Some(u) = r.unified() {
            unified(&mut out, u, version)?;
        }
    }
    Ok((out, fs))
}

/// A v2 byte value: negative is "infinity".
fn bytes(v: i64) -> Value {
    Value::U64(u64::try_from(v).unwrap_or(u64::MAX))
}

/// runc's `ConvertMemorySwapToCgroupV2Value` (the cgroupfs planner has the
/// same rules): OCI memory+swap to the v2 swap-only value.
fn swap_to_v2(swap: i64, memory: i64) -> Result<i64, String> {
    match (swap, memory) {
        (0, -1) => Ok(-1),
        (-1 | 0, _) | (_, -1) => Ok(swap),
        (_, 0) => Err("unable to set swap limit without memory limit".into()),
        (_, m) if m < 0 => Err(format!("invalid memory value: {m}")),
        (s, m) if s < m => Err(format!(
            "memory+swap limit {s} should be >= memory limit {m}"
        )),
        (s, m) => Ok(s - m),
    }
}

/// runc's `addCPUQuota`: `CPUQuotaPeriodUSec` (systemd ≥ 242) and
/// `CPUQuotaPerSecUSec`, rounding the per-second value up to 10 ms as
/// systemd will, and `quota` with it.
fn cpu_quota(out: &mut Vec<Property>, quota: &mut i64, period: u64, version: u32) {
    if period != 0 && version >= V_CPU_QUOTA_PERIOD {
        out.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
    }
    if *quota == 0 && period == 0 {
        return;
    }
    let mut per_sec = u64::MAX;
    if let Ok(q) = u64::try_from(*quota) {
        if q > 0 {
            let p = if period == 0 {
                DEFAULT_PERIOD_US
            } else {
                period
            };
            let exact = u128::from(q) * 1_000_000 / u128::from(p);
            let rounded = exact.div_ceil(u128::from(QUOTA_STEP_US)) * u128::from(QUOTA_STEP_US);
            per_sec = u64::try_from(rounded).unwrap_or(u64::MAX);
            if rounded != exact {
                let q2 = rounded * u128::from(p) / 1_000_000;
                *quota = i64::try_from(q2).unwrap_or(i64::MAX);
            }
        }
    }
    out.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
}

/// `linux.resources.unified` entries systemd has properties for; the rest
/// is only written to the files.
fn unified(
    out: &mut Vec<Property>,
    u: &std::collections::HashMap<String, String>,
    version: u32,
) -> Result<(), CgroupError> {
    // HashMap order is random: sort so the property list is stable.
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    let idle = u.get("cpu.idle").is_some_and(|v| v.trim() == "1") && version >= V_CPU_IDLE;
    for k in keys {
        let v = u[k].trim();
        let field = || format!("linux.resources.unified.{k:?}");
        let num = |v: &str| -> Result<u64, CgroupError> {
            if v == "max" {
                return Ok(u64::MAX);
            }
            v.parse::<u64>()
                .map_err(|e| CgroupError::invalid(field(), format!("{v:?}: {e}")))
        };
        match k.as_str() {
            "cpu.idle" if idle => out.push(prop("CPUWeight", Value::U64(0))),
            "cpu.weight" if !idle => out.push(prop("CPUWeight", Value::U64(num(v)?))),
            "cpu.max" => {
                let parts: Vec<&str> = v.split_whitespace().collect();
                if parts.is_empty() || parts.len() > 2 {
                    return Err(CgroupError::invalid(
                        field(),
                        format!("{v:?} is not \"quota [period]\""),
                    ));
                }
                let mut quota = if parts[0] == "max" {
                    0
                } else {
                    parts[0]
                        .parse::<i64>()
                        .map_err(|e| CgroupError::invalid(field(), format!("{v:?}: {e}")))?
                };
                let period = match parts.get(1) {
                    Some(p) => p
                        .parse::<u64>()
                        .map_err(|e| CgroupError::invalid(field(), format!("{v:?}: {e}")))?,
                    None => DEFAULT_PERIOD_US,
                };
                cpu_quota(out, &mut quota, period, version);
            }
            "cpuset.cpus" | "cpuset.mems" => {
                let bits = range_to_bits(v).map_err(|e| CgroupError::invalid(field(), e))?;
                if version >= V_ALLOWED_CPUS {
                    let name = if k == "cpuset.cpus" {
                        "AllowedCPUs"
                    } else {
                        "AllowedMemoryNodes"
                    };
                    out.push(prop(name, Value::Bytes(bits)));
                }
            }
            "memory.high" => out.push(prop("MemoryHigh", Value::U64(num(v)?))),
            "memory.low" => out.push(prop("MemoryLow", Value::U64(num(v)?))),
            "memory.min" => out.push(prop("MemoryMin", Value::U64(num(v)?))),
            "memory.max" => out.push(prop("MemoryMax", Value::U64(num(v)?))),
            "memory.swap.max" => out.push(prop("MemorySwapMax", Value::U64(num(v)?))),
            // systemd refuses TasksMax=0.
            "pids.max" => out.push(prop("TasksMax", Value::U64(num(v)?.max(1)))),
            _ => {}
        }
    }
    Ok(())
}

/// A cpuset list (`0-3,8`) as systemd's bitmask: byte `n / 8`, bit `n % 8`.
pub fn range_to_bits(list: &str) -> Result<Vec<u8>, String> {
    /// Far beyond any real CPU count; keeps a typo from allocating gigabytes.
    const MAX_INDEX: usize = 1 << 16;
    let mut bits: Vec<u8> = Vec::new();
    for part in list.trim().split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let parse = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| format!("{list:?} is not a list such as \"0-3,6\""))
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi {
            return Err(format!("{list:?}: the range {part} runs backwards"));
        }
        if hi >= MAX_INDEX {
            return Err(format!("{list:?}: {hi} is out of range"));
        }
        if bits.len() <= hi / 8 {
            bits.resize(hi / 8 + 1, 0);
        }
        for n in lo..=hi {
            bits[n / 8] |= 1 << (n % 8);
        }
    }
    if bits.is_empty() {
        return Err(format!("{list:?} names no CPU or node"));
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    fn props(json: &str, v2: bool, version: u32) -> Vec<(String, Value)> {
        resource_properties(&res(json), v2, version)
            .unwrap_or_else(|e| panic!("{e}"))
            .0
            .into_iter()
            .map(|p| (p.name, p.value))
            .collect()
    }

    fn p(name: &str, v: Value) -> (String, Value) {
        (name.to_string(), v)
    }

    #[test]
    fn scope_has_runc_properties() {
        let scope = super::super::name::parse(Some("system.slice:husk:c1"), "c1")
            .unwrap_or_else(|e| panic!("{e}"));
        let got = scope_properties(&scope, 42, true);
        let names: Vec<&str> = got.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Description",
                "Slice",
                "Delegate",
                "PIDs",
                "MemoryAccounting",
                "CPUAccounting",
                "IOAccounting",
                "TasksAccounting",
                "DefaultDependencies"
            ]
        );
        assert_eq!(got[0].value, Value::Str("husk container c1".into()));
        assert_eq!(got[1].value, Value::Str("system.slice".into()));
        assert_eq!(got[3].value, Value::U32s(vec![42]));
        assert_eq!(got[8].value, Value::Bool(false));
        assert_eq!(
            scope_properties(&scope, 1, false)[6].name,
            "BlockIOAccounting"
        );
    }

    #[test]
    fn memory_pids_and_cpu_on_v2() {
        let got = props(
            r#"{"memory":{"limit":67108864,"reservation":1048576,"swap":134217728},
                "pids":{"limit":32},
                "cpu":{"shares":1024,"quota":50000,"period":100000,"cpus":"0-1,3"}}"#,
            true,
            252,
        );
        assert_eq!(
            got,
            vec![
                p("MemoryMax", Value::U64(64 << 20)),
                p("MemoryLow", Value::U64(1 << 20)),
                p("MemorySwapMax", Value::U64(64 << 20)),
                p("CPUWeight", Value::U64(100)),
                p("CPUQuotaPeriodUSec", Value::U64(100_000)),
                p("CPUQuotaPerSecUSec", Value::U64(500_000)),
                p("AllowedCPUs", Value::Bytes(vec![0b1011])),
                p("TasksMax", Value::U64(32)),
            ]
        );
    }

    #[test]
    fn unlimited_values_are_infinity_and_zero_is_unset() {
        let got = props(
            r#"{"memory":{"limit":-1},"pids":{"limit":-1},"cpu":{"quota":-1}}"#,
            true,
            252,
        );
        assert_eq!(
            got,
            vec![
                p("MemoryMax", Value::U64(u64::MAX)),
                p("MemorySwapMax", Value::U64(u64::MAX)),
                p("CPUQuotaPerSecUSec", Value::U64(u64::MAX)),
                p("TasksMax", Value::U64(u64::MAX)),
            ]
        );
        assert!(props(
            r#"{"memory":{"limit":0},"pids":{"limit":0},"cpu":{"shares":0}}"#,
            true,
            252
        )
        .is_empty());
    }

    #[test]
    fn v1_uses_the_legacy_names() {
        let got = props(
            r#"{"memory":{"limit":1048576,"swap":2097152},"cpu":{"shares":512},
                "blockIO":{"weight":300},"pids":{"limit":5}}"#,
            false,
            252,
        );
        assert_eq!(
            got,
            vec![
                p("MemoryLimit", Value::U64(1 << 20)),
                p("CPUShares", Value::U64(512)),
                p("TasksMax", Value::U64(5)),
                p("BlockIOWeight", Value::U64(300)),
            ]
        );
    }

    #[test]
    fn quota_is_rounded_up_to_ten_ms_and_the_files_follow() {
        let r = res(r#"{"cpu":{"quota":33333,"period":100000}}"#);
        let (got, fs) = resource_properties(&r, true, 252).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got[1], {
            let (n, v) = p("CPUQuotaPerSecUSec", Value::U64(340_000));
            Property { name: n, value: v }
        });
        assert_eq!(fs.cpu().as_ref().and_then(|c| c.quota()), Some(34_000));
        // A quota that is already a multiple stays as it is.
        let r = res(r#"{"cpu":{"quota":20000}}"#);
        let (got, fs) = resource_properties(&r, true, 252).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got[0].value, Value::U64(200_000));
        assert_eq!(fs, r);
    }

    #[test]
    fn old_systemd_gets_only_what_it_knows() {
        let json = r#"{"cpu":{"idle":1,"shares":2048,"period":50000,"quota":25000,"cpus":"1","mems":"0"}}"#;
        let new = props(json, true, 253);
        assert_eq!(new[0], p("CPUWeight", Value::U64(0)));
        assert!(new.iter().any(|(n, _)| n == "AllowedMemoryNodes"));
        assert!(new.iter().any(|(n, _)| n == "CPUQuotaPeriodUSec"));
        let old = props(json, true, 241);
        let names: Vec<&str> = old.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["CPUWeight", "CPUQuotaPerSecUSec"]);
        assert_ne!(old[0].1, Value::U64(0), "cpu.idle needs systemd 252");
    }

    #[test]
    fn unified_keys_map_like_runc() {
        let got = props(
            r#"{"unified":{"memory.high":"1000","memory.max":"max","pids.max":"0",
                "cpu.max":"max 20000","cpu.weight":"7","cpuset.mems":"0","io.weight":"5"}}"#,
            true,
            252,
        );
        assert_eq!(
            got,
            vec![
                p("CPUQuotaPeriodUSec", Value::U64(20_000)),
                p("CPUQuotaPerSecUSec", Value::U64(u64::MAX)),
                p("CPUWeight", Value::U64(7)),
                p("AllowedMemoryNodes", Value::Bytes(vec![1])),
                p("MemoryHigh", Value::U64(1000)),
                p("MemoryMax", Value::U64(u64::MAX)),
                p("TasksMax", Value::U64(1)),
            ]
        );
        let bad = resource_properties(&res(r#"{"unified":{"memory.max":"lots"}}"#), true, 252);
        assert!(bad
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("linux.resources.unified.\"memory.max\""));
    }

    #[test]
    fn oom_group_is_a_start_property_on_new_systemd() {
        let r = res(r#"{"unified":{"memory.oom.group":"1"}}"#);
        assert_eq!(
            start_only_properties(&r, 253),
            vec![prop("OOMPolicy", Value::Str("kill".into()))]
        );
        assert!(start_only_properties(&r, 252).is_empty());
    }

    #[test]
    fn bad_swap_and_cpus_name_the_field() {
        let e = resource_properties(&res(r#"{"memory":{"swap":100}}"#), true, 252)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("linux.resources.memory.swap: "), "{e}");
        let e = resource_properties(&res(r#"{"cpu":{"cpus":"3-1"}}"#), true, 252)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("linux.resources.cpu.cpus: "), "{e}");
    }

    #[test]
    fn cpu_lists_become_little_endian_bitmasks() {
        assert_eq!(range_to_bits("0"), Ok(vec![1]));
        assert_eq!(range_to_bits("0-7"), Ok(vec![0xff]));
        assert_eq!(range_to_bits("8"), Ok(vec![0, 1]));
        assert_eq!(range_to_bits("1,3, 9-10\n"), Ok(vec![0b1010, 0b110]));
        for bad in ["", ",", "a", "1-", "5-2", "70000"] {
            assert!(range_to_bits(bad).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz::gen::{cases, mutate, run, Rng};

    /// Resources → systemd properties, for v1 and v2 and old and new systemd:
    /// whatever the input, no panic.
    #[test]
    fn resource_properties_never_panic() {
        let base = crate::fuzz::rich_config()["linux"]["resources"].clone();
        run("systemd properties", cases(1500), |r: &mut Rng| {
            let mut v = base.clone();
            for _ in 0..1 + r.below(4) {
                mutate(r, &mut v);
            }
            if let Ok(res) = serde_json::from_value::<LinuxResources>(v) {
                for (v2, version) in [(false, 219), (true, 252), (true, 0)] {
                    let _ = resource_properties(&res, v2, version);
                    let _ = start_only_properties(&res, version);
                }
            }
            let list = ["0-3", "1,3-5", "", "9999999", "3-1", "0-", "a", "0,,1"][r.below(8)];
            let _ = range_to_bits(list);
        });
    }
}
