//! What the config asks of the LSMs, computed before anything runs (pure).

use oci_spec::runtime::{Process, Spec};
use serde::{Deserialize, Serialize};

/// The labels of one process (the container's init or an exec'd process).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessLsm {
    /// `process.apparmorProfile`: the profile the process gets at exec.
    pub apparmor_profile: Option<String>,
    /// `process.selinuxLabel`: the process label at exec, also the label of the
    /// session keyring the process creates.
    pub selinux_label: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref().filter(|s| !s.is_empty()).map(String::from)
}

impl ProcessLsm {
    /// The labels `process` asks for (empty strings mean none, as in runc).
    pub fn from_process(process: &Process) -> Self {
        ProcessLsm {
            apparmor_profile: non_empty(process.apparmor_profile()),
            selinux_label: non_empty(process.selinux_label()),
        }
    }

    /// An exec'd process: its own profile and label, else the container's (runc's
    /// rule: the container's config is the default of every field exec does not set).
    pub fn for_exec(process: &Process, container: Option<&Process>) -> Self {
        let own = Self::from_process(process);
        let base = container.map(Self::from_process).unwrap_or_default();
        ProcessLsm {
            apparmor_profile: own.apparmor_profile.or(base.apparmor_profile),
            selinux_label: own.selinux_label.or(base.selinux_label),
        }
    }

    /// True when nothing is asked of any LSM.
    pub fn is_empty(&self) -> bool {
        self.apparmor_profile.is_none() && self.selinux_label.is_none()
    }
}

/// `linux.mountLabel`, empty meaning none.
pub fn mount_label(spec: &Spec) -> Option<String> {
    spec.linux()
        .as_ref()
        .and_then(|l| non_empty(l.mount_label()))
}

/// Filesystems that get `linux.mountLabel` as a `context=` option, as runc: every
/// filesystem mount but proc, sysfs, mqueue (labelled with an xattr instead), cgroup
/// and cgroup2 (runc passes their data unchanged). Binds never (the option is data,
/// which a bind ignores).
pub fn takes_context(fs_type: &str) -> bool {
    !matches!(
        fs_type,
        "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2" | "bind"
    )
}

/// The mount data with `context="LABEL"` appended (go-selinux's `FormatMountLabel`
/// spelling, the quotes keep the label's commas inside one option).
pub fn mount_data(data: &str, label: Option<&str>) -> String {
    match label {
        None | Some("") => data.to_string(),
        Some(l) if data.is_empty() => format!("context=\"{l}\""),
        Some(l) => format!("{data},context=\"{l}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(json: &str) -> Process {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn empty_strings_mean_nothing() {
        let p = process(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["x"],"apparmorProfile":"","selinuxLabel":""}"#,
        );
        assert!(ProcessLsm::from_process(&p).is_empty());
    }

    #[test]
    fn exec_inherits_the_container_labels_unless_it_has_its_own() {
        let c = process(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["x"],"apparmorProfile":"ctr","selinuxLabel":"a:b:c:s0"}"#,
        );
        let none = process(r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["x"]}"#);
        let own = process(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["x"],"apparmorProfile":"mine"}"#,
        );
        let l = ProcessLsm::for_exec(&none, Some(&c));
        assert_eq!(l.apparmor_profile.as_deref(), Some("ctr"));
        assert_eq!(l.selinux_label.as_deref(), Some("a:b:c:s0"));
        let l = ProcessLsm::for_exec(&own, Some(&c));
        assert_eq!(l.apparmor_profile.as_deref(), Some("mine"));
        assert_eq!(l.selinux_label.as_deref(), Some("a:b:c:s0"));
        assert!(ProcessLsm::for_exec(&none, None).is_empty());
    }

    #[test]
    fn mount_label_is_a_quoted_context_option() {
        let l = Some("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(
            mount_data("mode=755,size=65536k", l),
            "mode=755,size=65536k,context=\"system_u:object_r:container_file_t:s0:c1,c2\""
        );
        assert_eq!(mount_data("", Some("x:y:z:s0")), "context=\"x:y:z:s0\"");
        assert_eq!(mount_data("mode=755", None), "mode=755");
        assert_eq!(mount_data("mode=755", Some("")), "mode=755");
    }

    #[test]
    fn which_filesystems_take_the_context_option() {
        for t in ["tmpfs", "devpts", "shm", "overlay"] {
            assert!(takes_context(t), "{t}");
        }
        for t in ["proc", "sysfs", "mqueue", "cgroup", "cgroup2", "bind"] {
            assert!(!takes_context(t), "{t}");
        }
    }

    #[test]
    fn rootfs_plan_labels_the_mounts_runc_labels() {
        let s: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"mounts":[
            {"destination":"/proc","type":"proc","source":"proc"},
            {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["mode=755"]},
            {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["newinstance"]},
            {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue"},
            {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup"},
            {"destination":"/data","type":"bind","source":"/tmp","options":["rbind"]}],
            "linux":{"mountLabel":"u:object_r:t:s0"}}"#,
        )
        .unwrap();
        let p = crate::rootfs::RootfsPlan::from_spec(
            &s,
            std::path::Path::new("/b"),
            false,
            false,
            true,
        )
        .unwrap();
        let data: Vec<&str> = p.mounts.iter().map(|m| m.data.as_str()).collect();
        let ctx = "context=\"u:object_r:t:s0\"";
        assert_eq!(
            data,
            [
                "",
                &format!("mode=755,{ctx}"),
                &format!("newinstance,{ctx}"),
                "",
                "",
                ""
            ]
        );
        assert_eq!(p.mount_label.as_deref(), Some("u:object_r:t:s0"));
    }

    #[test]
    fn spec_mount_label() {
        let s: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"mountLabel":"system_u:object_r:x_t:s0"}}"#,
        )
        .unwrap();
        assert_eq!(mount_label(&s).as_deref(), Some("system_u:object_r:x_t:s0"));
        let s: Spec =
            serde_json::from_str(r#"{"ociVersion":"1.0.2","linux":{"mountLabel":""}}"#).unwrap();
        assert_eq!(mount_label(&s), None);
    }
}
