//! `process.capabilities`: the five sets, applied after the user switch.

use std::str::FromStr;

use ::caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use serde::{Deserialize, Serialize};

use super::SecurityError;

/// The five capability sets as bitmasks (bit n = capability number n).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapPlan {
    /// Bounding set.
    pub bounding: u64,
    /// Effective set.
    pub effective: u64,
    /// Inheritable set: only what the config asks for, never more.
    pub inheritable: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Ambient set.
    pub ambient: u64,
}

fn mask(set: &Option<Capabilities>) -> u64 {
    set.iter()
        .flatten()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|v| v.as_str().and_then(|n| Capability::from_str(n).ok()))
        .fold(0, |m, c| m | c.bitmask())
}

/// The capabilities this kernel knows (a PR_CAPBSET_READ probe each), once per
/// process: the bounding drop and the set changes both need them.
fn supported() -> &'static CapsHashSet {
    static SUPPORTED: std::sync::OnceLock<CapsHashSet> = std::sync::OnceLock::new();
    SUPPORTED.get_or_init(::caps::runtime::thread_all_supported)
}

fn to_set(m: u64, supported: &CapsHashSet) -> CapsHashSet {
    supported
        .iter()
        .copied()
        .filter(|c| m & c.bitmask() != 0)
        .collect()
}

impl CapPlan {
    /// From `process.capabilities`; a missing object means no capabilities at all.
    pub fn from_spec(c: Option<&LinuxCapabilities>) -> Self {
        let Some(c) = c else {
            return CapPlan::default();
        };
        CapPlan {
            bounding: mask(c.bounding()),
            effective: mask(c.effective()),
            inheritable: mask(c.inheritable()),
            permitted: mask(c.permitted()),
            ambient: mask(c.ambient()),
        }
    }

    /// Drops what is not in the bounding set (needs CAP_SETPCAP: do it before the user switch).
    pub fn apply_bounding(&self) -> Result<(), SecurityError> {
        for &c in supported() {
            if self.bounding & c.bitmask() == 0 {
                ::caps::drop(None, CapSet::Bounding, c)
                    .map_err(|e| err("process.capabilities.bounding", e))?;
            }
        }
        Ok(())
    }

    /// Sets effective, permitted, inheritable and ambient (after the user switch).
    /// Capabilities the kernel does not know are ignored, as runc does.
    pub fn apply_sets(&self) -> Result<(), SecurityError> {
        let supported = supported();
        // The kernel wants effective within permitted at every step: lower effective
        // first (permitted is still full), then inheritable, then permitted.
        ::caps::set(None, CapSet::Effective, &to_set(self.effective, supported))
            .map_err(|e| err("process.capabilities.effective", e))?;
        ::caps::set(
            None,
            CapSet::Inheritable,
            &to_set(self.inheritable, supported),
        )
        .map_err(|e| err("process.capabilities.inheritable", e))?;
        ::caps::set(None, CapSet::Permitted, &to_set(self.permitted, supported))
            .map_err(|e| err("process.capabilities.permitted", e))?;
        if ::caps::runtime::ambient_set_supported().is_ok() {
            // Ambient needs each cap to be permitted and inheritable.
            let amb = self.ambient & self.permitted & self.inheritable;
            // One PR_CAP_AMBIENT_CLEAR_ALL, then a raise per wanted cap: `caps::set`
            // would probe every cap again and lower each one by one (~80 prctls).
            ::caps::clear(None, CapSet::Ambient)
                .map_err(|e| err("process.capabilities.ambient", e))?;
            for c in to_set(amb, supported) {
                ::caps::raise(None, CapSet::Ambient, c)
                    .map_err(|e| err("process.capabilities.ambient", e))?;
            }
        }
        Ok(())
    }
}

fn err(what: &str, e: ::caps::errors::CapsError) -> SecurityError {
    SecurityError::Apply {
        what: what.into(),
        source: std::io::Error::other(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_from_spec() {
        let c: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_CHOWN","CAP_KILL"],"effective":["CAP_KILL"]}"#,
        )
        .unwrap();
        let p = CapPlan::from_spec(Some(&c));
        assert_eq!(p.bounding, (1 << 0) | (1 << 5));
        assert_eq!(p.effective, 1 << 5);
        assert_eq!(p.inheritable, 0);
        assert_eq!(CapPlan::from_spec(None), CapPlan::default());
    }
}
