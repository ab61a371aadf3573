//! Hook object -> validated command line (pure).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use oci_spec::runtime::Hook;

use super::error::{HookError, HookRef};

/// A hook checked and resolved into what `execve` will get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HookCommand {
    /// Absolute path of the executable.
    pub path: PathBuf,
    /// `argv`, starting with `argv[0]` (the path when `args` is absent).
    pub argv: Vec<String>,
    /// The complete environment, in order; `None` (no `env` in the hook) inherits
    /// the environment of the process running the hook, as runc's hooks do.
    pub env: Option<Vec<(String, String)>>,
    /// `timeout` in seconds, if any.
    pub timeout_secs: Option<i64>,
}

impl HookCommand {
    /// Checks `hook` against the spec: an absolute `path`, a positive
    /// `timeout`, `KEY=VALUE` env entries and no NUL bytes anywhere.
    pub fn prepare(hook: &Hook) -> Result<Self, HookError> {
        let who = HookRef {
            path: hook.path().clone(),
            position: None,
        };
        let invalid = |field: String, reason: &str| HookError::Invalid {
            hook: who.clone(),
            field,
            reason: reason.to_string(),
        };

        let path = hook.path();
        if !path.is_absolute() {
            return Err(invalid("path".into(), "must be an absolute path"));
        }
        if path.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(invalid("path".into(), "must not contain a NUL byte"));
        }

        let argv = match hook.args().as_deref() {
            Some(args) if !args.is_empty() => args.to_vec(),
            // execv needs an argv[0]; use the path like runc (Go's exec.Cmd).
            _ => vec![path.to_string_lossy().into_owned()],
        };
        if let Some(i) = argv.iter().position(|a| a.contains('\0')) {
            return Err(invalid(format!("args[{i}]"), "must not contain a NUL byte"));
        }

        let mut env = Vec::new();
        let given = hook.env().as_deref();
        for (i, entry) in given.unwrap_or_default().iter().enumerate() {
            let Some((key, value)) = entry.split_once('=') else {
                return Err(invalid(
                    format!("env[{i}]"),
                    "must be of the form KEY=VALUE",
                ));
            };
            if key.is_empty() {
                return Err(invalid(format!("env[{i}]"), "has an empty variable name"));
            }
            if entry.contains('\0') {
                return Err(invalid(format!("env[{i}]"), "must not contain a NUL byte"));
            }
            env.push((key.to_string(), value.to_string()));
        }

        let timeout_secs = hook.timeout();
        if let Some(t) = timeout_secs {
            if t <= 0 {
                return Err(invalid("timeout".into(), "must be greater than zero"));
            }
        }

        Ok(Self {
            path: path.clone(),
            argv,
            env: given.map(|_| env),
            timeout_secs,
        })
    }

    /// The timeout as a duration.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_secs
            .and_then(|t| u64::try_from(t).ok())
            .map(Duration::from_secs)
    }

    /// The `std::process::Command` that runs the hook with piped stdio and
    /// exactly the hook's environment (the caller's when the hook has none).
    pub fn command(&self) -> Command {
        use std::os::unix::process::CommandExt;

        let mut cmd = Command::new(&self.path);
        if let Some((argv0, rest)) = self.argv.split_first() {
            cmd.arg0(argv0).args(rest);
        }
        if let Some(env) = &self.env {
            cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }
}
