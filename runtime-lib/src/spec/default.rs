//! The default config.json `husk spec` writes (runc's defaults, hostname "husk").

use serde_json::{json, Value};

/// A default spec; `rootless` = Some((uid, gid)) maps root in a user namespace to that
/// user, shaped as `runc spec --rootless` (no cgroup namespace: see
/// [`default_rootless_spec`] for a cgroup v2 host; no `linux.resources`; `/sys` a
/// read-only recursive bind; no `gid=5` for devpts).
///
/// ```
/// let mut config = husk::spec::default_spec(None);
/// config["process"]["args"] = serde_json::json!(["echo", "hello"]);
/// assert_eq!(config["root"]["path"], "rootfs");
/// ```
pub fn default_spec(rootless: Option<(u32, u32)>) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = json!({
        "ociVersion": super::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "husk",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if let Some((uid, gid)) = rootless {
        let linux = &mut spec["linux"];
        if let Some(l) = linux.as_object_mut() {
            l.remove("resources");
        }
        linux["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}]);
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        if let Some(mounts) = spec["mounts"].as_array_mut() {
            for m in mounts.iter_mut() {
                if m["destination"] == "/sys" {
                    *m = json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                }
                if m["destination"] == "/dev/pts" {
                    m["options"] = json!([
                        "nosuid",
                        "noexec",
                        "newinstance",
                        "ptmxmode=0666",
                        "mode=0620"
                    ]);
                }
            }
        }
    }
    spec
}

/// `husk spec --rootless` for the user `uid`:`gid`; on a cgroup v2 host (`unified`)
/// with a cgroup namespace, as `runc spec --rootless` there.
pub fn default_rootless_spec(uid: u32, gid: u32, unified: bool) -> Value {
    let mut spec = default_spec(Some((uid, gid)));
    if unified {
        if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
            ns.insert(4, json!({"type": "cgroup"}));
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parses_as_a_spec() {
        for r in [None, Some((1000, 1000))] {
            let s: oci_spec::runtime::Spec = serde_json::from_value(default_spec(r)).unwrap();
            assert_eq!(s.hostname().as_deref(), Some("husk"));
        }
    }

    #[test]
    fn rootless_is_shaped_as_runc() {
        let s = default_rootless_spec(1000, 1001, false);
        assert!(s["linux"].get("resources").is_none());
        let ns: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "user"]);
        assert_eq!(
            s["linux"]["uidMappings"],
            json!([{"containerID": 0, "hostID": 1000, "size": 1}])
        );
        assert_eq!(s["linux"]["gidMappings"][0]["hostID"], 1001);
        let mounts = s["mounts"].as_array().unwrap();
        assert_eq!(mounts.len(), 7);
        assert_eq!(
            mounts[5]["options"],
            json!(["rbind", "nosuid", "noexec", "nodev", "ro"])
        );
        assert_eq!(mounts[6]["type"], "cgroup");
        let v2 = default_rootless_spec(1000, 1000, true);
        assert_eq!(v2["linux"]["namespaces"][4]["type"], "cgroup");
        assert_eq!(v2["linux"]["namespaces"][5]["type"], "user");
    }
}
