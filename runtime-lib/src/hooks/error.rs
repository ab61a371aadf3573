//! Errors of the hooks module. Each names the hook (its place in `hooks`
//! when known, and its path) and, where there is one, the OS error.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;

use super::kind::HookKind;

/// Names a hook in messages: `hooks.createRuntime[1] (/usr/bin/hook)` when
/// its place in `config.json` is known, else `hook /usr/bin/hook`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRef {
    /// The hook's `path`.
    pub path: PathBuf,
    /// Which list of `hooks` it is in, and where.
    pub position: Option<(HookKind, usize)>,
}

impl fmt::Display for HookRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((kind, index)) => write!(f, "hooks.{kind}[{index}] ({})", self.path.display()),
            None => write!(f, "hook {}", self.path.display()),
        }
    }
}

/// Everything that can go wrong running a hook.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// A field of the hook is unusable (`path`, `args[i]`, `env[i]`, `timeout`).
    #[error("{hook}: {field}: {reason}")]
    Invalid {
        /// The hook.
        hook: HookRef,
        /// The field of the hook object, e.g. `env[2]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The hook could not be started.
    #[error("{hook}: cannot execute: {source}")]
    Spawn {
        /// The hook.
        hook: HookRef,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// Supervising the running hook failed.
    #[error("{hook}: {what} failed: {source}")]
    Io {
        /// The hook.
        hook: HookRef,
        /// The step that failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The hook ran longer than its `timeout` and was killed with SIGKILL.
    #[error(
        "{hook}: timed out after {timeout}s and was killed{}",
        output_suffix(stderr)
    )]
    Timeout {
        /// The hook.
        hook: HookRef,
        /// The hook's `timeout` in seconds.
        timeout: i64,
        /// The last 4 KiB it wrote to stderr before being killed.
        stderr: String,
    },

    /// The hook exited unsuccessfully.
    #[error("{hook}: failed with {status}{}", output_suffix(stderr))]
    Failed {
        /// The hook.
        hook: HookRef,
        /// Its exit status.
        status: ExitStatus,
        /// The last 4 KiB it wrote to stderr.
        stderr: String,
        /// The last 4 KiB it wrote to stdout.
        stdout: String,
    },
}

fn output_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        "; stderr is empty".to_string()
    } else {
        format!("; stderr: {stderr}")
    }
}

impl HookError {
    /// The hook the error is about.
    pub fn hook(&self) -> &HookRef {
        match self {
            Self::Invalid { hook, .. }
            | Self::Spawn { hook, .. }
            | Self::Io { hook, .. }
            | Self::Timeout { hook, .. }
            | Self::Failed { hook, .. } => hook,
        }
    }

    /// Records where the hook is in `config.json`, for the message.
    pub fn at(mut self, kind: HookKind, index: usize) -> Self {
        match &mut self {
            Self::Invalid { hook, .. }
            | Self::Spawn { hook, .. }
            | Self::Io { hook, .. }
            | Self::Timeout { hook, .. }
            | Self::Failed { hook, .. } => hook.position = Some((kind, index)),
        }
        self
    }
}
