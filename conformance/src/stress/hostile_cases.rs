//! The hostile inputs: each a change to a valid config (or to the bundle) and
//! the field its refusal must name.

use std::path::Path;

use serde_json::{json, Value};

/// One malformed or adversarial input.
pub struct Case {
    /// What it is.
    pub name: &'static str,
    /// What the error message must mention (case-insensitive).
    pub field: &'static str,
    /// Changes the config in place (the bundle directory is given for files
    /// the case needs); `Some(bytes)` replaces config.json with raw bytes.
    pub apply: fn(&mut Value, &Path) -> Option<Vec<u8>>,
}

/// Sets `cfg` at a dotted path (`linux.namespaces.0.type`), making objects.
pub fn set(cfg: &mut Value, path: &str, v: Value) {
    let mut cur = cfg;
    for k in path.split('.') {
        cur = match k.parse::<usize>() {
            Ok(i) if cur.is_array() => &mut cur[i],
            _ => {
                if !cur.is_object() {
                    *cur = json!({});
                }
                &mut cur[k]
            }
        };
    }
    *cur = v;
}

fn big(n: usize) -> String {
    "x".repeat(n)
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

macro_rules! case {
    ($name:expr, $field:expr, |$c:ident, $d:ident| $body:block) => {
        Case {
            name: $name,
            field: $field,
            apply: |$c, $d| {
                let _ = &$d;
                $body
            },
        }
    };
    ($name:expr, $field:expr, $path:expr => $v:expr) => {
        Case {
            name: $name,
            field: $field,
            apply: |c, _| {
                set(c, $path, $v);
                None
            },
        }
    };
}

/// Every hostile case.
pub fn all() -> Vec<Case> {
    vec![
        // The document itself.
        case!("empty config.json", "config.json", |_c, _d| {
            Some(Vec::new())
        }),
        case!("config.json not JSON", "config.json", |_c, _d| {
            Some(b"{ not json".to_vec())
        }),
        case!("config.json an array", "config.json", |_c, _d| {
            Some(b"[1,2]".to_vec())
        }),
        case!("invalid UTF-8 in hostname", "hostname", |c, _d| {
            set(c, "hostname", json!("ru@nc"));
            let text = serde_json::to_vec(c).ok()?;
            Some(
                text.into_iter()
                    .map(|b| if b == b'@' { 0xff } else { b })
                    .collect(),
            )
        }),
        case!("deeply nested annotations", "annotations", |c, _d| {
            let text = serde_json::to_string(c).ok()?;
            let deep = format!("\"annotations\":{{\"a\":{}}},", nested(100_000));
            Some(text.replacen('{', &format!("{{{deep}"), 1).into_bytes())
        }),
        case!("ociVersion a number", "ociVersion", "ociVersion" => json!(1)),
        case!("annotations value a number", "annotations", "annotations" => json!({"a": 1})),
        // process
        case!("process a string", "process", "process" => json!("sh")),
        case!("process.args a string", "process.args", "process.args" => json!("sh")),
        case!("process.args empty", "process.args", "process.args" => json!([])),
        case!("process.args[0] a number", "process.args", "process.args" => json!([7])),
        case!("process.args with a NUL", "process.args", "process.args" => json!(["tr\u{0}ue"])),
        case!("process.env a string", "process.env", "process.env" => json!("A=1")),
        case!("process.env with a NUL", "process.env", "process.env" => json!(["A=\u{0}x"])),
        case!("process.cwd relative", "process.cwd", "process.cwd" => json!("tmp")),
        case!("process.cwd a number", "process.cwd", "process.cwd" => json!(5)),
        case!("process.user.uid negative", "process.user.uid", "process.user.uid" => json!(-1)),
        case!("process.user.uid 2^32", "process.user.uid", "process.user.uid" => json!(4294967296u64)),
        case!("process.user.gid a string", "process.user.gid", "process.user.gid" => json!("0")),
        case!("process.user.additionalGids negative", "additionalGids", "process.user.additionalGids" => json!([-5])),
        case!("process.user.umask huge", "umask", "process.user.umask" => json!(99999999999u64)),
        case!("process.rlimits unknown type", "rlimits", "process.rlimits" => json!([{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}])),
        case!("process.rlimits soft above hard", "rlimits", "process.rlimits" => json!([{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 20}])),
        case!("process.rlimits twice the same", "rlimits", "process.rlimits" => json!([{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 10}, {"type": "RLIMIT_NOFILE", "hard": 10, "soft": 10}])),
        case!("process.rlimits hard negative", "rlimits", "process.rlimits" => json!([{"type": "RLIMIT_NOFILE", "hard": -1, "soft": 1}])),
        case!("process.capabilities unknown", "capabilities", "process.capabilities.bounding" => json!(["CAP_BOGUS"])),
        case!("process.capabilities a list", "capabilities", "process.capabilities" => json!(["CAP_KILL"])),
        case!("process.oomScoreAdj 5000", "oomScoreAdj", "process.oomScoreAdj" => json!(5000)),
        case!("process.oomScoreAdj a string", "oomScoreAdj", "process.oomScoreAdj" => json!("x")),
        case!("process.consoleSize negative", "consoleSize", "process.consoleSize" => json!({"height": -1, "width": 80})),
        case!("process.terminal a string", "terminal", "process.terminal" => json!("yes")),
        case!("process.noNewPrivileges a number", "noNewPrivileges", "process.noNewPrivileges" => json!(1)),
        case!("process.scheduler unknown policy", "scheduler", "process.scheduler" => json!({"policy": "SCHED_BOGUS"})),
        case!("process.ioPriority unknown class", "ioPriority", "process.ioPriority" => json!({"class": "IOPRIO_CLASS_BOGUS", "priority": 1})),
        // root and hostname
        case!("root missing", "root", |c, _d| {
            c.as_object_mut()?.remove("root");
            None
        }),
        case!("root.path a number", "root.path", "root.path" => json!(3)),
        case!("root.path missing dir", "root", "root.path" => json!("/nonexistent/husk-stress-rootfs")),
        case!("rootfs a file", "root", |c, d| {
            let f = d.join("rootfs-file");
            std::fs::write(&f, b"").ok()?;
            set(c, "root.path", json!(f));
            None
        }),
        case!("rootfs a symlink loop", "root", |c, d| {
            let l = d.join("loop");
            let _ = std::os::unix::fs::symlink(&l, &l);
            set(c, "root.path", json!(l));
            None
        }),
        case!("hostname 1 MB", "hostname", "hostname" => json!(big(1 << 20))),
        case!("hostname with a NUL", "hostname", "hostname" => json!("a\u{0}b")),
        case!("hostname a number", "hostname", "hostname" => json!(42)),
        case!("domainname 1 MB", "domainname", "domainname" => json!(big(1 << 20))),
        // mounts
        case!("mounts an object", "mounts", "mounts" => json!({"a": 1})),
        case!("mounts entry without destination", "destination", "mounts.0" => json!({"type": "tmpfs", "source": "tmpfs"})),
        case!("mounts destination 1 MB", "mounts", "mounts.0.destination" => json!(format!("/{}", big(1 << 20)))),
        case!("mounts destination with a NUL", "mounts", "mounts.0.destination" => json!("/pr\u{0}oc")),
        case!("mounts type a number", "mounts", "mounts.0.type" => json!(9)),
        case!("mounts options numbers", "mounts", "mounts.0.options" => json!([1, 2])),
        case!("mounts 100000 entries, one bad", "mounts", |c, _d| {
            let mut v =
                vec![json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}); 100_000];
            v.push(json!({"destination": 5}));
            set(c, "mounts", Value::Array(v));
            None
        }),
        case!("bind mount of a missing source", "mounts", |c, _d| {
            if let Some(m) = c["mounts"].as_array_mut() {
                m.push(json!({"destination": "/mnt", "type": "bind", "source": "/nonexistent/husk-stress", "options": ["bind"]}));
            }
            None
        }),
        case!("mount of an unknown filesystem", "mounts", |c, _d| {
            if let Some(m) = c["mounts"].as_array_mut() {
                m.push(json!({"destination": "/mnt", "type": "bogusfs", "source": "x"}));
            }
            None
        }),
        // linux
        case!("namespaces duplicated", "namespaces", "linux.namespaces" => json!([{"type": "pid"}, {"type": "pid"}, {"type": "mount"}])),
        case!("namespaces unknown type", "namespaces", "linux.namespaces" => json!([{"type": "bogus"}, {"type": "mount"}])),
        case!("namespaces path missing", "namespaces", "linux.namespaces.1" => json!({"type": "network", "path": "/nonexistent/ns"})),
        case!("namespaces path not a namespace", "namespaces", "linux.namespaces.1" => json!({"type": "network", "path": "/etc/hostname"})),
        case!("namespaces path relative", "namespaces", "linux.namespaces.1" => json!({"type": "network", "path": "proc/1/ns/net"})),
        case!("uidMappings without a user namespace", "uidMappings", "linux.uidMappings" => json!([{"containerID": 0, "hostID": 1000, "size": 1}])),
        case!("uidMappings hostID 2^33", "uidMappings", |c, _d| {
            set(
                c,
                "linux.uidMappings",
                json!([{"containerID": 0, "hostID": 8589934592u64, "size": 1}]),
            );
            set(
                c,
                "linux.gidMappings",
                json!([{"containerID": 0, "hostID": 0, "size": 1}]),
            );
            if let Some(n) = c["linux"]["namespaces"].as_array_mut() {
                n.push(json!({"type": "user"}));
            }
            None
        }),
        case!("user namespace without mappings", "user", |c, _d| {
            if let Some(n) = c["linux"]["namespaces"].as_array_mut() {
                n.push(json!({"type": "user"}));
            }
            None
        }),
        case!("sysctl unknown key", "sysctl", "linux.sysctl" => json!({"bogus.key": "1"})),
        case!("sysctl value a number", "sysctl", "linux.sysctl" => json!({"net.ipv4.ip_forward": 1})),
        case!("sysctl value with a NUL", "sysctl", "linux.sysctl" => json!({"net.ipv4.ip_forward": "1\u{0}"})),
        case!("sysctl outside a namespace", "sysctl", "linux.sysctl" => json!({"vm.swappiness": "10"})),
        case!("memory.limit a string", "memory", "linux.resources.memory.limit" => json!("big")),
        case!("memory.limit 2^70", "memory", "linux.resources.memory.limit" => json!(1180591620717411303424.0)),
        case!("cpu.shares negative", "shares", "linux.resources.cpu.shares" => json!(-1)),
        case!("cpu.cpus garbage", "cpus", "linux.resources.cpu.cpus" => json!("abc")),
        case!("pids.limit a string", "pids", "linux.resources.pids.limit" => json!("x")),
        case!("devices allow a string", "devices", "linux.resources.devices" => json!([{"allow": "yes"}])),
        case!("devices rule of an unknown type", "devices", "linux.resources.devices" => json!([{"allow": true, "type": "z"}])),
        case!("blockIO.weight 5000", "blockIO", "linux.resources.blockIO.weight" => json!(5000)),
        case!("hugepageLimits unknown size", "hugepage", "linux.resources.hugepageLimits" => json!([{"pageSize": "3KB", "limit": 1}])),
        case!("unified on cgroup v1", "unified", "linux.resources.unified" => json!({"memory.max": "1"})),
        case!("device of an unknown type", "devices", "linux.devices" => json!([{"path": "/dev/x", "type": "q", "major": 1, "minor": 3}])),
        case!("device path relative", "devices", "linux.devices" => json!([{"path": "dev/x", "type": "c", "major": 1, "minor": 3}])),
        case!("device major negative", "devices", "linux.devices" => json!([{"path": "/dev/x", "type": "c", "major": -1, "minor": 3}])),
        case!("seccomp unknown default action", "seccomp", "linux.seccomp" => json!({"defaultAction": "SCMP_ACT_BOGUS"})),
        case!("seccomp unknown architecture", "seccomp", "linux.seccomp" => json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_BOGUS"]})),
        case!("seccomp unknown rule action", "seccomp", "linux.seccomp" => json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_BOGUS"}]})),
        case!("seccomp unknown operator", "seccomp", "linux.seccomp" => json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}]}]})),
        case!("seccomp argument index 9", "seccomp", "linux.seccomp" => json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]})),
        case!("maskedPaths an object", "maskedPaths", "linux.maskedPaths" => json!({"a": 1})),
        case!("readonlyPaths numbers", "readonlyPaths", "linux.readonlyPaths" => json!([5])),
        case!("rootfsPropagation unknown", "rootfsPropagation", "linux.rootfsPropagation" => json!("bogus")),
        case!("cgroupsPath 8 kB", "cgroupsPath", "linux.cgroupsPath" => json!(format!("/{}", big(8192)))),
        case!("cgroupsPath with a NUL", "cgroupsPath", "linux.cgroupsPath" => json!("/a\u{0}b")),
        case!("intelRdt closID with a slash", "intelRdt", "linux.intelRdt" => json!({"closID": "../x"})),
        case!("personality unknown domain", "personality", "linux.personality" => json!({"domain": "LINUX_BOGUS"})),
        case!("timeOffsets unknown clock", "timeOffsets", "linux.timeOffsets" => json!({"bogus": {"secs": 1}})),
        case!("memoryPolicy unknown mode", "memoryPolicy", "linux.memoryPolicy" => json!({"mode": "MPOL_BOGUS"})),
        // hooks
        case!("hooks a list", "hooks", "hooks" => json!([1])),
        case!("hook path relative", "hooks", "hooks.prestart" => json!([{"path": "bin/true"}])),
        case!("hook timeout 0", "hooks", "hooks.prestart" => json!([{"path": "/bin/true", "timeout": 0}])),
        case!("hook timeout negative", "hooks", "hooks.prestart" => json!([{"path": "/bin/true", "timeout": -5}])),
    ]
}
