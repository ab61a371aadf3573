//! The scenario framework: a [`Case`] is one scenario on one runtime, with its
//! own directory, state root, bundles and deadline; checks return the first
//! difference as a [`Verdict`].

use std::collections::BTreeMap;
use std::fmt::Display;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bundle::{self, Bundle, Rootfs};
use crate::runtime::Runtime;

/// The result of a scenario on one runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// All checks held.
    Pass,
    /// The first difference.
    Fail(String),
    /// Not applicable here (this host, this runtime), with the reason.
    Skip(String),
    /// Could not run: something the scenario needs is missing here (named in the
    /// message). Not a pass: under CI (`CI=true`) it fails the suite.
    Missing(String),
}

impl Verdict {
    /// `pass`, `FAIL: ...`, `skip: ...` or `MISSING: ...`.
    pub fn cell(&self) -> String {
        match self {
            Verdict::Pass => "pass".to_string(),
            Verdict::Fail(m) => format!("FAIL: {m}"),
            Verdict::Skip(m) => format!("skip: {m}"),
            Verdict::Missing(m) => format!("MISSING: {m}"),
        }
    }
}

/// The verdict of a scenario that needs the static checker when build.rs could not
/// build it.
pub fn no_checker() -> Verdict {
    Verdict::Missing(
        "no static husk-checker was built (see the warning of conformance/build.rs)".into(),
    )
}

/// Whether this runs under CI (`CI=true`, or `1`): there a test whose environment
/// is missing fails instead of being skipped.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// What a check returns: `Err` carries a failure or a skip.
pub type Check = Result<(), Verdict>;

/// A failure.
pub fn fail(msg: impl Into<String>) -> Verdict {
    Verdict::Fail(msg.into())
}

/// Fails unless `got == want`.
pub fn expect_eq<T: PartialEq + Display + ?Sized>(what: &str, got: &T, want: &T) -> Check {
    if got == want {
        Ok(())
    } else {
        Err(fail(format!(
            "{what}: got {got:?}, want {want:?}",
            got = got.to_string(),
            want = want.to_string()
        )))
    }
}

/// Fails unless `cond`.
pub fn expect(cond: bool, msg: impl FnOnce() -> String) -> Check {
    if cond {
        Ok(())
    } else {
        Err(fail(msg()))
    }
}

/// A registered scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Row name.
    pub name: &'static str,
    /// Group (lifecycle, errors, namespaces, ...).
    pub area: &'static str,
    /// One line: what is checked.
    pub what: &'static str,
    /// Whether it runs the checker inside the container.
    pub needs_checker: bool,
    /// The scenario.
    pub run: fn(&mut Case) -> Check,
}

/// Facts about the host the harness runs on.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// `/proc/self/ns/*` link targets of the harness.
    pub ns: BTreeMap<String, String>,
}

impl Host {
    /// Reads the harness's namespaces.
    pub fn probe() -> Host {
        let mut ns = BTreeMap::new();
        if let Ok(rd) = std::fs::read_dir("/proc/self/ns") {
            for e in rd.flatten() {
                if let Ok(t) = std::fs::read_link(e.path()) {
                    ns.insert(
                        e.file_name().to_string_lossy().into_owned(),
                        t.to_string_lossy().into_owned(),
                    );
                }
            }
        }
        Host { ns }
    }
}

/// Output of one runtime call.
#[derive(Debug, Clone)]
pub struct Out {
    /// What was run (for messages).
    pub what: String,
    /// Exit status, `None` if killed by a signal.
    pub code: Option<i32>,
    /// The captured stdout (at the time the call returned).
    pub stdout: String,
    /// The captured stderr.
    pub stderr: String,
    /// The stdout file (a created container keeps writing to it).
    pub stdout_path: PathBuf,
}

impl Out {
    /// The first non-empty stderr line, shortened.
    pub fn err_line(&self) -> String {
        let l = self
            .stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        shorten(l, 120)
    }
}

/// Cuts `s` to `n` characters, with an ellipsis.
pub fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n.saturating_sub(1)).collect();
        format!("{t}…")
    }
}

/// Key/value lines printed by the checker.
#[derive(Debug, Clone, Default)]
pub struct Report {
    lines: Vec<(String, String)>,
}

impl Report {
    /// Parses `key=value` lines.
    pub fn parse(text: &str) -> Report {
        let lines = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Report { lines }
    }

    /// The value for `key`, or a failure naming it.
    pub fn get(&self, key: &str) -> Result<&str, Verdict> {
        self.lines
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| match key.strip_prefix("env.") {
                Some(var) => fail(format!("{var} is not set in the container")),
                None => fail(format!("checker printed no {key}")),
            })
    }

    /// Fails unless `key` has the value `want`.
    pub fn expect(&self, key: &str, want: &str) -> Check {
        expect_eq(key, self.get(key)?, want)
    }

    /// Fails unless `key`'s value contains each of `parts` (comma-separated
    /// option lists are matched element-wise).
    pub fn expect_options(&self, key: &str, field: usize, parts: &[&str]) -> Check {
        let v = self.get(key)?;
        let f = v.split('|').nth(field).unwrap_or("");
        let have: Vec<&str> = f.split(',').collect();
        for p in parts {
            if !have.contains(p) {
                return Err(fail(format!("{key}: {p} missing in {f:?}")));
            }
        }
        Ok(())
    }
}

/// One scenario on one runtime.
pub struct Case<'a> {
    /// The runtime under test.
    pub rt: &'a Runtime,
    /// The host facts.
    pub host: &'a Host,
    /// This case's directory (bundles, outputs).
    pub dir: PathBuf,
    /// The `--root` for every call.
    pub root: PathBuf,
    rootfs: &'a Rootfs,
    deadline: Instant,
    base_id: String,
    /// Container ids used (cleaned up afterwards).
    pub ids: Vec<String>,
    /// Variables added to the runtime's environment for every call (what hooks
    /// that inherit it see).
    pub env: Vec<(String, String)>,
    seq: usize,
}

/// Per-call cap on runtime commands (within the scenario deadline).
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

impl<'a> Case<'a> {
    /// A new case; `dir` is created.
    pub fn new(
        rt: &'a Runtime,
        host: &'a Host,
        rootfs: &'a Rootfs,
        dir: PathBuf,
        base_id: String,
        timeout: Duration,
    ) -> std::io::Result<Case<'a>> {
        std::fs::create_dir_all(&dir)?;
        let root = dir.join("root");
        std::fs::create_dir_all(&root)?;
        Ok(Case {
            rt,
            host,
            rootfs,
            root,
            dir,
            deadline: Instant::now() + timeout,
            base_id,
            ids: Vec::new(),
            env: Vec::new(),
            seq: 0,
        })
    }

    /// The cleanup marker (the base container id).
    pub fn marker(&self) -> &str {
        &self.base_id
    }

    /// Whether the static checker is in the rootfs.
    pub fn has_checker(&self) -> bool {
        self.rootfs.has_checker()
    }

    /// A container id unique to this case (`suffix` tells several apart).
    pub fn id(&mut self, suffix: &str) -> String {
        let id = if suffix.is_empty() {
            self.base_id.clone()
        } else {
            format!("{}-{suffix}", self.base_id)
        };
        if !self.ids.contains(&id) {
            self.ids.push(id.clone());
        }
        id
    }

    /// Creates bundle `name` with the base config running `args`, after
    /// `edit(config, rootfs dir)`. Returns the bundle directory.
    pub fn bundle(
        &mut self,
        name: &str,
        args: &[&str],
        edit: impl FnOnce(&mut Value, &Path),
    ) -> Result<PathBuf, Verdict> {
        let b = Bundle::create(&self.dir.join(name), self.rootfs)
            .map_err(|e| fail(format!("harness: bundle {name}: {e}")))?;
        let mut cfg = bundle::default_config(args, &self.base_id);
        edit(&mut cfg, &b.rootfs());
        b.write_config(&cfg)
            .map_err(|e| fail(format!("harness: config: {e}")))?;
        Ok(b.dir)
    }

    fn remaining(&self) -> Result<Duration, Verdict> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(fail("scenario timed out"));
        }
        Ok(left.min(CALL_TIMEOUT))
    }

    /// Runs `RUNTIME --root ROOT ARGS` and captures its output.
    pub fn call(&mut self, args: &[&str]) -> Result<Out, Verdict> {
        let timeout = self.remaining()?;
        self.seq += 1;
        let out_path = self.dir.join(format!("call{}.out", self.seq));
        let err_path = self.dir.join(format!("call{}.err", self.seq));
        let h = |e: std::io::Error| fail(format!("harness: {e}"));
        let mut cmd = self.rt.command(&self.root, args);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.stdout(Stdio::from(File::create(&out_path).map_err(h)?));
        cmd.stderr(Stdio::from(File::create(&err_path).map_err(h)?));
        let what = args.first().copied().unwrap_or("").to_string();
        let f = crate::proc::run(&mut cmd, timeout)
            .map_err(|e| fail(format!("harness: {what}: {e}")))?;
        let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        if f.status == crate::proc::Status::TimedOut {
            return Err(fail(format!("`{what}` timed out after {:.0?}", timeout)));
        }
        Ok(Out {
            what,
            code: f.code(),
            stdout,
            stderr,
            stdout_path: out_path,
        })
    }

    /// Like [`Case::call`] but fails unless the exit status is 0.
    pub fn call_ok(&mut self, args: &[&str]) -> Result<Out, Verdict> {
        let o = self.call(args)?;
        if o.code != Some(0) {
            return Err(fail(format!(
                "`{}` exited {}: {}",
                o.what,
                code_str(o.code),
                o.err_line()
            )));
        }
        Ok(o)
    }

    /// Fails unless the call exits non-zero.
    pub fn call_fails(&mut self, args: &[&str]) -> Result<Out, Verdict> {
        let o = self.call(args)?;
        if o.code == Some(0) {
            return Err(fail(format!(
                "`{}` succeeded, want an error",
                args.join(" ")
            )));
        }
        Ok(o)
    }

    /// `create --bundle B ID`, must succeed.
    pub fn create(&mut self, bundle: &Path, id: &str) -> Result<Out, Verdict> {
        let b = bundle.to_string_lossy().into_owned();
        self.call_ok(&["create", "--bundle", &b, id])
    }

    /// `state ID` parsed as JSON.
    pub fn state(&mut self, id: &str) -> Result<Value, Verdict> {
        let o = self.call_ok(&["state", id])?;
        serde_json::from_str(&o.stdout).map_err(|e| fail(format!("state output is not JSON: {e}")))
    }

    /// The `status` field of `state ID`.
    pub fn status(&mut self, id: &str) -> Result<String, Verdict> {
        let st = self.state(id)?;
        Ok(st["status"].as_str().unwrap_or("").to_string())
    }

    /// Polls `state` until the status is `want` (up to `timeout`).
    pub fn wait_status(&mut self, id: &str, want: &str, timeout: Duration) -> Check {
        let end = Instant::now() + timeout;
        loop {
            let s = self.status(id)?;
            if s == want {
                return Ok(());
            }
            if Instant::now() > end {
                return Err(fail(format!("status stayed {s:?}, want {want:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `file` until it contains `needle` (up to `timeout`).
    pub fn wait_output(&self, file: &Path, needle: &str, timeout: Duration) -> Check {
        let end = Instant::now() + timeout;
        loop {
            let s = std::fs::read_to_string(file).unwrap_or_default();
            if s.contains(needle) {
                return Ok(());
            }
            if Instant::now() > end {
                return Err(fail(format!(
                    "output {:?} never showed {needle:?}",
                    shorten(s.trim(), 60)
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `run --bundle B ID` in the foreground.
    pub fn run(&mut self, bundle: &Path, id: &str) -> Result<Out, Verdict> {
        let b = bundle.to_string_lossy().into_owned();
        self.call(&["run", "--bundle", &b, id])
    }

    /// Runs the checker with `args` in a fresh container (bundle `name`,
    /// edited by `edit`) and returns its report ([`no_checker`] without it).
    pub fn checker(
        &mut self,
        name: &str,
        args: &[&str],
        edit: impl FnOnce(&mut Value, &Path),
    ) -> Result<Report, Verdict> {
        if !self.has_checker() {
            return Err(no_checker());
        }
        let mut full = vec![bundle::CHECKER_IN_ROOTFS];
        full.extend_from_slice(args);
        let b = self.bundle(name, &full, edit)?;
        let id = self.id(name);
        let o = self.run(&b, &id)?;
        if o.code != Some(0) {
            return Err(fail(format!(
                "`run` exited {}: {}",
                code_str(o.code),
                o.err_line()
            )));
        }
        Ok(Report::parse(&o.stdout))
    }
}

/// An exit code for messages.
pub fn code_str(c: Option<i32>) -> String {
    c.map(|c| c.to_string())
        .unwrap_or_else(|| "by signal".into())
}
