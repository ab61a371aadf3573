//! Seccomp for the container process: `linux.seccomp` of `config.json`.
//!
//! Compute, then apply:
//! - [`plan`] validates and converts the OCI object into a [`SeccompPlan`]
//!   (no effect on the process; errors name the JSON field);
//! - [`SeccompPlan::compile`] builds the BPF program with libseccomp;
//! - `SeccompPlan::compile` and [`CompiledFilter::install`] installs it into
//!   the calling thread, returning the notify fd when a rule uses
//!   `SCMP_ACT_NOTIFY`;
//! - [`send_to_listener`] hands that fd to the seccomp agent;
//! - [`supported`] reports what the kernel and libseccomp support.

mod enosys;
mod error;
mod features;
mod listener;
mod load;
mod plan;
mod sys;
mod types;

#[cfg(test)]
mod compile_tests;
#[cfg(test)]
mod plan_tests;

pub use error::SeccompError;
pub use features::{supported, SeccompFeatures};
pub use listener::send_to_listener;
pub use load::CompiledFilter;
pub use plan::plan;
pub use types::{Action, ListenerPlan, SeccompPlan};
// The module's tests name these through `super::*`.
#[cfg(test)]
#[allow(unused_imports)]
pub use {
    features::libseccomp_version,
    listener::process_state_message,
    types::{ArgCondition, CompareOp, FilterFlags, RulePlan, SkipReason, SkippedSyscall},
};
