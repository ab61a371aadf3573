//! Unit tests for compiling (without installing), the listener message and
//! the features report.

use serde_json::{json, Value};

use super::plan_tests::{plan_json, single_rule};
use super::*;

#[test]
fn compile_sets_listener_flag_only_for_notify() {
    let p = plan_json(single_rule("SCMP_ACT_NOTIFY", None, "SCMP_ACT_ALLOW")).unwrap();
    let c = p.compile().unwrap();
    assert!(!c.is_empty());
    assert_eq!(c.flags(), libc::SECCOMP_FILTER_FLAG_NEW_LISTENER);
    let p = plan_json(single_rule("SCMP_ACT_ERRNO", None, "SCMP_ACT_ALLOW")).unwrap();
    assert_eq!(p.compile().unwrap().flags(), 0);
}

#[test]
fn process_state_message_shape() {
    let state = json!({"ociVersion": "1.2.0", "id": "c1", "status": "creating", "pid": 4422,
        "bundle": "/b", "annotations": {"k": "v"}});
    let bytes = serde_json::to_vec(&state).unwrap();
    let msg: Value = serde_json::from_slice(
        &process_state_message("/run/a.sock".as_ref(), &bytes, "MKNOD=/dev/null").unwrap(),
    )
    .unwrap();
    assert_eq!(
        msg,
        json!({"ociVersion": "1.2.0", "fds": ["seccompFd"], "pid": 4422,
            "metadata": "MKNOD=/dev/null", "state": state})
    );
    let msg: Value =
        serde_json::from_slice(&process_state_message("/run/a.sock".as_ref(), &bytes, "").unwrap())
            .unwrap();
    assert!(msg.get("metadata").is_none());

    let no_pid = serde_json::to_vec(&json!({"ociVersion": "1.2.0", "id": "c1",
        "status": "creating", "bundle": "/b"}))
    .unwrap();
    let err = process_state_message("/run/a.sock".as_ref(), &no_pid, "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "seccomp listener /run/a.sock: container state: has no pid"
    );
    assert!(process_state_message("/x".as_ref(), b"{", "").is_err());
}

#[test]
fn features_shape() {
    let f = supported();
    let v = serde_json::to_value(&f).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "actions",
            "archs",
            "enabled",
            "knownFlags",
            "operators",
            "supportedFlags"
        ]
    );
    assert_eq!(v["knownFlags"].as_array().unwrap().len(), 4);
    assert_eq!(v["operators"].as_array().unwrap().len(), 7);
    if f.enabled {
        let flags = v["supportedFlags"].as_array().unwrap();
        assert!(flags.contains(&json!("SECCOMP_FILTER_FLAG_TSYNC")), "{v}");
        let actions = v["actions"].as_array().unwrap();
        assert!(actions.contains(&json!("SCMP_ACT_ERRNO")));
        // WAIT_KILLABLE_RECV (5.19+) is probed together with NEW_LISTENER;
        // probed alone the kernel would refuse it.
        if actions.contains(&json!("SCMP_ACT_NOTIFY")) && kernel_at_least(5, 19) {
            let flag = json!("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
            assert!(flags.contains(&flag), "{v}");
        }
        assert!(v["archs"]
            .as_array()
            .unwrap()
            .contains(&json!("SCMP_ARCH_X86")));
    }
    let oci: oci_spec::runtime::Seccomp = f.into();
    assert_eq!(oci.enabled(), &Some(v["enabled"].as_bool().unwrap()));
    assert!(libseccomp_version().is_some());
}

#[test]
fn decode_rejects_partial_and_oversized_programs() {
    assert!(super::load::decode(&[0u8; 12]).is_err());
    assert!(super::load::decode(&[]).is_err());
    assert!(super::load::decode(&vec![0u8; 8 * 4097]).is_err());
    let insns = super::load::decode(&[6, 0, 1, 2, 0, 0, 0xff, 0x7f]).unwrap();
    assert_eq!((insns[0].code, insns[0].jt, insns[0].jf), (6, 1, 2));
    assert_eq!(insns[0].k, u32::from_ne_bytes([0, 0, 0xff, 0x7f]));
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (ma, mi) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (ma, mi) >= (major, minor)
}

#[test]
fn docker_like_profile_compiles() {
    // Names from other architectures and newer kernels, as real profiles have.
    let names = [
        "accept",
        "read",
        "write",
        "socketcall",
        "ipc",
        "_llseek",
        "arm_fadvise64_64",
        "set_tls",
        "s390_pci_mmio_read",
        "riscv_flush_icache",
        "mseal",
        "cachestat",
        "futex_waitv",
        "landlock_create_ruleset",
        "epoll_wait_old",
    ];
    let p = plan_json(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": names, "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        ]
    }))
    .unwrap();
    assert!(p.rules.len() >= 10, "{:?}", p.skipped);
    assert!(p
        .skipped
        .iter()
        .all(|s| s.reason == SkipReason::UnknownSyscall));
    let compiled = p.compile().unwrap();
    assert!(compiled.len() > 20);
    assert_eq!(compiled.flags(), 0);
}
