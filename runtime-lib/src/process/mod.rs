//! Making the container's init: the plan it follows, the clone dance, and the
//! init sequence itself.

pub mod channel;
mod env;
mod exec;
mod finalize;
pub(crate) mod helper;
mod init;
mod init_error;
mod intermediate;
mod plan;
mod spawn;
mod stdio;

pub use exec::{spawn_exec, ExecBase, ExecPlan, NsHandles};
pub use init_error::InitError;
pub use plan::{InitPlan, PlanOptions};
pub use spawn::spawn_init;
pub use stdio::Stdio;

/// Errors while starting the container's processes.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A syscall in the runtime (parent) side failed.
    #[error("{what}: {source}")]
    Sys {
        /// The step.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A prestart or createRuntime hook failed (becomes [`crate::Error::Hook`]).
    #[error(transparent)]
    Hook(Box<crate::hooks::HookError>),
    /// The container's init (or an exec'd process) reported a failure during
    /// set-up that has no more specific variant; its message names the field.
    #[error("container init: {0}")]
    Init(InitError),
    /// `process.args[0]` is missing, not executable, or not found in `PATH`.
    #[error("{message}")]
    Executable {
        /// `process.args[0]`.
        path: String,
        /// The OS error (`ENOENT` when not found).
        source: std::io::Error,
        /// The message, in runc's words.
        message: String,
    },
    /// `process.cwd` could not be created, entered or verified.
    #[error("{message}")]
    Cwd {
        /// `process.cwd`.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
        /// The message.
        message: String,
    },
    /// Namespace set-up in the parent failed.
    #[error(transparent)]
    Namespace(#[from] crate::namespaces::NamespaceError),
    /// Moving the init into its cgroup failed.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    /// Moving `linux.netDevices` into the container failed.
    #[error(transparent)]
    NetDev(#[from] crate::namespaces::netdev::NetDevError),
    /// Applying `linux.intelRdt` failed.
    #[error(transparent)]
    IntelRdt(#[from] crate::intelrdt::RdtError),
}

pub(crate) fn sys_err<E: Into<std::io::Error>>(
    what: &'static str,
) -> impl FnOnce(E) -> ProcessError {
    move |e| ProcessError::Sys {
        what,
        source: e.into(),
    }
}
