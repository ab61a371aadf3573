//! `linux.resources.rdma`: `rdma.max` lines (same format on v1 and v2).

use std::collections::{BTreeMap, HashMap};

use oci_spec::runtime::LinuxRdma;

use super::super::error::CgroupError;
use super::{PlanHost, Write, RES};

/// Plan `rdma`, one write per device in name order (the map has none).
pub fn plan(
    rdma: &HashMap<String, LinuxRdma>,
    host: &PlanHost,
    out: &mut Vec<Write>,
) -> Result<(), CgroupError> {
    let sorted: BTreeMap<&String, &LinuxRdma> = rdma.iter().collect();
    for (dev, limit) in sorted {
        let field = format!("{RES}.rdma[{dev:?}]");
        if dev.is_empty() || dev.chars().any(|c| c.is_whitespace()) {
            return Err(CgroupError::invalid(field, "is not an RDMA device name"));
        }
        let mut parts = Vec::new();
        if let Some(h) = limit.hca_handles() {
            parts.push(format!("hca_handle={h}"));
        }
        if let Some(o) = limit.hca_objects() {
            parts.push(format!("hca_object={o}"));
        }
        // A device with neither limit asks for nothing.
        if parts.is_empty() {
            continue;
        }
        let version = host.need(&field, "rdma")?;
        out.push(Write::new(
            field,
            "rdma",
            version,
            "rdma.max",
            format!("{dev} {}", parts.join(" ")),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn run(json: &str, host: &PlanHost) -> Result<Vec<Write>, CgroupError> {
        plan_section("rdma", json, host, |r| r.rdma().as_ref(), plan)
    }

    #[test]
    fn sorted_lines_on_v2() {
        let w = run(
            r#"{"mlx5_1":{"hcaHandles":3},"mlx5_0":{"hcaHandles":2,"hcaObjects":2000},"x":{}}"#,
            &v2(),
        )
        .unwrap_or_default();
        assert_eq!(
            fv(&w),
            vec![
                (
                    "rdma.max".to_string(),
                    "mlx5_0 hca_handle=2 hca_object=2000".to_string()
                ),
                ("rdma.max".to_string(), "mlx5_1 hca_handle=3".to_string())
            ]
        );
    }

    #[test]
    fn not_mounted_here() {
        let e = run(r#"{"mlx5_0":{"hcaHandles":2}}"#, &hybrid())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.unwrap_or_default(),
            "linux.resources.rdma[\"mlx5_0\"]: the rdma cgroup controller isn't mounted on this host"
        );
    }
}
