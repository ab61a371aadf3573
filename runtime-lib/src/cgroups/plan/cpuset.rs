//! `linux.resources.cpu.cpus` and `.mems`: same file names on v1 and v2.

use oci_spec::runtime::LinuxCpu;

use super::super::error::CgroupError;
use super::{PlanHost, Write, RES};

/// Plan the cpuset part of `cpu`.
pub fn plan(cpu: &LinuxCpu, host: &PlanHost, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    // An empty string is "unset" (runc skips it): writing it would empty the
    // cpuset and make every task in it unrunnable.
    for (name, value) in [("cpus", cpu.cpus()), ("mems", cpu.mems())] {
        let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let field = format!("{RES}.cpu.{name}");
        if value.contains('\n') {
            return Err(CgroupError::invalid(
                field,
                "must be a single line such as \"0-3,6\"",
            ));
        }
        let version = host.need(&field, "cpuset")?;
        out.push(Write::new(
            field,
            "cpuset",
            version,
            format!("cpuset.{name}"),
            value,
        ));
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
    fn cpus_and_mems_in_order() {
        let w = run(r#"{"cpus":"0-1","mems":"0"}"#, &hybrid()).unwrap_or_default();
        assert_eq!(
            fv(&w),
            vec![
                ("cpuset.cpus".into(), "0-1".into()),
                ("cpuset.mems".into(), "0".into())
            ]
        );
        assert_eq!(w[1].field, "linux.resources.cpu.mems");
    }

    #[test]
    fn empty_is_unset_and_newlines_are_refused() {
        assert_eq!(run(r#"{"cpus":""}"#, &v2()).map(|w| w.len()).ok(), Some(0));
        assert!(run(r#"{"cpus":"0\n1"}"#, &v2()).is_err());
    }
}
