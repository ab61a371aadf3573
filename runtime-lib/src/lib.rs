//! husk: an OCI runtime-spec container runtime as a library.
//!
//! Create a container from a bundle with [`ContainerBuilder`], then drive it with
//! [`Container`]: start, exec, kill, pause, update, stats, checkpoint, delete, state.
//! The library never prints, never exits the process, and leaves the caller's cwd,
//! environment, umask and signal mask alone.
//!
//! ```no_run
//! use husk::{Container, ContainerBuilder};
//!
//! let mut c = ContainerBuilder::new("c1", "/path/to/bundle")
//!     .root("/run/husk")
//!     .create()?; // set up; the init waits for start
//! c.start()?; // the container's process runs
//! println!("{} is {}", c.id(), c.status());
//! let c = Container::load("/run/husk".as_ref(), "c1")?;
//! c.delete(true)?; // kill what is left, remove the cgroup and the state
//! # Ok::<(), husk::Error>(())
//! ```
//!
//! Creation and exec fork the container's processes from the calling process; from
//! a multi-threaded program (tokio) the forks are made by a single-threaded helper,
//! which needs one call at the top of `main`: see [`helper`].
//!
//! The public API is what this page lists: the container handle and its builders
//! and options, the state and status types, [`features`], the error types
//! ([`error`]), and the extension points: [`helper`] (creating from a multi-threaded program), [`tty`] (console socket, pty master),
//! [`plan`] (what `create` would apply, from [`ContainerBuilder::plan`]),
//! [`spec`] (load, validate and default configs), [`rootless`] (defaults for an
//! unprivileged caller), [`checkpoint`] (CRIU options) and [`cgroups`] (stats and
//! the systemd driver's path check). Everything else is internal. The hidden
//! `unstable` module serves husk's own binaries and carries no semver promise.
//! See `docs/embedding.md` for the list with one line each.

#![deny(missing_docs)]

pub use oci_spec;

mod attrs;
pub mod cgroups;
pub mod checkpoint;
mod container;
pub mod error;
mod fault;
pub mod features;
#[cfg(test)]
mod fuzz;
pub mod helper;
mod hooks;
mod intelrdt;
mod lsm;
mod namespaces;
mod paths;
pub mod plan;
mod process;
mod rootfs;
pub mod rootless;
mod seccomp;
mod security;
pub mod spec;
mod state;
mod sys;
pub mod tty;

pub use container::{
    list, list_all, Container, ContainerBuilder, ExecOptions, ExecProcess, Listed, StateView,
    DEFAULT_ROOT,
};
pub use error::{Error, Result};
pub use process::Stdio;
pub use state::{validate_id, Status};

/// Internals husk's own binaries (the CLI, the containerd shim) need.
///
/// **No semver promise**: anything here may change or go away in any release.
/// Embedders should not use it.
#[doc(hidden)]
pub mod unstable {
    /// CLI flag parsing for `checkpoint`/`restore`.
    pub use crate::checkpoint::plan::{empty_ns_bits, parse_page_server};
    /// The immutable copy of the runtime's binary (CVE-2019-5736 defence) the CLI
    /// and the shim re-execute from.
    pub use crate::security::exe_guard;
    /// RFC 3339 timestamps with nanoseconds, as state.json and logs write them.
    pub use crate::state::rfc3339_nano;
    /// The per-container lock (`delete` of a half-created container).
    pub use crate::state::Lock;
}
