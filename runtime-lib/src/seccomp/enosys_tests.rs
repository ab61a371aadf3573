//! Unit tests of `enosys.rs`: the stub run by a small classic-BPF interpreter.

use super::*;

const PROGRAM: u32 = 0xDEAD;

/// Runs `stub` followed by a one-instruction program returning [`PROGRAM`].
fn run(stub: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
    let mut prog = stub.to_vec();
    prog.push(libc::sock_filter {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: PROGRAM,
    });
    let (mut pc, mut a) = (0usize, 0u32);
    loop {
        let i = prog[pc];
        let jump = |cond: bool| pc + 1 + usize::from(if cond { i.jt } else { i.jf });
        pc = match i.code {
            LD_W_ABS => {
                a = if i.k == OFF_ARCH { arch } else { nr };
                pc + 1
            }
            JEQ_K => jump(a == i.k),
            JGT_K => jump(a > i.k),
            JSET_K => jump(a & i.k != 0),
            JA => pc + 1 + i.k as usize,
            RET_K => return i.k,
            c => panic!("unexpected opcode {c:#x}"),
        };
    }
}

#[test]
fn newer_syscalls_get_enosys_older_ones_the_program() {
    let s = stub(&[ArchLast {
        audit: AUDIT_X86_64,
        last: Some(434),
        last_x32: None,
    }]);
    assert_eq!(run(&s, AUDIT_X86_64, 435), RET_ENOSYS); // clone3
    assert_eq!(run(&s, AUDIT_X86_64, 434), PROGRAM);
    assert_eq!(run(&s, AUDIT_X86_64, 0), PROGRAM);
    // Another architecture, or x32 without x32 in the filter: the program decides.
    assert_eq!(run(&s, AUDIT_I386, 999), PROGRAM);
    assert_eq!(run(&s, AUDIT_X86_64, X32_SYSCALL_BIT | 1), PROGRAM);
}

#[test]
fn each_architecture_has_its_own_last() {
    let s = stub(&[
        ArchLast {
            audit: AUDIT_X86_64,
            last: Some(300),
            last_x32: Some(X32_SYSCALL_BIT | 200),
        },
        ArchLast {
            audit: AUDIT_I386,
            last: Some(100),
            last_x32: None,
        },
    ]);
    assert_eq!(run(&s, AUDIT_X86_64, 301), RET_ENOSYS);
    assert_eq!(run(&s, AUDIT_X86_64, 250), PROGRAM);
    assert_eq!(run(&s, AUDIT_X86_64, X32_SYSCALL_BIT | 201), RET_ENOSYS);
    assert_eq!(run(&s, AUDIT_X86_64, X32_SYSCALL_BIT | 199), PROGRAM);
    assert_eq!(run(&s, AUDIT_I386, 101), RET_ENOSYS);
    assert_eq!(run(&s, AUDIT_I386, 100), PROGRAM);
    assert_eq!(run(&s, AUDIT_AARCH64, 5000), PROGRAM);
}

#[test]
fn no_names_no_stub() {
    assert!(stub(&[]).is_empty());
}

fn plan_of(json: &str) -> SeccompPlan {
    let s: oci_spec::runtime::LinuxSeccomp = serde_json::from_str(json).unwrap();
    super::super::plan(&s).unwrap()
}

#[test]
fn last_syscalls_counts_every_named_syscall() {
    // read (0) allowed by a rule, openat (257) named with the default action.
    let p = plan_of(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},
                        {"names":["openat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(wanted(&p));
    let l = last_syscalls(&p);
    if ScmpArch::native() == ScmpArch::X8664 {
        let x = l.iter().find(|e| e.audit == AUDIT_X86_64).unwrap();
        assert_eq!(x.last, Some(257));
        let i = l.iter().find(|e| e.audit == AUDIT_I386).unwrap();
        assert_eq!(i.last, Some(295)); // openat on i386
    }
}

#[test]
fn permissive_or_enosys_defaults_get_no_stub() {
    assert!(!wanted(&plan_of(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#)));
    assert!(!wanted(&plan_of(r#"{"defaultAction":"SCMP_ACT_LOG"}"#)));
    assert!(!wanted(&plan_of(r#"{"defaultAction":"SCMP_ACT_TRACE"}"#)));
    assert!(!wanted(&plan_of(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38}"#
    )));
    assert!(wanted(&plan_of(
        r#"{"defaultAction":"SCMP_ACT_KILL_PROCESS"}"#
    )));
}
