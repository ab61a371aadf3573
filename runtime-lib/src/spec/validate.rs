//! Rules of the runtime spec (and runc's checks) that serde cannot express.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::SpecError;

/// Checks a parsed spec against the bundle it came from. Nothing is created or changed.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<(), SpecError> {
    if spec.version().is_empty() {
        return Err(SpecError::invalid("ociVersion", "must be set"));
    }
    if !spec.version().starts_with("1.") {
        return Err(SpecError::invalid(
            "ociVersion",
            format!(
                "unsupported version {:?} (husk implements 1.x)",
                spec.version()
            ),
        ));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| SpecError::invalid("root", "must be set"))?;
    if root.path().as_os_str().is_empty() {
        return Err(SpecError::invalid("root.path", "must be set"));
    }
    let rootfs = bundle.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(SpecError::invalid(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ))
        }
        Err(e) => {
            return Err(SpecError::invalid(
                "root.path",
                format!("{}: {e}", rootfs.display()),
            ))
        }
    }
    super::strings::validate(spec)?;
    validate_process(spec)?;
    validate_mounts(spec)?;
    validate_linux(spec)?;
    validate_extensions(spec)
}

/// The runtime-spec 1.2/1.3 fields, checked by the modules that apply them.
fn validate_extensions(spec: &Spec) -> Result<(), SpecError> {
    crate::attrs::ProcessAttrs::validate(spec)?;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        crate::rootfs::idmap::plan(i, m, spec).map_err(|e| match e {
            crate::rootfs::RootfsError::Plan { field, reason } => SpecError::invalid(field, reason),
            other => SpecError::invalid(format!("mounts[{i}]"), other.to_string()),
        })?;
    }
    crate::namespaces::netdev::plan(spec)?;
    crate::intelrdt::validate(spec)
}

fn validate_process(spec: &Spec) -> Result<(), SpecError> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| SpecError::invalid("process", "must be set to create a container"))?;
    match process.args() {
        Some(args) if !args.is_empty() => {}
        _ => return Err(SpecError::invalid("process.args", "must not be empty")),
    }
    if !process.cwd().is_absolute() {
        return Err(SpecError::invalid(
            "process.cwd",
            format!("{:?} must be an absolute path", process.cwd()),
        ));
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') || e.starts_with('=') {
                return Err(SpecError::invalid(
                    format!("process.env[{i}]"),
                    format!("{e:?} is not of the form KEY=VALUE"),
                ));
            }
        }
    }
    if let Some(rlimits) = process.rlimits() {
        let mut seen = HashSet::new();
        for (i, r) in rlimits.iter().enumerate() {
            if r.soft() > r.hard() {
                return Err(SpecError::invalid(
                    format!("process.rlimits[{i}]"),
                    format!("soft limit {} is above hard limit {}", r.soft(), r.hard()),
                ));
            }
            if !seen.insert(format!("{:?}", r.typ())) {
                return Err(SpecError::invalid(
                    format!("process.rlimits[{i}].type"),
                    format!("{:?} is given twice", r.typ()),
                ));
            }
        }
    }
    Ok(())
}

fn validate_mounts(spec: &Spec) -> Result<(), SpecError> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(SpecError::invalid(
                format!("mounts[{i}].destination"),
                format!("{:?} must be an absolute path", m.destination()),
            ));
        }
        let typ = m.typ().as_deref().unwrap_or("");
        let is_bind = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
            || typ == "bind";
        if is_bind && m.source().is_none() {
            return Err(SpecError::invalid(
                format!("mounts[{i}].source"),
                "a bind mount needs a source",
            ));
        }
        if !is_bind && typ.is_empty() {
            return Err(SpecError::invalid(
                format!("mounts[{i}].type"),
                "must be set unless the mount is a bind mount",
            ));
        }
    }
    Ok(())
}

fn validate_linux(spec: &Spec) -> Result<(), SpecError> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut kinds = HashSet::new();
    let mut new_ns = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !kinds.insert(ns.typ()) {
            return Err(SpecError::invalid(
                format!("linux.namespaces[{i}].type"),
                format!("namespace {} is listed twice", ns.typ()),
            ));
        }
        match ns.path() {
            Some(p) if !p.is_absolute() => {
                return Err(SpecError::invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("{p:?} must be an absolute path"),
                ))
            }
            Some(p) if !p.exists() => {
                return Err(SpecError::invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("{}: no such file", p.display()),
                ))
            }
            Some(_) => {}
            None => {
                new_ns.insert(ns.typ());
            }
        }
    }
    let has_userns = kinds.contains(&LinuxNamespaceType::User);
    let maps = linux.uid_mappings().iter().flatten().count()
        + linux.gid_mappings().iter().flatten().count();
    if maps > 0 && !new_ns.contains(&LinuxNamespaceType::User) {
        return Err(SpecError::invalid(
            "linux.uidMappings",
            if has_userns {
                "mappings cannot be applied to a user namespace joined by path"
            } else {
                "mappings are set but there is no user namespace"
            },
        ));
    }
    if new_ns.contains(&LinuxNamespaceType::User) {
        // runc refuses it too ("no uid mappings found"); without this check the
        // kernel's EOVERFLOW surfaces deep in the mount set-up.
        for (field, n) in [
            (
                "linux.uidMappings",
                linux.uid_mappings().iter().flatten().count(),
            ),
            (
                "linux.gidMappings",
                linux.gid_mappings().iter().flatten().count(),
            ),
        ] {
            if n == 0 {
                return Err(SpecError::invalid(
                    field,
                    "a new user namespace needs at least one mapping (none is set: \
                     nothing in the container could own a file or switch to a user)",
                ));
            }
        }
    }
    if linux.time_offsets().as_ref().is_some_and(|o| !o.is_empty())
        && !new_ns.contains(&LinuxNamespaceType::Time)
    {
        return Err(SpecError::invalid(
            "linux.timeOffsets",
            "offsets need a new time namespace in linux.namespaces",
        ));
    }
    if let Some(clock) = linux
        .time_offsets()
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| *k != "monotonic" && *k != "boottime")
    {
        return Err(SpecError::invalid(
            format!("linux.timeOffsets[{clock:?}]"),
            "only the monotonic and boottime clocks have offsets",
        ));
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !new_ns.contains(&LinuxNamespaceType::Uts)
        && !kinds.contains(&LinuxNamespaceType::Uts)
    {
        return Err(SpecError::invalid(
            "hostname",
            "cannot set the hostname without a private UTS namespace",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty())
        && !kinds.contains(&LinuxNamespaceType::Uts)
    {
        return Err(SpecError::invalid(
            "domainname",
            "cannot set the domainname without a private UTS namespace",
        ));
    }
    if let Some(p) = linux.rootfs_propagation() {
        if ![
            "",
            "shared",
            "slave",
            "private",
            "unbindable",
            "rshared",
            "rslave",
            "rprivate",
            "runbindable",
        ]
        .contains(&p.as_str())
        {
            return Err(SpecError::invalid(
                "linux.rootfsPropagation",
                format!("unknown propagation {p:?}"),
            ));
        }
    }
    for (s, v) in linux.sysctl().iter().flatten() {
        check_sysctl(s, &kinds)
            .and_then(|()| check_uts_sysctl(s, v, spec))
            .map_err(|reason| SpecError::invalid(format!("linux.sysctl[{s:?}]"), reason))?;
    }
    for (field, list) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        // A relative path is relative to the container's root (runc's reading).
        for (i, p) in list.iter().flatten().enumerate() {
            if p.is_empty() {
                return Err(SpecError::invalid(
                    format!("{field}[{i}]"),
                    "must not be empty",
                ));
            }
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        if !d.path().is_absolute() {
            return Err(SpecError::invalid(
                format!("linux.devices[{i}].path"),
                format!("{:?} must be an absolute path", d.path()),
            ));
        }
    }
    Ok(())
}

/// `kernel.hostname` has its own field (`hostname`), so runc refuses the sysctl;
/// `kernel.domainname` is refused only when `domainname` sets another value (runc
/// lets the later sysctl silently win; a config saying two things is an error).
fn check_uts_sysctl(key: &str, value: &str, spec: &Spec) -> Result<(), String> {
    let key = key.replace('/', ".");
    if key == "kernel.hostname" {
        return Err("conflicts with the OCI \"hostname\" field: set hostname instead".into());
    }
    if key == "kernel.domainname" {
        if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
            if d != value {
                return Err(format!(
                    "{value:?} conflicts with the OCI \"domainname\" field ({d:?})"
                ));
            }
        }
    }
    Ok(())
}

/// Mirrors runc: a sysctl may only be set if it belongs to a namespace the container owns.
fn check_sysctl(key: &str, kinds: &HashSet<LinuxNamespaceType>) -> Result<(), String> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let owns = |t| kinds.contains(&t);
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        return if owns(LinuxNamespaceType::Ipc) {
            Ok(())
        } else {
            Err("needs a private IPC namespace".into())
        };
    }
    if key.starts_with("net.") {
        return if owns(LinuxNamespaceType::Network) {
            Ok(())
        } else {
            Err("needs a private network namespace".into())
        };
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        return if owns(LinuxNamespaceType::Uts) {
            Ok(())
        } else {
            Err("needs a private UTS namespace".into())
        };
    }
    Err("is not in a separate kernel namespace".into())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
