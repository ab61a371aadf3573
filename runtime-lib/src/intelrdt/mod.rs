//! `linux.intelRdt`: the container's resctrl group (Intel RDT / AMD QoS).
//!
//! [`plan`] validates the config and decides which group the container joins, what
//! is written to its `schemata` and whether a monitoring group is made (pure). The
//! runtime applies it once the init exists ([`apply`]: create the group or check an
//! existing one, write `schemata`, put the init's pid in `tasks`) and undoes what it
//! made on delete ([`remove`]). Without a mounted resctrl filesystem the config is
//! refused before anything is created ([`check_available`]).

mod apply;

use oci_spec::runtime::LinuxIntelRdt;
use serde::{Deserialize, Serialize};

pub use apply::{apply, check_available, remove, RdtError};

use crate::spec::SpecError;

/// What the runtime does with resctrl for one container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdtPlan {
    /// The CTRL_MON group, relative to the resctrl root ("" = the root itself, for
    /// `closID` "/").
    pub group: String,
    /// `closID` is unset: the group is the container's own (created, and removed on
    /// delete).
    pub owned: bool,
    /// Lines for the group's `schemata` file, in the order the spec requires
    /// (`l3CacheSchema`, `memBwSchema`, then `schemata`). Empty: write nothing.
    pub schemata: Vec<String>,
    /// `l3CacheSchema` / `memBwSchema`: compared with an existing `closID` group's
    /// schemata (an error if they differ).
    pub compare: Vec<String>,
    /// `enableMonitoring`: a MON group of this name (the container id).
    pub mon_group: Option<String>,
}

fn bad(field: &str, reason: impl Into<String>) -> SpecError {
    SpecError::invalid(format!("linux.intelRdt.{field}"), reason)
}

fn one_line(field: &str, v: &str) -> Result<(), SpecError> {
    if v.contains('\n') {
        return Err(bad(field, "must not contain newlines"));
    }
    Ok(())
}

/// Validates `linux.intelRdt` for container `id` and computes the plan.
pub fn plan(id: &str, rdt: &LinuxIntelRdt) -> Result<RdtPlan, SpecError> {
    let (group, owned) = match rdt.clos_id().as_deref() {
        None => (id.to_string(), true),
        Some("/") => (String::new(), false),
        Some(c) => {
            if c.is_empty() || c == "." || c == ".." || c.contains('/') || c.contains('\n') {
                return Err(bad("closID", format!("{c:?} is not a resctrl group name")));
            }
            if c == "info" || c == "mon_groups" || c == "mon_data" {
                return Err(bad("closID", format!("{c:?} is a reserved resctrl name")));
            }
            (c.to_string(), false)
        }
    };
    let mut compare = Vec::new();
    if let Some(l3) = rdt.l3_cache_schema().as_deref().filter(|s| !s.is_empty()) {
        one_line("l3CacheSchema", l3)?;
        if !l3.starts_with("L3") {
            return Err(bad(
                "l3CacheSchema",
                format!("{l3:?} does not start with \"L3\""),
            ));
        }
        compare.push(l3.to_string());
    }
    if let Some(mb) = rdt.mem_bw_schema().as_deref().filter(|s| !s.is_empty()) {
        one_line("memBwSchema", mb)?;
        if !mb.starts_with("MB:") {
            return Err(bad(
                "memBwSchema",
                format!("{mb:?} must start with \"MB:\""),
            ));
        }
        compare.push(mb.to_string());
    }
    let mut schemata = compare.clone();
    for (i, line) in rdt.schemata().iter().flatten().enumerate() {
        one_line(&format!("schemata[{i}]"), line)?;
        schemata.push(line.clone());
    }
    #[allow(deprecated)] // enableCMT/enableMBM (up to 1.2.1) mean a monitoring group too
    let monitoring = rdt.enable_monitoring().unwrap_or(false)
        || rdt.enable_cmt().unwrap_or(false)
        || rdt.enable_mbm().unwrap_or(false);
    Ok(RdtPlan {
        group,
        owned,
        schemata,
        compare,
        mon_group: monitoring.then(|| id.to_string()),
    })
}

/// Validates `linux.intelRdt` of a config (without a container id).
pub fn validate(spec: &oci_spec::runtime::Spec) -> Result<(), SpecError> {
    match spec.linux().as_ref().and_then(|l| l.intel_rdt().as_ref()) {
        Some(r) => {
            plan("container", r)?;
            check_available().map_err(|e| SpecError::invalid("linux.intelRdt", e.to_string()))?;
            Ok(())
        }
        None => Ok(()),
    }
}

/// One schemata line as `(resource, [(domain, value)])`, for comparison: values are
/// hexadecimal bitmasks for cache resources (L2*, L3*), decimal for the others.
fn parse_line(line: &str) -> Option<(String, Vec<(String, u64)>)> {
    let (res, rest) = line.trim().split_once(':')?;
    let res = res.trim().to_string();
    let hex = res.starts_with('L');
    let mut doms = Vec::new();
    for d in rest.split(';').filter(|d| !d.trim().is_empty()) {
        let (dom, val) = d.split_once('=')?;
        let val = val.trim();
        let v = if hex {
            u64::from_str_radix(val, 16).ok()?
        } else {
            val.parse().ok()?
        };
        doms.push((dom.trim().to_string(), v));
    }
    Some((res, doms))
}

/// True if every domain of `want` has the same value in `current` (a schemata
/// file's text).
pub fn schemata_match(current: &str, want: &str) -> bool {
    let Some((res, doms)) = parse_line(want) else {
        return false;
    };
    current
        .lines()
        .filter_map(parse_line)
        .filter(|(r, _)| *r == res)
        .any(|(_, have)| doms.iter().all(|d| have.contains(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdt(json: &str) -> Result<RdtPlan, String> {
        plan("c1", &serde_json::from_str(json).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn own_group_with_all_schemata_in_order() {
        let p = rdt(
            r#"{"l3CacheSchema":"L3:0=7f0;1=1f","memBwSchema":"MB:0=20;1=70","schemata":["L2:0=f"],"enableMonitoring":true}"#,
        )
        .unwrap();
        assert_eq!(p.group, "c1");
        assert!(p.owned);
        assert_eq!(p.schemata, vec!["L3:0=7f0;1=1f", "MB:0=20;1=70", "L2:0=f"]);
        assert_eq!(p.compare.len(), 2);
        assert_eq!(p.mon_group.as_deref(), Some("c1"));
    }

    #[test]
    fn clos_ids() {
        let p = rdt(r#"{"closID":"guaranteed"}"#).unwrap();
        assert_eq!((p.group.as_str(), p.owned), ("guaranteed", false));
        assert!(p.schemata.is_empty());
        let p = rdt(r#"{"closID":"/"}"#).unwrap();
        assert_eq!((p.group.as_str(), p.owned), ("", false));
    }

    #[test]
    fn rules_name_the_field() {
        for (json, field) in [
            (r#"{"closID":"a/b"}"#, "linux.intelRdt.closID"),
            (r#"{"closID":"mon_groups"}"#, "linux.intelRdt.closID"),
            (r#"{"memBwSchema":"L3:0=1"}"#, "linux.intelRdt.memBwSchema"),
            (
                r#"{"l3CacheSchema":"MB:0=1"}"#,
                "linux.intelRdt.l3CacheSchema",
            ),
            (
                r#"{"schemata":["L3:0=1\nMB:0=2"]}"#,
                "linux.intelRdt.schemata[0]",
            ),
        ] {
            let e = rdt(json).unwrap_err();
            assert!(e.contains(field), "{json}: {e}");
        }
    }

    #[test]
    fn schemata_comparison() {
        let file = "    L3:0=007f0;1=0001f\n    MB:0= 20;1= 70\n";
        assert!(schemata_match(file, "L3:0=7f0;1=1f"));
        assert!(schemata_match(file, "MB:0=20"));
        assert!(!schemata_match(file, "MB:0=30"));
        assert!(!schemata_match(file, "L2:0=f"));
    }
}
