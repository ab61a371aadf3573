//! Rootless mode: husk run by an unprivileged user (runc's `--rootless`).
//!
//! What changes when rootless (each in the module of its concern):
//! - the state root defaults to `$XDG_RUNTIME_DIR/husk` ([`default_root`]);
//! - id maps other than the caller's own single id go through `newuidmap` /
//!   `newgidmap` (`namespaces::idmap`);
//! - cgroups the user may not create are skipped when no limit is asked, and a limit
//!   that cannot be applied is refused; no device cgroup (`cgroups::lifecycle`);
//! - mounts: `rbind,ro` is read-only all the way down (CVE-2023-25809), a mount
//!   refused for lack of privileges says so (`rootfs`);
//! - an `oomScoreAdj` below the caller's is left at the caller's (`process::init`).

use std::path::PathBuf;

/// `--rootless`: `auto` (rootless when the effective uid is not 0), `true`, `false`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RootlessMode {
    /// Rootless when the effective uid is not 0.
    #[default]
    Auto,
    /// Always rootless.
    On,
    /// Never rootless.
    Off,
}

impl std::str::FromStr for RootlessMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" | "" => Ok(RootlessMode::Auto),
            "true" | "1" => Ok(RootlessMode::On),
            "false" | "0" => Ok(RootlessMode::Off),
            other => Err(format!(
                "invalid --rootless value {other:?} (want true, false or auto)"
            )),
        }
    }
}

impl RootlessMode {
    /// Whether to run rootless for a caller with effective uid `euid`.
    pub fn resolve(self, euid: u32) -> bool {
        match self {
            RootlessMode::Auto => euid != 0,
            RootlessMode::On => true,
            RootlessMode::Off => false,
        }
    }
}

/// True if the calling process runs without root's effective uid.
pub fn running_rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// The default state root for a caller: `$XDG_RUNTIME_DIR/husk` for a non-root caller
/// with `XDG_RUNTIME_DIR` set (runc: `$XDG_RUNTIME_DIR/runc`), else
/// [`crate::DEFAULT_ROOT`]. Pure: `xdg` is the variable's value.
pub fn default_root_for(euid: u32, xdg: Option<&std::ffi::OsStr>) -> PathBuf {
    match xdg.filter(|x| !x.is_empty()) {
        Some(x) if euid != 0 => PathBuf::from(x).join("husk"),
        _ => PathBuf::from(crate::DEFAULT_ROOT),
    }
}

/// [`default_root_for`] for the calling process.
pub fn default_root() -> PathBuf {
    default_root_for(
        nix::unistd::geteuid().as_raw(),
        std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
    )
}

/// The `oomScoreAdj` an unprivileged process can get: lowering it below the current
/// value needs CAP_SYS_RESOURCE, so a lower `wanted` stays at `current` (pure).
pub fn oom_score_adj(wanted: i32, current: i32) -> i32 {
    wanted.max(current)
}

/// The calling process's `oom_score_adj` (0 when it cannot be read).
pub fn current_oom_score_adj() -> i32 {
    std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn mode_parses_and_resolves_like_runc() {
        assert_eq!("auto".parse(), Ok(RootlessMode::Auto));
        assert_eq!("true".parse(), Ok(RootlessMode::On));
        assert_eq!("false".parse(), Ok(RootlessMode::Off));
        assert!("yes".parse::<RootlessMode>().is_err());
        assert!(RootlessMode::Auto.resolve(1000));
        assert!(!RootlessMode::Auto.resolve(0));
        assert!(RootlessMode::On.resolve(0));
        assert!(!RootlessMode::Off.resolve(1000));
    }

    #[test]
    fn oom_score_adj_never_goes_below_the_callers() {
        assert_eq!(oom_score_adj(-500, 0), 0);
        assert_eq!(oom_score_adj(500, 200), 500);
        assert_eq!(oom_score_adj(100, 200), 200);
    }

    #[test]
    fn default_root_is_per_user() {
        let x = Some(OsStr::new("/run/user/1000"));
        assert_eq!(
            default_root_for(1000, x),
            PathBuf::from("/run/user/1000/husk")
        );
        assert_eq!(default_root_for(0, x), PathBuf::from("/run/husk"));
        assert_eq!(default_root_for(1000, None), PathBuf::from("/run/husk"));
        assert_eq!(
            default_root_for(1000, Some(OsStr::new(""))),
            PathBuf::from("/run/husk")
        );
    }
}
