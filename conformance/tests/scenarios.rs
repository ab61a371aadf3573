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

use std::time::Duration;

use husk_conformance::scenario::{under_ci, Verdict};
use husk_conformance::{suite, Runtime};

mod common;
use common::husk_bin;

/// Scenarios husk is known to fail, as (name, reason). The test fails on any
/// other failure; set HUSK_CONFORMANCE_STRICT=1 to fail on these too. Remove
/// an entry once husk passes it (the test prints a reminder).
const KNOWN_FAILURES: &[(&str, &str)] = &[];

#[test]
fn husk_passes_the_scenarios() {
    if !common::root_or_skip("the conformance scenarios") {
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
