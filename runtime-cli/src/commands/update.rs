//! `husk update`: new cgroup limits for a container, from flags or a resources JSON
//! (`--resources -` reads stdin, as docker sends it).

use std::io::Read;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::Ctx;

// `update [flags] ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// LinuxResources JSON file, or - for stdin.
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Memory limit (bytes, or with k/m/g/t suffix).
    #[arg(long)]
    pub memory: Option<String>,
    /// Memory + swap limit (-1 for unlimited).
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Kernel memory limit (ignored by kernels >= 5.16, as by runc).
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<String>,
    /// Kernel TCP memory limit.
    #[arg(long = "kernel-memory-tcp")]
    pub kernel_memory_tcp: Option<String>,
    /// CPU shares (relative weight). runc spells it `--cpu-share`; `--cpu-shares`
    /// is accepted too.
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// Realtime period in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime in microseconds.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs allowed (e.g. 0-1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids (-1 unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Intel RDT L3 cache schema.
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema.
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    /// SCHED_IDLE for the cgroup (v2): 0 or 1.
    #[arg(long = "cpu-idle")]
    pub cpu_idle: Option<i64>,
    /// Container id.
    pub id: String,
}

/// Parses `1024`, `512k`, `64m`, `1.5g`, `2GiB` (binary units, as runc), `-1`.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult: f64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(format!("invalid size {s:?}")),
    };
    Ok((n * mult) as i64)
}

fn set(obj: &mut Map<String, Value>, section: &str, key: &str, v: Value) {
    let sec = obj.entry(section).or_insert_with(|| json!({}));
    sec[key] = v;
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    let mut res: Map<String, Value> = match a.resources.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            serde_json::from_str(&s).map_err(|e| format!("--resources: stdin: {e}"))?
        }
        Some(f) => husk::spec::load_file(Path::new(f))?,
        None => Map::new(),
    };
    let bytes = |o: &Option<String>, flag: &str| -> Result<Option<i64>, String> {
        o.as_deref()
            .map(parse_bytes)
            .transpose()
            .map_err(|e| format!("--{flag}: {e}"))
    };
    if let Some(v) = bytes(&a.memory, "memory")? {
        set(&mut res, "memory", "limit", v.into());
    }
    if let Some(v) = bytes(&a.memory_swap, "memory-swap")? {
        set(&mut res, "memory", "swap", v.into());
    }
    if let Some(v) = bytes(&a.memory_reservation, "memory-reservation")? {
        set(&mut res, "memory", "reservation", v.into());
    }
    if let Some(v) = bytes(&a.kernel_memory, "kernel-memory")? {
        set(&mut res, "memory", "kernel", v.into());
    }
    if let Some(v) = bytes(&a.kernel_memory_tcp, "kernel-memory-tcp")? {
        set(&mut res, "memory", "kernelTCP", v.into());
    }
    let cpu: [(&str, Option<Value>); 7] = [
        ("shares", a.cpu_shares.map(Into::into)),
        ("quota", a.cpu_quota.map(Into::into)),
        ("period", a.cpu_period.map(Into::into)),
        ("realtimePeriod", a.cpu_rt_period.map(Into::into)),
        ("realtimeRuntime", a.cpu_rt_runtime.map(Into::into)),
        ("cpus", a.cpuset_cpus.clone().map(Into::into)),
        ("mems", a.cpuset_mems.clone().map(Into::into)),
    ];
    for (k, v) in cpu {
        if let Some(v) = v {
            set(&mut res, "cpu", k, v);
        }
    }
    if let Some(v) = a.cpu_idle {
        set(&mut res, "cpu", "idle", v.into());
    }
    if let Some(v) = a.pids_limit {
        set(&mut res, "pids", "limit", v.into());
    }
    if let Some(v) = a.blkio_weight {
        set(&mut res, "blockIO", "weight", v.into());
    }
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        return Err("--l3-cache-schema/--mem-bw-schema: Intel RDT is not available on this host (no resctrl mount)".into());
    }
    let r: husk::oci_spec::runtime::LinuxResources =
        husk::spec::from_reader(serde_json::to_vec(&res)?.as_slice(), Path::new("resources"))?;
    husk::Container::load(&ctx.root, &a.id)?.update(&r)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512k"), Ok(512 * 1024));
        assert_eq!(parse_bytes("64M"), Ok(64 << 20));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert!(parse_bytes("12x").is_err());
    }
}
