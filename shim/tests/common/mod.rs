//! A private containerd for one test: its own root, state dir, sockets and config
//! in a temporary directory, a busybox image built locally and imported (no
//! registry), and a cleanup that runs even when the test fails (Drop): every
//! container and task of the test's namespace, the shims it started, containerd,
//! the containers' state and cgroups, the mounts, the directory.
//!
//! When this machine cannot run containerd (not root, containerd or busybox not
//! installed, containerd not starting) [`Env::start`] prints why and returns None:
//! the test then passes as skipped, except under CI (`CI=true`), where it fails.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod image;
use image::image_tar;

pub const IMAGE: &str = "docker.io/library/husk-busybox:latest";
/// The shim cargo built for these tests.
const BUILT_SHIM: &str = env!("CARGO_BIN_EXE_containerd-shim-husk-v2");

/// The shim under test: `HUSK_TEST_SHIM` (e.g. the static `make shim` build), else
/// the one cargo built for these tests.
pub fn shim() -> &'static str {
    static SHIM: OnceLock<String> = OnceLock::new();
    SHIM.get_or_init(|| std::env::var("HUSK_TEST_SHIM").unwrap_or_else(|_| BUILT_SHIM.to_string()))
}

static SEQ: AtomicUsize = AtomicUsize::new(0);
/// Set once containerd failed to start here: the other tests skip at once.
static NO_CONTAINERD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A running private containerd.
pub struct Env {
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub ns: String,
    containerd: Option<Child>,
}

/// The result of a command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = |s: &str| -> String {
            if s.len() > 2000 {
                format!("{}...[{} bytes]", &s[..2000], s.len())
            } else {
                s.to_string()
            }
        };
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            cut(&self.stdout),
            cut(&self.stderr)
        )
    }
}

fn skip(why: &str) -> Option<Env> {
    skip_part(why);
    None
}

/// Whether this runs under CI (`CI=true`, or `1`).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Reports that (part of) a test cannot run here: a skip, or a failure under CI,
/// where a test that cannot run its environment must not pass.
#[track_caller]
pub fn skip_part(why: &str) {
    assert!(!under_ci(), "CI=true: cannot run: {why}");
    eprintln!("SKIP: {why}");
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.is_file())
}

/// The husk CLI next to the shim in the target directory (built by
/// `cargo build --workspace`), built here when missing.
pub fn husk_cli() -> Option<PathBuf> {
    let p = Path::new(BUILT_SHIM).with_file_name("husk");
    if p.is_file() {
        return Some(p);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args(["build", "-p", "husk-cli"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    (ok && p.is_file()).then_some(p)
}

impl Env {
    /// Starts containerd and imports the image; None (with a message) when this
    /// machine cannot.
    pub fn start(name: &str) -> Option<Env> {
        if !nix::unistd::geteuid().is_root() {
            return skip("containerd tests need root");
        }
        let (Some(containerd), Some(_)) = (which("containerd"), which("ctr")) else {
            return skip("containerd is not installed (apt-get install containerd)");
        };
        if NO_CONTAINERD.load(Ordering::SeqCst) {
            return skip("containerd did not start (see the first test's message)");
        }
        let image = match image_tar() {
            Ok(i) => i,
            Err(e) => return skip(&e),
        };
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!("/tmp/hsk-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("bin")).expect("mkdir");
        // `--runtime io.containerd.husk.v2` finds `containerd-shim-husk-v2` on PATH.
        std::os::unix::fs::symlink(shim(), dir.join("bin/containerd-shim-husk-v2")).expect("link");
        let sock = dir.join("c.sock");
        let ns = format!("husk-test-{}-{n}", std::process::id());
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{s}"
[ttrpc]
  address = "{s}.ttrpc"
[debug]
  address = "{d}/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#,
            d = dir.display(),
            s = sock.display()
        );
        fs::write(dir.join("config.toml"), config).expect("config");
        let log = fs::File::create(dir.join("containerd.log")).expect("log");
        let path = format!(
            "{}:{}",
            dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let child = Command::new(containerd)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => return skip(&format!("cannot run containerd: {e}")),
        };
        let mut env = Env {
            dir,
            sock,
            ns,
            containerd: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if env.ctr(&["version"]).code == 0 {
                break;
            }
            let exited = env
                .containerd
                .as_mut()
                .map(|c| matches!(c.try_wait(), Ok(Some(_))))
                .unwrap_or(true);
            if exited || Instant::now() > deadline {
                let log = fs::read_to_string(env.dir.join("containerd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                eprintln!(
                    "containerd log:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
                NO_CONTAINERD.store(true, Ordering::SeqCst);
                return skip("containerd did not start");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let r = env.ctr(&["images", "import", image.to_str().unwrap_or_default()]);
        if r.code != 0 {
            eprintln!("{r:?}");
            return skip("cannot import the busybox image into containerd");
        }
        Some(env)
    }

    fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", "60", "ctr", "-a"])
            .arg(&self.sock)
            .args(["-n", &self.ns])
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// `ctr -a SOCK -n NS ARGS...` (60 s at most).
    pub fn ctr(&self, args: &[&str]) -> Run {
        self.ctr_cmd(args).output().expect("run ctr").into()
    }

    /// Like [`Env::ctr`] with `input` on stdin.
    pub fn ctr_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        use std::io::Write;
        let mut c = self.ctr_cmd(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("run ctr");
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(input);
        }
        child.wait_with_output().expect("wait ctr").into()
    }

    /// `ctr run --rm --runtime <runtime> IMAGE ID ARGS...`.
    pub fn run_rm(&self, runtime: &[&str], id: &str, args: &[&str]) -> Run {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(runtime);
        a.push(IMAGE);
        a.push(id);
        a.extend_from_slice(args);
        self.ctr(&a)
    }

    /// Starts a detached task.
    pub fn run_detached(&self, runtime: &[&str], extra: &[&str], id: &str, args: &[&str]) {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(runtime);
        a.extend_from_slice(extra);
        a.push(IMAGE);
        a.push(id);
        a.extend_from_slice(args);
        let r = self.ctr(&a);
        assert_eq!(r.code, 0, "ctr run -d {id}: {r:?}");
    }

    /// The STATUS column of `ctr task ls` for `id`.
    pub fn task_status(&self, id: &str) -> Option<String> {
        let r = self.ctr(&["task", "ls"]);
        r.stdout.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(2).unwrap_or(&"").to_string())
        })
    }

    /// The init pid from `ctr task ls`.
    pub fn task_pid(&self, id: &str) -> Option<i32> {
        let r = self.ctr(&["task", "ls"]);
        r.stdout.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(1)?.parse().ok())?
        })
    }

    /// Polls until `task_status(id)` is `want` (10 s at most).
    pub fn wait_status(&self, id: &str, want: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.task_status(id).as_deref() == Some(want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Deletes a task and its container.
    pub fn remove(&self, id: &str) -> Run {
        let r = self.ctr(&["task", "rm", "-f", id]);
        let _ = self.ctr(&["container", "rm", id]);
        r
    }

    /// Pids of the shims this containerd started (any runtime), with their
    /// command lines.
    pub fn shims(&self) -> Vec<(i32, String)> {
        let needle = format!("-address\0{}\0", self.sock.display());
        let mut out = Vec::new();
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmd) = fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd).into_owned();
            if cmd.contains(&needle) && cmd.contains("containerd-shim") && alive(pid) {
                out.push((pid, cmd.replace('\0', " ")));
            }
        }
        out
    }

    /// The husk shim serving container `id` (its `-id` is the group's first id).
    pub fn shim_of(&self, id: &str) -> Option<i32> {
        self.shims()
            .into_iter()
            .find(|(_, c)| c.contains(&format!(" -id {id} ")) && c.contains("husk"))
            .map(|(p, _)| p)
    }

    /// Containerd's own log (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    fn cleanup(&mut self) {
        // Tasks and containers, through containerd while it runs.
        let ids = self.ctr(&["container", "ls", "-q"]);
        for id in ids.stdout.split_whitespace() {
            let _ = self.ctr(&["task", "kill", "-a", "-s", "SIGKILL", id]);
        }
        for id in ids.stdout.split_whitespace() {
            let _ = self.ctr(&["task", "rm", "-f", id]);
            let _ = self.ctr(&["container", "rm", id]);
        }
        let shims = self.shims();
        if let Some(mut c) = self.containerd.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for (pid, _) in shims {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Whatever containers are left, with the library (husk shim and husk CLI
        // roots of this namespace).
        for root in [
            format!("/run/containerd/husk/{}", self.ns),
            format!("/run/containerd/runc/{}", self.ns),
        ] {
            let root = PathBuf::from(root);
            if let Ok(list) = husk::list(&root) {
                for c in list {
                    let _ = c.delete(true);
                }
            }
            let _ = fs::remove_dir_all(&root);
        }
        // cgroups: ctr puts containers under /<namespace>.
        for e in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = fs::remove_dir(e.path().join(&self.ns));
        }
        let _ = fs::remove_dir("/sys/fs/cgroup/".to_string() + &self.ns);
        unmount_under(&self.dir);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(") ")
            .map(|(_, r)| !r.starts_with('Z') && !r.starts_with('X'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Unmounts every mount at or below `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let Ok(mi) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().to_string();
    let mut points: Vec<String> = mi
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A ttrpc client of the shim serving `id` (its address is in the bundle).
pub fn task_client(env: &Env, id: &str) -> containerd_shim::protos::shim_sync::TaskClient {
    let bundle = env
        .dir
        .join("state/io.containerd.runtime.v2.task")
        .join(&env.ns)
        .join(id);
    let addr = fs::read_to_string(bundle.join("address")).expect("shim address");
    let c = containerd_shim::protos::ttrpc::Client::connect(addr.trim()).expect("connect to shim");
    containerd_shim::protos::shim_sync::TaskClient::new(c)
}

/// A ttrpc context with a deadline.
pub fn ctx() -> containerd_shim::protos::ttrpc::context::Context {
    containerd_shim::protos::ttrpc::context::with_timeout(10_000_000_000)
}

/// Writes an executable script.
pub fn script(path: &Path, body: &str) {
    fs::write(path, body).expect("write script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// `ctr events` of the test's namespace: the child and the lines it prints, as they
/// come (read by a thread that ends with the child). Give it ~300 ms to subscribe.
pub fn ctr_events(env: &Env) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new("ctr")
        .arg("-a")
        .arg(&env.sock)
        .args(["-n", &env.ns, "events"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ctr events");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}
