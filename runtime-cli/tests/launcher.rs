//! The installed `husk` command (runtime-cli/launcher, `make install`): a launcher at
//! `<prefix>/bin/husk` runs the CLI at `<prefix>/libexec/husk/husk` from the immutable
//! copy the CLI's CVE-2019-5736 guard made, or the CLI itself when there is no such
//! copy. Each test stages that layout in its bundle dir and follows the execs with
//! strace. Root only; x86_64 (where `make install` uses the launcher).
#![cfg(target_arch = "x86_64")]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{exec, Bundle, Out, HUSK};
use husk::unstable::exe_guard;

/// The launcher, built (release, as `make launcher`) into this target dir.
fn launcher_binary() -> PathBuf {
    let target = Path::new(HUSK)
        .parent()
        .and_then(Path::parent)
        .expect("target dir");
    let dir = target.join("launcher");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(&dir)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("launcher"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "building the launcher: {out:?}");
    dir.join("release/husk-launcher")
}

/// `<bundle>/prefix` laid out as `make install` does; its guarded copies go with it.
struct Prefix {
    dir: PathBuf,
}

impl Prefix {
    fn new(b: &Bundle) -> Prefix {
        let dir = b.dir.join("prefix");
        let p = Prefix { dir };
        fs::create_dir_all(p.cli().parent().unwrap()).unwrap();
        fs::create_dir_all(p.launcher().parent().unwrap()).unwrap();
        fs::copy(launcher_binary(), p.launcher()).unwrap();
        fs::copy(HUSK, p.cli()).unwrap();
        for f in [p.launcher(), p.cli()] {
            fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).unwrap();
        }
        p
    }

    fn launcher(&self) -> PathBuf {
        self.dir.join("bin/husk")
    }

    fn cli(&self) -> PathBuf {
        self.dir.join("libexec/husk/husk")
    }

    /// Where the CLI's guard keeps its copies.
    fn copies(&self) -> PathBuf {
        exe_guard::dir_for(Path::new(exe_guard::DEFAULT_DIR), &self.cli())
    }

    /// The copy the CLI's guard makes of the CLI as it is now.
    fn copy(&self) -> PathBuf {
        self.copies()
            .join(exe_guard::copy_name(&fs::metadata(self.cli()).unwrap()))
    }

    /// `bin/husk ARGS` under `strace -f -e execve`: what it printed, and the programs
    /// it executed (the container's own /bin/true left out).
    fn traced(&self, b: &Bundle, args: &[&str], env: &[(&str, &str)]) -> (Out, Vec<PathBuf>) {
        let trace = b.dir.join("execve.trace");
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-e", "trace=execve", "-o"])
            .arg(&trace)
            .arg(self.launcher())
            .args(args)
            .envs(env.iter().copied());
        let out = exec(cmd, &b.dir);
        let text = fs::read_to_string(&trace).unwrap_or_default();
        if out.code != 0 && !Path::new("/usr/bin/strace").exists() {
            panic!("strace is missing: apt-get install -y strace");
        }
        let execs = text
            .lines()
            .filter(|l| l.trim_end().ends_with("= 0"))
            .filter_map(|l| l.split('"').nth(1))
            .filter(|p| *p != "/bin/true")
            .map(PathBuf::from)
            .collect();
        (out, execs)
    }

    fn run(&self, b: &Bundle, env: &[(&str, &str)]) -> Vec<PathBuf> {
        let id = b.new_id();
        let root = b.root.to_str().unwrap();
        let (out, execs) = self.traced(
            b,
            &["--root", root, "run", "--bundle", b.dir_str(), &id],
            env,
        );
        out.ok();
        execs
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let dir = self.copies();
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.flatten() {
                let _ = Command::new("chattr").arg("-i").arg(e.path()).output();
                let _ = fs::remove_file(e.path());
            }
        }
        let _ = fs::remove_dir(&dir);
    }
}

fn bundle(tag: &str) -> Bundle {
    let mut b = Bundle::new(tag);
    b.set_args(&["/bin/true"]);
    b.write_config();
    b
}

#[test]
fn the_launcher_runs_the_guarded_copy_directly_once_it_exists() {
    let b = bundle("launch-copy");
    let p = Prefix::new(&b);
    // No copy yet: the CLI runs, makes its copy and re-executes from it.
    let first = p.run(&b, &[]);
    assert_eq!(first, [p.launcher(), p.cli(), p.copy()], "first run");
    // From now on the launcher finds that very copy: the CLI starts once.
    let second = p.run(&b, &[]);
    assert_eq!(second, [p.launcher(), p.copy()], "second run");
    assert!(exe_guard::is_immutable(&p.copy()));
}

#[test]
fn a_new_cli_version_is_never_run_from_the_old_copy() {
    let b = bundle("launch-upgrade");
    let p = Prefix::new(&b);
    p.run(&b, &[]);
    let old = p.copy();
    // An upgrade in place: same path, new mtime (and inode).
    let new = p.dir.join("libexec/husk/husk.new");
    fs::copy(HUSK, &new).unwrap();
    fs::set_permissions(&new, fs::Permissions::from_mode(0o755)).unwrap();
    fs::rename(&new, p.cli()).unwrap();
    assert_ne!(p.copy(), old);
    let execs = p.run(&b, &[]);
    assert_eq!(execs, [p.launcher(), p.cli(), p.copy()]);
    assert!(
        !old.exists(),
        "the old version's copy {} is left",
        old.display()
    );
}

#[test]
fn a_copy_that_is_not_immutable_is_not_run() {
    let b = bundle("launch-mutable");
    let p = Prefix::new(&b);
    // A plain file where the copy belongs (as a copy interrupted before its flag).
    fs::create_dir_all(p.copies()).unwrap();
    fs::copy(HUSK, p.copy()).unwrap();
    fs::set_permissions(p.copy(), fs::Permissions::from_mode(0o755)).unwrap();
    let execs = p.run(&b, &[]);
    assert_eq!(execs, [p.launcher(), p.cli(), p.copy()]);
    assert!(
        exe_guard::is_immutable(&p.copy()),
        "the CLI made the copy anew"
    );
}

#[test]
fn arguments_environment_and_exit_status_reach_the_cli() {
    let b = bundle("launch-args");
    let p = Prefix::new(&b);
    // The environment: with the guard opted out the CLI makes no copy.
    let execs = p.run(&b, &[("HUSK_NO_EXE_GUARD", "1")]);
    assert_eq!(execs, [p.launcher(), p.cli()]);
    assert!(!p.copy().exists());
    // Output, stderr and exit status are the CLI's own, through either path.
    let root = b.root.to_str().unwrap();
    for _ in 0..2 {
        let (via, _) = p.traced(&b, &["--root", root, "state", "no-such-container"], &[]);
        let mut direct = Command::new(HUSK);
        direct.args(["--root", root, "state", "no-such-container"]);
        let direct = exec(direct, &b.dir);
        // runc's log line: the same but for its time=.
        let msg = |o: &Out| o.stderr.split_once(" level=").map(|(_, m)| m.to_string());
        assert_eq!((via.code, msg(&via)), (direct.code, msg(&direct)));
        assert!(
            msg(&via).is_some_and(|m| m.contains("no-such-container")),
            "{via:?}"
        );
        assert_ne!(via.code, 0);
        let (version, _) = p.traced(&b, &["--version"], &[]);
        let mut direct = Command::new(HUSK);
        direct.arg("--version");
        assert_eq!(version.ok().stdout, exec(direct, &b.dir).ok().stdout);
        // The second round goes through the guarded copy.
        p.run(&b, &[]);
    }
}

#[test]
fn a_missing_cli_is_named() {
    let b = bundle("launch-missing");
    let p = Prefix::new(&b);
    fs::remove_file(p.cli()).unwrap();
    let (out, execs) = p.traced(&b, &["--version"], &[]);
    assert_eq!(out.code, 127, "{out:?}");
    assert_eq!(
        out.stderr.trim(),
        format!(
            "husk: cannot run {}: No such file or directory",
            p.cli().display()
        )
    );
    assert_eq!(execs, [p.launcher()]);
}
