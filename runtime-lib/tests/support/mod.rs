//! What the library's integration tests share: a busybox bundle built at test time,
//! a private state root, and counts of what a test could leak.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

static N: AtomicU32 = AtomicU32::new(0);

/// A unique name for this test process.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether the tests can run here (root, busybox); fails under `CI=true` when not.
pub fn can_run() -> bool {
    let why = if !nix::unistd::geteuid().is_root() {
        Some("not root")
    } else if !Path::new("/bin/busybox").exists() {
        Some("no /bin/busybox")
    } else {
        None
    };
    match why {
        None => true,
        Some(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("cannot run the library's container tests: {why}")
        }
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// A busybox bundle and a private state root, both removed on drop.
pub struct Bundle {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub config: Value,
}

impl Bundle {
    pub fn new(prefix: &str) -> Bundle {
        let name = unique(prefix);
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("husk-lib-it-{name}"));
        let rootfs = dir.join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
            fs::create_dir_all(rootfs.join(d)).expect("create rootfs dirs");
        }
        for d in [&dir, &rootfs] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).expect("chmod bundle");
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
        for a in ["sh", "true", "false", "cat", "echo", "sleep", "ls"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a))
                .expect("applet symlink");
        }
        fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
            .expect("write passwd");
        let mut config = husk::spec::default_spec(None);
        config["process"]["terminal"] = Value::Bool(false);
        config["process"]["args"] = serde_json::json!(["true"]);
        let root = Path::new("/run").join(format!("husk-lib-it-{name}"));
        let b = Bundle { dir, root, config };
        b.write_config();
        b
    }

    pub fn write_config(&self) {
        fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&self.config).expect("config to JSON"),
        )
        .expect("write config.json");
    }

    /// Entries left in the state root (a leak when non-empty after a test).
    pub fn state_entries(&self) -> Vec<String> {
        match fs::read_dir(&self.root) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        for id in self.state_entries() {
            if let Ok(c) = husk::Container::load(&self.root, &id) {
                let _ = c.delete(true);
            }
        }
        reap_children();
        let _ = fs::remove_dir_all(&self.root);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Reaps every exited child (never blocks).
pub fn reap_children() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(s) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if s == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Waits for the child `pid`; its exit code (128 + signal when killed).
pub fn wait_pid(pid: i32) -> i32 {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, c)) => return c,
            Ok(WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => panic!("waitpid {pid}: {e}"),
        }
    }
}

/// What a test could leak: our open fds, our children (zombies included), our
/// mounts, and cgroup directories whose name carries `mark`.
#[derive(Debug, PartialEq, Eq)]
pub struct Leaks {
    pub fds: usize,
    pub children: Vec<i32>,
    pub mounts: usize,
    pub cgroups: Vec<PathBuf>,
}

impl Leaks {
    pub fn count(mark: &str) -> Leaks {
        let fds = fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0);
        let me = std::process::id().to_string();
        let mut children = Vec::new();
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(pid) = name.parse::<i32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            if after.split_whitespace().nth(1) == Some(me.as_str()) {
                children.push(pid);
            }
        }
        let mounts = fs::read_to_string("/proc/self/mountinfo")
            .map(|m| m.lines().count())
            .unwrap_or(0);
        let mut cgroups = Vec::new();
        for h in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let mut dirs = vec![h.path()];
            // Two levels: `/<id>` and `/<parent>/<id>` defaults.
            for _ in 0..2 {
                let mut next = Vec::new();
                for d in &dirs {
                    for e in fs::read_dir(d).into_iter().flatten().flatten() {
                        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                            if e.file_name().to_string_lossy().contains(mark) {
                                cgroups.push(e.path());
                            }
                            next.push(e.path());
                        }
                    }
                }
                dirs = next;
            }
        }
        Leaks {
            fds,
            children,
            mounts,
            cgroups,
        }
    }
}
