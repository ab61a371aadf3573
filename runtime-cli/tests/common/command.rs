//! Running a command to completion with stdout/stderr captured through files
//! (a detached container inherits them; a pipe would stay open), and what it left.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{husk_command, setup, COUNTER};

/// How long any single husk command may take before the test fails.
const CMD_TIMEOUT: Duration = Duration::from_secs(30);

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
    let mut cmd = husk_command();
    cmd.args(args);
    exec(cmd, &std::env::temp_dir())
}
