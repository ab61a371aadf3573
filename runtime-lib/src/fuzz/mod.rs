//! Property tests of the parsers and planners that take untrusted input, with a
//! fixed-seed driver ([`gen`]): config.json → spec → validation → init plan
//! (mount options, namespaces, process), seccomp profiles, cgroup resources,
//! an exec's `--process` JSON. The property: whatever the input, no panic; an
//! error is typed. `make test` runs a bounded number of cases,
//! `HUSK_FUZZ_CASES=N` (as `make stress` sets) runs more.

pub(crate) mod gen;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Process, Spec};
use serde_json::{json, Value};

use gen::{cases, hostile_bytes, run, Rng};

/// A config that reaches every planner: the default spec plus a seccomp
/// profile, resources of every kind, devices, sysctls, hooks, a user namespace.
pub(crate) fn rich_config() -> Value {
    let mut c = crate::spec::default_spec(None);
    c["process"]["terminal"] = json!(false);
    c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]);
    c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "nice": 1});
    c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 4});
    if let Some(m) = c["mounts"].as_array_mut() {
        m.push(
            json!({"destination": "/data", "type": "bind", "source": "/tmp",
                          "options": ["rbind", "ro", "nosuid", "rshared", "idmap"],
                          "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
                          "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}]}),
        );
        m.push(
            json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                          "options": ["size=1m", "mode=755", "noexec", "strictatime"]}),
        );
    }
    c["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    });
    c["linux"]["resources"] = json!({
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728, "swappiness": 10},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0", "idle": 0},
        "pids": {"limit": 40},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
        "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
        "unified": {"memory.high": "max"}
    });
    c["linux"]["devices"] =
        json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]);
    c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000"});
    if let Some(n) = c["linux"]["namespaces"].as_array_mut() {
        n.push(json!({"type": "user"}));
    }
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["rootfsPropagation"] = json!("rslave");
    c["hooks"] = json!({"prestart": [{"path": "/bin/true", "args": ["true"], "timeout": 5}]});
    c
}

/// A bundle directory with an empty rootfs (validation stats it).
fn bundle() -> PathBuf {
    let d = std::env::temp_dir().join(format!("husk-fuzz-bundle-{}", std::process::id()));
    let _ = std::fs::create_dir_all(d.join("rootfs"));
    d
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, crate::spec::SpecError> {
    crate::spec::from_reader(bytes, Path::new("config.json"))
}

/// Every planner a config reaches, errors ignored (they are typed by construction).
fn plan_all(spec: &Spec, bundle: &Path) {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let _ = crate::rootfs::plan::plan_mount(i, m, bundle);
    }
    if let Some(l) = spec.linux() {
        if let Some(s) = l.seccomp() {
            let _ = crate::seccomp::plan(s);
        }
        if let Some(r) = l.resources() {
            for host in [
                crate::cgroups::plan::testutil::hybrid(),
                crate::cgroups::plan::testutil::v2(),
            ] {
                let _ = crate::cgroups::plan::plan(r, &host);
            }
        }
    }
    if crate::spec::validate(spec, bundle).is_ok() {
        let opts = crate::process::PlanOptions::default();
        let _ = crate::process::InitPlan::from_spec("fuzz", spec, bundle, &opts);
        let _ = crate::process::ExecBase::from_spec(spec, false);
    }
}

#[test]
fn config_to_plan_never_panics() {
    let base = rich_config();
    let dir = bundle();
    // The base itself parses and plans.
    let spec: Spec = parse(&serde_json::to_vec(&base).unwrap()).unwrap();
    plan_all(&spec, &dir);
    run("config", cases(1500), |r: &mut Rng| {
        let bytes = hostile_bytes(r, &base);
        if let Ok(spec) = parse::<Spec>(&bytes) {
            plan_all(&spec, &dir);
        }
    });
}

#[test]
fn exec_process_json_never_panics() {
    let base = rich_config()["process"].clone();
    let spec: Spec = parse(&serde_json::to_vec(&rich_config()).unwrap()).unwrap();
    let exec_base = crate::process::ExecBase::from_spec(&spec, false);
    run("process", cases(1500), |r: &mut Rng| {
        let bytes = hostile_bytes(r, &base);
        if let Ok(p) = parse::<Process>(&bytes) {
            let _ = crate::process::ExecPlan::new("fuzz", &exec_base, &p, r.below(4) as u32);
        }
    });
}

#[test]
fn seccomp_and_resources_never_panic() {
    let linux = rich_config()["linux"].clone();
    run("seccomp+resources", cases(1500), |r: &mut Rng| {
        let mut l = linux.clone();
        for _ in 0..1 + r.below(4) {
            gen::mutate(r, &mut l);
        }
        if let Ok(s) =
            serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(l["seccomp"].clone())
        {
            let _ = crate::seccomp::plan(&s);
        }
        if let Ok(res) =
            serde_json::from_value::<oci_spec::runtime::LinuxResources>(l["resources"].clone())
        {
            for host in [
                crate::cgroups::plan::testutil::hybrid(),
                crate::cgroups::plan::testutil::v2(),
            ] {
                let _ = crate::cgroups::plan::plan(&res, &host);
            }
        }
    });
}
