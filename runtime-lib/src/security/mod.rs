//! Process privileges: capabilities, user and groups, rlimits, no_new_privs,
//! oom_score_adj. Planned from the spec, applied in the init right before exec.

mod caps;
pub mod exe_guard;
mod rlimits;
mod stdio;

use serde::{Deserialize, Serialize};

pub use self::caps::CapPlan;
pub use rlimits::Rlimit;

/// Errors applying process privileges.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A step failed; `what` names the config field.
    #[error("{what}: {source}")]
    Apply {
        /// Config field or step.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

pub(crate) fn sec_err<E: Into<std::io::Error>>(
    what: impl Into<String>,
) -> impl FnOnce(E) -> SecurityError {
    let what = what.into();
    move |e| SecurityError::Apply {
        what,
        source: e.into(),
    }
}

/// `process.user` ready to apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPlan {
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// umask (runc's default 0022).
    pub umask: u32,
}

impl UserPlan {
    /// From `process.user`.
    pub fn from_spec(u: &oci_spec::runtime::User) -> Self {
        UserPlan {
            uid: u.uid(),
            gid: u.gid(),
            additional_gids: u.additional_gids().clone().unwrap_or_default(),
            umask: u.umask().unwrap_or(0o022),
        }
    }

    /// Stdio to the user (see [`stdio`]), setgroups, setresgid, setresuid.
    /// Capabilities survive thanks to KEEPCAPS. `host` comes from [`UserHost::probe`],
    /// made earlier: the switch itself only makes the calls a seccomp profile that
    /// is already loaded (without no_new_privs) must allow anyway, as with runc.
    /// Nothing is switched in a user namespace that has no uid mapping at all.
    pub fn apply(&self, host: &UserHost) -> Result<(), SecurityError> {
        crate::sys::set_keepcaps().map_err(sec_err("prctl(PR_SET_KEEPCAPS)"))?;
        let allow_setgroups = host.allow_setgroups;
        if host.unmapped {
            // A user namespace without uid/gid mappings (the runtime-spec allows one)
            // has no ids to switch to: the process stays unmapped (the overflow ids).
            return Ok(());
        }
        stdio::chown_stdio(self.uid)?;
        if allow_setgroups {
            crate::sys::setgroups(&self.additional_gids)
                .map_err(sec_err("process.user.additionalGids"))?;
        }
        crate::sys::setresgid(self.gid)
            .map_err(sec_err(format!("process.user.gid {}", self.gid)))?;
        crate::sys::setresuid(self.uid)
            .map_err(sec_err(format!("process.user.uid {}", self.uid)))?;
        Ok(())
    }
}

/// What the user switch needs to know about the process's user namespace, read
/// (through procfs) before the seccomp filter is loaded.
#[derive(Debug, Clone, Copy)]
pub struct UserHost {
    /// `/proc/self/setgroups` is not "deny".
    pub allow_setgroups: bool,
    /// The user namespace has no uid mapping at all.
    pub unmapped: bool,
}

impl UserHost {
    /// Reads both facts for the calling process.
    pub fn probe() -> Self {
        UserHost {
            allow_setgroups: std::fs::read_to_string("/proc/self/setgroups")
                .map(|s| s.trim() != "deny")
                .unwrap_or(true),
            unmapped: in_unmapped_userns(),
        }
    }
}

/// True if the calling process is in a user namespace with an empty uid_map (read
/// through a verified procfs, not the container's /proc).
fn in_unmapped_userns() -> bool {
    crate::paths::ProcHandle::new()
        .and_then(|p| p.read("self/uid_map"))
        .is_ok_and(|m| m.trim().is_empty())
}
