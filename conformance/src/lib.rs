//! husk-conformance: runs the same observable-behaviour scenarios against
//! husk and other runc-compatible runtimes (runc, crun) side by side, and
//! benchmarks them.
//!
//! - [`bundle`]: busybox-static rootfs + runc-default config per scenario;
//! - [`scenario`] / [`scenarios`]: the framework and the scenarios;
//! - [`suite`]: runs them and renders the table;
//! - [`bench`] / [`floor`]: benchmarks and the bare-kernel floor reference;
//! - [`stress`]: cycles with leak counts, parallel load, hostile input;
//! - [`proc`], [`runtime`], [`cleanup`]: processes, runtimes, cleanup;
//! - [`oldkernel`]: a seccomp filter that makes this kernel answer like 5.4 or 4.18.

pub mod bench;
pub mod bundle;
pub mod cleanup;
pub mod floor;
mod mountinfo;
pub mod oldkernel;
pub mod proc;
pub mod runtime;
pub mod scenario;
pub mod scenarios;
pub mod stress;
pub mod suite;

/// The `husk-checker` probe, statically linked by build.rs (empty if that
/// build failed outside CI).
pub static CHECKER: &[u8] = include_bytes!(env!("HUSK_CHECKER_STATIC"));

pub use runtime::Runtime;
