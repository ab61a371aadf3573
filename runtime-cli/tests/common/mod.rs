//! Helpers for the runtime-core integration suite: a busybox bundle built at test
//! time, a private `--root` per test, and a guard that leaves nothing behind.
//!
//! Every test runs the real `husk` binary as root on the real kernel. Tests run in
//! parallel threads of one process, so:
//! - container ids, bundle dirs and state roots are unique per test
//!   (`<prefix>-<pid>-<counter>`);
//! - the test process is a child subreaper, so the init of a container created by
//!   `husk create` / `husk run -d` becomes our child when husk exits; we reap such
//!   inits by pid only (never `waitpid(-1)`, which would steal other tests' children);
//! - husk's stdout/stderr go to files, not pipes: a detached container inherits them,
//!   and a pipe would only reach end-of-file once the container exits;
//! - every husk process and every container process carries `HUSK_TEST_MARK=<bundle>`
//!   in its environment, so a test can prove that no process of its own is left.
//!
//! The helpers, by concern: `command` runs husk and captures what it printed,
//! `bundle` builds the bundle and edits its config, `container` drives husk on
//! the bundle's state root, `host` makes host dirs and mounts for bind-mount
//! tests, `cleanup` removes and reaps everything a test made (and checks that
//! nothing is left), `inspect` reads mountinfo, /proc and files, `exec` runs
//! detached execs and checks what they joined, `signals` waits for a signal handler.
#![allow(dead_code)]

mod bundle;
mod cleanup;
mod command;
mod container;
mod exec;
mod host;
mod inspect;
mod signals;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

// Each test crate uses its own part of these, so some go unused in each.
#[allow(unused_imports)]
pub use {bundle::*, cleanup::*, command::*, exec::*, inspect::*, signals::*};

/// The binary under test.
pub const HUSK: &str = env!("CARGO_BIN_EXE_husk");
/// The kernel the suite emulates (`HUSK_TEST_KERNEL=5.4|4.18`), if any: every husk
/// the helpers start then runs under `husk-conformance oldkernel --profile P`, a
/// seccomp filter that answers as that kernel would (ENOSYS for newer syscalls).
pub fn emulated_kernel() -> Option<String> {
    std::env::var("HUSK_TEST_KERNEL")
        .ok()
        .filter(|v| !v.is_empty() && v != "native")
}

/// The argv that starts husk: `[husk]`, or the old-kernel wrapper then husk.
pub fn husk_argv() -> Vec<std::ffi::OsString> {
    let Some(profile) = emulated_kernel() else {
        return vec![HUSK.into()];
    };
    let tool = Path::new(HUSK).with_file_name("husk-conformance");
    assert!(
        tool.exists(),
        "HUSK_TEST_KERNEL={profile} needs {} (cargo build -p husk-conformance)",
        tool.display()
    );
    vec![
        tool.into(),
        "oldkernel".into(),
        "--profile".into(),
        profile.into(),
        "--".into(),
        HUSK.into(),
    ]
}

/// A `Command` that starts husk (under the emulated kernel when one is named).
pub fn husk_command() -> std::process::Command {
    let argv = husk_argv();
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

/// Parent of every per-test state root.
pub const TEST_ROOT: &str = "/run/husk-test";
/// The environment variable that marks our processes.
pub const MARK: &str = "HUSK_TEST_MARK";

static SETUP: Once = Once::new();
/// Bundles alive in this process: the last one to go removes /run/husk-test (earlier
/// removal would race with a concurrent `husk create` making its root below it).
static LIVE_BUNDLES: Mutex<usize> = Mutex::new(0);
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Once per test process: become a child subreaper and check the prerequisites.
pub fn setup() {
    SETUP.call_once(|| {
        // SAFETY: plain prctl with integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(rc, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
        // SAFETY: geteuid has no preconditions.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the integration suite runs as root"
        );
        assert!(
            Path::new("/bin/busybox").exists(),
            "/bin/busybox is missing: apt-get install -y busybox-static"
        );
    });
}

/// A name unique in this test run: `<prefix>-<pid>-<counter>`.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}
