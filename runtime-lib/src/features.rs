//! What husk supports, in the shape of runc's `features` JSON. Lists only what is
//! implemented, so managers can trust it.

use serde_json::{json, Value};

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
    "unbindable",
];

/// The features document.
pub fn features() -> Value {
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
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.husk.version": env!("CARGO_PKG_VERSION")
        }
    })
}

fn seccomp() -> Value {
    let f = crate::seccomp::supported();
    let names = |v: Vec<String>| json!(v);
    json!({
        "enabled": f.enabled,
        "actions": names(f.actions.iter().map(|a| enum_name(a)).collect()),
        "operators": names(f.operators.iter().map(|a| enum_name(a)).collect()),
        "archs": names(f.archs.iter().map(|a| enum_name(a)).collect()),
        "knownFlags": names(f.known_flags.iter().map(|a| enum_name(a)).collect()),
        "supportedFlags": names(f.supported_flags.iter().map(|a| enum_name(a)).collect()),
    })
}

/// The spec's spelling of an oci-spec enum value (its serde name).
fn enum_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}
