//! `linux.resources.devices`.
//!
//! v1: `devices.deny` "a" first, so the cgroup starts from "nothing allowed",
//! then every rule in order to `devices.allow` / `devices.deny`, as runc did
//! before its emulator. v2 has no device files: the rules become an eBPF
//! program ([`filter`], built in `devices_bpf/`), which the handle attaches
//! after the writes are planned; the plan itself only validates them.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::super::devices_bpf::{rule_kind, DevKind, DeviceFilter};
use super::super::error::CgroupError;
use super::super::layout::HierarchyVersion;
use super::{PlanHost, Write, RES};

/// runc's built-in allow list (`specconv.AllowedDevices`): mknod of any
/// char/block device, /dev/null, random, full, tty, zero, urandom, pts,
/// ptmx and tun. The core appends these after the spec's own rules.
pub fn default_allow_rules() -> Vec<LinuxDeviceCgroup> {
    const RULES: &[(LinuxDeviceType, Option<i64>, Option<i64>, &str)] = &[
        (LinuxDeviceType::C, None, None, "m"),
        (LinuxDeviceType::B, None, None, "m"),
        (LinuxDeviceType::C, Some(1), Some(3), "rwm"),
        (LinuxDeviceType::C, Some(1), Some(8), "rwm"),
        (LinuxDeviceType::C, Some(1), Some(7), "rwm"),
        (LinuxDeviceType::C, Some(5), Some(0), "rwm"),
        (LinuxDeviceType::C, Some(1), Some(5), "rwm"),
        (LinuxDeviceType::C, Some(1), Some(9), "rwm"),
        (LinuxDeviceType::C, Some(136), None, "rwm"),
        (LinuxDeviceType::C, Some(5), Some(2), "rwm"),
        (LinuxDeviceType::C, Some(10), Some(200), "rwm"),
    ];
    RULES
        .iter()
        .map(|&(typ, major, minor, access)| {
            let mut r = LinuxDeviceCgroup::default();
            r.set_allow(true);
            r.set_typ(Some(typ));
            r.set_major(major);
            r.set_minor(minor);
            r.set_access(Some(access.to_string()));
            r
        })
        .collect()
}

/// A wildcard major/minor: absent or negative (runc's -1).
fn num(n: Option<i64>) -> Option<i64> {
    n.filter(|&n| n >= 0)
}

/// The kernel's text form of rule `i`: `c 1:3 rwm`.
fn rule_line(i: usize, r: &LinuxDeviceCgroup) -> Result<String, CgroupError> {
    let field = format!("{RES}.devices[{i}]");
    let typ = match rule_kind(&field, r)? {
        None => 'a',
        Some(DevKind::Block) => 'b',
        Some(DevKind::Char) => 'c',
    };
    // runc refuses an empty access string rather than guessing one.
    let access = r.access().as_deref().unwrap_or("");
    if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(CgroupError::invalid(
            format!("{field}.access"),
            format!("{access:?} must be a non-empty combination of r, w and m"),
        ));
    }
    let n = |v: Option<i64>| num(v).map_or_else(|| "*".to_string(), |v| v.to_string());
    Ok(format!("{typ} {}:{} {access}", n(r.major()), n(r.minor())))
}

/// Plan `devices`.
pub fn plan(
    rules: &[LinuxDeviceCgroup],
    host: &PlanHost,
    out: &mut Vec<Write>,
) -> Result<(), CgroupError> {
    if rules.is_empty() {
        return Ok(());
    }
    // Validate every rule first, so a bad rule fails before any write.
    let lines = rules
        .iter()
        .enumerate()
        .map(|(i, r)| rule_line(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    let field = format!("{RES}.devices");
    match host.need(&field, "devices")? {
        HierarchyVersion::V1 => {
            out.push(Write::new(
                field,
                "devices",
                HierarchyVersion::V1,
                "devices.deny",
                "a",
            ));
            for (i, (rule, line)) in rules.iter().zip(lines).enumerate() {
                let file = if rule.allow() {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                out.push(Write::new(
                    format!("{RES}.devices[{i}]"),
                    "devices",
                    HierarchyVersion::V1,
                    file,
                    line,
                ));
            }
            Ok(())
        }
        // No file writes: `filter` gives the program. Building it here
        // too makes a rule v2 cannot express fail at plan time.
        HierarchyVersion::V2 => DeviceFilter::from_rules(rules).map(drop),
    }
}

/// v2: the device filter `rules` call for, `None` when there are no rules
/// or the host's device controller is v1 (then [`plan`] writes them).
pub fn filter(
    rules: &[LinuxDeviceCgroup],
    host: &PlanHost,
) -> Result<Option<DeviceFilter>, CgroupError> {
    if rules.is_empty() {
        return Ok(None);
    }
    match host.need(&format!("{RES}.devices"), "devices")? {
        HierarchyVersion::V1 => Ok(None),
        HierarchyVersion::V2 => DeviceFilter::from_rules(rules).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        res(&format!(r#"{{"devices":{json}}}"#))
            .devices()
            .clone()
            .unwrap_or_default()
    }

    fn run(json: &str, host: &PlanHost) -> Result<Vec<Write>, CgroupError> {
        let mut out = Vec::new();
        plan(&rules(json), host, &mut out).map(|_| out)
    }

    #[test]
    fn v1_denies_all_then_rules_in_order() {
        let json = r#"[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
            {"allow":true,"type":"c","major":136,"access":"rw"},
            {"allow":false,"type":"b","major":8,"minor":-1,"access":"m"}]"#;
        let w = run(json, &hybrid()).unwrap_or_default();
        let expect: Vec<(String, String)> = [
            ("devices.deny", "a"),
            ("devices.deny", "a *:* rwm"),
            ("devices.allow", "c 1:3 rwm"),
            ("devices.allow", "c 136:* rw"),
            ("devices.deny", "b 8:* m"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(fv(&w), expect);
        assert_eq!(w[2].field, "linux.resources.devices[1]");
    }

    #[test]
    fn bad_rules_are_refused_before_writing() {
        let e = run(
            r#"[{"allow":true,"type":"c","major":1,"minor":3}]"#,
            &hybrid(),
        )
        .err();
        assert!(e
            .map(|e| e.to_string())
            .unwrap_or_default()
            .starts_with("linux.resources.devices[0].access"));
        assert!(run(r#"[{"allow":true,"type":"u","access":"r"}]"#, &hybrid()).is_err());
        assert!(run(r#"[{"allow":true,"type":"c","access":"rx"}]"#, &hybrid()).is_err());
    }

    #[test]
    fn v2_plans_no_writes_and_builds_a_filter() {
        let mut all = rules(r#"[{"allow":false,"access":"rwm"}]"#);
        all.extend(default_allow_rules());
        all.extend(rules(
            r#"[{"allow":true,"type":"b","major":8,"minor":0,"access":"rw"}]"#,
        ));
        let mut out = Vec::new();
        assert!(plan(&all, &v2(), &mut out).is_ok());
        assert!(out.is_empty());
        let f = filter(&all, &v2()).ok().flatten();
        assert_eq!(f.map(|f| f.exceptions().count()), Some(12));
        // v1 hosts write files instead; no rules, no filter.
        assert_eq!(filter(&all, &hybrid()).ok().flatten(), None);
        assert_eq!(filter(&[], &v2()).ok().flatten(), None);
        let privileged = rules(r#"[{"allow":true,"access":"rwm"}]"#);
        let f = filter(&privileged, &v2()).ok().flatten();
        assert_eq!(f.map(|f| f.is_allow_all()), Some(true));
    }

    #[test]
    fn v2_refuses_rules_the_filter_cannot_express() {
        let hole = r#"[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":136,"access":"rwm"},
            {"allow":false,"type":"c","major":136,"minor":1,"access":"rwm"}]"#;
        let e = run(hole, &v2())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("linux.resources.devices[2]: cannot take rwm"),
            "{e}"
        );
        // v1 hands the same rules to the kernel as they are.
        assert_eq!(run(hole, &hybrid()).map(|w| w.len()).ok(), Some(4));
    }

    #[test]
    fn defaults_render_like_runc() {
        let lines: Vec<String> = default_allow_rules()
            .iter()
            .enumerate()
            .map(|(i, r)| rule_line(i, r).unwrap_or_default())
            .collect();
        assert_eq!(lines[0], "c *:* m");
        assert_eq!(lines[8], "c 136:* rwm");
        assert_eq!(lines.len(), 11);
    }
}
