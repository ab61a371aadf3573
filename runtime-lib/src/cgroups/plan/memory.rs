//! `linux.resources.memory`: limit, reservation, swap, swappiness,
//! disableOOMKiller, checkBeforeUpdate, with runc's v1 and v2 semantics.
//!
//! OCI `swap` is memory+swap (the v1 `memsw` meaning). v2 limits swap alone,
//! so it gets `swap - limit`.

use oci_spec::runtime::LinuxMemory;

use super::super::error::CgroupError;
use super::super::layout::HierarchyVersion;
use super::{PlanHost, Probe, Write, RES};

/// The v1 file whose EBUSY means "below current usage" (see `apply.rs`).
pub const V1_LIMIT_FILE: &str = "memory.limit_in_bytes";
const V1_SWAP_FILE: &str = "memory.memsw.limit_in_bytes";

fn field(name: &str) -> String {
    format!("{RES}.memory.{name}")
}

/// Plan `memory`.
pub fn plan(m: &LinuxMemory, host: &PlanHost, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    // 0 is "unset" for the byte values, as in runc.
    let limit = m.limit().unwrap_or(0);
    let swap = m.swap().unwrap_or(0);
    let reservation = m.reservation().unwrap_or(0);
    // swappiness is a u64 in the Go spec too; -1 ("use the parent's") shows
    // up as u64::MAX.
    let swappiness = m.swappiness().filter(|&s| s != u64::MAX);
    let disable_oom = m.disable_oom_killer().unwrap_or(false);
    #[allow(deprecated)] // read only to warn that it is ignored
    let kernel = m.kernel().is_some() || m.kernel_tcp().is_some();
    if kernel {
        // Kernel-memory limits are gone since Linux 5.16 (and never existed
        // on v2); runc ignores them too.
        tracing::warn!("linux.resources.memory.kernel/kernelTCP are ignored: the kernel no longer supports them");
    }

    let first = [
        (limit != 0).then_some("limit"),
        (swap != 0).then_some("swap"),
        (reservation != 0).then_some("reservation"),
        swappiness.map(|_| "swappiness"),
        disable_oom.then_some("disableOOMKiller"),
    ]
    .into_iter()
    .flatten()
    .next();
    let Some(first) = first else {
        return Ok(());
    };
    match host.need(&field(first), "memory")? {
        HierarchyVersion::V1 => plan_v1(
            limit,
            swap,
            reservation,
            swappiness,
            disable_oom,
            &host.probe,
            out,
        ),
        HierarchyVersion::V2 => {
            let check = m.check_before_update().unwrap_or(false);
            plan_v2(
                limit,
                swap,
                reservation,
                swappiness,
                disable_oom,
                check,
                &host.probe,
                out,
            )
        }
    }
}

fn plan_v1(
    limit: i64,
    mut swap: i64,
    reservation: i64,
    swappiness: Option<u64>,
    disable_oom: bool,
    probe: &Probe,
    out: &mut Vec<Write>,
) -> Result<(), CgroupError> {
    let v = HierarchyVersion::V1;
    // "No memory limit" with swap unset means no memsw limit either, when
    // the kernel accounts swap at all.
    if limit == -1 && swap == 0 && probe.memsw {
        swap = -1;
    }
    if swap != 0 && !probe.memsw {
        return Err(CgroupError::Unsupported {
            field: field("swap"),
            version: "v1",
            reason: format!("swap accounting is off ({V1_SWAP_FILE} is missing); boot with swapaccount=1 or drop the field"),
        });
    }
    let mem = (limit != 0).then(|| {
        Write::new(
            field("limit"),
            "memory",
            v,
            V1_LIMIT_FILE,
            limit.to_string(),
        )
    });
    let sw =
        (swap != 0).then(|| Write::new(field("swap"), "memory", v, V1_SWAP_FILE, swap.to_string()));
    // memsw must stay >= memory at every step: when raising both, raise
    // memsw first; when lowering, lower memory first.
    let swap_first = limit != 0
        && swap != 0
        && (swap == -1
            || u64::try_from(swap).is_ok_and(|s| probe.memory_limit.unwrap_or(u64::MAX) < s));
    if swap_first {
        out.extend(sw);
        out.extend(mem);
    } else {
        out.extend(mem);
        out.extend(sw);
    }
    if reservation != 0 {
        out.push(Write::new(
            field("reservation"),
            "memory",
            v,
            "memory.soft_limit_in_bytes",
            reservation.to_string(),
        ));
    }
    if disable_oom {
        out.push(Write::new(
            field("disableOOMKiller"),
            "memory",
            v,
            "memory.oom_control",
            "1",
        ));
    }
    if let Some(s) = swappiness {
        if s > 100 {
            return Err(CgroupError::invalid(
                field("swappiness"),
                format!("{s} is out of range (0-100)"),
            ));
        }
        out.push(Write::new(
            field("swappiness"),
            "memory",
            v,
            "memory.swappiness",
            s.to_string(),
        ));
    }
    Ok(())
}

/// v2 byte values: 0 is unset, -1 is `max`.
fn num_to_str(value: i64) -> Option<String> {
    match value {
        0 => None,
        -1 => Some("max".to_string()),
        v => Some(v.to_string()),
    }
}

/// runc's `ConvertMemorySwapToCgroupV2Value`: OCI memory+swap -> v2 swap.
pub fn swap_to_v2(swap: i64, memory: i64) -> Result<i64, String> {
    match (swap, memory) {
        // "Unlimited memory" with swap unset means unlimited swap too.
        (0, -1) => Ok(-1),
        (-1 | 0, _) => Ok(swap),
        (_, -1) => Ok(swap),
        (_, 0) => Err("unable to set swap limit without memory limit".into()),
        (_, m) if m < 0 => Err(format!("invalid memory value: {m}")),
        (s, m) if s < m => Err(format!(
            "memory+swap limit {s} should be >= memory limit {m}"
        )),
        (s, m) => Ok(s - m),
    }
}

#[allow(clippy::too_many_arguments)] // one argument per OCI field reads best
fn plan_v2(
    limit: i64,
    swap: i64,
    reservation: i64,
    swappiness: Option<u64>,
    disable_oom: bool,
    check_before_update: bool,
    probe: &Probe,
    out: &mut Vec<Write>,
) -> Result<(), CgroupError> {
    let v = HierarchyVersion::V2;
    if let Some(s) = swappiness {
        return Err(CgroupError::Unsupported {
            field: field("swappiness"),
            version: "v2",
            reason: format!(
                "cgroup v2 has no per-cgroup swappiness (asked for {s}); remove the field"
            ),
        });
    }
    if disable_oom {
        return Err(CgroupError::Unsupported {
            field: field("disableOOMKiller"),
            version: "v2",
            reason: "cgroup v2 cannot disable the OOM killer; set it to false or remove it".into(),
        });
    }
    // The kernel would accept a v2 limit below usage and OOM-kill to meet
    // it; checkBeforeUpdate asks us to refuse instead (best effort: without
    // a usage reading there is nothing to compare).
    if let (true, Some(usage)) = (check_before_update, probe.memory_usage) {
        for (name, value) in [("swap", swap), ("limit", limit)] {
            if u64::try_from(value).is_ok_and(|v| v > 0 && v <= usage) {
                return Err(CgroupError::invalid(
                    field(name),
                    format!("rejecting {value} <= current usage {usage} (checkBeforeUpdate)"),
                ));
            }
        }
    }
    let v2_swap =
        swap_to_v2(swap, limit).map_err(|reason| CgroupError::invalid(field("swap"), reason))?;
    let swap_value = match num_to_str(v2_swap) {
        // memory == swap: "no swap at all".
        None if swap > 0 => Some("0".to_string()),
        other => other,
    };
    if let Some(s) = swap_value {
        // Without swap accounting there is no memory.swap.max; "max" and
        // "0" then already hold, so only a real limit is an error.
        let optional = s == "max" || s == "0";
        let w = Write::new(field("swap"), "memory", v, "memory.swap.max", s);
        out.push(if optional { w.ignore_missing() } else { w });
    }
    if let Some(l) = num_to_str(limit) {
        out.push(Write::new(field("limit"), "memory", v, "memory.max", l));
    }
    if let Some(r) = num_to_str(reservation) {
        out.push(Write::new(
            field("reservation"),
            "memory",
            v,
            "memory.low",
            r,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn run(json: &str, host: &PlanHost) -> Result<Vec<Write>, CgroupError> {
        plan_section("memory", json, host, |r| r.memory().as_ref(), plan)
    }

    #[test]
    fn v1_fresh_cgroup_writes_memory_then_memsw() {
        let w = run(r#"{"limit":104857600,"swap":209715200,"reservation":52428800,"swappiness":10,"disableOOMKiller":true}"#, &hybrid())
            .unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[
                ("memory.limit_in_bytes", "104857600"),
                ("memory.memsw.limit_in_bytes", "209715200"),
                ("memory.soft_limit_in_bytes", "52428800"),
                ("memory.oom_control", "1"),
                ("memory.swappiness", "10"),
            ])
        );
        assert_eq!(w[1].field, "linux.resources.memory.swap");
    }

    #[test]
    fn v1_raising_limits_writes_memsw_first() {
        let mut host = hybrid();
        host.probe.memory_limit = Some(100);
        let w = run(r#"{"limit":300,"swap":400}"#, &host).unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[
                ("memory.memsw.limit_in_bytes", "400"),
                ("memory.limit_in_bytes", "300")
            ])
        );
        let w = run(r#"{"limit":300,"swap":-1}"#, &host).unwrap_or_default();
        assert_eq!(w[0].file, "memory.memsw.limit_in_bytes");
    }

    #[test]
    fn v1_unlimited_memory_also_unlimits_memsw() {
        let w = run(r#"{"limit":-1}"#, &hybrid()).unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[
                ("memory.memsw.limit_in_bytes", "-1"),
                ("memory.limit_in_bytes", "-1")
            ])
        );
        let mut host = hybrid();
        host.probe.memsw = false;
        let w = run(r#"{"limit":-1}"#, &host).unwrap_or_default();
        assert_eq!(fv(&w), pairs(&[("memory.limit_in_bytes", "-1")]));
        let e = run(r#"{"limit":10,"swap":20}"#, &host)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("linux.resources.memory.swap: not supported on cgroup v1"),
            "{e}"
        );
    }

    #[test]
    fn v1_swappiness_bounds() {
        assert!(run(r#"{"swappiness":101}"#, &hybrid()).is_err());
        let max = u64::MAX;
        assert_eq!(
            run(&format!(r#"{{"swappiness":{max}}}"#), &hybrid())
                .map(|w| w.len())
                .ok(),
            Some(0)
        );
    }

    #[test]
    fn swap_conversion_matches_runc() {
        assert_eq!(swap_to_v2(0, -1), Ok(-1));
        assert_eq!(swap_to_v2(-1, 100), Ok(-1));
        assert_eq!(swap_to_v2(0, 100), Ok(0));
        assert_eq!(swap_to_v2(500, -1), Ok(500));
        assert!(swap_to_v2(500, 0).is_err());
        assert!(swap_to_v2(50, 100).is_err());
        assert_eq!(swap_to_v2(300, 100), Ok(200));
    }

    #[test]
    fn v2_files_and_values() {
        let w = run(r#"{"limit":100,"swap":300,"reservation":50}"#, &v2()).unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[
                ("memory.swap.max", "200"),
                ("memory.max", "100"),
                ("memory.low", "50")
            ])
        );
        assert!(!w[0].ignore_missing);
        let w = run(r#"{"limit":100,"swap":100}"#, &v2()).unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[("memory.swap.max", "0"), ("memory.max", "100")])
        );
        assert!(w[0].ignore_missing);
        let w = run(r#"{"limit":-1}"#, &v2()).unwrap_or_default();
        assert_eq!(
            fv(&w),
            pairs(&[("memory.swap.max", "max"), ("memory.max", "max")])
        );
    }

    #[test]
    fn v2_refuses_v1_only_knobs_and_checks_usage() {
        assert!(run(r#"{"swappiness":0}"#, &v2()).is_err());
        assert!(run(r#"{"disableOOMKiller":true}"#, &v2()).is_err());
        assert!(run(r#"{"disableOOMKiller":false,"limit":10}"#, &v2()).is_ok());
        let mut host = v2();
        host.probe.memory_usage = Some(1000);
        let e = run(r#"{"limit":500,"checkBeforeUpdate":true}"#, &host)
            .err()
            .map(|e| e.to_string());
        assert!(e
            .unwrap_or_default()
            .starts_with("linux.resources.memory.limit: rejecting 500"));
        assert!(run(r#"{"limit":500}"#, &host).is_ok());
        assert!(run(r#"{"limit":5000,"checkBeforeUpdate":true}"#, &host).is_ok());
    }
}
