//! `linux.resources.unified`: raw cgroup v2 `file -> value` pairs.
//!
//! Written last so they override converted values. Refused on v1. On a
//! hybrid host, keys of controllers that live on the v2 hierarchy (here:
//! `hugetlb.*`) and `cgroup.*` core files are accepted; others are refused
//! because their controller is bound to a v1 hierarchy.

use std::collections::{BTreeMap, HashMap};

use super::super::error::CgroupError;
use super::super::layout::{CgroupMode, HierarchyVersion};
use super::{PlanHost, Write, RES};

/// Plan `unified`, keys in sorted order (the map has none).
pub fn plan(
    u: &HashMap<String, String>,
    host: &PlanHost,
    out: &mut Vec<Write>,
) -> Result<(), CgroupError> {
    let sorted: BTreeMap<&String, &String> = u.iter().collect();
    for (key, value) in sorted {
        let field = format!("{RES}.unified[{key:?}]");
        if host.mode == CgroupMode::V1 {
            return Err(CgroupError::Unsupported {
                field,
                version: "v1",
                reason: "unified keys need a cgroup v2 hierarchy and this host has none".into(),
            });
        }
        // The key becomes a file name: no paths, no hidden tricks.
        if key.contains('/') || key.contains('\0') || key.starts_with('.') {
            return Err(CgroupError::invalid(
                field,
                "must be a file name (no slashes)",
            ));
        }
        let Some((controller, _)) = key.split_once('.') else {
            return Err(CgroupError::invalid(
                field,
                "must be in the form CONTROLLER.PARAMETER",
            ));
        };
        match (controller, host.controllers.get(controller)) {
            ("cgroup", _) | (_, Some(HierarchyVersion::V2)) => {}
            (_, Some(HierarchyVersion::V1)) => {
                return Err(CgroupError::Unsupported {
                    field,
                    version: "v1",
                    reason: format!("the {controller} controller is on a v1 hierarchy on this hybrid host; use the OCI field instead"),
                })
            }
            (_, None) => {
                return Err(CgroupError::ControllerMissing {
                    field,
                    controller: controller.to_string(),
                })
            }
        }
        // Like runc's WriteFileByLine: a multi-line value is several writes
        // (io.max for two devices), since the kernel parses one per write.
        let lines: Vec<&str> = value.split('\n').filter(|l| !l.is_empty()).collect();
        let lines = if lines.is_empty() { vec![""] } else { lines };
        for line in lines {
            out.push(Write::new(
                field.clone(),
                controller,
                HierarchyVersion::V2,
                key.clone(),
                line,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn run(json: &str, host: &PlanHost) -> Result<Vec<Write>, CgroupError> {
        plan_section("unified", json, host, |r| r.unified().as_ref(), plan)
    }

    #[test]
    fn v2_sorted_and_split_by_line() {
        let w = run(
            r#"{"memory.high":"1000","io.max":"8:0 rbps=1\n8:16 wbps=2\n","cgroup.max.depth":"3"}"#,
            &v2(),
        )
        .unwrap_or_default();
        assert_eq!(
            fv(&w),
            vec![
                ("cgroup.max.depth".to_string(), "3".to_string()),
                ("io.max".to_string(), "8:0 rbps=1".to_string()),
                ("io.max".to_string(), "8:16 wbps=2".to_string()),
                ("memory.high".to_string(), "1000".to_string()),
            ]
        );
        assert_eq!(w[3].controller, "memory");
    }

    #[test]
    fn v1_refuses_unless_empty() {
        let mut host = hybrid();
        host.mode = CgroupMode::V1;
        assert!(run("{}", &host).is_ok());
        let e = run(r#"{"memory.high":"1"}"#, &host)
            .err()
            .map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("not supported on cgroup v1"));
    }

    #[test]
    fn hybrid_accepts_only_unified_controllers() {
        assert!(run(r#"{"hugetlb.2MB.max":"0"}"#, &hybrid()).is_ok());
        assert!(run(r#"{"memory.high":"1"}"#, &hybrid()).is_err());
        assert!(run(r#"{"misc.max":"x 1"}"#, &hybrid()).is_err());
    }

    #[test]
    fn bad_keys() {
        assert!(run(r#"{"../memory.max":"1"}"#, &v2()).is_err());
        assert!(run(r#"{"nodot":"1"}"#, &v2()).is_err());
        let e = run(r#"{"net_cls.classid":"1"}"#, &v2())
            .err()
            .map(|e| e.to_string());
        assert!(e
            .unwrap_or_default()
            .contains("net_cls cgroup controller isn't mounted"));
    }
}
