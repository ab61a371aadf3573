//! `husk checkpoint` / `husk restore` on this host: flags husk cannot honour are
//! refused with a message (and touch nothing), bad requests leave nothing behind, and
//! where CRIU cannot run (this host's kernel makes CRIU's feature detection fail) the
//! error says so and names CRIU's log. The checkpoints themselves are tested in a
//! qemu guest where CRIU works: conformance/vm/test-criu.sh.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// What CRIU can do here: not installed, installed but unable to run on this kernel,
/// or working.
#[derive(Debug, PartialEq)]
enum Criu {
    Missing,
    Unusable,
    Works,
}

fn criu_here() -> Criu {
    match Command::new("criu").arg("check").output() {
        Err(_) => Criu::Missing,
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stderr).into_owned()
                + &String::from_utf8_lossy(&o.stdout);
            if text.contains("kerndat") || text.contains("kernel features detection") {
                Criu::Unusable
            } else {
                Criu::Works
            }
        }
    }
}

fn scratch(b: &Bundle, name: &str) -> String {
    b.dir.join(name).to_string_lossy().into_owned()
}

#[test]
fn flags_husk_cannot_honour_are_refused_touching_nothing() {
    let mut b = Bundle::new("ckflags");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let img = scratch(&b, "img");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["checkpoint", "--lazy-pages"],
            &["--lazy-pages is not supported"],
        ),
        (
            &["checkpoint", "--status-fd", "3"],
            &["--status-fd", "--lazy-pages"],
        ),
        (
            &["checkpoint", "--manage-cgroups-mode", "bogus"],
            &["--manage-cgroups-mode", "bogus"],
        ),
        (
            &["checkpoint", "--empty-ns", "pid"],
            &["--empty-ns pid", "network"],
        ),
        (&["checkpoint", "--empty-ns", "nope"], &["--empty-ns nope"]),
        (
            &["checkpoint", "--page-server", "nocolon"],
            &["--page-server", "ADDRESS:PORT"],
        ),
    ];
    for (args, needles) in cases {
        let mut a = args.to_vec();
        a.extend(["--image-path", &img, &id]);
        b.husk(&a).fails_with(needles);
        assert!(!Path::new(&img).exists(), "{args:?} made {img}");
        assert_eq!(b.status(&id), "running", "{args:?} changed the container");
    }
    b.husk(&["delete", "--force", &id]).ok();
    let rid = b.new_id();
    let restore_cases: &[(&[&str], &[&str])] = &[
        (
            &["restore", "--lazy-pages"],
            &["--lazy-pages is not supported"],
        ),
        (&["restore", "--no-pivot"], &["--no-pivot", "CRIU"]),
        (&["restore", "--empty-ns", "ipc"], &["--empty-ns ipc"]),
    ];
    for (args, needles) in restore_cases {
        let mut a = args.to_vec();
        a.extend(["-d", "--bundle", b.dir_str(), "--image-path", &img, &rid]);
        b.husk(&a).fails_with(needles);
        b.assert_nothing_left(&rid);
    }
}

#[test]
fn checkpoint_of_unknown_or_created_container_is_refused() {
    let b = Bundle::new("ckstate");
    let img = scratch(&b, "img");
    b.husk(&["checkpoint", "--image-path", &img, "no-such-ck"])
        .fails_with(&["no-such-ck", "does not exist"]);
    assert!(!Path::new(&img).exists());
    b.write_config();
    let id = b.new_id();
    b.create_ok(&id);
    b.husk(&["checkpoint", "--image-path", &img, &id])
        .fails_with(&["cannot checkpoint a container in created state"]);
    assert!(!Path::new(&img).exists());
    assert_eq!(b.status(&id), "created");
    b.husk(&["delete", "--force", &id]).ok();
}

#[test]
fn restore_from_missing_images_leaves_nothing() {
    let b = Bundle::new("rsbad");
    b.write_config();
    let id = b.new_id();
    let img = scratch(&b, "no-such-images");
    b.husk(&[
        "restore",
        "-d",
        "--bundle",
        b.dir_str(),
        "--image-path",
        &img,
        &id,
    ])
    .fails_with(&[&img, "No such file"]);
    b.assert_nothing_left(&id);
    // Images without descriptors.json (not a checkpoint) are refused the same way.
    std::fs::create_dir_all(&img).expect("mkdir");
    b.husk(&[
        "restore",
        "-d",
        "--bundle",
        b.dir_str(),
        "--image-path",
        &img,
        &id,
    ])
    .fails_with(&["descriptors.json"]);
    b.assert_nothing_left(&id);
}

#[test]
fn checkpoint_says_clearly_when_criu_cannot_run() {
    let mut b = Bundle::new("cknocriu");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let img = scratch(&b, "img");
    match criu_here() {
        Criu::Missing => {
            b.husk(&["checkpoint", "--image-path", &img, &id])
                .fails_with(&["CRIU", "install the criu package"]);
        }
        Criu::Unusable => {
            let log = format!("{img}/dump.log");
            b.husk(&["checkpoint", "--image-path", &img, &id])
                .fails_with(&["CRIU cannot run on this host", "kernel", &log]);
            assert!(Path::new(&log).exists(), "no CRIU log at {log}");
        }
        Criu::Works => {
            b.husk(&["checkpoint", "--leave-running", "--image-path", &img, &id])
                .ok();
            assert!(Path::new(&img).join("descriptors.json").exists());
        }
    }
    // A failed (or leave-running) checkpoint leaves the container as it was.
    assert_eq!(b.status(&id), "running");
    b.husk(&["delete", "--force", &id]).ok();
}
