//! Runs the whole scenario suite against husk alone (no runc/crun), as part of
//! `cargo test`. Needs root and busybox-static; without root it prints a note
//! and passes, except under CI (`CI=true`), where it fails. A scenario that
//! could not run for a missing dependency (the static checker) fails under CI
//! too; skips (not applicable here) are listed with their reason.
//!
//! The husk binary is `$HUSK_BIN` (a relative path is taken from the
//! workspace root), or else `target/<profile>/husk` of this workspace (same
//! profile and target dir as this test), which is built first with
//! `cargo build -p husk-cli` (a no-op when it is up to date).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use husk_conformance::scenario::{under_ci, Verdict};
use husk_conformance::{suite, Runtime};

/// Scenarios husk is known to fail, as (name, reason). The test fails on any
/// other failure; set HUSK_CONFORMANCE_STRICT=1 to fail on these too. Remove
/// an entry once husk passes it (the test prints a reminder).
const KNOWN_FAILURES: &[(&str, &str)] = &[];

fn husk_bin() -> Result<PathBuf, String> {
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

#[test]
fn husk_passes_the_scenarios() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(!under_ci(), "CI=true: the conformance scenarios need root");
        eprintln!("skipped: the conformance scenarios need root");
        return;
    }
    let bin = husk_bin().expect("husk binary");
    assert!(
        bin.exists(),
        "{} does not exist (set HUSK_BIN)",
        bin.display()
    );
    let opts = suite::Options {
        work: suite::default_work_dir("test"),
        timeout: Duration::from_secs(20),
        ..suite::Options::default()
    };
    let mut rt = Runtime::parse(&format!("husk={}", bin.display())).unwrap();
    std::fs::create_dir_all(&opts.work).unwrap();
    rt.probe(&opts.work).expect("probe husk");
    let res = suite::run_suite(&[rt], &opts).expect("suite");
    println!("{}", res.table(100));
    println!("{}", res.summary_line(0));
    let strict = std::env::var_os("HUSK_CONFORMANCE_STRICT").is_some_and(|v| v == "1");
    let mut unexpected = Vec::new();
    for row in &res.rows {
        let known = KNOWN_FAILURES.iter().find(|(n, _)| *n == row.scenario.name);
        match (&row.cells[0].verdict, known) {
            (Verdict::Fail(m), Some((_, why))) if !strict => {
                eprintln!("known failure {}: {m} ({why})", row.scenario.name);
            }
            (Verdict::Fail(m), _) => unexpected.push(format!("{}: {m}", row.scenario.name)),
            (Verdict::Missing(m), _) if under_ci() => unexpected.push(format!(
                "{} could not run (CI=true): {m}",
                row.scenario.name
            )),
            (Verdict::Missing(m), _) => {
                eprintln!("{} could not run: {m}", row.scenario.name)
            }
            (Verdict::Skip(m), _) => eprintln!("{} skipped: {m}", row.scenario.name),
            (Verdict::Pass, Some(_)) => {
                eprintln!(
                    "{} passes now: remove it from KNOWN_FAILURES in {}",
                    row.scenario.name,
                    file!()
                );
            }
            _ => {}
        }
    }
    assert!(
        unexpected.is_empty(),
        "husk fails:\n{}",
        unexpected.join("\n")
    );
}
