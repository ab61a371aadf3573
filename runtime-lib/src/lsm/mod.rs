//! Linux security modules: AppArmor profiles and SELinux labels, applied as runc
//! applies them.
//!
//! - [`plan`] (pure): what the config asks for (`process.apparmorProfile`,
//!   `process.selinuxLabel`, `linux.mountLabel`) and the `context=` mount option.
//! - [`host`]: which LSM the host has on, and the refusals made before anything is
//!   created (an LSM field on a host without that LSM, an AppArmor profile that is not
//!   loaded): never a silent downgrade to an unconfined container.
//! - [`apply`]: the writes to the process's own `attr/` files, through the verified
//!   procfs handle ([`crate::paths::ProcHandle`]), never a path the container's
//!   mounts could redirect.

pub mod apply;
pub mod host;
pub mod plan;

pub use host::{check_host, HostLsm};
pub use plan::{mount_data, ProcessLsm};

/// Errors of the LSM fields; each names the field and the profile or label.
#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    /// `process.apparmorProfile` on a host where AppArmor is off.
    #[error(
        "{field} {profile:?}: AppArmor is not enabled on this host \
         (/sys/module/apparmor/parameters/enabled is not Y), the container cannot be confined"
    )]
    AppArmorDisabled {
        /// The config field or exec flag.
        field: &'static str,
        /// The profile asked for.
        profile: String,
    },
    /// `process.apparmorProfile` names a profile the kernel does not have.
    #[error(
        "{field} {profile:?}: no AppArmor profile of that name is loaded \
         (see /sys/kernel/security/apparmor/profiles; load it with apparmor_parser -r)"
    )]
    AppArmorNotLoaded {
        /// The config field or exec flag.
        field: &'static str,
        /// The profile asked for.
        profile: String,
    },
    /// An SELinux label on a host where SELinux is off (runc refuses too).
    #[error(
        "{field} {label:?}: selinux label is specified in config, but selinux is disabled \
         or not supported"
    )]
    SelinuxDisabled {
        /// The config field or exec flag.
        field: &'static str,
        /// The label asked for.
        label: String,
    },
    /// Writing a process attribute failed.
    #[error("{field} {value:?}: write {attr}: {source}")]
    Apply {
        /// The config field.
        field: &'static str,
        /// The profile or label.
        value: String,
        /// The attr file (relative to the procfs root).
        attr: String,
        /// The OS error.
        source: std::io::Error,
    },
}
