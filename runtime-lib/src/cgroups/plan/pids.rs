//! `linux.resources.pids.limit` -> `pids.max` (same on v1 and v2).

use oci_spec::runtime::LinuxPids;

use super::super::error::CgroupError;
use super::{PlanHost, Write, RES};

/// Plan `pids`. As in runc, 0 means "unset" and a negative limit means
/// "no limit" (`max`).
pub fn plan(p: &LinuxPids, host: &PlanHost, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let limit = p.limit();
    if limit == 0 {
        return Ok(());
    }
    let field = format!("{RES}.pids.limit");
    let version = host.need(&field, "pids")?;
    let value = if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    };
    out.push(Write::new(field, "pids", version, "pids.max", value));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn run(limit: i64) -> Vec<(String, String)> {
        let r = res(&format!(r#"{{"pids":{{"limit":{limit}}}}}"#));
        let mut out = Vec::new();
        if let Some(p) = r.pids() {
            plan(p, &hybrid(), &mut out).unwrap_or_else(|e| panic!("{e}"));
        }
        fv(&out)
    }

    #[test]
    fn limit_values() {
        assert_eq!(run(0), vec![]);
        assert_eq!(run(-1), vec![("pids.max".to_string(), "max".to_string())]);
        assert_eq!(run(32), vec![("pids.max".to_string(), "32".to_string())]);
    }
}
