//! Runs every example in `runtime-lib/examples/` as root against a busybox bundle
//! built here, so the examples keep working. The test builds the examples itself
//! (`cargo build -p husk --examples`, once, with the cargo that runs it): a test run
//! of one test target does not build them, and a stale binary would test old code.
//!
//! Each example gets its own bundle and state root under a scratch directory that
//! is removed (with any container left in it) even when the test fails.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use serde_json::{json, Value};

/// Root, busybox and this kernel are needed; without them the test is skipped,
/// except under `CI=true`, where it fails.
fn can_run() -> bool {
    let missing = if !nix::unistd::geteuid().is_root() {
        Some("not root")
    } else if !Path::new("/bin/busybox").exists() {
        Some("no /bin/busybox (apt-get install busybox-static)")
    } else {
        None
    };
    match missing {
        None => true,
        Some(why) if std::env::var("CI").as_deref() == Ok("true") => panic!("{why}"),
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// A busybox bundle and a state root below one scratch directory, removed on drop
/// after force-deleting whatever container is still in the state root.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str, terminal: bool, args: &[&str]) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "husk-examples-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let rootfs = dir.join("bundle/rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
            fs::create_dir_all(rootfs.join(d)).expect("rootfs dirs");
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod scratch");
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
        for applet in ["sh", "echo", "id", "cat", "stty", "tty"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .expect("applet link");
        }
        fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").expect("passwd");
        // The library's own default config (what `husk spec` writes).
        let mut config: Value = husk::spec::default_spec(None);
        config["process"]["terminal"] = json!(terminal);
        config["process"]["args"] = json!(args);
        fs::write(
            dir.join("bundle/config.json"),
            serde_json::to_vec_pretty(&config).expect("config"),
        )
        .expect("write config.json");
        Scratch { dir }
    }

    fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    fn root(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Runs the built example with the bundle and the state root as arguments.
    fn run_example(&self, name: &str) -> Output {
        let exe = example_path(name);
        let out = Command::new(&exe)
            .arg(self.bundle())
            .arg(self.root())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
        eprintln!(
            "--- {name}: {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Containers left in the state root (there must be none).
    fn leftovers(&self) -> Vec<String> {
        husk::list_all(&self.root())
            .map(|l| l.into_iter().map(|c| c.id).collect())
            .unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for id in self.leftovers() {
            if let Ok(c) = husk::Container::load(&self.root(), &id) {
                let _ = c.delete(true);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `target/<profile>/examples/<name>` (this test is `target/<profile>/deps/examples-*`),
/// built up to date by the first call.
fn example_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let me = std::env::current_exe().expect("current_exe");
    let profile_dir = me
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let built = BUILT.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "husk", "--examples"]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let out = cmd.output().map_err(|e| format!("run cargo: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = built {
        panic!("cargo build -p husk --examples failed:\n{e}");
    }
    let exe = profile_dir.join("examples").join(name);
    assert!(exe.exists(), "{} is missing after the build", exe.display());
    exe
}

#[test]
fn lifecycle_example() {
    if !can_run() {
        return;
    }
    let s = Scratch::new(
        "lifecycle",
        false,
        &["sh", "-c", "echo in-the-container; exit 3"],
    );
    let out = s.run_example("lifecycle");
    assert!(out.status.success(), "lifecycle example failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for want in [
        "status created",
        "started, status running",
        "in-the-container",
        "container exited with 3",
        "status after exit: stopped",
        "deleted example-lifecycle-",
    ] {
        assert!(stdout.contains(want), "no {want:?} in the output");
    }
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn exec_capture_example() {
    if !can_run() {
        return;
    }
    let s = Scratch::new("exec", false, &["sh", "-c", "echo never started"]);
    let out = s.run_example("exec_capture");
    assert!(out.status.success(), "exec_capture example failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("exit 0):\nhello from exec\nuid=0 pid="));
    assert!(!stdout.contains("never started"));
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn console_example() {
    if !can_run() {
        return;
    }
    let s = Scratch::new(
        "console",
        true,
        &["sh", "-c", "echo on-the-pty; stty size; tty"],
    );
    let out = s.run_example("console");
    assert!(out.status.success(), "console example failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("got the pty master"));
    // The pty turns "\n" into "\r\n"; the size is the one the example set.
    assert!(
        stdout.contains("on-the-pty\r\n24 80\r\n/dev/pts/0"),
        "console output"
    );
    assert_eq!(s.leftovers(), Vec::<String>::new());
}
