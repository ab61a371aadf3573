//! Helpers for the runtime-core integration suite: a busybox bundle built at test
//! time, a private `--root` per test, and a guard that leaves nothing behind.
//!
//! Every test runs the real `husk` binary as root on the real kernel. Tests run in
//! parallel threads of one process, so:
//! - container ids, bundle dirs and state roots are unique per test
//!   (`<prefix>-<pid>-<counter>`);
//! - the test process is a child subreaper, so the init of a container created by
//!   `husk create` / `husk run -d` becomes our child when husk exits; we reap such
//!   inits by pid only (never `waitpid(-1)`, which would steal other tests' children);
//! - husk's stdout/stderr go to files, not pipes: a detached container inherits them,
//!   and a pipe would only reach end-of-file once the container exits;
//! - every husk process and every container process carries `HUSK_TEST_MARK=<bundle>`
//!   in its environment, so a test can prove that no process of its own is left.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const HUSK: &str = env!("CARGO_BIN_EXE_husk");
/// Parent of every per-test state root.
pub const TEST_ROOT: &str = "/run/husk-test";
/// The environment variable that marks our processes.
pub const MARK: &str = "HUSK_TEST_MARK";
/// How long any single husk command may take before the test fails.
const CMD_TIMEOUT: Duration = Duration::from_secs(30);

static SETUP: Once = Once::new();
/// Bundles alive in this process: the last one to go removes /run/husk-test (earlier
/// removal would race with a concurrent `husk create` making its root below it).
static LIVE_BUNDLES: Mutex<usize> = Mutex::new(0);
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Once per test process: become a child subreaper and check the prerequisites.
pub fn setup() {
    SETUP.call_once(|| {
        // SAFETY: plain prctl with integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(rc, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
        // SAFETY: geteuid has no preconditions.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the integration suite runs as root"
        );
        assert!(
            Path::new("/bin/busybox").exists(),
            "/bin/busybox is missing: apt-get install -y busybox-static"
        );
    });
}

/// A name unique in this test run: `<prefix>-<pid>-<counter>`.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// What a finished command left.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit status (128 + signal when killed).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Asserts exit status 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts a failure with exit status 1 whose stderr names every one of `needles`.
    #[track_caller]
    pub fn fails_with(self, needles: &[&str]) -> Self {
        assert_eq!(
            self.code, 1,
            "expected exit status 1\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr does not mention {n:?}:\n{}",
                self.stderr
            );
        }
        self
    }

    /// Stdout lines, trimmed.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lines().map(|l| l.trim().to_string()).collect()
    }
}

/// Runs a command to completion (at most [`CMD_TIMEOUT`]) with stdout/stderr captured
/// through files under `scratch`.
pub fn exec(cmd: Command, scratch: &Path) -> Out {
    exec_to(cmd, scratch, None)
}

/// Like [`exec`]; with `keep_stdout` the stdout file is that path and is kept (a
/// detached container started by the command goes on writing to it).
pub fn exec_to(mut cmd: Command, scratch: &Path, keep_stdout: Option<&Path>) -> Out {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let out_path = keep_stdout
        .map(Path::to_path_buf)
        .unwrap_or_else(|| scratch.join(format!(".out-{n}")));
    let err_path = scratch.join(format!(".err-{n}"));
    let out = fs::File::create(&out_path).expect("create stdout file");
    let err = fs::File::create(&err_path).expect("create stderr file");
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let mut child = cmd.spawn().expect("spawn husk");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait husk") {
            break s;
        }
        if start.elapsed() > CMD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {CMD_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    if keep_stdout.is_none() {
        let _ = fs::remove_file(&out_path);
    }
    let _ = fs::remove_file(&err_path);
    Out {
        code,
        stdout,
        stderr,
    }
}

/// `husk ARGS...` with no state root of a test (for `--version`, `spec`, ...).
pub fn husk(args: &[&str]) -> Out {
    setup();
    let mut cmd = Command::new(HUSK);
    cmd.args(args);
    exec(cmd, &std::env::temp_dir())
}

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
    ids: Mutex<Vec<String>>,
    pids: Mutex<Vec<i32>>,
    host_mounts: Mutex<Vec<PathBuf>>,
    host_paths: Mutex<Vec<PathBuf>>,
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

    /// A new container id, unique and registered for cleanup.
    pub fn new_id(&self) -> String {
        let id = format!("{}-{}", self.name, COUNTER.fetch_add(1, Ordering::SeqCst));
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id.clone());
        id
    }

    /// Registers an id chosen by the test (for cleanup).
    pub fn register_id(&self, id: &str) {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id.to_string());
    }

    /// Remembers a host path to remove on drop (files a test expects never to exist).
    pub fn register_host_path(&self, p: &Path) {
        self.host_paths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p.to_path_buf());
    }

    /// `husk --root <root> ARGS...` with the process mark in the environment.
    pub fn husk(&self, args: &[&str]) -> Out {
        self.husk_with(args, |_| {})
    }

    /// Like [`Bundle::husk`]; `f` may change the command first (env, pre_exec, ...).
    pub fn husk_with(&self, args: &[&str], f: impl FnOnce(&mut Command)) -> Out {
        self.husk_full(args, f, None)
    }

    /// Like [`Bundle::husk`], with husk's stdout (and so a detached container's) going
    /// to `stdout`, which is kept.
    pub fn husk_stdout_to(&self, args: &[&str], stdout: &Path) -> Out {
        self.husk_full(args, |_| {}, Some(stdout))
    }

    fn husk_full(&self, args: &[&str], f: impl FnOnce(&mut Command), stdout: Option<&Path>) -> Out {
        let mut cmd = Command::new(HUSK);
        cmd.arg("--root").arg(&self.root).args(args);
        cmd.env(MARK, &self.name);
        cmd.current_dir(&self.dir);
        f(&mut cmd);
        let out = exec_to(cmd, &self.dir, stdout);
        self.remember_pids();
        out
    }

    /// Records the init pid of every container in our root, so drop can reap it.
    fn remember_pids(&self) {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for e in entries.flatten() {
            if let Some(pid) = state_file_pid(&e.path()) {
                self.track_pid(pid);
            }
        }
    }

    fn track_pid(&self, pid: i32) {
        if pid > 0 {
            let mut p = self.pids.lock().unwrap_or_else(|e| e.into_inner());
            if !p.contains(&pid) {
                p.push(pid);
            }
        }
    }

    /// `husk create --bundle DIR ID` (config written first).
    pub fn create(&self, id: &str) -> Out {
        self.write_config();
        self.husk(&["create", "--bundle", self.dir_str(), id])
    }

    /// Creates `id` and asserts it worked; returns the init pid.
    #[track_caller]
    pub fn create_ok(&self, id: &str) -> i32 {
        self.create(id).ok();
        let st = self.state(id);
        let pid = st["pid"].as_i64().expect("pid in state") as i32;
        self.track_pid(pid);
        pid
    }

    /// `husk run --bundle DIR ID` in the foreground with a new id; config written first.
    pub fn run_fg(&self) -> Out {
        self.write_config();
        let id = self.new_id();
        self.husk(&["run", "--bundle", self.dir_str(), &id])
    }

    /// Sets `sh -c SCRIPT` and runs it in the foreground; asserts success; returns stdout.
    #[track_caller]
    pub fn sh(&mut self, script: &str) -> String {
        self.set_script(script);
        self.run_fg().ok().stdout
    }

    /// `husk run --detach` of a new container running `args`; returns (id, pid).
    #[track_caller]
    pub fn run_detached(&mut self, args: &[&str]) -> (String, i32) {
        self.set_args(args);
        self.write_config();
        let id = self.new_id();
        self.husk(&["run", "--detach", "--bundle", self.dir_str(), &id])
            .ok();
        let pid = self.state(&id)["pid"].as_i64().expect("pid") as i32;
        self.track_pid(pid);
        (id, pid)
    }

    /// `husk state ID`, parsed; asserts success.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.husk(&["state", id]).ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{}", out.stdout))
    }

    /// The status field of `husk state ID`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .expect("status string")
            .to_string()
    }

    /// Polls `husk state` until the status is `want` (at most 10 s).
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str) {
        let start = Instant::now();
        loop {
            let got = self.status(id);
            if got == want {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "container {id} stayed {got:?}, expected {want:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The state directory of `id`.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Live processes (other than the test itself) carrying this bundle's mark.
    pub fn marked_processes(&self) -> Vec<i32> {
        marked_processes(&self.name)
    }

    /// Asserts that nothing of container `id` is left: no state dir, no cgroup dir,
    /// no process of this bundle.
    #[track_caller]
    pub fn assert_nothing_left(&self, id: &str) {
        assert!(
            !self.state_dir(id).exists(),
            "state dir {} is left",
            self.state_dir(id).display()
        );
        let cg = cgroup_dirs(&[id]);
        assert!(cg.is_empty(), "cgroup dirs are left: {cg:?}");
        // A failed create reaps its init before it exits; give the kernel a moment.
        let start = Instant::now();
        loop {
            let procs = self.marked_processes();
            if procs.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "processes are left: {procs:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Makes a host directory (under the bundle dir, world-writable) for bind mounts.
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        fs::create_dir_all(&p).expect("create host dir");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).expect("chmod host dir");
        p
    }

    /// Mounts a tmpfs on the host at `path` (unmounted on drop): for sources with submounts.
    pub fn host_tmpfs(&self, path: &Path) {
        fs::create_dir_all(path).expect("create mount point");
        let c = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("path");
        // SAFETY: all pointers are valid C strings for the call.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                c.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"mode=755".as_ptr().cast(),
            )
        };
        assert_eq!(
            rc,
            0,
            "mount tmpfs on {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        self.host_mounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.to_path_buf());
    }

    /// Makes a host mount made by [`Bundle::host_tmpfs`] shared.
    pub fn host_make_shared(&self, path: &Path) {
        let c = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("path");
        // SAFETY: valid C string; null source/type/data are allowed for a propagation change.
        let rc = unsafe {
            libc::mount(
                std::ptr::null(),
                c.as_ptr(),
                std::ptr::null(),
                libc::MS_SHARED,
                std::ptr::null(),
            )
        };
        assert_eq!(
            rc,
            0,
            "make {} shared: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
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

    fn cleanup(&mut self) {
        let mut ids: BTreeSet<String> = self
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let mut existing = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.root) {
            for e in entries.flatten() {
                if let Some(pid) = state_file_pid(&e.path()) {
                    self.track_pid(pid);
                }
                let id = e.file_name().to_string_lossy().into_owned();
                ids.insert(id.clone());
                existing.push(id);
            }
        }
        // Processes of ours that are not the init (children of a container without a
        // pid namespace) are re-parented to us when the init dies: reap them too.
        for pid in marked_processes(&self.name) {
            self.track_pid(pid);
        }
        for id in &existing {
            let mut cmd = Command::new(HUSK);
            cmd.arg("--root")
                .arg(&self.root)
                .args(["delete", "--force", id]);
            let _ = exec(cmd, &std::env::temp_dir());
        }
        // Anything of ours still alive (a runtime bug, or a test that failed midway).
        for pid in marked_processes(&self.name) {
            // SAFETY: plain kill(2).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            self.track_pid(pid);
        }
        let pids = self.pids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        reap(&pids);
        for m in self
            .host_mounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
        {
            if let Ok(c) = std::ffi::CString::new(m.to_str().unwrap_or_default()) {
                // SAFETY: c is a valid C string.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        for p in self
            .host_paths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = fs::remove_dir_all(p).or_else(|_| fs::remove_file(p));
        }
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_dir_all(&self.root);
        {
            let mut live = LIVE_BUNDLES.lock().unwrap_or_else(|e| e.into_inner());
            *live -= 1;
            if *live == 0 {
                let _ = fs::remove_dir(TEST_ROOT); // only if empty
            }
        }
        let ids: Vec<String> = ids.into_iter().collect();
        let mut dirs = cgroup_dirs(&ids);
        // Deepest first.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            let _ = fs::remove_dir(&d);
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// The `pid` of `<dir>/state.json`, if any.
fn state_file_pid(dir: &Path) -> Option<i32> {
    let text = fs::read_to_string(dir.join("state.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["pid"].as_i64().map(|p| p as i32)
}

/// Reaps each pid that is our child (waiting up to 5 s in all; SIGKILL after 2 s).
pub fn reap(pids: &[i32]) {
    let start = Instant::now();
    for &pid in pids {
        loop {
            let mut status = 0;
            // SAFETY: waitpid on one specific pid.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r != 0 {
                // Reaped, or not our child (ECHILD).
                break;
            }
            if start.elapsed() > Duration::from_secs(2) {
                // SAFETY: plain kill(2) of our own (unreaped) child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if start.elapsed() > Duration::from_secs(5) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Live processes whose environment holds `HUSK_TEST_MARK=<mark>` (not ourselves).
pub fn marked_processes(mark: &str) -> Vec<i32> {
    let needle = format!("{MARK}={mark}");
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            // Zombies have an empty environ, so this is a live process.
            out.push(pid);
        }
    }
    out
}

/// Directories named after one of `ids` in any cgroup hierarchy (up to 4 levels deep).
pub fn cgroup_dirs<S: AsRef<str>>(ids: &[S]) -> Vec<PathBuf> {
    let ids: Vec<String> = ids.iter().map(|s| s.as_ref().to_string()).collect();
    let ids = ids.as_slice();
    fn walk(dir: &Path, depth: usize, ids: &[String], out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if ids.contains(&name) {
                out.push(p.clone());
            }
            if depth > 1 {
                walk(&p, depth - 1, ids, out);
            }
        }
    }
    let mut out = Vec::new();
    if ids.is_empty() {
        return out;
    }
    let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
        return out;
    };
    let is_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if is_v2 {
        walk(Path::new("/sys/fs/cgroup"), 4, ids, &mut out);
        return out;
    }
    for h in hierarchies.flatten() {
        if h.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&h.path(), 4, ids, &mut out);
        }
    }
    out
}

/// One line of /proc/PID/mountinfo.
#[derive(Debug, Clone)]
pub struct MountInfo {
    /// Root of the mount within its filesystem.
    pub root: String,
    /// Mount point.
    pub mount_point: String,
    /// Per-mount options (ro, nosuid, ...).
    pub opts: Vec<String>,
    /// Optional fields (shared:N, master:N, ...).
    pub optional: Vec<String>,
    /// Filesystem type.
    pub fstype: String,
    /// Mount source.
    pub source: String,
    /// Superblock options.
    pub super_opts: Vec<String>,
}

impl MountInfo {
    /// True if the per-mount options contain `o`.
    pub fn has_opt(&self, o: &str) -> bool {
        self.opts.iter().any(|x| x == o)
    }
    /// True if the superblock options contain `o`.
    pub fn has_super_opt(&self, o: &str) -> bool {
        self.super_opts.iter().any(|x| x == o)
    }
    /// True if an optional field starts with `prefix` (e.g. "shared:").
    pub fn has_optional(&self, prefix: &str) -> bool {
        self.optional.iter().any(|x| x.starts_with(prefix))
    }
}

/// Parses mountinfo text (lines that do not parse are skipped).
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.len() < sep + 3 || sep < 6 {
            continue;
        }
        out.push(MountInfo {
            root: f[3].to_string(),
            mount_point: f[4].to_string(),
            opts: f[5].split(',').map(String::from).collect(),
            optional: f[6..sep].iter().map(|s| s.to_string()).collect(),
            fstype: f[sep + 1].to_string(),
            source: f[sep + 2].to_string(),
            super_opts: f
                .get(sep + 3)
                .map(|s| s.split(',').map(String::from).collect())
                .unwrap_or_default(),
        });
    }
    out
}

/// The last mountinfo entry at `mount_point` (the one visible there).
#[track_caller]
pub fn mount_at<'a>(mounts: &'a [MountInfo], mount_point: &str) -> &'a MountInfo {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == mount_point)
        .unwrap_or_else(|| panic!("no mount at {mount_point} in {mounts:#?}"))
}

/// Host (test process) namespace inode link, e.g. `net:[4026531840]`.
pub fn host_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .expect("read host ns link")
        .to_string_lossy()
        .into_owned()
}

/// Value of a `Key:\tvalue` line of /proc/PID/status text.
#[track_caller]
pub fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in status:\n{status}"))
}

/// Polls `path` until its content contains `needle` (at most 10 s); returns the content.
#[track_caller]
pub fn wait_for_content(path: &Path, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never contained {needle:?}: {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Owner uid of a host path.
pub fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).expect("stat");
    (m.uid(), m.gid())
}
