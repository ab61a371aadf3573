//! Which LSMs the host has on, and the refusals made before anything is created.

use std::collections::BTreeSet;
use std::path::Path;

use super::{LsmError, ProcessLsm};

const APPARMOR_ENABLED: &str = "/sys/module/apparmor/parameters/enabled";
const APPARMOR_PROFILES: &str = "/sys/kernel/security/apparmor/profiles";
const SELINUXFS: &str = "/sys/fs/selinux";
const SELINUX_MAGIC: i64 = 0xf97c_ff8c;

/// What the host's kernel offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostLsm {
    /// AppArmor is on (the module parameter `enabled` is `Y`).
    pub apparmor: bool,
    /// The loaded AppArmor profiles, when securityfs is mounted and readable.
    pub apparmor_profiles: Option<BTreeSet<String>>,
    /// SELinux is on: selinuxfs is mounted and a policy is loaded (our own label is
    /// not `kernel`), go-selinux's test, which runc uses.
    pub selinux: bool,
}

impl HostLsm {
    /// Reads the host's state (a few small files; nothing is written).
    pub fn detect() -> Self {
        let apparmor = std::fs::read_to_string(APPARMOR_ENABLED)
            .map(|s| s.starts_with('Y'))
            .unwrap_or(false);
        let apparmor_profiles = if apparmor {
            std::fs::read_to_string(APPARMOR_PROFILES)
                .ok()
                .map(|s| parse_profiles(&s))
        } else {
            None
        };
        HostLsm {
            apparmor,
            apparmor_profiles,
            selinux: selinuxfs_mounted() && own_label_is_not_kernel(),
        }
    }
}

fn selinuxfs_mounted() -> bool {
    let Ok(f) = std::fs::File::open(SELINUXFS) else {
        return false;
    };
    use std::os::fd::AsFd;
    crate::sys::fs_magic(f.as_fd()).is_ok_and(|m| m == SELINUX_MAGIC)
}

fn own_label_is_not_kernel() -> bool {
    std::fs::read_to_string(Path::new("/proc/thread-self/attr/current"))
        .map(|s| {
            let s = s.trim_end_matches(['\0', '\n']);
            !s.is_empty() && s != "kernel"
        })
        .unwrap_or(false)
}

/// Profile names from `/sys/kernel/security/apparmor/profiles` (`NAME (MODE)` lines).
pub fn parse_profiles(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_end();
            let name = match l.rsplit_once(" (") {
                Some((name, mode)) if mode.ends_with(')') => name,
                _ => l,
            };
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// Refuses what the host cannot apply, before anything is created (runc refuses the
/// same configs, some only halfway through create): an AppArmor profile where
/// AppArmor is off or that is not loaded, an SELinux label or `linux.mountLabel`
/// where SELinux is off.
pub fn check_host(
    lsm: &ProcessLsm,
    mount_label: Option<&str>,
    host: &HostLsm,
) -> Result<(), LsmError> {
    if let Some(p) = &lsm.apparmor_profile {
        if !host.apparmor {
            return Err(LsmError::AppArmorDisabled {
                field: "process.apparmorProfile",
                profile: p.clone(),
            });
        }
        // "unconfined" is no profile of the list; stacked (a//&b) and namespaced
        // (:ns:name) names are left to the kernel, whose refusal also names them.
        let checkable = p != "unconfined" && !p.contains("//") && !p.starts_with(':');
        if let (true, Some(loaded)) = (checkable, &host.apparmor_profiles) {
            if !loaded.contains(p) {
                return Err(LsmError::AppArmorNotLoaded {
                    field: "process.apparmorProfile",
                    profile: p.clone(),
                });
            }
        }
    }
    if !host.selinux {
        if let Some(l) = &lsm.selinux_label {
            return Err(LsmError::SelinuxDisabled {
                field: "process.selinuxLabel",
                label: l.clone(),
            });
        }
        if let Some(l) = mount_label {
            return Err(LsmError::SelinuxDisabled {
                field: "linux.mountLabel",
                label: l.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsm(aa: Option<&str>, se: Option<&str>) -> ProcessLsm {
        ProcessLsm {
            apparmor_profile: aa.map(String::from),
            selinux_label: se.map(String::from),
        }
    }

    fn apparmor_host(profiles: &[&str]) -> HostLsm {
        HostLsm {
            apparmor: true,
            apparmor_profiles: Some(profiles.iter().map(|s| s.to_string()).collect()),
            selinux: false,
        }
    }

    #[test]
    fn profiles_file_is_parsed() {
        let p = parse_profiles(
            "docker-default (enforce)\n/usr/bin/man (complain)\nhusk test (enforce)\n",
        );
        assert!(p.contains("docker-default"));
        assert!(p.contains("/usr/bin/man"));
        assert!(p.contains("husk test"));
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn nothing_asked_passes_everywhere() {
        check_host(&ProcessLsm::default(), None, &HostLsm::default()).unwrap();
    }

    #[test]
    fn apparmor_off_refuses_a_profile_naming_it() {
        let e = check_host(
            &lsm(Some("docker-default"), None),
            None,
            &HostLsm::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("\"docker-default\""), "{e}");
        assert!(e.contains("AppArmor is not enabled"), "{e}");
    }

    #[test]
    fn a_profile_not_loaded_is_refused_naming_it() {
        let host = apparmor_host(&["docker-default"]);
        check_host(&lsm(Some("docker-default"), None), None, &host).unwrap();
        let e = check_host(&lsm(Some("nope"), None), None, &host)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"nope\"") && e.contains("no AppArmor profile"),
            "{e}"
        );
        // Left to the kernel: unconfined, stacks, namespaces; and no readable list.
        check_host(&lsm(Some("unconfined"), None), None, &host).unwrap();
        check_host(&lsm(Some("a//&b"), None), None, &host).unwrap();
        check_host(&lsm(Some(":ns:p"), None), None, &host).unwrap();
        let unknown = HostLsm {
            apparmor_profiles: None,
            ..host
        };
        check_host(&lsm(Some("nope"), None), None, &unknown).unwrap();
    }

    #[test]
    fn selinux_off_refuses_labels_and_mount_labels() {
        let e = check_host(&lsm(None, Some("u:r:t:s0")), None, &HostLsm::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("process.selinuxLabel") && e.contains("selinux is disabled"));
        let e = check_host(
            &ProcessLsm::default(),
            Some("u:object_r:t:s0"),
            &HostLsm::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("linux.mountLabel") && e.contains("u:object_r:t:s0"),
            "{e}"
        );
        let selinux = HostLsm {
            selinux: true,
            ..HostLsm::default()
        };
        check_host(
            &lsm(None, Some("u:r:t:s0")),
            Some("u:object_r:t:s0"),
            &selinux,
        )
        .unwrap();
        // An SELinux host still refuses an AppArmor profile.
        assert!(check_host(&lsm(Some("p"), None), None, &selinux).is_err());
    }
}
