//! Container cgroups on cgroupfs: v1, v2 and hybrid hosts.
//!
//! Public: the statistics [`crate::Container::stats`] returns ([`Stats`]), the
//! systemd driver's path check ([`is_systemd_cgroups_path`]) and the errors. The
//! rest, described below, is internal.
//!
//! The core resolves a `CgroupHandle` from `linux.cgroupsPath`, creates
//! it, applies `linux.resources`, adds the init pid, and stores the handle in
//! state.json; later commands reopen it to pause, kill, list, update, read
//! statistics and remove it.
//!
//! **Compute, then apply.** `plan::plan` turns `LinuxResources` into an
//! ordered list of `Write`s (controller, file, value, field) without
//! touching the system; `CgroupHandle::apply` probes a few facts, plans
//! and runs a thin write loop. Every error names the OCI field and the file.
//!
//! Files, one concern each:
//! - `mountinfo.rs`, `layout.rs`: which hierarchies exist (pure parsing +
//!   classification).
//! - `path.rs`: where the container's cgroup goes in each (pure).
//! - `handle.rs`: the handle and membership; `resources.rs`: apply.
//! - `lifecycle.rs`: create and destroy.
//! - `plan/`: one planner per resource; `apply.rs`: the write loop.
//! - `freezer.rs`: pause, resume, kill --all.
//! - `stats/`: runc-shaped statistics.
//! - `fsio.rs`, `error.rs`: file helpers and the error type.
//! - `rootless.rs`: an unprivileged caller's rules (runc's): skip what it
//!   may not create, refuse limits that cannot be applied, no device cgroup.
//! - `systemd/`: the systemd driver (`--systemd-cgroup`): a transient
//!   scope over D-Bus, the rest through the code above.
//! - `devices_bpf/`: the v2 device filter, an eBPF program generated from
//!   the device rules and attached to the cgroup.

mod apply;
pub(crate) mod devices_bpf;
mod error;
mod freezer;
mod fsio;
mod handle;
pub(crate) mod layout;
mod lifecycle;
mod mountinfo;
mod path;
pub(crate) mod plan;
mod resources;
mod rootless;
mod stats;
pub(crate) mod systemd;

pub use error::CgroupError;
pub(crate) use handle::CgroupHandle;
#[cfg(test)]
pub(crate) use layout::HostLayout;
pub(crate) use layout::{CgroupMode, HierarchyVersion};
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Stats, Throttling,
};
pub use systemd::{is_systemd_cgroups_path, SystemdError};
