//! OCI device rules -> the set of devices a cgroup-v2 filter lets through.
//!
//! cgroup v2 has no device files, so the rules cannot be handed to the
//! kernel one by one as on v1. Instead they are replayed here, in order, the
//! way the v1 device controller (and runc's emulator of it) treats them:
//!
//! - An `a` rule (any device) resets everything: `allow` makes "every device
//!   allowed" the default, `deny` makes "nothing allowed" the default, and
//!   drops every exception collected so far.
//! - A `b`/`c` rule whose action differs from the default adds its access
//!   (`r`, `w`, `m`) to the exception for exactly that `type major:minor`
//!   (wildcards are part of the key, not expanded).
//! - A `b`/`c` rule whose action equals the default takes its access away
//!   from the exception with exactly that key. Taking access away that a
//!   *wider* wildcard exception still grants is refused: v1 silently ignores
//!   it, which would leave the device open while the config says otherwise
//!   (runc refuses it for the same reason).
//!
//! The result is a default action plus a set of exceptions that all carry the
//! opposite action, so their order no longer matters. The effect is "the
//! last matching rule wins" for rules that name the same key, while an `a`
//! rule overrides everything before it.

use std::collections::BTreeMap;
use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::super::error::CgroupError;

/// The OCI field the rules come from.
const FIELD: &str = "linux.resources.devices";

/// Block or character device (an `a` rule never survives as an exception).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DevKind {
    /// `b`.
    Block,
    /// `c`.
    Char,
}

impl DevKind {
    /// The kernel's `BPF_DEVCG_DEV_*` value for this kind.
    pub fn bpf_type(self) -> u32 {
        match self {
            DevKind::Block => 1,
            DevKind::Char => 2,
        }
    }

    fn letter(self) -> char {
        match self {
            DevKind::Block => 'b',
            DevKind::Char => 'c',
        }
    }
}

/// A set of access modes, as the kernel's `BPF_DEVCG_ACC_*` bits
/// (mknod 1, read 2, write 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Access(u8);

impl Access {
    /// `m`.
    pub const MKNOD: Access = Access(1);
    /// `r`.
    pub const READ: Access = Access(2);
    /// `w`.
    pub const WRITE: Access = Access(4);
    /// `rwm`.
    pub const ALL: Access = Access(7);

    /// Parse an OCI access string (`"rwm"`, `"r"`, ...); `None` when empty
    /// or with a letter other than r, w, m.
    pub fn parse(s: &str) -> Option<Access> {
        let mut a = Access::default();
        for c in s.chars() {
            a = a.union(match c {
                'r' => Access::READ,
                'w' => Access::WRITE,
                'm' => Access::MKNOD,
                _ => return None,
            });
        }
        (!a.is_empty()).then_some(a)
    }

    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// No access at all.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every mode in `self` is also in `other`.
    #[cfg(test)]
    pub fn is_subset_of(self, other: Access) -> bool {
        self.0 & !other.0 == 0
    }

    fn union(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }

    fn intersection(self, other: Access) -> Access {
        Access(self.0 & other.0)
    }

    fn difference(self, other: Access) -> Access {
        Access(self.0 & !other.0)
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [
            (Access::READ, 'r'),
            (Access::WRITE, 'w'),
            (Access::MKNOD, 'm'),
        ] {
            if !self.intersection(bit).is_empty() {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Which devices an exception covers; `None` is the wildcard `*`.
///
/// Field order is the sort order (major, minor, kind) so exceptions come out
/// in a stable order, wildcards first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceMatch {
    /// Major number, or any.
    pub major: Option<u32>,
    /// Minor number, or any.
    pub minor: Option<u32>,
    /// Block or character.
    pub kind: DevKind,
}

impl DeviceMatch {
    /// Whether the device `kind major:minor` is covered.
    #[cfg(test)]
    pub fn matches(&self, kind: DevKind, major: u32, minor: u32) -> bool {
        self.kind == kind
            && !matches!(self.major, Some(m) if m != major)
            && !matches!(self.minor, Some(m) if m != minor)
    }
}

impl fmt::Display for DeviceMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<u32>| v.map_or_else(|| "*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {}:{}",
            self.kind.letter(),
            n(self.major),
            n(self.minor)
        )
    }
}

/// The effective device policy: a default action and exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFilter {
    default_allow: bool,
    exceptions: BTreeMap<DeviceMatch, Access>,
}

/// One rule after validation: `None` match for an `a` rule.
struct Parsed {
    target: Option<DeviceMatch>,
    access: Access,
    allow: bool,
}

/// A major/minor number: absent or negative is the wildcard; above u32 is
/// refused (the kernel's numbers are 32-bit at most).
fn number(n: Option<i64>, field: &str) -> Result<Option<u32>, CgroupError> {
    match n {
        None => Ok(None),
        Some(v) if v < 0 => Ok(None),
        Some(v) => u32::try_from(v)
            .map(Some)
            .map_err(|_| CgroupError::invalid(field, format!("{v} is larger than 4294967295"))),
    }
}

/// The device kind a cgroup rule at `field` applies to: `None` for `a` (all).
/// Shared with the v1 planner, which writes the same rules as text.
pub fn rule_kind(field: &str, r: &LinuxDeviceCgroup) -> Result<Option<DevKind>, CgroupError> {
    match r.typ().unwrap_or_default() {
        LinuxDeviceType::A => Ok(None),
        LinuxDeviceType::B => Ok(Some(DevKind::Block)),
        LinuxDeviceType::C => Ok(Some(DevKind::Char)),
        other => Err(CgroupError::invalid(
            format!("{field}.type"),
            format!(
                "{:?} cannot be used in a device cgroup rule (only a, b, c)",
                other.as_str()
            ),
        )),
    }
}

fn parse(i: usize, r: &LinuxDeviceCgroup) -> Result<Parsed, CgroupError> {
    let field = format!("{FIELD}[{i}]");
    let access_str = r.access().as_deref().unwrap_or("");
    let access = Access::parse(access_str).ok_or_else(|| {
        CgroupError::invalid(
            format!("{field}.access"),
            format!("{access_str:?} must be a non-empty combination of r, w and m"),
        )
    })?;
    let kind = rule_kind(&field, r)?;
    let major = number(r.major(), &format!("{field}.major"))?;
    let minor = number(r.minor(), &format!("{field}.minor"))?;
    Ok(Parsed {
        target: kind.map(|kind| DeviceMatch { major, minor, kind }),
        access,
        allow: r.allow(),
    })
}

impl DeviceFilter {
    /// Replay `rules` in order (see the module docs). Starts from "nothing
    /// allowed", as a fresh v2 cgroup with a filter does.
    pub fn from_rules(rules: &[LinuxDeviceCgroup]) -> Result<Self, CgroupError> {
        let mut f = DeviceFilter {
            default_allow: false,
            exceptions: BTreeMap::new(),
        };
        for (i, r) in rules.iter().enumerate() {
            let p = parse(i, r)?;
            match p.target {
                None => {
                    f.default_allow = p.allow;
                    f.exceptions.clear();
                }
                Some(m) if p.allow != f.default_allow => {
                    let e = f.exceptions.entry(m).or_default();
                    *e = e.union(p.access);
                }
                Some(m) => f.remove(i, m, p.access)?,
            }
        }
        Ok(f)
    }

    fn remove(&mut self, i: usize, m: DeviceMatch, access: Access) -> Result<(), CgroupError> {
        let wider = [
            DeviceMatch { major: None, ..m },
            DeviceMatch { minor: None, ..m },
            DeviceMatch {
                major: None,
                minor: None,
                ..m
            },
        ];
        for w in wider.iter().filter(|w| **w != m) {
            let granted = self.exceptions.get(w).copied().unwrap_or_default();
            let overlap = granted.intersection(access);
            if !overlap.is_empty() {
                let action = if self.default_allow { "deny" } else { "allow" };
                return Err(CgroupError::invalid(
                    format!("{FIELD}[{i}]"),
                    format!(
                        "cannot take {overlap} on {m} away from the earlier wildcard {action} rule \
                         {w} {granted}: device cgroups cannot punch a hole in a wildcard rule \
                         (v1 would silently ignore it; name the devices one by one instead)"
                    ),
                ));
            }
        }
        if let Some(e) = self.exceptions.get_mut(&m) {
            *e = e.difference(access);
            if e.is_empty() {
                self.exceptions.remove(&m);
            }
        }
        Ok(())
    }

    /// What happens to a device no exception covers.
    pub fn default_allow(&self) -> bool {
        self.default_allow
    }

    /// The exceptions in a stable order (major, minor, kind; wildcards
    /// first). Each one has the action `!default_allow()`.
    pub fn exceptions(&self) -> impl Iterator<Item = (DeviceMatch, Access)> + '_ {
        self.exceptions.iter().map(|(m, a)| (*m, *a))
    }

    /// Every device is allowed: no filter is needed at all.
    pub fn is_allow_all(&self) -> bool {
        self.default_allow && self.exceptions.is_empty()
    }

    /// Whether `access` to `kind major:minor` is allowed: the reference the
    /// eBPF program is tested against. An exception applies when it covers
    /// the device and every requested mode (as on v1, one exception must
    /// cover the whole request).
    #[cfg(test)]
    pub fn allows(&self, kind: DevKind, major: u32, minor: u32, access: Access) -> bool {
        let hit = self
            .exceptions
            .iter()
            .any(|(m, a)| m.matches(kind, major, minor) && access.is_subset_of(*a));
        hit != self.default_allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("bad fixture {json}: {e}"))
    }

    fn filter(json: &str) -> DeviceFilter {
        DeviceFilter::from_rules(&rules(json)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn shown(f: &DeviceFilter) -> Vec<String> {
        f.exceptions().map(|(m, a)| format!("{m} {a}")).collect()
    }

    const C: DevKind = DevKind::Char;
    const B: DevKind = DevKind::Block;

    #[test]
    fn access_parses_and_prints_in_rwm_order() {
        assert_eq!(Access::parse("mwr"), Some(Access::ALL));
        assert_eq!(
            Access::parse("mr").map(|a| a.to_string()),
            Some("rm".into())
        );
        assert_eq!(Access::parse(""), None);
        assert_eq!(Access::parse("rx"), None);
        assert!(Access::READ.is_subset_of(Access::ALL));
        assert!(!Access::ALL.is_subset_of(Access::WRITE));
    }

    #[test]
    fn deny_all_then_allows_merge_per_key() {
        let f = filter(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"r"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"w"},
                {"allow":true,"type":"c","major":136,"access":"rwm"},
                {"allow":true,"type":"b","major":-1,"minor":-1,"access":"m"}]"#,
        );
        assert!(!f.default_allow());
        assert_eq!(shown(&f), vec!["b *:* m", "c 1:3 rw", "c 136:* rwm"]);
        assert!(f.allows(C, 1, 3, Access::READ));
        assert!(f.allows(C, 1, 3, Access::parse("rw").unwrap_or_default()));
        assert!(!f.allows(C, 1, 3, Access::MKNOD));
        assert!(f.allows(C, 136, 7, Access::ALL));
        assert!(f.allows(B, 8, 0, Access::MKNOD));
        assert!(!f.allows(B, 8, 0, Access::READ));
        assert!(!f.allows(C, 1, 5, Access::READ));
    }

    #[test]
    fn an_a_rule_resets_everything_before_it() {
        // runc's "weird" case: 8:1 is allowed again by the later allow-all,
        // 8:2 is denied after it.
        let f = filter(
            r#"[{"allow":false,"type":"b","major":8,"minor":1,"access":"rwm"},
                {"allow":true,"type":"a","access":"rwm"},
                {"allow":false,"type":"b","major":8,"minor":2,"access":"rwm"}]"#,
        );
        assert!(f.default_allow());
        assert_eq!(shown(&f), vec!["b 8:2 rwm"]);
        assert!(f.allows(B, 8, 1, Access::READ));
        assert!(!f.allows(B, 8, 2, Access::READ));
        assert!(filter(r#"[{"allow":true,"access":"rwm"}]"#).is_allow_all());
        let back = filter(
            r#"[{"allow":true,"access":"rwm"},{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]"#,
        );
        assert!(!back.default_allow());
        assert_eq!(shown(&back), vec!["c 1:3 rwm"]);
    }

    #[test]
    fn same_key_later_rule_wins() {
        let f = filter(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":10,"minor":200,"access":"rwm"},
                {"allow":false,"type":"c","major":10,"minor":200,"access":"w"}]"#,
        );
        assert_eq!(shown(&f), vec!["c 10:200 rm"]);
        let gone = filter(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":10,"minor":200,"access":"rw"},
                {"allow":false,"type":"c","major":10,"minor":200,"access":"rwm"}]"#,
        );
        assert_eq!(shown(&gone), Vec::<String>::new());
        // Removing what was never granted is fine (v1 ignores it too).
        let noop = filter(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":false,"type":"b","major":8,"minor":0,"access":"rwm"}]"#,
        );
        assert!(noop.exceptions().next().is_none());
    }

    #[test]
    fn punching_a_hole_in_a_wildcard_is_refused() {
        let e = DeviceFilter::from_rules(&rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":136,"access":"rwm"},
                {"allow":false,"type":"c","major":136,"minor":3,"access":"w"}]"#,
        ))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            e.starts_with("linux.resources.devices[2]: cannot take w on c 136:3 away from the earlier wildcard allow rule c 136:* rwm"),
            "{e}"
        );
        // Disjoint access is fine: 'm' on c *:* and 'r' removed from c 1:3.
        let ok = DeviceFilter::from_rules(&rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","access":"m"},
                {"allow":false,"type":"c","major":1,"minor":3,"access":"r"}]"#,
        ));
        assert!(ok.is_ok());
    }

    #[test]
    fn bad_rules_name_their_field() {
        let err = |json: &str| {
            DeviceFilter::from_rules(&rules(json))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err(r#"[{"allow":true,"type":"c"}]"#)
            .starts_with("linux.resources.devices[0].access: \"\" must be"));
        assert!(
            err(r#"[{"allow":true,"access":"rwm"},{"allow":true,"type":"u","access":"r"}]"#)
                .starts_with("linux.resources.devices[1].type:")
        );
        assert!(
            err(r#"[{"allow":true,"type":"c","major":4294967296,"access":"r"}]"#)
                .starts_with("linux.resources.devices[0].major: 4294967296 is larger")
        );
    }
}
