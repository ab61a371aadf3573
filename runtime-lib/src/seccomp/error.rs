//! Errors of the seccomp module.
//!
//! Planning errors name the offending field of `config.json` (for example
//! `linux.seccomp.syscalls[3].args[0].index`); loading and listener errors
//! name what was being done and carry the OS error.

use std::path::PathBuf;

use nix::errno::Errno;

/// Everything that can go wrong while planning, loading or handing over a
/// seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A field of `linux.seccomp` holds a value the runtime cannot accept.
    #[error("{field}: {reason}")]
    Invalid {
        /// Path of the JSON field, e.g. `linux.seccomp.syscalls[2].errnoRet`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// libseccomp refused to build part of the filter.
    #[error("{field}: libseccomp could not {what}: {source}")]
    Libseccomp {
        /// Path of the JSON field the failing step came from.
        field: String,
        /// The step that failed, e.g. `add the rule`.
        what: &'static str,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },

    /// The compiled program cannot be handed to the kernel.
    #[error("linux.seccomp: compiled filter is unusable: {reason}")]
    Program {
        /// What is wrong with the program.
        reason: String,
    },

    /// An OS call needed to compile the filter failed.
    #[error("linux.seccomp: {what} failed: {source}")]
    Os {
        /// The call that failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed.
    #[error("linux.seccomp: loading the filter failed: {source}{hint}")]
    Load {
        /// The kernel's error.
        #[source]
        source: Errno,
        /// A short explanation for the common causes, or empty.
        hint: &'static str,
    },

    /// With `SECCOMP_FILTER_FLAG_TSYNC`, another thread could not be synchronized.
    #[error("linux.seccomp.flags: SECCOMP_FILTER_FLAG_TSYNC failed: thread {tid} cannot be synchronized")]
    Tsync {
        /// The thread the kernel reported.
        tid: i64,
    },

    /// The container state handed to `send_to_listener` is unusable.
    #[error("seccomp listener {path}: container state: {reason}")]
    State {
        /// The listener socket path.
        path: PathBuf,
        /// What is wrong with the state.
        reason: String,
    },

    /// Talking to the seccomp agent's socket failed.
    #[error("seccomp listener {path}: {what} failed: {source}")]
    Listener {
        /// The listener socket path (`linux.seccomp.listenerPath`).
        path: PathBuf,
        /// The step that failed (`connect`, `sendmsg`, ...).
        what: &'static str,
        /// The OS error.
        #[source]
        source: Errno,
    },
}

impl SeccompError {
    /// Shorthand for [`SeccompError::Invalid`].
    pub(super) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
