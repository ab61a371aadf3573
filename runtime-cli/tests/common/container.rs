//! Driving husk on a bundle's private state root: container ids, create, run,
//! state. Every command carries the bundle's process mark.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{exec_to, husk_command, Bundle, Out, COUNTER, MARK};

impl Bundle {
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
        let mut cmd = husk_command();
        cmd.arg("--root").arg(&self.root).args(args);
        cmd.env(MARK, &self.name);
        cmd.current_dir(&self.dir);
        f(&mut cmd);
        let out = exec_to(cmd, &self.dir, stdout);
        self.remember_pids();
        out
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
}
