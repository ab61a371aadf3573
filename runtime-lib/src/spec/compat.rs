//! Spellings of the runtime-spec that oci-spec 0.10 does not parse, rewritten to the
//! ones it does before the typed parse:
//!
//! - `scheduler.flags`: oci-spec derives the names from its variant names, so it
//!   expects `SCHED_RESET_ON_FORK` and `SCHED_FLAG_D_L_OVERRUN` where the spec says
//!   `SCHED_FLAG_RESET_ON_FORK` and `SCHED_FLAG_DL_OVERRUN`;
//! - `execCPUAffinity.initial` / `final`: the spec allows an empty string ("if omitted
//!   or empty ..."), oci-spec's format check does not; empty means omitted;
//! - `linux.intelRdt.enableCMT` / `enableMBM` (runtime-spec 1.1 to 1.2.1): oci-spec
//!   reads `enableCmt` / `enableMbm` and would drop the spec's spelling silently.

use serde_json::Value;

const FLAG_SPELLINGS: &[(&str, &str)] = &[
    ("SCHED_FLAG_RESET_ON_FORK", "SCHED_RESET_ON_FORK"),
    ("SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_D_L_OVERRUN"),
];

/// Rewrites a config.json (`process.*`) or a process.json (top level) in place.
pub fn normalize(doc: &mut Value) {
    normalize_process(doc);
    if let Some(p) = doc.get_mut("process") {
        normalize_process(p);
    }
    if let Some(rdt) = doc
        .get_mut("linux")
        .and_then(|l| l.get_mut("intelRdt"))
        .and_then(Value::as_object_mut)
    {
        for (spec, theirs) in KEY_SPELLINGS {
            if let Some(v) = rdt.remove(*spec) {
                rdt.insert(theirs.to_string(), v);
            }
        }
    }
}

/// Whether `normalize` may change a document with this text: it names a key or
/// value `normalize` rewrites, or holds a `\u` escape that could spell one.
/// Text for which this is false parses the same with or without `normalize`.
pub fn may_apply(text: &[u8]) -> bool {
    const MARKERS: &[&[u8]] = &[
        b"SCHED_FLAG_",
        b"execCPUAffinity",
        b"enableCMT",
        b"enableMBM",
        b"\\u",
    ];
    MARKERS
        .iter()
        .any(|m| text.windows(m.len()).any(|w| w == *m))
}

/// `linux.intelRdt` keys: (the spec's, oci-spec's).
pub const KEY_SPELLINGS: &[(&str, &str)] =
    &[("enableCMT", "enableCmt"), ("enableMBM", "enableMbm")];

fn normalize_process(p: &mut Value) {
    if let Some(flags) = p
        .get_mut("scheduler")
        .and_then(|s| s.get_mut("flags"))
        .and_then(Value::as_array_mut)
    {
        for f in flags.iter_mut() {
            if let Some((_, theirs)) = FLAG_SPELLINGS.iter().find(|(spec, _)| f == spec) {
                *f = Value::from(*theirs);
            }
        }
    }
    if let Some(aff) = p.get_mut("execCPUAffinity").and_then(Value::as_object_mut) {
        aff.retain(|k, v| !((k == "initial" || k == "final") && v.as_str() == Some("")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSchedulerFlag, Process};

    #[test]
    fn spec_spellings_parse() {
        let mut v: Value = serde_json::from_str(
            r#"{"cwd":"/","user":{"uid":0,"gid":0},
            "scheduler":{"policy":"SCHED_DEADLINE","flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN","SCHED_FLAG_RECLAIM"]},
            "execCPUAffinity":{"initial":"","final":"0"}}"#,
        )
        .unwrap();
        normalize(&mut v);
        let p: Process = serde_json::from_value(v).unwrap();
        let flags = p.scheduler().as_ref().unwrap().flags().clone().unwrap();
        assert_eq!(
            flags,
            vec![
                LinuxSchedulerFlag::SchedResetOnFork,
                LinuxSchedulerFlag::SchedFlagDLOverrun,
                LinuxSchedulerFlag::SchedFlagReclaim
            ]
        );
        let aff = p.exec_cpu_affinity().as_ref().unwrap();
        assert_eq!(aff.initial(), &None);
        assert_eq!(aff.cpu_affinity_final().as_deref(), Some("0"));
    }

    #[test]
    #[allow(deprecated)]
    fn intel_rdt_monitoring_keys() {
        let mut v: Value =
            serde_json::from_str(r#"{"linux":{"intelRdt":{"enableCMT":true,"enableMBM":false}}}"#)
                .unwrap();
        normalize(&mut v);
        let l: oci_spec::runtime::Linux = serde_json::from_value(v["linux"].clone()).unwrap();
        let rdt = l.intel_rdt().as_ref().unwrap();
        assert_eq!(
            (rdt.enable_cmt(), rdt.enable_mbm()),
            (&Some(true), &Some(false))
        );
    }
}
