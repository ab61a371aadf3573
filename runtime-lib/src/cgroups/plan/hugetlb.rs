//! `linux.resources.hugepageLimits`: v1 `hugetlb.<size>.limit_in_bytes`,
//! v2 `hugetlb.<size>.max`, plus the reservation (`.rsvd.`) twin where the
//! kernel has it (5.7+), as runc does.

use oci_spec::runtime::LinuxHugepageLimit;

use super::super::error::CgroupError;
use super::super::layout::HierarchyVersion;
use super::{PlanHost, Write, RES};

/// A page size as the kernel names it in file names: digits then a unit
/// (`64KB`, `2MB`, `1GB`). Checked because it becomes part of a path.
fn valid_page_size(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(&s[digits..], "KB" | "MB" | "GB" | "TB" | "PB")
}

/// Plan `hugepageLimits`.
pub fn plan(
    limits: &[LinuxHugepageLimit],
    host: &PlanHost,
    out: &mut Vec<Write>,
) -> Result<(), CgroupError> {
    for (i, l) in limits.iter().enumerate() {
        let field = format!("{RES}.hugepageLimits[{i}]");
        let size = l.page_size();
        if !valid_page_size(size) {
            return Err(CgroupError::invalid(
                format!("{field}.pageSize"),
                format!("{size:?} is not a page size such as \"2MB\" or \"1GB\""),
            ));
        }
        let limit = u64::try_from(l.limit()).map_err(|_| {
            CgroupError::invalid(
                format!("{field}.limit"),
                format!("{} is negative", l.limit()),
            )
        })?;
        let version = host.need(&field, "hugetlb")?;
        let (main, rsvd) = match version {
            HierarchyVersion::V1 => (
                format!("hugetlb.{size}.limit_in_bytes"),
                format!("hugetlb.{size}.rsvd.limit_in_bytes"),
            ),
            HierarchyVersion::V2 => (
                format!("hugetlb.{size}.max"),
                format!("hugetlb.{size}.rsvd.max"),
            ),
        };
        out.push(Write::new(
            field.clone(),
            "hugetlb",
            version,
            main,
            limit.to_string(),
        ));
        out.push(Write::new(field, "hugetlb", version, rsvd, limit.to_string()).ignore_missing());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn run(json: &str, host: &PlanHost) -> Result<Vec<Write>, CgroupError> {
        plan_section(
            "hugepageLimits",
            json,
            host,
            |r| r.hugepage_limits().as_deref(),
            plan,
        )
    }

    #[test]
    fn hybrid_host_uses_v2_names_on_unified() {
        let w = run(r#"[{"pageSize":"2MB","limit":4194304}]"#, &hybrid()).unwrap_or_default();
        assert_eq!(
            fv(&w),
            vec![
                ("hugetlb.2MB.max".to_string(), "4194304".to_string()),
                ("hugetlb.2MB.rsvd.max".to_string(), "4194304".to_string())
            ]
        );
        assert_eq!(w[0].version, HierarchyVersion::V2);
        assert!(w[1].ignore_missing && !w[0].ignore_missing);
    }

    #[test]
    fn v1_names() {
        let mut host = hybrid();
        host.controllers
            .insert("hugetlb".into(), HierarchyVersion::V1);
        let w = run(r#"[{"pageSize":"1GB","limit":0}]"#, &host).unwrap_or_default();
        assert_eq!(w[0].file, "hugetlb.1GB.limit_in_bytes");
        assert_eq!(w[1].file, "hugetlb.1GB.rsvd.limit_in_bytes");
    }

    #[test]
    fn bad_sizes_and_limits_are_refused() {
        assert!(run(r#"[{"pageSize":"../2MB","limit":1}]"#, &v2()).is_err());
        assert!(run(r#"[{"pageSize":"2mb","limit":1}]"#, &v2()).is_err());
        let e = run(r#"[{"pageSize":"2MB","limit":-1}]"#, &v2())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.unwrap_or_default(),
            "linux.resources.hugepageLimits[0].limit: -1 is negative"
        );
    }
}
