//! `linux.resources.cpu` (scheduler part): shares/weight, CFS quota and
//! period, burst, idle, realtime budget. cpus/mems live in `cpuset.rs`.

use oci_spec::runtime::LinuxCpu;

use super::super::error::CgroupError;
use super::super::layout::HierarchyVersion;
use super::{PlanHost, Write, RES};

/// The v2 period used when only a quota is given (kernel default, and what
/// runc writes).
const DEFAULT_PERIOD_US: u64 = 100_000;

/// Convert v1 `cpu.shares` ([2, 262144], default 1024) to v2 `cpu.weight`
/// ([1, 10000], default 100) the way current runc does: a quadratic in log
/// space that maps min, default and max exactly. 0 stays 0 ("unset").
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    #[allow(clippy::cast_precision_loss)] // shares < 2^18 is exact in f64
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 1..=10000
    let w = 10f64.powf(exponent).ceil() as u64;
    w
}

fn field(name: &str) -> String {
    format!("{RES}.cpu.{name}")
}

/// Plan the scheduler knobs of `cpu`.
pub fn plan(cpu: &LinuxCpu, host: &PlanHost, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    // runc treats 0 as "unset" for these; keep that so configs behave alike.
    let shares = cpu.shares().filter(|&s| s != 0);
    let quota = cpu.quota().filter(|&q| q != 0);
    let period = cpu.period().filter(|&p| p != 0);
    let rt_runtime = cpu.realtime_runtime().filter(|&r| r != 0);
    let rt_period = cpu.realtime_period().filter(|&p| p != 0);
    let idle = cpu.idle();
    let burst = cpu.burst();

    let first_set = [
        shares.map(|_| "shares"),
        quota.map(|_| "quota"),
        period.map(|_| "period"),
        rt_runtime.map(|_| "realtimeRuntime"),
        rt_period.map(|_| "realtimePeriod"),
        idle.map(|_| "idle"),
        burst.map(|_| "burst"),
    ]
    .into_iter()
    .flatten()
    .next();
    let Some(first) = first_set else {
        return Ok(());
    };
    match host.need(&field(first), "cpu")? {
        HierarchyVersion::V1 => plan_v1(
            shares, quota, period, rt_runtime, rt_period, idle, burst, out,
        ),
        HierarchyVersion::V2 => plan_v2(
            shares, quota, period, rt_runtime, rt_period, idle, burst, out,
        ),
    }
}

#[allow(clippy::too_many_arguments)] // one argument per OCI field reads best
fn plan_v1(
    shares: Option<u64>,
    quota: Option<i64>,
    period: Option<u64>,
    rt_runtime: Option<i64>,
    rt_period: Option<u64>,
    idle: Option<i64>,
    burst: Option<u64>,
    out: &mut Vec<Write>,
) -> Result<(), CgroupError> {
    let v = HierarchyVersion::V1;
    if let Some(s) = shares {
        // The kernel clamps shares silently; reading back turns that into
        // an error naming the bound, as runc does.
        out.push(Write::new(field("shares"), "cpu", v, "cpu.shares", s.to_string()).verify());
    }
    // A new period smaller than the current one can be refused (EINVAL) as
    // old_quota/new_period exceeds the parent's; it succeeds after the quota
    // is written, so retry it then.
    if let Some(p) = period {
        out.push(
            Write::new(
                field("period"),
                "cpu",
                v,
                "cpu.cfs_period_us",
                p.to_string(),
            )
            .retry_on_einval_if(quota.is_some()),
        );
    }
    if let Some(b) = burst {
        // Kernels before 5.14 have no burst knob; runc ignores its absence.
        out.push(
            Write::new(field("burst"), "cpu", v, "cpu.cfs_burst_us", b.to_string())
                .ignore_missing()
                .retry_on_einval_if(quota.is_some()),
        );
    }
    if let Some(q) = quota {
        out.push(Write::new(
            field("quota"),
            "cpu",
            v,
            "cpu.cfs_quota_us",
            q.to_string(),
        ));
    }
    if let Some(i) = idle {
        out.push(Write::new(
            field("idle"),
            "cpu",
            v,
            "cpu.idle",
            i.to_string(),
        ));
    }
    // Same interdependency as CFS: the period may only be accepted once the
    // runtime fits it.
    if let Some(p) = rt_period {
        out.push(
            Write::new(
                field("realtimePeriod"),
                "cpu",
                v,
                "cpu.rt_period_us",
                p.to_string(),
            )
            .retry_on_einval_if(rt_runtime.is_some()),
        );
    }
    if let Some(r) = rt_runtime {
        out.push(Write::new(
            field("realtimeRuntime"),
            "cpu",
            v,
            "cpu.rt_runtime_us",
            r.to_string(),
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn plan_v2(
    shares: Option<u64>,
    quota: Option<i64>,
    period: Option<u64>,
    rt_runtime: Option<i64>,
    rt_period: Option<u64>,
    idle: Option<i64>,
    burst: Option<u64>,
    out: &mut Vec<Write>,
) -> Result<(), CgroupError> {
    let v = HierarchyVersion::V2;
    // cgroup v2 has no realtime budget per cgroup: refusing is better than
    // silently running an RT workload without the budget it asked for.
    for (name, set) in [
        ("realtimeRuntime", rt_runtime.is_some()),
        ("realtimePeriod", rt_period.is_some()),
    ] {
        if set {
            return Err(CgroupError::Unsupported {
                field: field(name),
                version: "v2",
                reason: "cgroup v2 has no per-cgroup realtime budget (cpu.rt_*); remove the field"
                    .into(),
            });
        }
    }
    if let Some(i) = idle {
        out.push(Write::new(
            field("idle"),
            "cpu",
            v,
            "cpu.idle",
            i.to_string(),
        ));
    }
    if let Some(s) = shares {
        out.push(Write::new(
            field("shares"),
            "cpu",
            v,
            "cpu.weight",
            shares_to_weight(s).to_string(),
        ));
    }
    if let Some(b) = burst {
        out.push(
            Write::new(field("burst"), "cpu", v, "cpu.max.burst", b.to_string())
                .retry_on_einval_if(quota.is_some()),
        );
    }
    if quota.is_some() || period.is_some() {
        let q = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        let name = if quota.is_some() { "quota" } else { "period" };
        let value = format!("{q} {}", period.unwrap_or(DEFAULT_PERIOD_US));
        out.push(Write::new(field(name), "cpu", v, "cpu.max", value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn run(json: &str, host: &PlanHost) -> Result<Vec<Write>, CgroupError> {
        plan_section("cpu", json, host, |r| r.cpu().as_ref(), plan)
    }

    #[test]
    fn shares_to_weight_matches_runc_table() {
        for (s, w) in [
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 2),
            (1024, 100),
            (262_143, 10_000),
            (262_144, 10_000),
            (262_145, 10_000),
        ] {
            assert_eq!(shares_to_weight(s), w, "shares {s}");
        }
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(shares_to_weight(2048), 174);
    }

    #[test]
    fn v1_writes_in_runc_order_with_retry_flags() {
        let w = run(
            r#"{"shares":512,"quota":50000,"period":100000,"burst":1000,"idle":0,
                "realtimeRuntime":950,"realtimePeriod":1000}"#,
            &hybrid(),
        )
        .unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_burst_us", "1000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpu.idle", "0"),
                ("cpu.rt_period_us", "1000"),
                ("cpu.rt_runtime_us", "950"),
            ])
        );
        assert!(w[0].verify);
        assert!(w[1].retry_on_einval && w[2].retry_on_einval && w[2].ignore_missing);
        assert!(w[5].retry_on_einval);
        assert_eq!(w[3].field, "linux.resources.cpu.quota");
    }

    #[test]
    fn v1_period_alone_is_not_retried_and_zero_is_unset() {
        let w = run(r#"{"period":20000,"shares":0,"quota":0}"#, &hybrid()).unwrap_or_default();
        assert_eq!(fv(&w), pairs(&[("cpu.cfs_period_us", "20000")]));
        assert!(!w[0].retry_on_einval);
        let w = run(r#"{"quota":-1}"#, &hybrid()).unwrap_or_default();
        assert_eq!(fv(&w), pairs(&[("cpu.cfs_quota_us", "-1")]));
    }

    #[test]
    fn v2_converts_shares_and_builds_cpu_max() {
        let w = run(r#"{"shares":1024,"quota":50000,"idle":1}"#, &v2()).unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[
                ("cpu.idle", "1"),
                ("cpu.weight", "100"),
                ("cpu.max", "50000 100000")
            ])
        );
        let w = run(r#"{"quota":-1,"period":50000,"burst":10}"#, &v2()).unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[("cpu.max.burst", "10"), ("cpu.max", "max 50000")])
        );
        assert!(w[0].retry_on_einval);
        let w = run(r#"{"period":50000}"#, &v2()).unwrap_or_default();
        assert_eq!(fv(&w), pairs(&[("cpu.max", "max 50000")]));
        assert_eq!(w[0].field, "linux.resources.cpu.period");
    }

    #[test]
    fn v2_refuses_realtime() {
        let e = run(r#"{"realtimeRuntime":100}"#, &v2())
            .err()
            .map(|e| e.to_string());
        assert!(e
            .unwrap_or_default()
            .starts_with("linux.resources.cpu.realtimeRuntime: not supported on cgroup v2"));
    }

    #[test]
    fn missing_cpu_controller_names_the_first_set_field() {
        let mut host = hybrid();
        host.controllers.remove("cpu");
        let e = run(r#"{"quota":1000}"#, &host).err().map(|e| e.to_string());
        assert_eq!(
            e.unwrap_or_default(),
            "linux.resources.cpu.quota: the cpu cgroup controller isn't mounted on this host"
        );
        assert!(run(r#"{"cpus":"0"}"#, &host).is_ok());
    }
}
