//! Creating containers from a multi-threaded program (a tokio service, say).
//!
//! Creating a container or exec'ing into one forks processes that run Rust code
//! before they exec. Forked from a process with several threads, such a child
//! could block forever on a lock another thread held at the fork (malloc's, a
//! logger's). So when the caller has more than one thread, husk makes those forks
//! from a small helper process instead: the calling binary itself, re-executed
//! single-threaded. For that the binary's `main` must hand control to husk when it
//! is started as the helper, before it starts any thread:
//!
//! ```no_run
//! fn main() {
//!     if let Some(code) = husk::helper::run_if_helper() {
//!         std::process::exit(code);
//!     }
//!     // ... build the tokio runtime, serve, create containers from any thread.
//! }
//! ```
//!
//! A binary that cannot do that may name another one that does (the `husk` CLI
//! does) with [`set_binary`] or the `HUSK_HELPER` environment variable. Without
//! any of them a create or exec from a multi-threaded process fails with an error
//! saying so, rather than risking a deadlock. A single-threaded caller (the CLI)
//! forks directly, as always.
//!
//! The container's processes are children of the caller either way (the helper
//! clones them with `CLONE_PARENT`), so waiting for them works as usual.
// The example is about what `main` must do first.
#![allow(clippy::needless_doctest_main)]

use std::path::PathBuf;

/// When this process was started as husk's helper, does the helper's work and
/// returns the exit status the process must exit with; otherwise returns `None`
/// at once and remembers that this binary can serve as the helper.
///
/// Call it first thing in `main`, before any thread is started (with tokio, build
/// the runtime by hand after it rather than with `#[tokio::main]`).
pub fn run_if_helper() -> Option<i32> {
    use crate::process::helper::{BUS_HELPER_ARG, HELPER_ARG};
    let mut args = std::env::args_os().skip(1);
    let kind = args.next();
    let serve = match kind.as_ref().and_then(|k| k.to_str()) {
        Some(HELPER_ARG) => crate::process::helper::serve,
        Some(BUS_HELPER_ARG) => crate::cgroups::systemd::helper::serve,
        _ => {
            crate::process::helper::mark_self_helper();
            return None;
        }
    };
    let fd = args
        .next()
        .and_then(|a| a.to_str().and_then(|s| s.parse::<i32>().ok()));
    Some(match fd {
        Some(fd) => serve(fd),
        None => 2,
    })
}

/// Uses `binary` as the helper (a program whose `main` calls [`run_if_helper`],
/// such as the `husk` CLI) instead of the running binary.
pub fn set_binary(binary: impl Into<PathBuf>) {
    crate::process::helper::set_binary(binary.into());
}
