//! The busybox bundle of a test: where it is built, its rootfs, and its
//! config (from `husk spec`, edited by the test before it is written).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use super::{husk, setup, unique, LIVE_BUNDLES, MARK, TEST_ROOT};

static BASE: OnceLock<PathBuf> = OnceLock::new();

/// Where bundles are built: `$HUSK_TEST_TMPDIR`, else /dev/shm when it is a tmpfs
/// that allows exec and device nodes (creating the ~270 applet symlinks of each
/// rootfs costs ~1 ms apiece on this VM's ext4, 100 times less on tmpfs), else the
/// temp dir.
pub fn bundle_base() -> PathBuf {
    BASE.get_or_init(|| {
        if let Some(d) = std::env::var_os("HUSK_TEST_TMPDIR") {
            return PathBuf::from(d);
        }
        const TMPFS_MAGIC: i64 = 0x0102_1994;
        let shm = Path::new("/dev/shm");
        // SAFETY: statfs is plain data; all zeroes is a valid value.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: statvfs is plain data; all zeroes is a valid value.
        let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: valid C strings and out pointers.
        let ok = unsafe {
            libc::statfs(c"/dev/shm".as_ptr(), &mut st) == 0
                && libc::statvfs(c"/dev/shm".as_ptr(), &mut vfs) == 0
        } && st.f_type as i64 == TMPFS_MAGIC
            && vfs.f_flag & (libc::ST_NOEXEC | libc::ST_NODEV | libc::ST_RDONLY) == 0;
        if ok && shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    })
    .clone()
}

static SPEC: OnceLock<Value> = OnceLock::new();
static APPLETS: OnceLock<Vec<String>> = OnceLock::new();

/// The config `husk spec` writes, parsed (made once per test process).
pub fn default_spec() -> Value {
    SPEC.get_or_init(|| {
        setup();
        let dir = std::env::temp_dir().join(unique("husk-it-spec"));
        fs::create_dir_all(&dir).expect("create spec dir");
        let out = husk(&["spec", "--bundle", dir.to_str().expect("utf-8 temp dir")]);
        assert_eq!(out.code, 0, "husk spec failed: {}", out.stderr);
        let text = fs::read_to_string(dir.join("config.json")).expect("read config.json");
        let _ = fs::remove_dir_all(&dir);
        serde_json::from_str(&text).expect("husk spec writes JSON")
    })
    .clone()
}

fn applets() -> &'static [String] {
    APPLETS.get_or_init(|| {
        let out = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("busybox --list");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox")
            .map(String::from)
            .collect()
    })
}

/// A busybox bundle, a private state root and everything a test made, removed on drop
/// (even when the test panics).
pub struct Bundle {
    /// Unique name (also the process mark).
    pub name: String,
    /// The bundle directory (config.json, rootfs/).
    pub dir: PathBuf,
    /// `<dir>/rootfs`.
    pub rootfs: PathBuf,
    /// The `--root` state directory of this test.
    pub root: PathBuf,
    /// The config, written to `<dir>/config.json` by [`Bundle::write_config`].
    pub config: Value,
    pub(super) ids: Mutex<Vec<String>>,
    pub(super) pids: Mutex<Vec<i32>>,
    pub(super) host_mounts: Mutex<Vec<PathBuf>>,
    pub(super) host_paths: Mutex<Vec<PathBuf>>,
}

impl Bundle {
    /// A fresh bundle; `prefix` names the test in ids and paths.
    pub fn new(prefix: &str) -> Bundle {
        setup();
        *LIVE_BUNDLES.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let name = unique(prefix);
        let dir = bundle_base().join(format!("husk-it-{name}"));
        let rootfs = dir.join("rootfs");
        let mut b = Bundle {
            root: Path::new(TEST_ROOT).join(&name),
            config: Value::Null,
            dir,
            rootfs,
            name,
            ids: Mutex::new(Vec::new()),
            pids: Mutex::new(Vec::new()),
            host_mounts: Mutex::new(Vec::new()),
            host_paths: Mutex::new(Vec::new()),
        };
        b.build_rootfs();
        let mut config = default_spec();
        config["process"]["terminal"] = Value::Bool(false);
        let mark = format!("{MARK}={}", b.name);
        config["process"]["env"]
            .as_array_mut()
            .expect("process.env")
            .push(Value::String(mark));
        b.config = config;
        b
    }

    fn build_rootfs(&self) {
        let r = &self.rootfs;
        for d in [
            "bin",
            "etc",
            "proc",
            "sys",
            "dev",
            "tmp",
            "root",
            "home/user",
        ] {
            fs::create_dir_all(r.join(d)).expect("create rootfs dirs");
        }
        for d in [&self.dir, r] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).expect("chmod bundle");
        }
        fs::set_permissions(r.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
        fs::copy("/bin/busybox", r.join("bin/busybox")).expect("copy busybox");
        fs::set_permissions(r.join("bin/busybox"), fs::Permissions::from_mode(0o755))
            .expect("chmod busybox");
        for a in applets() {
            let link = r.join("bin").join(a);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", &link).expect("applet symlink");
            }
        }
        fs::write(
            r.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
        )
        .expect("write passwd");
        fs::write(r.join("etc/group"), "root:x:0:\nuser:x:1000:\n").expect("write group");
    }

    /// Sets `process.args`.
    pub fn set_args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
    }

    /// Sets `process.args` to `sh -c SCRIPT`.
    pub fn set_script(&mut self, script: &str) {
        self.set_args(&["sh", "-c", script]);
    }

    /// Writes the config to `<dir>/config.json`.
    pub fn write_config(&self) {
        fs::write(
            self.dir.join("config.json"),
            serde_json::to_string_pretty(&self.config).expect("serialize config"),
        )
        .expect("write config.json");
    }

    /// The bundle dir as &str.
    pub fn dir_str(&self) -> &str {
        self.dir.to_str().expect("utf-8 bundle dir")
    }

    /// Appends a mount to `mounts`.
    pub fn add_mount(&mut self, m: Value) {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts array")
            .push(m);
    }

    /// Removes every mount whose destination is `dest`.
    pub fn remove_mount(&mut self, dest: &str) {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts array")
            .retain(|m| m["destination"] != dest);
    }

    /// The namespaces list with `kind` removed.
    pub fn remove_namespace(&mut self, kind: &str) {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces array")
            .retain(|n| n["type"] != kind);
    }

    /// Sets (or replaces) a namespace entry.
    pub fn set_namespace(&mut self, kind: &str, path: Option<&str>) {
        self.remove_namespace(kind);
        let mut ns = serde_json::json!({ "type": kind });
        if let Some(p) = path {
            ns["path"] = Value::from(p);
        }
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces array")
            .push(ns);
    }
}
