//! Unit tests for planning: every action, operator and validation error.

use oci_spec::runtime::{Arch, LinuxSeccomp};
use serde_json::{json, Value};

use super::types::{CompareOp, ALL_ARCHS};
use super::*;

fn parse(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("test seccomp JSON must parse")
}

pub(super) fn plan_json(v: Value) -> Result<SeccompPlan, SeccompError> {
    plan(&parse(v))
}

/// Asserts an `Invalid` error for `field` whose reason contains `needle`.
fn assert_invalid(v: Value, field: &str, needle: &str) {
    match plan_json(v) {
        Err(SeccompError::Invalid { field: f, reason }) => {
            assert_eq!(f, field, "reason: {reason}");
            assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
        }
        other => panic!("expected Invalid({field}), got {other:?}"),
    }
}

pub(super) fn single_rule(action: &str, errno: Option<u32>, default: &str) -> Value {
    let mut call = json!({"names": ["getcwd"], "action": action});
    if let Some(e) = errno {
        call["errnoRet"] = json!(e);
    }
    json!({"defaultAction": default, "syscalls": [call], "listenerPath": "/run/agent.sock"})
}

#[test]
fn empty_profile() {
    let p = plan_json(json!({"defaultAction": "SCMP_ACT_ALLOW"})).unwrap();
    assert_eq!(p.default_action, Action::Allow);
    assert!(p.rules.is_empty() && p.skipped.is_empty() && p.architectures.is_empty());
    assert_eq!(p.flags, FilterFlags::default());
    assert_eq!(p.listener, None);
    assert!(!p.uses_notify());
}

#[test]
fn every_action() {
    let cases: [(&str, Option<u32>, Action); 11] = [
        ("SCMP_ACT_KILL", None, Action::KillThread),
        ("SCMP_ACT_KILL_THREAD", None, Action::KillThread),
        ("SCMP_ACT_KILL_PROCESS", None, Action::KillProcess),
        ("SCMP_ACT_TRAP", None, Action::Trap),
        ("SCMP_ACT_ERRNO", None, Action::Errno(libc::EPERM as u16)),
        ("SCMP_ACT_ERRNO", Some(38), Action::Errno(38)),
        ("SCMP_ACT_TRACE", None, Action::Trace(libc::EPERM as u16)),
        ("SCMP_ACT_TRACE", Some(7), Action::Trace(7)),
        ("SCMP_ACT_ALLOW", None, Action::Allow),
        ("SCMP_ACT_LOG", None, Action::Log),
        ("SCMP_ACT_NOTIFY", None, Action::Notify),
    ];
    for (name, errno, expected) in cases {
        // The default must differ, or the rule is dropped as redundant.
        let default = if expected == Action::Allow {
            "SCMP_ACT_LOG"
        } else {
            "SCMP_ACT_ALLOW"
        };
        let p = plan_json(single_rule(name, errno, default)).unwrap();
        assert_eq!(p.rules.len(), 1, "{name}");
        let rule = &p.rules[0];
        assert_eq!(rule.action, expected, "{name}");
        assert_eq!(rule.name, "getcwd");
        assert_eq!(rule.field, "linux.seccomp.syscalls[0].names[0]");
        assert_eq!(rule.nr, libc::SYS_getcwd as i32);
        assert!(rule.conditions.is_empty());
    }
}

#[test]
fn every_default_action() {
    for (name, expected) in [
        ("SCMP_ACT_KILL", Action::KillThread),
        ("SCMP_ACT_KILL_PROCESS", Action::KillProcess),
        ("SCMP_ACT_TRAP", Action::Trap),
        ("SCMP_ACT_ERRNO", Action::Errno(1)),
        ("SCMP_ACT_TRACE", Action::Trace(1)),
        ("SCMP_ACT_LOG", Action::Log),
    ] {
        let p = plan_json(json!({"defaultAction": name})).unwrap();
        assert_eq!(p.default_action, expected, "{name}");
    }
    let p = plan_json(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38})).unwrap();
    assert_eq!(p.default_action, Action::Errno(38));
}

#[test]
fn errno_ret_only_with_errno_or_trace() {
    assert_invalid(
        single_rule("SCMP_ACT_ALLOW", Some(1), "SCMP_ACT_LOG"),
        "linux.seccomp.syscalls[0].errnoRet",
        "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_ALLOW",
    );
    assert_invalid(
        json!({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1}),
        "linux.seccomp.defaultErrnoRet",
        "not SCMP_ACT_KILL",
    );
    assert_invalid(
        single_rule("SCMP_ACT_ERRNO", Some(70000), "SCMP_ACT_ALLOW"),
        "linux.seccomp.syscalls[0].errnoRet",
        "16 bits",
    );
}

#[test]
fn every_operator() {
    let ops = [
        ("SCMP_CMP_NE", CompareOp::Ne),
        ("SCMP_CMP_LT", CompareOp::Lt),
        ("SCMP_CMP_LE", CompareOp::Le),
        ("SCMP_CMP_EQ", CompareOp::Eq),
        ("SCMP_CMP_GE", CompareOp::Ge),
        ("SCMP_CMP_GT", CompareOp::Gt),
        ("SCMP_CMP_MASKED_EQ", CompareOp::MaskedEq),
    ];
    for (i, (name, op)) in ops.into_iter().enumerate() {
        let p = plan_json(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": i % 6, "value": 8, "valueTwo": 2, "op": name}]}]
        }))
        .unwrap();
        let cond = p.rules[0].conditions[0];
        assert_eq!(
            cond,
            ArgCondition {
                index: (i % 6) as u8,
                op,
                value: 8,
                value_two: 2
            },
            "{name}"
        );
        // Every operator must also be accepted by libseccomp.
        p.compile().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn masked_eq_without_value_two_compares_with_zero() {
    // Docker's default profile relies on this for clone flags.
    let p = plan_json(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]}]
    }))
    .unwrap();
    assert_eq!(p.rules[0].conditions[0].value_two, 0);
    assert_eq!(p.rules[0].conditions[0].value, 2114060288);
}

#[test]
fn conditions_on_distinct_indexes_share_one_rule() {
    let p = plan_json(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["socket", "kill"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 2, "value": 3, "op": "SCMP_CMP_NE"}]}]
    }))
    .unwrap();
    assert_eq!(p.rules.len(), 2);
    assert!(p.rules.iter().all(|r| r.conditions.len() == 2));
    assert_eq!(p.rules[1].field, "linux.seccomp.syscalls[0].names[1]");
}

#[test]
fn repeated_index_splits_into_one_rule_per_condition() {
    let p = plan_json(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 9, "op": "SCMP_CMP_GT"}]}]
    }))
    .unwrap();
    assert_eq!(p.rules.len(), 3);
    assert!(p.rules.iter().all(|r| r.conditions.len() == 1));
    assert_eq!(p.rules[1].conditions[0].value, 8);
    p.compile().unwrap();
}

#[test]
fn argument_index_out_of_range() {
    assert_invalid(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["open"], "action": "SCMP_ACT_ERRNO", "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}),
        "linux.seccomp.syscalls[1].args[1].index",
        "out of range",
    );
}

#[test]
fn unknown_and_redundant_names_are_skipped() {
    let p = plan_json(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["read", "no_such_syscall_husk", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
    }))
    .unwrap();
    let names: Vec<_> = p.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["read", "write"]);
    assert_eq!(
        p.skipped,
        [
            SkippedSyscall {
                field: "linux.seccomp.syscalls[0].names[1]".into(),
                name: "no_such_syscall_husk".into(),
                reason: SkipReason::UnknownSyscall,
            },
            SkippedSyscall {
                field: "linux.seccomp.syscalls[1].names[0]".into(),
                name: "mkdir".into(),
                reason: SkipReason::SameAsDefault,
            },
        ]
    );
    // Same action but another errno is not redundant.
    let p = plan_json(json!({"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}))
    .unwrap();
    assert_eq!(p.rules[0].action, Action::Errno(38));
}

#[test]
fn names_must_be_present() {
    assert_invalid(
        json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}),
        "linux.seccomp.syscalls[0].names",
        "at least one",
    );
    assert_invalid(
        json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read", ""], "action": "SCMP_ACT_ERRNO"}]}),
        "linux.seccomp.syscalls[0].names[1]",
        "empty",
    );
}

#[test]
fn notify_rules() {
    let p = plan_json(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "MKNOD=/dev/null",
        "syscalls": [{"names": ["mknod"], "action": "SCMP_ACT_NOTIFY"}]
    }))
    .unwrap();
    assert!(p.uses_notify());
    assert_eq!(
        p.listener,
        Some(ListenerPlan {
            path: "/run/agent.sock".into(),
            metadata: "MKNOD=/dev/null".into()
        })
    );

    // Without a notify rule the listener is ignored, as the spec says.
    let p = plan_json(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock"}))
        .unwrap();
    assert_eq!(p.listener, None);

    assert_invalid(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["mknod"], "action": "SCMP_ACT_NOTIFY"}]}),
        "linux.seccomp.syscalls[1].action",
        "requires linux.seccomp.listenerPath",
    );
    assert_invalid(
        json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/a.sock"}),
        "linux.seccomp.defaultAction",
        "default action",
    );
    assert_invalid(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/a.sock",
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]}),
        "linux.seccomp.syscalls[0].names[1]",
        "write",
    );
    assert_invalid(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}),
        "linux.seccomp.listenerMetadata",
        "listenerPath",
    );
    let long = format!("/{}", "a".repeat(120));
    assert_invalid(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": long,
            "syscalls": [{"names": ["mknod"], "action": "SCMP_ACT_NOTIFY"}]}),
        "linux.seccomp.listenerPath",
        "longer",
    );
}

#[test]
fn architectures() {
    let p = plan_json(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [
        "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_NATIVE", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]}))
    .unwrap();
    assert_eq!(
        p.architectures,
        [Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    );
    p.compile().unwrap();

    // Archs the linked libseccomp lacks (e.g. SH before 2.6) are errors.
    for arch in ALL_ARCHS {
        let v =
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", arch]});
        match plan_json(v) {
            Ok(p) => assert!(p.architectures.contains(&arch)),
            Err(SeccompError::Invalid { field, reason }) => {
                assert_eq!(field, "linux.seccomp.architectures[1]");
                assert!(reason.contains(&arch.to_string()), "{reason}");
            }
            Err(e) => panic!("{arch}: {e}"),
        }
    }
}

#[test]
fn flags() {
    let p = plan_json(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [
        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}))
    .unwrap();
    let all = FilterFlags {
        tsync: true,
        log: true,
        spec_allow: true,
        wait_killable_recv: true,
    };
    assert_eq!(p.flags, all);
    let base = libc::SECCOMP_FILTER_FLAG_TSYNC
        | libc::SECCOMP_FILTER_FLAG_LOG
        | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    // WAIT_KILLABLE_RECV is meaningless (and refused) without a listener.
    assert_eq!(all.kernel_bits(false), base);
    assert_eq!(
        all.kernel_bits(true),
        base | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
            | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    );
    assert_eq!(
        FilterFlags::default().kernel_bits(true),
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
    );
}

#[test]
fn error_messages_name_the_field() {
    let err = plan_json(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["open"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]}))
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("linux.seccomp.syscalls[0].args[0].index: 9 is out of range"),
        "{err}"
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn big_endian_arch_cannot_join_an_x86_64_filter() {
    assert_invalid(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_S390X"]}),
        "linux.seccomp.architectures[0]",
        "SCMP_ARCH_S390X cannot share a filter with the native architecture",
    );
}

#[test]
fn errno_ret_on_wrong_action_is_reported_before_its_size() {
    assert_invalid(
        single_rule("SCMP_ACT_LOG", Some(70000), "SCMP_ACT_ALLOW"),
        "linux.seccomp.syscalls[0].errnoRet",
        "not SCMP_ACT_LOG (linux.seccomp.syscalls[0].action)",
    );
}
