//! The D-Bus calls the driver makes, as data: a job the helper process runs.
//!
//! Each call runs outside the caller (see `helper.rs`): in a forked child when the
//! caller is single-threaded (the CLI), or in husk's exec'd helper binary when it
//! is not (a fork of a multi-threaded embedder would run zbus in a child that may
//! inherit a lock another thread held). Both run the same job, so it is plain data.

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use super::name::ScopeName;
use super::{bus, props, STARTED};

/// One conversation with systemd.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum BusJob {
    /// Start the container's transient scope with `pid` in it and `resources`.
    StartScope {
        /// The user's manager (session bus) rather than the system's.
        user: bool,
        slice: String,
        unit: String,
        name: String,
        pid: u32,
        v2: bool,
        resources: Box<LinuxResources>,
    },
    /// Set the scope's resource properties (`update`).
    SetProperties {
        user: bool,
        unit: String,
        v2: bool,
        resources: Box<LinuxResources>,
    },
    /// Stop the scope and reset its failed state; answers the job's result
    /// (empty when the unit was already gone).
    Stop { user: bool, unit: String },
}

impl BusJob {
    /// Runs the job against the bus; `note` reports progress as it happens (the
    /// scope exists). The answer is a string: the stop job's result, else empty.
    pub(super) fn run(self, note: &mut dyn FnMut(&str)) -> Result<String, String> {
        match self {
            BusJob::StartScope {
                user,
                slice,
                unit,
                name,
                pid,
                v2,
                resources,
            } => {
                let bus = bus::Bus::connect(user)?;
                let version = bus.version();
                let scope = ScopeName { slice, unit, name };
                let mut p = props::scope_properties(&scope, pid, v2);
                p.extend(props::start_only_properties(&resources, version));
                let (r, _) = props::resource_properties(&resources, v2, version)
                    .map_err(|e| e.to_string())?;
                p.extend(r);
                bus.start_transient_unit(&scope.unit, &p, &mut || note(STARTED))?;
                Ok(String::new())
            }
            BusJob::SetProperties {
                user,
                unit,
                v2,
                resources,
            } => {
                let bus = bus::Bus::connect(user)?;
                let (p, _) = props::resource_properties(&resources, v2, bus.version())
                    .map_err(|e| e.to_string())?;
                bus.set_unit_properties(&unit, &p)?;
                Ok(String::new())
            }
            BusJob::Stop { user, unit } => {
                let bus = bus::Bus::connect(user)?;
                let end = bus.stop_unit(&unit);
                bus.reset_failed(&unit);
                match end? {
                    bus::JobEnd::NoSuchUnit => Ok(String::new()),
                    bus::JobEnd::Result(r) => Ok(r),
                }
            }
        }
    }
}
