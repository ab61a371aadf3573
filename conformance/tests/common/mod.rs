//! What the conformance test crates share: the husk binary under test, and the
//! check that a test runs as root (or is skipped, but never under CI).
//!
//! The husk binary is `$HUSK_BIN` (a relative path is taken from the
//! workspace root), or else `target/<profile>/husk` of this workspace (same
//! profile and target dir as the test), which is built first with
//! `cargo build -p husk-cli` (a no-op when it is up to date).

// Each test crate uses its own part of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The husk binary to test (built first when it is this workspace's).
pub fn husk_bin() -> Result<PathBuf, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace")?;
    if let Some(p) = std::env::var_os("HUSK_BIN") {
        // Tests run in conformance/; a relative path is taken from the
        // workspace root, where `cargo test` is usually started.
        let p = PathBuf::from(p);
        return Ok(if p.is_relative() && !p.exists() {
            workspace.join(p)
        } else {
            p
        });
    }
    // This test runs from target/<profile>/deps/.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot locate the target directory")?
        .to_path_buf();
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--quiet", "-p", "husk-cli", "--bin", "husk"]);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    if let Some(target_dir) = profile_dir.parent() {
        cmd.env("CARGO_TARGET_DIR", target_dir);
    }
    let st = cmd
        .status()
        .map_err(|e| format!("cargo build -p husk-cli: {e}"))?;
    if !st.success() {
        return Err(format!("cargo build -p husk-cli: {st}"));
    }
    Ok(profile_dir.join("husk"))
}

/// Whether the test may go on: as root, yes; else it is skipped with a note, except
/// under CI (`CI=true`), where a skip would count as a pass, so it fails.
pub fn root_or_skip(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        !husk_conformance::scenario::under_ci(),
        "CI=true: {what} needs root"
    );
    eprintln!("skipped: {what} needs root");
    false
}
