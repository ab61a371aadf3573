//! Strings the kernel takes as C strings or paths: no NUL byte (it would cut
//! the value short, silently, or fail deep in set-up with a message naming no
//! field) and paths no longer than PATH_MAX. Also device numbers the kernel
//! cannot represent.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use oci_spec::runtime::Spec;

use super::SpecError;

/// The kernel's longest path (PATH_MAX, with its NUL).
const PATH_MAX: usize = 4096;

fn text(field: impl Into<String>, s: &str) -> Result<(), SpecError> {
    if s.contains('\0') {
        return Err(SpecError::invalid(field, "contains a NUL byte"));
    }
    Ok(())
}

fn path(field: impl Into<String>, p: &Path) -> Result<(), SpecError> {
    let b = p.as_os_str().as_bytes();
    let field = field.into();
    if b.contains(&0) {
        return Err(SpecError::invalid(field, "contains a NUL byte"));
    }
    if b.len() >= PATH_MAX {
        return Err(SpecError::invalid(
            field,
            format!("is {} bytes long, more than PATH_MAX ({PATH_MAX})", b.len()),
        ));
    }
    Ok(())
}

fn list(field: &str, v: Option<&Vec<String>>) -> Result<(), SpecError> {
    for (i, s) in v.into_iter().flatten().enumerate() {
        text(format!("{field}[{i}]"), s)?;
    }
    Ok(())
}

/// Checks every string field the kernel gets as a C string or a path.
pub fn validate(spec: &Spec) -> Result<(), SpecError> {
    if let Some(h) = spec.hostname() {
        text("hostname", h)?;
    }
    if let Some(d) = spec.domainname() {
        text("domainname", d)?;
    }
    if let Some(p) = spec.process() {
        list("process.args", p.args().as_ref())?;
        list("process.env", p.env().as_ref())?;
        path("process.cwd", p.cwd())?;
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        path(format!("mounts[{i}].destination"), m.destination())?;
        if let Some(s) = m.source() {
            path(format!("mounts[{i}].source"), s)?;
        }
        if let Some(t) = m.typ() {
            text(format!("mounts[{i}].type"), t)?;
        }
        list(&format!("mounts[{i}].options"), m.options().as_ref())?;
    }
    if let Some(h) = spec.hooks() {
        let kinds = [
            ("prestart", h.prestart()),
            ("createRuntime", h.create_runtime()),
            ("createContainer", h.create_container()),
            ("startContainer", h.start_container()),
            ("poststart", h.poststart()),
            ("poststop", h.poststop()),
        ];
        for (kind, hooks) in kinds {
            for (i, hook) in hooks.iter().flatten().enumerate() {
                let f = format!("hooks.{kind}[{i}]");
                path(format!("{f}.path"), hook.path())?;
                list(&format!("{f}.args"), hook.args().as_ref())?;
                list(&format!("{f}.env"), hook.env().as_ref())?;
            }
        }
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    list("linux.maskedPaths", linux.masked_paths().as_ref())?;
    list("linux.readonlyPaths", linux.readonly_paths().as_ref())?;
    if let Some(c) = linux.cgroups_path() {
        path("linux.cgroupsPath", c)?;
    }
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if let Some(p) = ns.path() {
            path(format!("linux.namespaces[{i}].path"), p)?;
        }
    }
    for (k, v) in linux.sysctl().iter().flatten() {
        text(format!("linux.sysctl[{k:?}]"), k)?;
        text(format!("linux.sysctl[{k:?}]"), v)?;
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        let f = format!("linux.devices[{i}]");
        path(format!("{f}.path"), d.path())?;
        // dev_t holds a 12-bit major and a 20-bit minor (as runc checks).
        if !(0..1 << 12).contains(&d.major()) {
            return Err(SpecError::invalid(
                format!("{f}.major"),
                format!("{} is not a device major number (0..4095)", d.major()),
            ));
        }
        if !(0..1 << 20).contains(&d.minor()) {
            return Err(SpecError::invalid(
                format!("{f}.minor"),
                format!("{} is not a device minor number (0..1048575)", d.minor()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Spec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn nul_bytes_and_long_paths_name_the_field() {
        let cases = [
            (
                serde_json::json!({"ociVersion": "1.0.2", "hostname": "a\u{0}b"}),
                "hostname",
            ),
            (
                serde_json::json!({"ociVersion": "1.0.2", "process": {"cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["a"], "env": ["A=\u{0}"]}}),
                "process.env[0]",
            ),
            (
                serde_json::json!({"ociVersion": "1.0.2", "mounts": [{"destination": format!("/{}", "x".repeat(5000))}]}),
                "mounts[0].destination",
            ),
            (
                serde_json::json!({"ociVersion": "1.0.2", "linux": {"devices": [{"path": "/dev/x", "type": "c", "major": -1, "minor": 3}]}}),
                "linux.devices[0].major",
            ),
        ];
        for (json, field) in cases {
            let e = validate(&spec(json)).unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
        assert!(validate(&spec(crate::spec::default_spec(None))).is_ok());
    }
}
