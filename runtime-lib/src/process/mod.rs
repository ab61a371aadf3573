//! Making the container's init: the plan it follows, the clone dance, and the
//! init sequence itself.

pub mod channel;
mod env;
mod exec;
mod finalize;
mod init;
mod intermediate;
mod plan;
mod spawn;

pub use exec::{spawn_exec, ExecBase, ExecPlan, NsHandles};
pub use plan::{InitPlan, PlanOptions};
pub use spawn::spawn_init;

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
    /// A prestart or createRuntime hook failed.
    #[error("{0}")]
    Hook(String),
    /// The container's init reported a failure during set-up.
    #[error("container init: {0}")]
    Init(String),
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
