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
    /// Capabilities survive thanks to KEEPCAPS; `allow_setgroups` is false when the
    /// user namespace has setgroups denied. Nothing is switched in a user namespace
    /// that has no uid mapping at all.
    pub fn apply(&self, allow_setgroups: bool) -> Result<(), SecurityError> {
        crate::sys::set_keepcaps().map_err(sec_err("prctl(PR_SET_KEEPCAPS)"))?;
        if in_unmapped_userns() {
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

/// True if the calling process is in a user namespace with an empty uid_map (read
/// through a verified procfs, not the container's /proc).
fn in_unmapped_userns() -> bool {
    crate::paths::ProcHandle::new()
        .and_then(|p| p.read("self/uid_map"))
        .is_ok_and(|m| m.trim().is_empty())
}
