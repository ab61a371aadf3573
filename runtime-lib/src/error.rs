//! The library's error type: one enum a caller can match on, each variant carrying
//! the module error that names the field, path or syscall. The module errors are
//! re-exported here so a caller can match on their variants.

pub use crate::cgroups::{CgroupError, SystemdError};
pub use crate::checkpoint::CheckpointError;
pub use crate::hooks::{HookError, HookKind, HookRef};
pub use crate::intelrdt::RdtError;
pub use crate::lsm::LsmError;
pub use crate::namespaces::netdev::NetDevError;
pub use crate::namespaces::NamespaceError;
pub use crate::paths::PathError;
pub use crate::process::{InitError, ProcessError};
pub use crate::rootfs::RootfsError;
pub use crate::seccomp::SeccompError;
pub use crate::spec::SpecError;
pub use crate::state::StateError;
pub use crate::tty::TtyError;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in husk. Match on the variant, then on the module
/// error it carries:
///
/// ```no_run
/// use husk::error::StateError;
///
/// match husk::ContainerBuilder::new("c1", "/path/to/bundle").create() {
///     Ok(c) => println!("created {}", c.id()),
///     Err(husk::Error::Spec(e)) => eprintln!("bad config.json: {e}"),
///     Err(husk::Error::StateFile(StateError::Exists(id))) => eprintln!("{id} exists"),
///     Err(husk::Error::Hook(e)) => eprintln!("a hook failed: {e}"),
///     Err(e) => eprintln!("create failed: {e}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad or unreadable config.json.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// State directory problems (unknown id, existing id, corrupt state).
    #[error(transparent)]
    StateFile(#[from] crate::state::StateError),
    /// The operation does not fit the container's status.
    #[error("container {id}: {msg}")]
    State {
        /// Container id.
        id: String,
        /// What is wrong.
        msg: String,
    },
    /// Creating the container's processes failed. A failure inside the
    /// container's init that has a typed form arrives as that variant instead
    /// (a mount as [`Error::Rootfs`], a hook as [`Error::Hook`]).
    #[error(transparent)]
    Process(crate::process::ProcessError),
    /// The rootfs plan could not be made.
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    /// cgroup errors.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    /// `linux.intelRdt` (resctrl) errors.
    #[error(transparent)]
    IntelRdt(#[from] crate::intelrdt::RdtError),
    /// A syscall on the runtime side failed.
    #[error("{what}: {source}")]
    Sys {
        /// The step.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// `linux.seccomp` is invalid or could not be loaded.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// A hook failed.
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// An invalid request (an exec flag or process.json field, with its name).
    #[error("{0}")]
    Invalid(String),
    /// The terminal could not be set up.
    #[error(transparent)]
    Tty(#[from] crate::tty::TtyError),
    /// An AppArmor profile or SELinux label the host cannot apply.
    #[error(transparent)]
    Lsm(#[from] crate::lsm::LsmError),
    /// Checkpoint/restore (CRIU) errors.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// A config feature husk does not implement.
    #[error("{0}")]
    Unsupported(String),
}

impl From<crate::process::ProcessError> for Error {
    fn from(e: crate::process::ProcessError) -> Self {
        use crate::process::ProcessError;
        match e {
            // The same variant a failure in the runtime itself would give.
            ProcessError::Init(init) => init.into_error(),
            ProcessError::Hook(h) => Error::Hook(*h),
            other => Error::Process(other),
        }
    }
}
