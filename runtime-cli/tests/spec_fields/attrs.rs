//! Scheduler, I/O priority, personality, memory policy and exec CPU affinity.

use std::path::Path;

use serde_json::json;

use crate::common::*;

/// `policy` and `prio` of /proc/self/sched.
fn sched(out: &str) -> (i64, i64) {
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().trim_start_matches(':').trim().parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {out}"))
    };
    (field("policy"), field("prio"))
}

const SHOW_SCHED: &[&str] = &["grep", "-E", "^(policy|prio) ", "/proc/self/sched"];

#[test]
fn scheduler_batch_with_nice_reaches_children() {
    let mut b = Bundle::new("sched-batch");
    b.config["process"]["scheduler"] =
        json!({"policy": "SCHED_BATCH", "nice": 7, "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
    // grep is a child of sh: the policy and nice value are inherited.
    let out = b.sh("grep -E '^(policy|prio) ' /proc/self/sched");
    assert_eq!(sched(&out), (3, 127), "SCHED_BATCH, 120 + nice 7: {out}");
}

#[test]
fn scheduler_idle() {
    let mut b = Bundle::new("sched-idle");
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_IDLE"});
    b.set_args(SHOW_SCHED);
    let out = b.run_fg().ok().stdout;
    assert_eq!(sched(&out).0, 5, "{out}");
}

fn rt_group_sched() -> bool {
    Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists()
}

#[test]
fn scheduler_fifo_with_a_realtime_budget() {
    let mut b = Bundle::new("sched-fifo");
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 10});
    if rt_group_sched() {
        // cgroup v1 with CONFIG_RT_GROUP_SCHED: the container's cgroup needs a budget.
        b.config["linux"]["resources"]["cpu"] =
            json!({"realtimeRuntime": 10000, "realtimePeriod": 1000000});
    }
    b.set_args(SHOW_SCHED);
    let out = b.run_fg().ok().stdout;
    assert_eq!(
        sched(&out),
        (1, 89),
        "SCHED_FIFO priority 10 is prio 99 - 10: {out}"
    );
}

#[test]
fn scheduler_fifo_without_a_budget_explains_itself() {
    if !rt_group_sched() {
        return;
    }
    let mut b = Bundle::new("sched-fifo-nobudget");
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_RR", "priority": 1});
    b.set_args(&["true"]);
    b.write_config();
    let id = b.new_id();
    b.create(&id)
        .fails_with(&["process.scheduler", "sched_setattr", "realtimeRuntime"]);
    b.assert_nothing_left(&id);
}

#[test]
fn scheduler_deadline() {
    let mut b = Bundle::new("sched-dl");
    b.config["process"]["scheduler"] = json!({
        "policy": "SCHED_DEADLINE", "runtime": 1000000, "deadline": 5000000, "period": 10000000
    });
    // A SCHED_DEADLINE task may not fork (no reset-on-fork): the init execs grep itself.
    b.set_args(&["grep", "-E", "^(policy|prio|dl\\.)", "/proc/self/sched"]);
    let out = b.run_fg().ok().stdout;
    assert_eq!(sched(&out), (6, -1), "{out}");
    assert!(out.contains("dl.deadline"), "{out}");
}

#[test]
fn io_priority_classes() {
    for (class, prio, want) in [
        ("IOPRIO_CLASS_IDLE", 0, "idle"),
        ("IOPRIO_CLASS_BE", 7, "best-effort: prio 7"),
        ("IOPRIO_CLASS_RT", 3, "realtime: prio 3"),
    ] {
        let mut b = Bundle::new("ioprio");
        b.config["process"]["ioPriority"] = json!({"class": class, "priority": prio});
        // busybox ionice without arguments prints the I/O priority of its own process.
        let out = b.sh("ionice");
        assert_eq!(out.trim(), want, "{class}");
    }
}

#[test]
fn personality_linux32_with_a_flag() {
    let mut b = Bundle::new("persona");
    b.config["linux"]["personality"] = json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]});
    let out = b.sh("cat /proc/self/personality; uname -m");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "00040008",
        "PER_LINUX32 | ADDR_NO_RANDOMIZE: {out}"
    );
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!(lines[1], "i686", "{out}");
    }
    // The default domain leaves the personality alone.
    b.config["linux"]["personality"] = json!({"domain": "LINUX"});
    assert_eq!(b.sh("cat /proc/self/personality").trim(), "00000000");
}

#[test]
fn memory_policy_modes() {
    if !Path::new("/proc/self/numa_maps").exists() {
        return; // no CONFIG_NUMA
    }
    for (policy, want) in [
        (json!({"mode": "MPOL_BIND", "nodes": "0"}), "bind:0"),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "bind=static:0",
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "interleave:0",
        ),
        (json!({"mode": "MPOL_PREFERRED", "nodes": "0"}), "prefer:0"),
        (json!({"mode": "MPOL_LOCAL"}), "local"),
    ] {
        let mut b = Bundle::new("mempolicy");
        b.config["linux"]["memoryPolicy"] = policy.clone();
        // numa_maps shows the task's policy for every mapping without one of its own.
        let out = b.sh("head -n 1 /proc/self/numa_maps");
        let shown = out.split_whitespace().nth(1).unwrap_or_default();
        assert_eq!(shown, want, "{policy}: {out}");
    }
}

/// Cpus_allowed_list of a status text.
fn cpus(status: &str) -> String {
    status_field(status, "Cpus_allowed_list")
}

#[test]
fn exec_cpu_affinity_for_exec_not_the_init() {
    if std::thread::available_parallelism().map_or(1, usize::from) < 2 {
        return;
    }
    let all = cpus(&std::fs::read_to_string("/proc/self/status").unwrap());
    if all == "0" {
        return;
    }
    let mut b = Bundle::new("cpuaff");
    b.config["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "1"});
    let (id, init) = b.run_detached(&["sleep", "1000"]);
    // The runtime-spec: "not applicable to the container's init process".
    let init_status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    assert_ne!(cpus(&init_status), "1", "the init got execCPUAffinity");
    // husk exec starts from the configured process: its execCPUAffinity applies.
    let out = b
        .husk(&[
            "exec",
            &id,
            "grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(cpus(&out.stdout), "1", "{out:?}");
    // A process.json with its own affinity.
    let process = json!({
        "user": {"uid": 0, "gid": 0}, "cwd": "/",
        "args": ["grep", "Cpus_allowed_list", "/proc/self/status"],
        "env": ["PATH=/bin", format!("{MARK}={}", b.name)],
        "execCPUAffinity": {"final": "0"}
    });
    let pf = b.dir.join("process.json");
    std::fs::write(&pf, serde_json::to_vec(&process).unwrap()).unwrap();
    let out = b.husk(&["exec", "-p", pf.to_str().unwrap(), &id]).ok();
    assert_eq!(cpus(&out.stdout), "0", "{out:?}");
    // initial alone: the process then runs where the kernel puts it after the cgroup
    // transition (it must still start).
    let process = json!({
        "user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["true"],
        "env": ["PATH=/bin", format!("{MARK}={}", b.name)],
        "execCPUAffinity": {"initial": "1"}
    });
    std::fs::write(&pf, serde_json::to_vec(&process).unwrap()).unwrap();
    b.husk(&["exec", "-p", pf.to_str().unwrap(), &id]).ok();
}
