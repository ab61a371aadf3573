//! OCI lifecycle hooks (`hooks` of `config.json`).
//!
//! Compute, then apply: a hook object is first checked and resolved into a
//! command line (absolute path, `KEY=VALUE` env, positive timeout), then
//! run with the container state on its stdin, its output captured and its
//! timeout enforced by a single-threaded `poll` loop, so that the container
//! init can run `createContainer`/`startContainer` hooks after `fork`.

mod command;
mod error;
mod kind;
mod run;
mod sigpipe;
mod supervise;
mod sys;

#[cfg(test)]
mod tests;

pub use error::{HookError, HookRef};
pub use kind::HookKind;
pub use run::{run_hook, run_hooks, with_default_env};
