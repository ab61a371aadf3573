//! The container handle: create (via [`ContainerBuilder`]), load, start, kill,
//! delete, state and list.

mod builder;
mod checkpoint;
mod exec;
mod ops;
mod resources;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use builder::ContainerBuilder;
pub use exec::{ExecOptions, ExecProcess};

use crate::state::{self, State, Status};

/// Default state root, as runc's `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/husk";

/// A container known to the runtime (loaded from its state directory).
#[derive(Debug)]
pub struct Container {
    root: PathBuf,
    state: State,
}

/// The state as `husk state` prints it (runc's shape).
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    /// OCI version of the bundle.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Init pid (0 when stopped).
    pub pid: i32,
    /// Status.
    pub status: Status,
    /// Bundle path.
    pub bundle: PathBuf,
    /// Rootfs path.
    pub rootfs: PathBuf,
    /// Creation time.
    pub created: String,
    /// Owner.
    pub owner: String,
    /// Annotations.
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: std::collections::HashMap<String, String>,
}

impl Container {
    /// Loads container `id` from the state root and derives its live status.
    pub fn load(root: &Path, id: &str) -> crate::Result<Container> {
        let mut state = State::load(root, id)?;
        state.refresh(root);
        Ok(Container {
            root: root.to_path_buf(),
            state,
        })
    }

    /// Container id.
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// Live status (as of loading or the last operation).
    pub fn status(&self) -> Status {
        self.state.status
    }

    /// The init's host pid.
    pub fn pid(&self) -> i32 {
        self.state.pid
    }

    /// The container's hooks as created (the poststart and poststop ones still run:
    /// `start` runs poststart, `delete` poststop).
    pub fn hooks(&self) -> Option<&oci_spec::runtime::Hooks> {
        self.state.hooks.as_ref()
    }

    /// The runc-shaped state.
    pub fn state(&self) -> StateView {
        let s = &self.state;
        StateView {
            oci_version: s.oci_version.clone(),
            id: s.id.clone(),
            pid: if s.status == Status::Stopped {
                0
            } else {
                s.pid
            },
            status: s.status,
            bundle: s.bundle.clone(),
            rootfs: s.rootfs.clone(),
            created: s.created.clone(),
            owner: s.owner.clone(),
            annotations: s.annotations.clone(),
        }
    }

    fn dir(&self) -> PathBuf {
        State::dir(&self.root, &self.state.id)
    }
}

/// All readable containers under `root`, sorted by id. [`list_all`] also gives
/// the ones whose state cannot be read, with the error.
pub fn list(root: &Path) -> crate::Result<Vec<Container>> {
    Ok(list_all(root)?
        .into_iter()
        .filter_map(|l| l.container.ok())
        .collect())
}

/// One entry of [`list_all`]: a container, or why its state cannot be read.
#[derive(Debug)]
pub struct Listed {
    /// The directory's name (the container id).
    pub id: String,
    /// The loaded container, or the error loading it (a corrupt or unreadable
    /// state.json).
    pub container: crate::Result<Container>,
}

/// Every container directory with a state.json under `root`, sorted by id,
/// including those whose state cannot be read.
pub fn list_all(root: &Path) -> crate::Result<Vec<Listed>> {
    Ok(state::list_ids(root)?
        .into_iter()
        .map(|id| Listed {
            container: Container::load(root, &id),
            id,
        })
        .collect())
}
