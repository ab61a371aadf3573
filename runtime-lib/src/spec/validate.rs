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
    validate_process(spec)?;
    validate_mounts(spec)?;
    validate_linux(spec)
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
    if linux.time_offsets().as_ref().is_some_and(|o| !o.is_empty())
        && !new_ns.contains(&LinuxNamespaceType::Time)
    {
        return Err(SpecError::invalid(
            "linux.timeOffsets",
            "offsets need a new time namespace in linux.namespaces",
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
    for (i, s) in linux.sysctl().iter().flatten().map(|(k, _)| k).enumerate() {
        check_sysctl(s, &kinds)
            .map_err(|reason| SpecError::invalid(format!("linux.sysctl[{s:?}]"), reason))?;
        let _ = i;
    }
    for (field, list) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in list.iter().flatten().enumerate() {
            if !p.starts_with('/') {
                return Err(SpecError::invalid(
                    format!("{field}[{i}]"),
                    format!("{p:?} must be an absolute path"),
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
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        super::super::from_reader(json.as_bytes(), Path::new("config.json")).unwrap()
    }

    fn bundle() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("husk-validate-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        dir
    }

    const BASE: &str = r#""ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"]}"#;

    fn check(extra: &str) -> Result<(), SpecError> {
        validate(&spec(&format!("{{{BASE}{extra}}}")), &bundle())
    }

    #[test]
    fn minimal_is_valid() {
        check("").unwrap();
    }

    #[test]
    fn missing_rootfs() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"nope"},"process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"]}}"#,
        );
        let e = validate(&s, &bundle()).unwrap_err().to_string();
        assert!(e.contains("root.path") && e.contains("nope"), "{e}");
    }

    #[test]
    fn relative_mount_destination() {
        let e = check(r#","mounts":[{"destination":"proc","type":"proc","source":"proc"}]"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mounts[0].destination"), "{e}");
    }

    #[test]
    fn relative_cwd() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"cwd":"tmp","args":["sh"]}}"#,
        );
        let e = validate(&s, &bundle()).unwrap_err().to_string();
        assert!(e.contains("process.cwd"), "{e}");
    }

    #[test]
    fn duplicate_namespace() {
        let e = check(r#","linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.namespaces[1].type"), "{e}");
    }

    #[test]
    fn relative_namespace_path() {
        let e = check(r#","linux":{"namespaces":[{"type":"network","path":"proc/1/ns/net"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.namespaces[0].path"), "{e}");
    }

    #[test]
    fn mappings_without_userns() {
        let e = check(r#","linux":{"uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.uidMappings"), "{e}");
    }

    #[test]
    fn time_offsets_without_timens() {
        let e = check(r#","linux":{"timeOffsets":{"monotonic":{"secs":1,"nanosecs":0}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.timeOffsets"), "{e}");
    }

    #[test]
    fn hostname_without_uts() {
        let e = check(r#","hostname":"x","linux":{"namespaces":[{"type":"pid"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hostname"), "{e}");
    }

    #[test]
    fn sysctl_rules() {
        check(
            r#","linux":{"namespaces":[{"type":"network"}],"sysctl":{"net.ipv4.ip_forward":"1"}}"#,
        )
        .unwrap();
        let e = check(r#","linux":{"namespaces":[],"sysctl":{"net.ipv4.ip_forward":"1"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("net.ipv4.ip_forward"), "{e}");
        assert!(check(
            r#","linux":{"namespaces":[{"type":"ipc"}],"sysctl":{"vm.swappiness":"1"}}"#
        )
        .is_err());
    }

    #[test]
    fn empty_args() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"cwd":"/","args":[]}}"#,
        );
        let e = validate(&s, &bundle()).unwrap_err().to_string();
        assert!(e.contains("process.args"), "{e}");
    }
}
