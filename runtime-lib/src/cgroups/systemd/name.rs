//! Unit and slice names (pure): runc's rules for `linux.cgroupsPath` under
//! the systemd driver.
//!
//! - `slice:prefix:name` gives the scope `<prefix>-<name>.scope` in `slice`;
//!   an empty slice means `system.slice`.
//! - No (or an empty) cgroupsPath is the same as `:husk:<id>`, as runc's is
//!   `:runc:<id>`.
//! - Slices nest by dashes: `a-b.slice` lives in `/a.slice/a-b.slice`; `-.slice`
//!   is the root slice.
//!
//! runc also accepts a name ending in `.slice` and then creates a slice unit
//! instead of a scope (for kubelet, which never puts a process in it). A
//! container's init has to live in a scope, so that is refused here.

use super::SystemdError;

/// The slice used when none is given (root containers, as runc).
pub const DEFAULT_SLICE: &str = "system.slice";
/// The scope prefix used when no cgroupsPath is given.
pub const DEFAULT_PREFIX: &str = "husk";
/// systemd's `UNIT_NAME_MAX` (256) less the NUL.
const UNIT_NAME_MAX: usize = 255;

/// Where the container's scope goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeName {
    /// The parent slice as systemd names it, e.g. `system.slice` or `a-b.slice`.
    pub slice: String,
    /// The scope unit, e.g. `husk-c1.scope`.
    pub unit: String,
    /// The `name` part (the container id by default), for the description.
    pub name: String,
}

impl ScopeName {
    /// The scope's cgroup, from the hierarchy root: the expanded slice, then
    /// the unit (`/system.slice/husk-c1.scope`).
    pub fn cgroup_path(&self) -> Result<String, SystemdError> {
        let slice = expand_slice(&self.slice).map_err(|reason| SystemdError::BadPath {
            path: self.slice.clone(),
            reason,
        })?;
        Ok(format!("{}/{}", slice.trim_end_matches('/'), self.unit))
    }
}

/// The slice used when none is given under a user's own manager (rootless, as runc).
pub const DEFAULT_USER_SLICE: &str = "user.slice";

/// Parse `linux.cgroupsPath` for the systemd driver.
pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<ScopeName, SystemdError> {
    parse_with(cgroups_path, id, DEFAULT_SLICE)
}

/// [`parse`] with another slice for an empty one (`DEFAULT_USER_SLICE` rootless).
pub fn parse_with(
    cgroups_path: Option<&str>,
    id: &str,
    default_slice: &str,
) -> Result<ScopeName, SystemdError> {
    let given = cgroups_path.filter(|p| !p.is_empty());
    let (slice, prefix, name) = match given {
        None => (default_slice, DEFAULT_PREFIX, id),
        Some(p) => {
            let parts: Vec<&str> = p.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                return Err(bad(
                    p,
                    "expected \"slice:prefix:name\" for the systemd cgroup driver \
                     (e.g. \"system.slice:husk:c1\"; a path like /a/b needs the cgroupfs driver)",
                ));
            };
            let slice = if slice.is_empty() {
                default_slice
            } else {
                slice
            };
            (slice, prefix, name)
        }
    };
    let shown = given.unwrap_or(id);
    if name.is_empty() {
        return Err(bad(shown, "the name part is empty"));
    }
    if name.ends_with(".slice") {
        return Err(bad(
            shown,
            "a name ending in .slice asks for a slice unit, which cannot hold the \
             container's processes; use a plain name (the scope is <prefix>-<name>.scope)",
        ));
    }
    expand_slice(slice).map_err(|reason| bad(shown, &reason))?;
    let unit = if prefix.is_empty() {
        // runc joins with a dash regardless; "-name.scope" is a valid unit
        // name, so do the same.
        format!("-{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    check_unit_name(&unit).map_err(|reason| bad(shown, &reason))?;
    Ok(ScopeName {
        slice: slice.to_string(),
        unit,
        name: name.to_string(),
    })
}

/// Whether `cgroups_path` is written in the systemd driver's `slice:prefix:name` form
/// (containerd's CRI writes `kubepods-…-pod<uid>.slice:cri-containerd:<id>` when the
/// pod's parent is a slice), rather than a cgroupfs path.
///
/// A caller that was not told which driver to use (the shim gets no `SystemdCgroup`
/// for a non-runc runtime type) can choose by this: a cgroupfs path is absolute or a
/// plain relative path, and has no colons in practice. Requires three parts, the
/// slice empty or a valid `.slice` name, a non-empty name and no `/` anywhere.
pub fn is_systemd_cgroups_path(cgroups_path: &str) -> bool {
    let parts: Vec<&str> = cgroups_path.split(':').collect();
    let [slice, _prefix, name] = parts[..] else {
        return false;
    };
    !cgroups_path.contains('/')
        && !name.is_empty()
        && (slice.is_empty() || expand_slice(slice).is_ok())
}

fn bad(path: &str, reason: &str) -> SystemdError {
    SystemdError::BadPath {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

/// runc's `ExpandSlice`: the cgroup path of a slice. `test-a-b.slice` is
/// `/test.slice/test-a.slice/test-a-b.slice`; `-.slice` is `/`.
pub fn expand_slice(slice: &str) -> Result<String, String> {
    let invalid = || format!("invalid slice name {slice:?}");
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err(format!("{} (it must end in .slice)", invalid()));
    };
    if slice.contains('/') {
        return Err(format!(
            "{} (nest slices with dashes, e.g. a-b.slice, not slashes)",
            invalid()
        ));
    }
    if base == "-" {
        return Ok("/".to_string());
    }
    check_unit_name(slice)?;
    let mut path = String::new();
    let mut prefix = String::new();
    for component in base.split('-') {
        // "a--b.slice", "-a.slice" and ".slice" have an empty component.
        if component.is_empty() {
            return Err(format!("{} (empty component between dashes)", invalid()));
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(component);
        path.push_str(".slice");
        prefix.push_str(component);
        prefix.push('-');
    }
    Ok(path)
}

/// The characters systemd allows in a unit name (`unit_name_is_valid`),
/// without the template `@`, and its length limit.
fn check_unit_name(unit: &str) -> Result<(), String> {
    if unit.len() > UNIT_NAME_MAX {
        return Err(format!(
            "the unit name {unit:?} is longer than systemd's {UNIT_NAME_MAX} characters"
        ));
    }
    if let Some(c) = unit
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\')))
    {
        return Err(format!(
            "the unit name {unit:?} has {c:?}; systemd allows only ASCII letters, digits and \":-_.\\\""
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: Option<&str>, id: &str) -> ScopeName {
        parse(path, id).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(path: Option<&str>, id: &str) -> String {
        parse(path, id)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn default_is_system_slice_husk_prefix_and_id() {
        for p in [None, Some("")] {
            let s = ok(p, "c1");
            assert_eq!(s.slice, "system.slice");
            assert_eq!(s.unit, "husk-c1.scope");
            assert_eq!(s.name, "c1");
            assert_eq!(
                s.cgroup_path().unwrap_or_default(),
                "/system.slice/husk-c1.scope"
            );
        }
    }

    #[test]
    fn slice_prefix_name() {
        let s = ok(Some("machine.slice:docker:1234"), "ignored");
        assert_eq!(
            (s.slice.as_str(), s.unit.as_str(), s.name.as_str()),
            ("machine.slice", "docker-1234.scope", "1234")
        );
        // An empty slice is system.slice.
        let s = ok(Some(":smoke:c1"), "x");
        assert_eq!(
            s.cgroup_path().unwrap_or_default(),
            "/system.slice/smoke-c1.scope"
        );
        // Nested slices expand by dashes.
        let s = ok(Some("kube-pods-burst.slice:cri:abc"), "x");
        assert_eq!(
            s.cgroup_path().unwrap_or_default(),
            "/kube.slice/kube-pods.slice/kube-pods-burst.slice/cri-abc.scope"
        );
        // The root slice.
        let s = ok(Some("-.slice:p:n"), "x");
        assert_eq!(s.cgroup_path().unwrap_or_default(), "/p-n.scope");
        // An empty prefix keeps runc's dash.
        assert_eq!(ok(Some("system.slice::n"), "x").unit, "-n.scope");
    }

    #[test]
    fn expand_slice_matches_runc() {
        assert_eq!(expand_slice("system.slice").as_deref(), Ok("/system.slice"));
        assert_eq!(
            expand_slice("a-b.slice").as_deref(),
            Ok("/a.slice/a-b.slice")
        );
        assert_eq!(
            expand_slice("test-a-b.slice").as_deref(),
            Ok("/test.slice/test-a.slice/test-a-b.slice")
        );
        assert_eq!(expand_slice("-.slice").as_deref(), Ok("/"));
        for bad in [
            ".slice",
            "a--b.slice",
            "-a.slice",
            "a-.slice",
            "a",
            "a.scope",
            "a/b.slice",
            "a b.slice",
        ] {
            assert!(expand_slice(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn bad_paths_are_refused_with_a_reason() {
        assert!(err(Some("/a/b"), "x").contains("expected \"slice:prefix:name\""));
        assert!(err(Some("a:b"), "x").contains("slice:prefix:name"));
        assert!(err(Some("a.slice:b:c:d"), "x").contains("slice:prefix:name"));
        assert!(err(Some("system.slice:p:"), "x").contains("name part is empty"));
        assert!(err(Some("system.slice:p:k.slice"), "x").contains("slice unit"));
        assert!(err(Some("system:p:n"), "x").contains("must end in .slice"));
        assert!(err(Some("a/b.slice:p:n"), "x").contains("slashes"));
        assert!(err(Some("system.slice:p:a/b"), "x").contains("'/'"));
        assert!(err(None, "a b").contains("' '"));
        let long = "x".repeat(250);
        assert!(err(None, &long).contains("longer than"));
        // The message names the field and the value.
        assert!(err(Some("/a/b"), "x").starts_with("linux.cgroupsPath \"/a/b\": "));
    }

    #[test]
    fn systemd_form_is_recognised() {
        for p in [
            "kubepods-burstable-pod0123_4567.slice:cri-containerd:abc123",
            "system.slice:husk:c1",
            ":husk:c1",
            "kubepods.slice:cri-containerd:x",
        ] {
            assert!(is_systemd_cgroups_path(p), "{p}");
        }
        for p in [
            "",
            "/kubepods/burstable/pod1/abc",
            "kubepods/besteffort/abc",
            "a:b",
            "a:b:c:d",
            "system.slice:husk:",
            "notaslice:husk:c1",
            "/system.slice:husk:c1",
            "a--b.slice:x:y",
        ] {
            assert!(!is_systemd_cgroups_path(p), "{p}");
        }
    }
}
