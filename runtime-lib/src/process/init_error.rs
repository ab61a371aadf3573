//! A failure inside the container's setup processes (init, intermediate, exec'd
//! process), in a form that crosses the channel (serde) and becomes, in the
//! runtime, the same typed [`crate::Error`] variant a failure in the runtime
//! itself would give: a mount is a [`crate::rootfs::RootfsError::Apply`], a hook a
//! [`crate::hooks::HookError`], a missing executable or a bad cwd a
//! [`super::ProcessError`] with the path and errno.

use std::borrow::Cow;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ProcessError;
use crate::hooks::{HookError, HookKind, HookRef};
use crate::rootfs::RootfsError;

/// An OS error on the wire: the errno when there is one, else its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WireIo {
    errno: Option<i32>,
    text: String,
}

impl WireIo {
    fn from_io(e: &io::Error) -> Self {
        WireIo {
            errno: e.raw_os_error(),
            text: e.to_string(),
        }
    }

    fn to_io(&self) -> io::Error {
        match self.errno {
            Some(n) => io::Error::from_raw_os_error(n),
            None => io::Error::other(self.text.clone()),
        }
    }
}

/// What failed, with what the runtime needs to rebuild the typed error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    /// `RootfsError::Apply`: the config entry, the operation, the OS error.
    Rootfs {
        what: String,
        op: String,
        source: WireIo,
    },
    /// `process.args[0]` could not be resolved to an executable.
    Executable { path: String, source: WireIo },
    /// `process.cwd` could not be created, entered or verified.
    Cwd { path: PathBuf, source: WireIo },
    /// A hook the init runs (createContainer, startContainer) failed.
    Hook(WireHook),
    /// Anything else: the message only.
    Other,
}

/// A `HookError` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WireHook {
    path: PathBuf,
    position: Option<(String, usize)>,
    failure: WireHookFailure,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum WireHookFailure {
    Invalid {
        field: String,
        reason: String,
    },
    Spawn(WireIo),
    Io {
        what: String,
        source: WireIo,
    },
    Timeout {
        timeout: i64,
        stderr: String,
    },
    Failed {
        status: i32,
        stderr: String,
        stdout: String,
    },
}

/// A failure reported by a setup process over the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct InitError {
    // Boxed: it rides in every `Result` of the runtime's error type.
    kind: Box<Kind>,
    message: String,
}

impl InitError {
    /// A failure known only by its message (`field: what went wrong`).
    pub(crate) fn other(message: impl Into<String>) -> Self {
        InitError {
            kind: Box::new(Kind::Other),
            message: message.into(),
        }
    }

    /// `process.args[0]` is missing or not executable.
    pub(crate) fn executable(path: &str, errno: i32, message: String) -> Self {
        InitError {
            kind: Box::new(Kind::Executable {
                path: path.to_string(),
                source: WireIo::from_io(&io::Error::from_raw_os_error(errno)),
            }),
            message,
        }
    }

    /// `process.cwd` could not be used.
    pub(crate) fn cwd(path: impl Into<PathBuf>, source: &io::Error, message: String) -> Self {
        InitError {
            kind: Box::new(Kind::Cwd {
                path: path.into(),
                source: WireIo::from_io(source),
            }),
            message,
        }
    }

    /// The message, as the setup process wrote it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The typed error the runtime reports for this failure.
    pub(crate) fn into_error(self) -> crate::Error {
        match *self.kind {
            Kind::Rootfs { what, op, source } => crate::Error::Rootfs(RootfsError::Apply {
                what,
                op: Cow::Owned(op),
                source: source.to_io(),
            }),
            Kind::Executable { path, source } => crate::Error::Process(ProcessError::Executable {
                path,
                source: source.to_io(),
                message: self.message,
            }),
            Kind::Cwd { path, source } => crate::Error::Process(ProcessError::Cwd {
                path,
                source: source.to_io(),
                message: self.message,
            }),
            Kind::Hook(h) => crate::Error::Hook(h.into_hook_error()),
            Kind::Other => crate::Error::Process(ProcessError::Init(InitError {
                kind: Box::new(Kind::Other),
                message: self.message,
            })),
        }
    }
}

impl From<String> for InitError {
    fn from(s: String) -> Self {
        InitError::other(s)
    }
}

impl From<&str> for InitError {
    fn from(s: &str) -> Self {
        InitError::other(s)
    }
}

impl From<RootfsError> for InitError {
    fn from(e: RootfsError) -> Self {
        let message = e.to_string();
        match e {
            RootfsError::Apply { what, op, source } => InitError {
                kind: Box::new(Kind::Rootfs {
                    what,
                    op: op.into_owned(),
                    source: WireIo::from_io(&source),
                }),
                message,
            },
            _ => InitError::other(message),
        }
    }
}

impl From<HookError> for InitError {
    fn from(e: HookError) -> Self {
        let message = e.to_string();
        let hook = e.hook().clone();
        let failure = match e {
            HookError::Invalid { field, reason, .. } => WireHookFailure::Invalid { field, reason },
            HookError::Spawn { source, .. } => WireHookFailure::Spawn(WireIo::from_io(&source)),
            HookError::Io { what, source, .. } => WireHookFailure::Io {
                what: what.to_string(),
                source: WireIo::from_io(&source),
            },
            HookError::Timeout {
                timeout, stderr, ..
            } => WireHookFailure::Timeout { timeout, stderr },
            HookError::Failed {
                status,
                stderr,
                stdout,
                ..
            } => WireHookFailure::Failed {
                status: status.into_raw(),
                stderr,
                stdout,
            },
        };
        InitError {
            kind: Box::new(Kind::Hook(WireHook {
                path: hook.path,
                position: hook.position.map(|(k, i)| (k.to_string(), i)),
                failure,
            })),
            message,
        }
    }
}

impl WireHook {
    fn into_hook_error(self) -> HookError {
        let hook = HookRef {
            path: self.path,
            position: self
                .position
                .and_then(|(k, i)| HookKind::from_name(&k).map(|k| (k, i))),
        };
        match self.failure {
            WireHookFailure::Invalid { field, reason } => HookError::Invalid {
                hook,
                field,
                reason,
            },
            WireHookFailure::Spawn(source) => HookError::Spawn {
                hook,
                source: source.to_io(),
            },
            WireHookFailure::Io { what, source } => HookError::Io {
                hook,
                what: static_step(&what),
                source: source.to_io(),
            },
            WireHookFailure::Timeout { timeout, stderr } => HookError::Timeout {
                hook,
                timeout,
                stderr,
            },
            WireHookFailure::Failed {
                status,
                stderr,
                stdout,
            } => HookError::Failed {
                hook,
                status: std::process::ExitStatus::from_raw(status),
                stderr,
                stdout,
            },
        }
    }
}

/// `HookError::Io::what` is a `&'static str`; the steps are few and fixed.
fn static_step(what: &str) -> &'static str {
    const STEPS: &[&str] = &[
        "setting up the hook's pipes",
        "blocking SIGPIPE",
        "killing the hook",
        "waiting for the killed hook",
        "poll",
        "writing the state to the hook's stdin",
        "waiting for the hook",
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| *s == what)
        .unwrap_or("supervise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(e: InitError) -> crate::Error {
        let json = serde_json::to_string(&e).unwrap();
        serde_json::from_str::<InitError>(&json)
            .unwrap()
            .into_error()
    }

    #[test]
    fn mount_failure_is_a_rootfs_apply_error() {
        let e = RootfsError::Apply {
            what: "mounts[3] /data".into(),
            op: "bind".into(),
            source: io::Error::from_raw_os_error(libc::ENOENT),
        };
        let text = e.to_string();
        match roundtrip(e.into()) {
            crate::Error::Rootfs(RootfsError::Apply { what, op, source }) => {
                assert_eq!(what, "mounts[3] /data");
                assert_eq!(op, "bind");
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("{other:?}"),
        }
        assert!(text.contains("mounts[3] /data: bind"), "{text}");
    }

    #[test]
    fn hook_failure_keeps_status_and_stderr() {
        let e = HookError::Failed {
            hook: HookRef {
                path: "/bin/false".into(),
                position: Some((HookKind::CreateContainer, 1)),
            },
            status: std::process::ExitStatus::from_raw(3 << 8),
            stderr: "boom".into(),
            stdout: String::new(),
        };
        let text = e.to_string();
        let back = roundtrip(e.into());
        assert_eq!(back.to_string(), text);
        match back {
            crate::Error::Hook(HookError::Failed {
                hook,
                status,
                stderr,
                ..
            }) => {
                assert_eq!(hook.path, PathBuf::from("/bin/false"));
                assert_eq!(hook.position, Some((HookKind::CreateContainer, 1)));
                assert_eq!(status.code(), Some(3));
                assert_eq!(stderr, "boom");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn executable_and_cwd_and_other() {
        match roundtrip(InitError::executable(
            "/x",
            libc::ENOENT,
            "exec: \"/x\"".into(),
        )) {
            crate::Error::Process(ProcessError::Executable { path, source, .. }) => {
                assert_eq!(path, "/x");
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("{other:?}"),
        }
        let enotdir = io::Error::from_raw_os_error(libc::ENOTDIR);
        match roundtrip(InitError::cwd(
            "/etc/passwd",
            &enotdir,
            "process.cwd".into(),
        )) {
            crate::Error::Process(ProcessError::Cwd { path, source, .. }) => {
                assert_eq!(path, PathBuf::from("/etc/passwd"));
                assert_eq!(source.raw_os_error(), Some(libc::ENOTDIR));
            }
            other => panic!("{other:?}"),
        }
        let e = roundtrip(InitError::other("hostname: EPERM"));
        assert_eq!(e.to_string(), "container init: hostname: EPERM");
    }
}
