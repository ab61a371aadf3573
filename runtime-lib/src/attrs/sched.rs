//! `process.scheduler`: checked against sched_setattr(2)'s rules and turned into the
//! kernel's `sched_attr`.

use oci_spec::runtime::{LinuxSchedulerFlag as Flag, LinuxSchedulerPolicy as Policy, Scheduler};

use crate::spec::SpecError;
use crate::sys::SchedAttr;

const SCHED_OTHER: u32 = 0;
const SCHED_FIFO: u32 = 1;
const SCHED_RR: u32 = 2;
const SCHED_BATCH: u32 = 3;
const SCHED_IDLE: u32 = 5;
const SCHED_DEADLINE: u32 = 6;

/// Smallest SCHED_DEADLINE runtime the kernel accepts (2^DL_SCALE ns).
const DL_MIN_RUNTIME: u64 = 1 << 10;

/// The spec's name of a flag (oci-spec's serde names differ for two of them).
pub fn flag_name(f: Flag) -> &'static str {
    match f {
        Flag::SchedResetOnFork => "SCHED_FLAG_RESET_ON_FORK",
        Flag::SchedFlagReclaim => "SCHED_FLAG_RECLAIM",
        Flag::SchedFlagDLOverrun => "SCHED_FLAG_DL_OVERRUN",
        Flag::SchedFlagKeepPolicy => "SCHED_FLAG_KEEP_POLICY",
        Flag::SchedFlagKeepParams => "SCHED_FLAG_KEEP_PARAMS",
        Flag::SchedFlagUtilClampMin => "SCHED_FLAG_UTIL_CLAMP_MIN",
        Flag::SchedFlagUtilClampMax => "SCHED_FLAG_UTIL_CLAMP_MAX",
    }
}

fn flag_bit(f: Flag) -> u64 {
    match f {
        Flag::SchedResetOnFork => 0x01,
        Flag::SchedFlagReclaim => 0x02,
        Flag::SchedFlagDLOverrun => 0x04,
        Flag::SchedFlagKeepPolicy => 0x08,
        Flag::SchedFlagKeepParams => 0x10,
        Flag::SchedFlagUtilClampMin => 0x20,
        Flag::SchedFlagUtilClampMax => 0x40,
    }
}

fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::SchedOther => "SCHED_OTHER",
        Policy::SchedFifo => "SCHED_FIFO",
        Policy::SchedRr => "SCHED_RR",
        Policy::SchedBatch => "SCHED_BATCH",
        Policy::SchedIso => "SCHED_ISO",
        Policy::SchedIdle => "SCHED_IDLE",
        Policy::SchedDeadline => "SCHED_DEADLINE",
    }
}

/// Validates `process.scheduler` and computes the `sched_attr` for it.
pub fn plan(s: &Scheduler) -> Result<SchedAttr, SpecError> {
    let bad = |f: &str, r: String| SpecError::invalid(format!("process.scheduler.{f}"), r);
    let name = policy_name(*s.policy());
    let policy = match *s.policy() {
        Policy::SchedOther => SCHED_OTHER,
        Policy::SchedFifo => SCHED_FIFO,
        Policy::SchedRr => SCHED_RR,
        Policy::SchedBatch => SCHED_BATCH,
        Policy::SchedIdle => SCHED_IDLE,
        Policy::SchedDeadline => SCHED_DEADLINE,
        Policy::SchedIso => {
            return Err(bad(
                "policy",
                "SCHED_ISO is not implemented by the Linux kernel".into(),
            ))
        }
    };
    let fair = matches!(policy, SCHED_OTHER | SCHED_BATCH);
    let rt = matches!(policy, SCHED_FIFO | SCHED_RR);
    let dl = policy == SCHED_DEADLINE;

    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(bad("nice", format!("{nice} is outside -20..19")));
    }
    if nice != 0 && !fair {
        return Err(bad(
            "nice",
            format!("only applies to SCHED_OTHER and SCHED_BATCH, not {name}"),
        ));
    }

    let priority = s.priority().unwrap_or(0);
    if rt && !(1..=99).contains(&priority) {
        return Err(bad(
            "priority",
            format!("{name} needs a priority in 1..99, not {priority}"),
        ));
    }
    if !rt && priority != 0 {
        return Err(bad(
            "priority",
            format!("only applies to SCHED_FIFO and SCHED_RR, not {name}"),
        ));
    }

    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if !dl {
        for (f, v) in [
            ("runtime", runtime),
            ("deadline", deadline),
            ("period", period),
        ] {
            if v != 0 {
                return Err(bad(
                    f,
                    format!("only applies to SCHED_DEADLINE, not {name}"),
                ));
            }
        }
    } else {
        check_deadline(runtime, deadline, period).map_err(|(f, r)| bad(f, r))?;
    }

    let mut flags = 0;
    for (i, f) in s.flags().iter().flatten().enumerate() {
        let field = format!("flags[{i}]");
        match f {
            Flag::SchedFlagReclaim | Flag::SchedFlagDLOverrun if !dl => {
                return Err(bad(
                    &field,
                    format!("{} only applies to SCHED_DEADLINE", flag_name(*f)),
                ));
            }
            Flag::SchedFlagUtilClampMin | Flag::SchedFlagUtilClampMax => {
                return Err(bad(
                    &field,
                    format!(
                        "{} needs a utilization value, which the runtime-spec has no field for",
                        flag_name(*f)
                    ),
                ));
            }
            _ => {}
        }
        flags |= flag_bit(*f);
    }
    Ok(SchedAttr {
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime,
        deadline,
        period,
    })
}

/// sched_setattr(2): runtime <= deadline <= period (a zero period means "= deadline"),
/// runtime at least 1024 ns, nothing at or above 2^63.
fn check_deadline(runtime: u64, deadline: u64, period: u64) -> Result<(), (&'static str, String)> {
    if deadline == 0 {
        return Err(("deadline", "SCHED_DEADLINE needs a deadline (ns)".into()));
    }
    if runtime < DL_MIN_RUNTIME {
        return Err((
            "runtime",
            format!("{runtime} ns is below the kernel's minimum of {DL_MIN_RUNTIME} ns"),
        ));
    }
    if runtime > deadline {
        return Err((
            "runtime",
            format!("runtime {runtime} must not exceed deadline {deadline}"),
        ));
    }
    if period != 0 && deadline > period {
        return Err((
            "deadline",
            format!("deadline {deadline} must not exceed period {period}"),
        ));
    }
    for (f, v) in [("deadline", deadline), ("period", period)] {
        if v >= 1 << 63 {
            return Err((f, format!("{v} is too large")));
        }
    }
    Ok(())
}

/// A hint for the errors sched_setattr gives on a valid-looking config.
pub fn hint(a: &SchedAttr, e: &std::io::Error) -> &'static str {
    match (a.policy, e.raw_os_error()) {
        (SCHED_FIFO | SCHED_RR, Some(libc::EPERM)) => {
            " (a real-time policy needs CAP_SYS_NICE in the initial user namespace and, with \
             CONFIG_RT_GROUP_SCHED on cgroup v1, linux.resources.cpu.realtimeRuntime)"
        }
        (SCHED_DEADLINE, Some(libc::EPERM)) => {
            " (SCHED_DEADLINE needs CAP_SYS_NICE in the initial user namespace and a CPU \
             affinity spanning the whole root domain: no cpuset restriction)"
        }
        (SCHED_DEADLINE, Some(libc::EBUSY)) => {
            " (the deadline bandwidth would exceed the admission limit, kernel.sched_rt_runtime_us)"
        }
        (SCHED_DEADLINE, Some(libc::EINVAL)) => {
            " (the period must be within kernel.sched_deadline_period_{min,max}_us)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(json: &str) -> Result<SchedAttr, String> {
        let s: Scheduler = serde_json::from_str(json).unwrap();
        plan(&s).map_err(|e| e.to_string())
    }

    #[test]
    fn fair_and_rt() {
        let a = sched(r#"{"policy":"SCHED_BATCH","nice":5}"#).unwrap();
        assert_eq!((a.policy, a.nice, a.priority), (SCHED_BATCH, 5, 0));
        let a = sched(r#"{"policy":"SCHED_FIFO","priority":10,"flags":["SCHED_RESET_ON_FORK"]}"#)
            .unwrap();
        assert_eq!((a.policy, a.priority, a.flags), (SCHED_FIFO, 10, 1));
        let a = sched(r#"{"policy":"SCHED_IDLE"}"#).unwrap();
        assert_eq!(a.policy, SCHED_IDLE);
    }

    #[test]
    fn deadline() {
        let a = sched(
            r#"{"policy":"SCHED_DEADLINE","runtime":10000000,"deadline":20000000,"period":30000000}"#,
        )
        .unwrap();
        assert_eq!(
            (a.policy, a.runtime, a.deadline, a.period),
            (SCHED_DEADLINE, 10_000_000, 20_000_000, 30_000_000)
        );
        let e =
            sched(r#"{"policy":"SCHED_DEADLINE","runtime":30000,"deadline":20000}"#).unwrap_err();
        assert!(
            e.contains("process.scheduler.runtime") && e.contains("exceed"),
            "{e}"
        );
        let e =
            sched(r#"{"policy":"SCHED_DEADLINE","runtime":10000,"deadline":20000,"period":15000}"#)
                .unwrap_err();
        assert!(e.contains("process.scheduler.deadline"), "{e}");
        let e = sched(r#"{"policy":"SCHED_DEADLINE","runtime":100,"deadline":20000}"#).unwrap_err();
        assert!(e.contains("minimum"), "{e}");
        let e = sched(r#"{"policy":"SCHED_DEADLINE"}"#).unwrap_err();
        assert!(e.contains("process.scheduler.deadline"), "{e}");
    }

    #[test]
    fn invalid_combinations_name_the_field() {
        for (json, field) in [
            (
                r#"{"policy":"SCHED_OTHER","runtime":5}"#,
                "process.scheduler.runtime",
            ),
            (
                r#"{"policy":"SCHED_RR","priority":1,"period":5}"#,
                "process.scheduler.period",
            ),
            (
                r#"{"policy":"SCHED_OTHER","priority":3}"#,
                "process.scheduler.priority",
            ),
            (r#"{"policy":"SCHED_FIFO"}"#, "process.scheduler.priority"),
            (
                r#"{"policy":"SCHED_FIFO","priority":100}"#,
                "process.scheduler.priority",
            ),
            (
                r#"{"policy":"SCHED_FIFO","priority":1,"nice":3}"#,
                "process.scheduler.nice",
            ),
            (
                r#"{"policy":"SCHED_OTHER","nice":20}"#,
                "process.scheduler.nice",
            ),
            (r#"{"policy":"SCHED_ISO"}"#, "process.scheduler.policy"),
            (
                r#"{"policy":"SCHED_OTHER","flags":["SCHED_FLAG_RECLAIM"]}"#,
                "process.scheduler.flags[0]",
            ),
            (
                r#"{"policy":"SCHED_OTHER","flags":["SCHED_FLAG_UTIL_CLAMP_MAX"]}"#,
                "process.scheduler.flags[0]",
            ),
        ] {
            let e = sched(json).unwrap_err();
            assert!(e.contains(field), "{json}: {e}");
        }
    }
}
