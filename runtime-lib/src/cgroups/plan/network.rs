//! `linux.resources.network`: `net_cls.classid` and `net_prio.ifpriomap`.
//! Both controllers exist only on v1.

use oci_spec::runtime::LinuxNetwork;

use super::super::error::CgroupError;
use super::super::layout::HierarchyVersion;
use super::{PlanHost, Write, RES};

/// Plan `network`.
pub fn plan(n: &LinuxNetwork, host: &PlanHost, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    // runc writes the class id only when it is non-zero.
    if let Some(id) = n.class_id().filter(|&id| id != 0) {
        let field = format!("{RES}.network.classID");
        let version = need_v1(host, &field, "net_cls")?;
        out.push(Write::new(
            field,
            "net_cls",
            version,
            "net_cls.classid",
            id.to_string(),
        ));
    }
    for (i, p) in n.priorities().as_deref().unwrap_or(&[]).iter().enumerate() {
        let field = format!("{RES}.network.priorities[{i}]");
        let name = p.name();
        if name.is_empty() || name.chars().any(|c| c.is_whitespace()) {
            return Err(CgroupError::invalid(
                format!("{field}.name"),
                format!("{name:?} is not an interface name"),
            ));
        }
        let version = need_v1(host, &field, "net_prio")?;
        out.push(Write::new(
            field,
            "net_prio",
            version,
            "net_prio.ifpriomap",
            format!("{name} {}", p.priority()),
        ));
    }
    Ok(())
}

fn need_v1(
    host: &PlanHost,
    field: &str,
    controller: &str,
) -> Result<HierarchyVersion, CgroupError> {
    match host.controllers.get(controller) {
        Some(HierarchyVersion::V1) => Ok(HierarchyVersion::V1),
        // v2 has no such controller: say so rather than "not mounted".
        _ if host.mode == super::super::layout::CgroupMode::V2 => Err(CgroupError::Unsupported {
            field: field.to_string(),
            version: "v2",
            reason: format!(
                "cgroup v2 has no {controller} controller; use an eBPF program or drop the field"
            ),
        }),
        _ => Err(CgroupError::ControllerMissing {
            field: field.to_string(),
            controller: controller.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn run(json: &str, host: &PlanHost) -> Result<Vec<Write>, CgroupError> {
        plan_section("network", json, host, |r| r.network().as_ref(), plan)
    }

    #[test]
    fn v1_files() {
        let mut host = hybrid();
        host.controllers
            .insert("net_cls".into(), HierarchyVersion::V1);
        host.controllers
            .insert("net_prio".into(), HierarchyVersion::V1);
        let w = run(
            r#"{"classID":1048577,"priorities":[{"name":"eth0","priority":5}]}"#,
            &host,
        )
        .unwrap_or_default();
        assert_eq!(
            fv(&w),
            vec![
                ("net_cls.classid".to_string(), "1048577".to_string()),
                ("net_prio.ifpriomap".to_string(), "eth0 5".to_string())
            ]
        );
    }

    #[test]
    fn this_host_has_neither_controller() {
        let e = run(r#"{"classID":1}"#, &hybrid())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.unwrap_or_default(),
            "linux.resources.network.classID: the net_cls cgroup controller isn't mounted on this host"
        );
        assert!(run(r#"{"classID":0,"priorities":[]}"#, &hybrid()).is_ok());
        let e = run(r#"{"priorities":[{"name":"lo","priority":1}]}"#, &v2())
            .err()
            .map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("not supported on cgroup v2"));
    }
}
