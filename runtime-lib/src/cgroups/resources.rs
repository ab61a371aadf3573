//! Applying `linux.resources` to a handle: probe the live cgroup, plan,
//! run the write loop.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::apply;
use super::devices_bpf::{self, DeviceFilter};
use super::error::CgroupError;
use super::fsio::{self, Base};
use super::handle::CgroupHandle;
use super::layout::{CgroupMode, HierarchyVersion};
use super::plan::{self, PlanHost, Probe, Write};

impl CgroupHandle {
    /// The host as the planner needs to see it, probed from the live cgroup.
    pub fn plan_host(&self, r: &LinuxResources) -> PlanHost {
        self.plan_host_from(&self.base(), r)
    }

    fn plan_host_from(&self, base: &Base, r: &LinuxResources) -> PlanHost {
        let mut controllers = BTreeMap::new();
        for d in self
            .dirs
            .iter()
            .filter(|d| d.version == HierarchyVersion::V2)
        {
            // Prefer what this very cgroup can use (its parent's
            // subtree_control decides); fall back to the root's offer before
            // the directory exists.
            let own = base
                .read_string(&d.path.join("cgroup.controllers"))
                .map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .unwrap_or_else(|_| d.controllers.clone());
            for c in own {
                controllers.insert(c, HierarchyVersion::V2);
            }
            if self.mode == CgroupMode::V2 {
                // Always there on v2, without being listed.
                controllers.insert("devices".to_string(), HierarchyVersion::V2);
                controllers.insert("freezer".to_string(), HierarchyVersion::V2);
            }
        }
        for d in self
            .dirs
            .iter()
            .filter(|d| d.version == HierarchyVersion::V1)
        {
            for c in d.controllers.iter().filter(|c| !c.starts_with("name=")) {
                controllers.insert(c.clone(), HierarchyVersion::V1);
            }
        }
        PlanHost {
            mode: self.mode,
            controllers,
            probe: self.probe(base, r),
        }
    }

    /// Only what `r`'s fields need: each probe is a lookup in cgroupfs.
    fn probe(&self, base: &Base, r: &LinuxResources) -> Probe {
        let mut p = Probe::default();
        let (blkio, memory) = (r.block_io().is_some(), r.memory().is_some());
        if let Some(d) = self
            .dir_for(HierarchyVersion::V1, "blkio")
            .filter(|_| blkio)
        {
            p.blkio_cfq_weight = d.join("blkio.weight").exists();
        }
        if let Some(d) = self
            .dir_for(HierarchyVersion::V1, "memory")
            .filter(|_| memory)
        {
            p.memsw = d.join("memory.memsw.limit_in_bytes").exists();
            let limit = d.join("memory.limit_in_bytes");
            p.memory_limit = base
                .read_string(&limit)
                .and_then(|t| fsio::parse_u64(&limit, t.trim()))
                .ok();
        }
        if self.mode == CgroupMode::V2 {
            if let Some(d) = self.v2_dir() {
                p.io_bfq_weight = blkio && d.join("io.bfq.weight").exists();
                let check = r
                    .memory()
                    .as_ref()
                    .and_then(|m| m.check_before_update())
                    .unwrap_or(false);
                if check {
                    let current = d.join("memory.current");
                    p.memory_usage = base
                        .read_string(&current)
                        .and_then(|t| fsio::parse_u64(&current, t.trim()))
                        .ok();
                }
            }
        }
        p
    }

    /// The writes [`CgroupHandle::apply`] would do, without doing them (for
    /// `--dry-run` and debugging).
    pub fn plan(&self, r: &LinuxResources) -> Result<Vec<Write>, CgroupError> {
        plan::plan(r, &self.plan_host(r))
    }

    /// The cgroup-v2 device filter [`CgroupHandle::apply`] would attach
    /// (for debugging; `None` where no filter is needed).
    pub fn device_filter(&self, r: &LinuxResources) -> Result<Option<DeviceFilter>, CgroupError> {
        plan::device_filter(r, &self.plan_host(r))
    }

    /// Apply every field of `r` (create and `update` alike). With the
    /// systemd driver the fields systemd has properties for are set on the
    /// unit first (before the scope exists they are kept for its start).
    pub fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(done) = self.systemd_apply(r) {
            return done;
        }
        self.apply_fs(r)
    }

    /// Through cgroupfs only: apply every field of `r`. On v2, device
    /// rules are enforced by an eBPF program attached to the cgroup (it
    /// replaces the one an earlier `apply` attached); the file writes follow.
    pub(super) fn apply_fs(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let base = self.base();
        let host = self.plan_host_from(&base, r);
        let writes = plan::plan(r, &host)?;
        if let Some(filter) = plan::device_filter(r, &host)? {
            let dir = self
                .dir_for(HierarchyVersion::V2, "devices")
                .ok_or_else(|| CgroupError::ControllerMissing {
                    field: "linux.resources.devices".into(),
                    controller: "devices".into(),
                })?;
            devices_bpf::install(dir, &filter)?;
        }
        apply::execute(&base, &writes, |w| {
            self.dir_for(w.version, &w.controller)
                .map(Path::to_path_buf)
        })
    }
}
