//! Compute, then apply: `LinuxResources` -> the ordered list of control-file
//! writes that realise it, as plain data.
//!
//! Everything here is pure. What the planner needs to know about the live
//! cgroup (which controllers exist where, whether swap accounting is on, the
//! current memory limit, ...) is passed in as a [`PlanHost`], which the
//! handle fills by probing before it plans. Applying the plan is a thin loop
//! in `apply.rs`.

mod blkio;
mod cpu;
mod cpuset;
mod devices;
mod hugetlb;
mod memory;
mod network;
mod pids;
mod rdma;
mod unified;

use std::collections::BTreeMap;

use oci_spec::runtime::LinuxResources;
use serde::Serialize;

use super::devices_bpf::DeviceFilter;
use super::error::CgroupError;
use super::layout::{CgroupMode, HierarchyVersion};

pub use cpu::shares_to_weight;
pub use devices::default_allow_rules;

/// The prefix of every field name in errors.
const RES: &str = "linux.resources";

/// One write of a value to a control file of the container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Write {
    /// The OCI field this write realises, e.g. `linux.resources.cpu.quota`.
    pub field: String,
    /// The controller whose hierarchy holds the file (`cpu`, `io`, ...; the
    /// pseudo-controller `cgroup` for v2 core files).
    pub controller: String,
    /// Which kind of hierarchy: decides the directory on hybrid hosts.
    pub version: HierarchyVersion,
    /// The file name inside the cgroup directory.
    pub file: String,
    /// The exact bytes written.
    pub value: String,
    /// ENOENT is not an error (optional knobs such as `cpu.cfs_burst_us`).
    pub ignore_missing: bool,
    /// On EINVAL, retry once after the rest of the plan, because the kernel
    /// checks this value against one written later (period vs quota).
    pub retry_on_einval: bool,
    /// Read the file back and fail if the kernel stored something else.
    pub verify: bool,
}

impl Write {
    fn new(
        field: impl Into<String>,
        controller: &str,
        version: HierarchyVersion,
        file: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        Write {
            field: field.into(),
            controller: controller.to_string(),
            version,
            file: file.into(),
            value: value.into(),
            ignore_missing: false,
            retry_on_einval: false,
            verify: false,
        }
    }

    fn ignore_missing(mut self) -> Self {
        self.ignore_missing = true;
        self
    }

    fn retry_on_einval_if(mut self, cond: bool) -> Self {
        self.retry_on_einval = cond;
        self
    }

    fn verify(mut self) -> Self {
        self.verify = true;
        self
    }
}

/// What the planner needs to know about the live cgroup, gathered by the
/// handle before planning.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Probe {
    /// v1: `blkio.weight` exists (CFQ); otherwise the BFQ names are used.
    pub blkio_cfq_weight: bool,
    /// v1: `memory.memsw.limit_in_bytes` exists (swap accounting on).
    pub memsw: bool,
    /// v1: the current `memory.limit_in_bytes`, to order memory/swap writes.
    pub memory_limit: Option<u64>,
    /// v2: the current `memory.current`, for `checkBeforeUpdate`.
    pub memory_usage: Option<u64>,
    /// v2: `io.bfq.weight` exists.
    pub io_bfq_weight: bool,
}

/// The host as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanHost {
    /// v1, v2 or hybrid.
    pub mode: CgroupMode,
    /// Every controller usable for the container and the kind of hierarchy
    /// that carries it. On v2 this includes the pseudo-controllers
    /// `devices` and `freezer`.
    pub controllers: BTreeMap<String, HierarchyVersion>,
    /// Facts read from the live cgroup.
    pub probe: Probe,
}

impl PlanHost {
    /// The hierarchy kind carrying `controller`, or the "isn't mounted"
    /// error naming `field`. Call only when the field is actually set.
    fn need(&self, field: &str, controller: &str) -> Result<HierarchyVersion, CgroupError> {
        self.controllers
            .get(controller)
            .copied()
            .ok_or_else(|| CgroupError::ControllerMissing {
                field: field.to_string(),
                controller: controller.to_string(),
            })
    }
}

/// Every write needed to apply `r`, in order.
///
/// Order follows runc's v1 subsystem order (cpuset first so tasks can run,
/// devices, memory, cpu, pids, blkio, hugetlb, network, rdma) and ends with
/// the raw `unified` keys so they override anything converted before them.
pub fn plan(r: &LinuxResources, host: &PlanHost) -> Result<Vec<Write>, CgroupError> {
    let mut out = Vec::new();
    if let Some(cpu) = r.cpu() {
        cpuset::plan(cpu, host, &mut out)?;
    }
    if let Some(rules) = r.devices() {
        devices::plan(rules, host, &mut out)?;
    }
    if let Some(m) = r.memory() {
        memory::plan(m, host, &mut out)?;
    }
    if let Some(cpu) = r.cpu() {
        cpu::plan(cpu, host, &mut out)?;
    }
    if let Some(p) = r.pids() {
        pids::plan(p, host, &mut out)?;
    }
    if let Some(b) = r.block_io() {
        blkio::plan(b, host, &mut out)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb::plan(h, host, &mut out)?;
    }
    if let Some(n) = r.network() {
        network::plan(n, host, &mut out)?;
    }
    if let Some(rd) = r.rdma() {
        rdma::plan(rd, host, &mut out)?;
    }
    if let Some(u) = r.unified() {
        unified::plan(u, host, &mut out)?;
    }
    Ok(out)
}

/// The cgroup-v2 device filter `r` calls for (`None` without device rules or
/// on hosts with a v1 device controller, where [`plan`] writes them).
pub fn device_filter(
    r: &LinuxResources,
    host: &PlanHost,
) -> Result<Option<DeviceFilter>, CgroupError> {
    match r.devices() {
        Some(rules) => devices::filter(rules, host),
        None => Ok(None),
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Hosts for planner tests.
    use super::*;

    /// The project's hybrid machine: v1 controllers, hugetlb on unified.
    pub fn hybrid() -> PlanHost {
        let mut controllers = BTreeMap::new();
        for c in [
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
        ] {
            controllers.insert(c.to_string(), HierarchyVersion::V1);
        }
        controllers.insert("hugetlb".to_string(), HierarchyVersion::V2);
        PlanHost {
            mode: CgroupMode::Hybrid,
            controllers,
            probe: Probe {
                memsw: true,
                memory_limit: Some(9_223_372_036_854_771_712),
                ..Probe::default()
            },
        }
    }

    /// A pure v2 host with the usual controllers enabled.
    pub fn v2() -> PlanHost {
        let mut controllers = BTreeMap::new();
        for c in [
            "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc", "devices",
            "freezer",
        ] {
            controllers.insert(c.to_string(), HierarchyVersion::V2);
        }
        PlanHost {
            mode: CgroupMode::V2,
            controllers,
            probe: Probe::default(),
        }
    }

    /// `(file, value)` pairs, for compact assertions.
    pub fn fv(writes: &[Write]) -> Vec<(String, String)> {
        writes
            .iter()
            .map(|w| (w.file.clone(), w.value.clone()))
            .collect()
    }

    /// Parse a `LinuxResources` from JSON, as a config.json would hold it.
    pub fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("bad fixture {json}: {e}"))
    }

    /// Run one planner on the `key` section of a resources JSON; an absent
    /// section plans nothing, as in [`plan`].
    pub fn plan_section<T: ?Sized>(
        key: &str,
        json: &str,
        host: &PlanHost,
        section: impl FnOnce(&LinuxResources) -> Option<&T>,
        planner: impl FnOnce(&T, &PlanHost, &mut Vec<Write>) -> Result<(), CgroupError>,
    ) -> Result<Vec<Write>, CgroupError> {
        let r = res(&format!(r#"{{"{key}":{json}}}"#));
        let mut out = Vec::new();
        match section(&r) {
            Some(s) => planner(s, host, &mut out).map(|_| out),
            None => Ok(out),
        }
    }

    /// Owned `(file, value)` pairs, to compare with [`fv`].
    pub fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn empty_resources_plan_nothing() {
        let r = res("{}");
        assert_eq!(plan(&r, &hybrid()).map(|w| w.len()).ok(), Some(0));
    }

    #[test]
    fn order_is_cpuset_devices_memory_cpu_pids() {
        let r = res(
            r#"{"pids":{"limit":5},"cpu":{"shares":512,"cpus":"0"},"memory":{"limit":1048576},
                "devices":[{"allow":false,"access":"rwm"}]}"#,
        );
        let w = plan(&r, &hybrid()).unwrap_or_default();
        let files: Vec<&str> = w.iter().map(|w| w.file.as_str()).collect();
        assert_eq!(
            files,
            vec![
                "cpuset.cpus",
                "devices.deny",
                "devices.deny",
                "memory.limit_in_bytes",
                "cpu.shares",
                "pids.max"
            ]
        );
    }

    #[test]
    fn unset_resource_on_missing_controller_is_fine() {
        let mut host = hybrid();
        host.controllers.remove("pids");
        let r = res(r#"{"pids":{"limit":0}}"#);
        assert!(plan(&r, &host).is_ok());
        let r = res(r#"{"pids":{"limit":10}}"#);
        let err = plan(&r, &host)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "linux.resources.pids.limit: the pids cgroup controller isn't mounted on this host"
        );
    }
}
