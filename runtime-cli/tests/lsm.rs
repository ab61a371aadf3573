//! AppArmor and SELinux on a host that does not have them on (this project's
//! machines): every LSM field is refused up front with an error naming the field and
//! the profile or label, and nothing is left behind; never a silently unconfined
//! container. On a host with the LSM on, the checks adapt (an AppArmor profile that
//! is not loaded is refused the same way). Where the LSMs are on, the guest set
//! `conformance/vm/test-lsm.sh` checks that profiles and labels are really applied.

mod common;

use std::fs;

use common::*;
use serde_json::{json, Value};

/// The host's LSM state as `husk features` reports it.
fn host_has(lsm: &str) -> bool {
    let out = husk(&["features"]).ok();
    let f: Value = serde_json::from_str(&out.stdout).expect("features is JSON");
    f["annotations"][format!("io.github.husk.{lsm}.host")] == "enabled"
}

/// A profile no host has loaded.
fn missing_profile() -> String {
    format!("husk-test-no-such-profile-{}", std::process::id())
}

/// `create` and `run` of the bundle fail naming each of `needles`; nothing is left.
#[track_caller]
fn create_and_run_fail(b: &Bundle, needles: &[&str]) {
    b.write_config();
    for cmd in ["create", "run"] {
        let id = b.new_id();
        b.husk(&[cmd, "--bundle", b.dir_str(), &id])
            .fails_with(needles);
        b.assert_nothing_left(&id);
    }
    assert_eq!(
        b.husk(&["list", "-q"]).ok().stdout,
        "",
        "list shows a container"
    );
}

/// An exec refused before it starts: runc's exit status 255, stderr naming `needles`.
#[track_caller]
fn exec_fails(out: Out, needles: &[&str]) {
    assert_eq!(out.code, 255, "{out:?}");
    for n in needles {
        assert!(
            out.stderr.contains(n),
            "stderr does not mention {n:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn features_report_support_and_the_hosts_state() {
    let out = husk(&["features"]).ok();
    let f: Value = serde_json::from_str(&out.stdout).unwrap();
    // The spec's meaning of `enabled`: the runtime supports it.
    assert_eq!(f["linux"]["apparmor"]["enabled"], true);
    assert_eq!(f["linux"]["selinux"]["enabled"], true);
    let aa_on = fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'));
    let want = if aa_on { "enabled" } else { "disabled" };
    assert_eq!(f["annotations"]["io.github.husk.apparmor.host"], want);
    let se = &f["annotations"]["io.github.husk.selinux.host"];
    assert!(se == "enabled" || se == "disabled", "{se}");
}

#[test]
fn unavailable_apparmor_profile_fails_create_naming_it() {
    let mut b = Bundle::new("lsm-aa");
    b.set_args(&["true"]);
    let profile = missing_profile();
    b.config["process"]["apparmorProfile"] = json!(profile);
    let reason = if host_has("apparmor") {
        "no AppArmor profile of that name is loaded"
    } else {
        "AppArmor is not enabled on this host"
    };
    create_and_run_fail(&b, &["process.apparmorProfile", &profile, reason]);
}

#[test]
fn selinux_label_and_mount_label_fail_create_where_selinux_is_off() {
    if host_has("selinux") {
        eprintln!("SELinux is on here: the refusal does not apply (test-lsm.sh covers labels)");
        return;
    }
    let mut b = Bundle::new("lsm-se");
    b.set_args(&["true"]);
    let label = "system_u:system_r:container_t:s0:c1,c2";
    b.config["process"]["selinuxLabel"] = json!(label);
    create_and_run_fail(
        &b,
        &[
            "process.selinuxLabel",
            label,
            "selinux is disabled or not supported",
        ],
    );
    b.config["process"]["selinuxLabel"] = json!("");
    let mount_label = "system_u:object_r:container_file_t:s0:c1,c2";
    b.config["linux"]["mountLabel"] = json!(mount_label);
    create_and_run_fail(
        &b,
        &["linux.mountLabel", mount_label, "selinux is disabled"],
    );
}

#[test]
fn empty_lsm_fields_mean_none() {
    let mut b = Bundle::new("lsm-empty");
    b.config["process"]["apparmorProfile"] = json!("");
    b.config["process"]["selinuxLabel"] = json!("");
    b.config["linux"]["mountLabel"] = json!("");
    assert_eq!(b.sh("echo ok"), "ok\n");
}

#[test]
fn exec_with_an_unavailable_profile_fails_naming_it() {
    let mut b = Bundle::new("lsm-exec");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let profile = missing_profile();
    exec_fails(
        b.husk(&["exec", "--apparmor", &profile, &id, "true"]),
        &["process.apparmorProfile", &profile],
    );
    // The same profile from a process.json (containerd's CRI passes its default
    // profile this way to every exec).
    let pf = b.dir.join("process.json");
    let process = json!({
        "user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["true"],
        "env": ["PATH=/bin"], "apparmorProfile": profile,
    });
    fs::write(&pf, process.to_string()).unwrap();
    exec_fails(
        b.husk(&["exec", "--process", pf.to_str().unwrap(), &id]),
        &["process.apparmorProfile", &profile],
    );
    if !host_has("selinux") {
        exec_fails(
            b.husk(&["exec", "--process-label", "u:r:t:s0", &id, "true"]),
            &["selinux is disabled or not supported"],
        );
    }
    // Nothing was started by the refused execs: only the init is in the container.
    let ps = b.husk(&["ps", "--format", "json", &id]).ok();
    let pids: Vec<i32> = serde_json::from_str(&ps.stdout).unwrap();
    assert_eq!(pids.len(), 1, "{pids:?}");
    b.husk(&["exec", &id, "true"]).ok();
}
