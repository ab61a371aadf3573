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
    /// Whether to run rootless for a caller with effective uid `euid`, inside a user
    /// namespace other than the initial one or not (`userns`: root there, as under
    /// rootless podman, is still an unprivileged user of the host; runc decides so too).
    pub fn resolve(self, euid: u32, userns: bool) -> bool {
        match self {
            RootlessMode::Auto => euid != 0 || userns,
            RootlessMode::On => true,
            RootlessMode::Off => false,
        }
    }
}

/// True if the calling process is unprivileged on the host: an effective uid other
/// than 0, or root of a user namespace other than the initial one.
pub fn running_rootless() -> bool {
    !nix::unistd::geteuid().is_root() || in_user_namespace()
}

/// The whole-range identity map of the initial user namespace.
fn is_initial_map(uid_map: &str) -> bool {
    let f: Vec<&str> = uid_map.split_whitespace().collect();
    f == ["0", "0", "4294967295"]
}

/// True if the calling process is in a user namespace other than the initial one.
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| !is_initial_map(&m))
}

/// The host uid that `uid` of the caller's user namespace maps to, from `uid_map`
/// text (pure); `uid` itself in the initial namespace.
pub(crate) fn host_uid_in(uid_map: &str, uid: u32) -> Option<u32> {
    uid_map.lines().find_map(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [inside, outside, size] = f[..] else {
            return None;
        };
        let u = u64::from(uid);
        (u >= inside && u < inside + size).then(|| u32::try_from(outside + u - inside).ok())?
    })
}

/// The caller's effective uid as the host sees it (the user whose systemd manager
/// a rootless `--systemd-cgroup` talks to).
pub(crate) fn host_euid() -> u32 {
    let euid = nix::unistd::geteuid().as_raw();
    std::fs::read_to_string("/proc/self/uid_map")
        .ok()
        .and_then(|m| host_uid_in(&m, euid))
        .unwrap_or(euid)
}

/// The default state root: `$XDG_RUNTIME_DIR/husk` when runc would use
/// `$XDG_RUNTIME_DIR/runc` (set, and the caller is not root, or is root of a user
/// namespace with `USER` unset or not `root`, as under rootless podman), else
/// [`crate::DEFAULT_ROOT`]. Pure: `xdg` and `user` are the variables' values.
pub(crate) fn default_root_for(
    euid: u32,
    userns: bool,
    xdg: Option<&std::ffi::OsStr>,
    user: Option<&std::ffi::OsStr>,
) -> PathBuf {
    let honour = euid != 0 || (userns && !matches!(user, Some(u) if u == "root"));
    match xdg.filter(|x| !x.is_empty()) {
        Some(x) if honour => PathBuf::from(x).join("husk"),
        _ => PathBuf::from(crate::DEFAULT_ROOT),
    }
}

/// The default state root for the calling process: `$XDG_RUNTIME_DIR/husk` when runc
/// would use `$XDG_RUNTIME_DIR/runc` (an unprivileged caller with the variable set), else
/// [`crate::DEFAULT_ROOT`].
pub fn default_root() -> PathBuf {
    default_root_for(
        nix::unistd::geteuid().as_raw(),
        in_user_namespace(),
        std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
        std::env::var_os("USER").as_deref(),
    )
}

/// The `oomScoreAdj` an unprivileged process can get: lowering it below the current
/// value needs CAP_SYS_RESOURCE, so a lower `wanted` stays at `current` (pure).
pub(crate) fn oom_score_adj(wanted: i32, current: i32) -> i32 {
    wanted.max(current)
}

/// The calling process's `oom_score_adj` (0 when it cannot be read).
pub(crate) fn current_oom_score_adj() -> i32 {
    procfs::process::Process::myself()
        .and_then(|p| p.oom_score_adj())
        .map(i32::from)
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
        assert!(RootlessMode::Auto.resolve(1000, false));
        assert!(!RootlessMode::Auto.resolve(0, false));
        assert!(RootlessMode::Auto.resolve(0, true));
        assert!(RootlessMode::On.resolve(0, false));
        assert!(!RootlessMode::Off.resolve(1000, true));
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
        let rl = PathBuf::from("/run/user/1000/husk");
        let root = PathBuf::from("/run/husk");
        assert_eq!(default_root_for(1000, false, x, None), rl);
        assert_eq!(default_root_for(0, false, x, None), root);
        assert_eq!(default_root_for(1000, false, None, None), root);
        assert_eq!(
            default_root_for(1000, false, Some(OsStr::new("")), None),
            root
        );
        // Root of podman's user namespace: the user's runtime dir.
        assert_eq!(default_root_for(0, true, x, Some(OsStr::new("alice"))), rl);
        assert_eq!(default_root_for(0, true, x, None), rl);
        assert_eq!(default_root_for(0, true, x, Some(OsStr::new("root"))), root);
    }

    #[test]
    fn user_namespaces_are_told_from_the_initial_one() {
        assert!(is_initial_map("         0          0 4294967295\n"));
        assert!(!is_initial_map("0 1000 1\n1 100000 65536\n"));
        let m = "0 1000 1\n1 100000 65536\n";
        assert_eq!(host_uid_in(m, 0), Some(1000));
        assert_eq!(host_uid_in(m, 5), Some(100004));
        assert_eq!(host_uid_in(m, 70000), None);
    }
}
