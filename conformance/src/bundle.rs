//! Bundles: a busybox-static rootfs built at run time, with the static
//! `husk-checker` probe, and a base `config.json` shaped like `runc spec`'s
//! default (with `terminal: false`) that each scenario edits.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// The busybox binary copied into each rootfs (Debian's busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";
/// Where the checker lives inside the rootfs.
pub const CHECKER_IN_ROOTFS: &str = "/bin/husk-checker";
/// Environment variable put into every container process; the cleanup kills
/// leftover processes that carry it.
pub const MARKER_ENV: &str = "HUSK_CONFORMANCE";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
husk:x:1000:1000:husk:/home/husk:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
// No member lists: supplementary groups then come from additionalGids only.
const GROUP: &str =
    "root:x:0:\nwheel:x:10:\ndialout:x:20:\ntty:x:5:\nhusk:x:1000:\nnogroup:x:65534:\n";
const DIRS: [&str; 12] = [
    "bin",
    "dev",
    "etc",
    "proc",
    "sys",
    "tmp",
    "root",
    "home/husk",
    "var/lib",
    "mnt",
    "run",
    "usr",
];

/// A rootfs template, built once per run and copied into each bundle.
#[derive(Debug, Clone)]
pub struct Rootfs {
    dir: PathBuf,
    applets: Vec<String>,
    has_checker: bool,
}

impl Rootfs {
    /// Builds the template in `dir` (which must not exist yet or be empty).
    pub fn build(dir: &Path) -> Result<Rootfs, String> {
        let bb = Path::new(BUSYBOX);
        match crate::runtime::is_static_elf(bb) {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "{BUSYBOX} is dynamically linked; install busybox-static"
                ))
            }
            Err(e) => {
                return Err(format!(
                    "{BUSYBOX}: {e} (apt-get install -y busybox-static)"
                ))
            }
        }
        let out = Command::new(bb)
            .arg("--list")
            .output()
            .map_err(|e| format!("{BUSYBOX} --list: {e}"))?;
        let applets: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
            .map(String::from)
            .collect();
        if !applets.iter().any(|a| a == "sh") {
            return Err(format!("{BUSYBOX} has no sh applet"));
        }
        std::fs::create_dir_all(dir.join("bin")).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::copy(bb, dir.join("bin/busybox")).map_err(|e| format!("copy busybox: {e}"))?;
        let checker = crate::CHECKER;
        let has_checker = !checker.is_empty();
        if has_checker {
            let p = dir.join("bin/husk-checker");
            std::fs::write(&p, checker).map_err(|e| format!("{}: {e}", p.display()))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok(Rootfs {
            dir: dir.to_path_buf(),
            applets,
            has_checker,
        })
    }

    /// Whether the static checker is available.
    pub fn has_checker(&self) -> bool {
        self.has_checker
    }

    /// Populates `dest` (created) with a fresh rootfs: directories, busybox and
    /// the checker (hard links to the template, copies across filesystems),
    /// applet symlinks, /etc/passwd and /etc/group.
    pub fn populate(&self, dest: &Path) -> io::Result<()> {
        for d in DIRS {
            std::fs::create_dir_all(dest.join(d))?;
        }
        std::fs::set_permissions(dest.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
        let mut bins = vec!["busybox"];
        if self.has_checker {
            bins.push("husk-checker");
        }
        for b in bins {
            let src = self.dir.join("bin").join(b);
            let dst = dest.join("bin").join(b);
            if std::fs::hard_link(&src, &dst).is_err() {
                std::fs::copy(&src, &dst)?;
            }
        }
        for a in &self.applets {
            let link = dest.join("bin").join(a);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", link)?;
            }
        }
        std::fs::write(dest.join("etc/passwd"), PASSWD)?;
        std::fs::write(dest.join("etc/group"), GROUP)?;
        std::fs::write(dest.join("etc/hostname"), "husk-conformance\n")?;
        Ok(())
    }
}

/// A bundle directory: `config.json` plus `rootfs/`.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory (absolute).
    pub dir: PathBuf,
}

impl Bundle {
    /// Creates `dir` with a populated rootfs (no config yet).
    pub fn create(dir: &Path, rootfs: &Rootfs) -> io::Result<Bundle> {
        std::fs::create_dir_all(dir)?;
        rootfs.populate(&dir.join("rootfs"))?;
        Ok(Bundle {
            dir: dir.to_path_buf(),
        })
    }

    /// `DIR/rootfs`.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Writes `config.json`.
    pub fn write_config(&self, cfg: &Value) -> io::Result<()> {
        let text = serde_json::to_string_pretty(cfg).map_err(io::Error::other)?;
        std::fs::write(self.dir.join("config.json"), text)
    }
}

/// The base config: `runc spec` of runc 1.1 (OCI 1.0.2-dev), with
/// `terminal: false`, the given args, and the cleanup marker in the
/// environment.
pub fn default_config(args: &[&str], marker: &str) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
                format!("{MARKER_ENV}={marker}"),
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "ambient": caps,
            },
            "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
            "noNewPrivileges": true,
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "runc",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] },
        ],
        "linux": {
            "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" },
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
        },
    })
}

/// Sets `process.args`.
pub fn set_args(cfg: &mut Value, args: &[&str]) {
    cfg["process"]["args"] = json!(args);
}

/// Appends to a JSON array at `cfg[a][b]...` (creating it).
pub fn push(cfg: &mut Value, path: &[&str], item: Value) {
    let mut v = cfg;
    for k in path {
        v = &mut v[*k];
    }
    if !v.is_array() {
        *v = json!([]);
    }
    if let Some(a) = v.as_array_mut() {
        a.push(item);
    }
}
