//! `process.rlimits`.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};
use serde::{Deserialize, Serialize};

use super::{sec_err, SecurityError};

/// One resource limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// RLIMIT_* number.
    pub resource: u32,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
    /// Index in `process.rlimits` (for messages).
    pub index: usize,
}

fn resource(t: PosixRlimitType) -> u32 {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => libc::RLIMIT_CPU,
        T::RlimitFsize => libc::RLIMIT_FSIZE,
        T::RlimitData => libc::RLIMIT_DATA,
        T::RlimitStack => libc::RLIMIT_STACK,
        T::RlimitCore => libc::RLIMIT_CORE,
        T::RlimitRss => libc::RLIMIT_RSS,
        T::RlimitNproc => libc::RLIMIT_NPROC,
        T::RlimitNofile => libc::RLIMIT_NOFILE,
        T::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        T::RlimitAs => libc::RLIMIT_AS,
        T::RlimitLocks => libc::RLIMIT_LOCKS,
        T::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        T::RlimitNice => libc::RLIMIT_NICE,
        T::RlimitRtprio => libc::RLIMIT_RTPRIO,
        T::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

impl Rlimit {
    /// From `process.rlimits`.
    pub fn plan(list: &[PosixRlimit]) -> Vec<Rlimit> {
        list.iter()
            .enumerate()
            .map(|(index, r)| Rlimit {
                resource: resource(r.typ()),
                soft: r.soft(),
                hard: r.hard(),
                index,
            })
            .collect()
    }

    /// `setrlimit` (raising a hard limit needs CAP_SYS_RESOURCE, as for every runtime).
    pub fn apply(&self) -> Result<(), SecurityError> {
        let lim = libc::rlimit {
            rlim_cur: self.soft,
            rlim_max: self.hard,
        };
        // SAFETY: lim is a valid rlimit; resource is an RLIMIT_* constant.
        if unsafe { libc::setrlimit(self.resource as _, &lim) } != 0 {
            return Err(sec_err(format!(
                "process.rlimits[{}] (soft {}, hard {})",
                self.index, self.soft, self.hard
            ))(std::io::Error::last_os_error()));
        }
        Ok(())
    }
}
