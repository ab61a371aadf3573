//! husk: an OCI runtime-spec container runtime as a library.
//!
//! Create a container from a bundle with [`ContainerBuilder`], then drive it with
//! [`Container`]: start, kill, delete, state. The library never prints, never exits
//! the process, and leaves the caller's cwd, environment, umask and signal mask alone.
//! Creation forks the container's init from the calling process; from a
//! multi-threaded program (tokio) the forks are made by a single-threaded helper:
//! see [`helper`].

pub use oci_spec;

pub mod attrs;
pub mod cgroups;
pub mod checkpoint;
pub mod container;
mod error;
pub mod fault;
pub mod features;
#[cfg(test)]
mod fuzz;
pub mod helper;
pub mod hooks;
pub mod intelrdt;
pub mod lsm;
pub mod namespaces;
pub mod paths;
pub mod process;
pub mod rootfs;
pub mod rootless;
pub mod seccomp;
pub mod security;
pub mod spec;
pub mod state;
pub mod sys;
pub mod tty;

pub use container::{
    list, list_all, Container, ContainerBuilder, ExecOptions, ExecProcess, Listed, StateView,
    DEFAULT_ROOT,
};
pub use error::{Error, Result};
pub use state::Status;
