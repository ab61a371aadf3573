//! What husk supports, in the shape of runc's `features` JSON. Lists only what is
//! implemented, so managers can trust it.

use serde_json::{json, Value};

mod fields;

/// The `linux.seccomp` object of the [`features`] document.
pub use crate::seccomp::SeccompFeatures;
pub use fields::{markdown as config_fields_markdown, supported, Support, CONFIG_FIELDS};

/// Oldest runtime-spec version accepted.
pub const OCI_VERSION_MIN: &str = "1.0.0";
/// Newest runtime-spec version implemented.
pub const OCI_VERSION_MAX: &str = crate::spec::OCI_VERSION;

/// Mount options husk understands (flags, propagation, recursive attributes).
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// The features document (`husk features`, runtime-spec's `features.md`), built
/// from what this husk and this host support.
///
/// ```
/// let doc = husk::features::features();
/// assert_eq!(doc["ociVersionMax"], husk::features::OCI_VERSION_MAX);
/// ```
pub fn features() -> Value {
    let host = crate::lsm::HostLsm::detect();
    let caps: Vec<String> = ::caps::all()
        .into_iter()
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false},
            "seccomp": seccomp(),
            // The spec's meaning: the runtime supports it, whatever the host has; the
            // host's state is in the annotations.
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {
                "enabled": supported("linux.intelRdt.closID"),
                "schemata": supported("linux.intelRdt.schemata"),
                "monitoring": supported("linux.intelRdt.enableMonitoring"),
            },
            "memoryPolicy": {
                "modes": crate::attrs::mempolicy::MODES,
                "flags": crate::attrs::mempolicy::FLAGS,
            },
            "mountExtensions": {"idmap": {"enabled": supported("mounts[].uidMappings[]")}},
            "netDevices": {"enabled": supported("linux.netDevices{}.name")}
        },
        "annotations": {
            "io.github.husk.version": env!("CARGO_PKG_VERSION"),
            "io.github.husk.apparmor.host": on_off(host.apparmor),
            "io.github.husk.selinux.host": on_off(host.selinux)
        }
    })
}

/// The annotations' spelling of a host property.
fn on_off(on: bool) -> &'static str {
    if on {
        "enabled"
    } else {
        "disabled"
    }
}

fn seccomp() -> Value {
    let f = crate::seccomp::supported();
    let names = |v: Vec<String>| json!(v);
    json!({
        "enabled": f.enabled,
        "actions": names(f.actions.iter().map(enum_name).collect()),
        "operators": names(f.operators.iter().map(enum_name).collect()),
        "archs": names(f.archs.iter().map(enum_name).collect()),
        "knownFlags": names(f.known_flags.iter().map(enum_name).collect()),
        "supportedFlags": names(f.supported_flags.iter().map(enum_name).collect()),
    })
}

/// The spec's spelling of an oci-spec enum value (its serde name).
fn enum_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_has_the_spec_shape() {
        let f: oci_spec::runtime::Features =
            serde_json::from_value(features()).expect("runtime-spec features shape");
        let linux = f.linux().as_ref().expect("linux");
        assert_eq!(
            linux.net_devices().as_ref().and_then(|n| *n.enabled()),
            Some(true)
        );
        let idmap = linux
            .mount_extensions()
            .as_ref()
            .and_then(|m| m.idmap().clone());
        assert_eq!(idmap.and_then(|i| *i.enabled()), Some(true));
        let mpol = linux.memory_policy().as_ref().expect("memoryPolicy");
        assert_eq!(mpol.modes().as_ref().map(Vec::len), Some(7));
        assert_eq!(mpol.flags().as_ref().map(Vec::len), Some(3));
        let rdt = linux.intel_rdt().as_ref().expect("intelRdt");
        assert_eq!(
            (*rdt.enabled(), *rdt.schemata(), *rdt.monitoring()),
            (Some(true), Some(true), Some(true))
        );
        let opts = f.mount_options().clone().unwrap_or_default();
        assert!(opts.iter().any(|o| o == "idmap") && opts.iter().any(|o| o == "ridmap"));
        let mut sorted = opts.clone();
        sorted.sort();
        assert_eq!(sorted, opts);
    }
}
