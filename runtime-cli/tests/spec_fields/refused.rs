//! Every validation rule of the new fields: `create` fails naming the field, before
//! anything is made. (The log escapes quotes: `linux.netDevices["eth0"]` is matched
//! in pieces.)

use serde_json::{json, Value};

use crate::common::*;

/// Applies `set` to a fresh config, creates, and expects a failure naming `needles`.
fn refused(set: impl Fn(&mut Value), needles: &[&str]) {
    let mut b = Bundle::new("refused");
    b.set_args(&["true"]);
    set(&mut b.config);
    b.write_config();
    let id = b.new_id();
    b.create(&id).fails_with(needles);
    b.assert_nothing_left(&id);
}

fn sched(s: Value) -> impl Fn(&mut Value) {
    move |c: &mut Value| c["process"]["scheduler"] = s.clone()
}

#[test]
fn scheduler_rules() {
    refused(
        sched(json!({"policy": "SCHED_OTHER", "runtime": 1000, "deadline": 2000})),
        &[
            "process.scheduler.runtime",
            "only applies to SCHED_DEADLINE",
        ],
    );
    refused(
        sched(
            json!({"policy": "SCHED_DEADLINE", "runtime": 30000, "deadline": 20000, "period": 40000}),
        ),
        &["process.scheduler.runtime", "must not exceed deadline"],
    );
    refused(
        sched(
            json!({"policy": "SCHED_DEADLINE", "runtime": 10000, "deadline": 20000, "period": 15000}),
        ),
        &["process.scheduler.deadline", "must not exceed period"],
    );
    refused(
        sched(json!({"policy": "SCHED_BATCH", "priority": 5})),
        &["process.scheduler.priority"],
    );
    refused(
        sched(json!({"policy": "SCHED_FIFO"})),
        &["process.scheduler.priority", "1..99"],
    );
    refused(
        sched(json!({"policy": "SCHED_OTHER", "nice": 20})),
        &["process.scheduler.nice"],
    );
    refused(
        sched(json!({"policy": "SCHED_ISO"})),
        &["process.scheduler.policy"],
    );
    refused(
        sched(json!({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_DL_OVERRUN"]})),
        &["process.scheduler.flags[0]"],
    );
    refused(
        sched(json!({"policy": "SCHED_WHATEVER"})),
        &["process.scheduler.policy"],
    );
}

#[test]
fn io_priority_rules() {
    refused(
        |c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 8}),
        &["process.ioPriority.priority"],
    );
    refused(
        |c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_NONE", "priority": 0}),
        &["process.ioPriority.class"],
    );
}

#[test]
fn memory_policy_and_personality_rules() {
    for (policy, field) in [
        (json!({"mode": "MPOL_BIND"}), "linux.memoryPolicy.nodes"),
        (
            json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "1-0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
            "linux.memoryPolicy.flags",
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}),
            "linux.memoryPolicy.flags[0]",
        ),
    ] {
        refused(|c| c["linux"]["memoryPolicy"] = policy.clone(), &[field]);
    }
    refused(
        |c| c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["NO_SUCH_FLAG"]}),
        &["linux.personality.flags[0]"],
    );
}

#[test]
fn exec_cpu_affinity_rules() {
    refused(
        |c| c["process"]["execCPUAffinity"] = json!({"final": "0-"}),
        &["process.execCPUAffinity.final"],
    );
    refused(
        |c| c["process"]["execCPUAffinity"] = json!({"initial": "9000"}),
        &["process.execCPUAffinity.initial"],
    );
}

#[test]
fn idmap_rules() {
    let push = |m: Value| move |c: &mut Value| c["mounts"].as_array_mut().unwrap().push(m.clone());
    refused(
        push(json!({"destination": "/m", "source": "/tmp", "options": ["bind", "idmap"]})),
        &["uidMappings", "needs uidMappings and gidMappings"],
    );
    refused(
        push(
            json!({"destination": "/m", "source": "/tmp", "options": ["bind"],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
        ),
        &["gidMappings", "must be set along with uidMappings"],
    );
    refused(
        push(
            json!({"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
        ),
        &[".options", "only supported for bind mounts"],
    );
}

#[test]
fn net_devices_rules() {
    refused(
        |c| {
            c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]);
            c["linux"]["netDevices"] = json!({"eth0": {}});
        },
        &["linux.netDevices", "network namespace"],
    );
    refused(
        |c| c["linux"]["netDevices"] = json!({"a/b": {}}),
        &["linux.netDevices[", "a/b"],
    );
    refused(
        |c| c["linux"]["netDevices"] = json!({"eth0": {"name": "a-name-far-too-long"}}),
        &["linux.netDevices[", "eth0", "].name"],
    );
}

#[test]
fn intel_rdt_needs_resctrl() {
    if std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| m.contains(" - resctrl ")) {
        return;
    }
    refused(
        |c| c["linux"]["intelRdt"] = json!({"closID": "guaranteed", "l3CacheSchema": "L3:0=f"}),
        &["linux.intelRdt", "no resctrl filesystem is mounted"],
    );
    refused(
        |c| c["linux"]["intelRdt"] = json!({"memBwSchema": "L3:0=f"}),
        &["linux.intelRdt.memBwSchema"],
    );
}

#[test]
fn time_offsets_and_domainname_rules() {
    refused(
        |c| c["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1}}),
        &["linux.timeOffsets", "time namespace"],
    );
    refused(
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "time"}));
            c["linux"]["timeOffsets"] = json!({"realtime": {"secs": 1}});
        },
        &["linux.timeOffsets[", "realtime", "monotonic and boottime"],
    );
    refused(
        |c| {
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "uts");
            c.as_object_mut().unwrap().remove("hostname");
            c["domainname"] = json!("example.test");
        },
        &["domainname", "UTS"],
    );
}

#[test]
fn exec_process_json_rules() {
    let mut b = Bundle::new("refused-exec");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let pf = b.dir.join("process.json");
    for (extra, field) in [
        (
            json!({"scheduler": {"policy": "SCHED_IDLE", "nice": 3}}),
            "process.scheduler.nice",
        ),
        (
            json!({"ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 9}}),
            "process.ioPriority.priority",
        ),
        (
            json!({"execCPUAffinity": {"final": "5000-4000"}}),
            "process.execCPUAffinity.final",
        ),
    ] {
        let mut p = json!({"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["true"]});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        std::fs::write(&pf, serde_json::to_vec(&p).unwrap()).unwrap();
        let out = b.husk(&["exec", "-p", pf.to_str().unwrap(), &id]);
        assert_eq!(out.code, 255, "{out:?}");
        assert!(out.stderr.contains(field), "{field}: {}", out.stderr);
    }
}
