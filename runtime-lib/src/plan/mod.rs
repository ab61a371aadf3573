//! The inspectable plan: everything `create` would apply, as data, computed
//! without touching the system ([`crate::ContainerBuilder::plan`], `husk create
//! --dry-run`).
//!
//! Nothing here plans anything: the values come from the planners `create` itself
//! uses (`InitPlan`, `RootfsPlan`, the cgroup
//! planner, the seccomp planner); this module only turns their bits and numbers into
//! names, in the order `create` applies them. The JSON shape is stable and documented
//! in `docs/cli.md` ("husk create --dry-run"); [`PLAN_VERSION`] changes when it does.

mod names;
mod rootfs;

pub use rootfs::{MountCall, MountStep, PlannedMount, RecursiveAttrs, RootfsView};

// The parts of the plan that are the planners' own types (public as plan data).
pub use crate::cgroups::layout::CgroupMode;
pub use crate::rootfs::idmap::IdmapOp;
pub use crate::rootfs::DeviceOp;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::cgroups::CgroupHandle;
use crate::process::InitPlan;

pub use names::{caps as cap_names, ms_flags as mount_flag_names};

/// Version of the plan's JSON shape.
pub const PLAN_VERSION: u32 = 1;

/// What `create` would do for a bundle, in the order it does it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePlan {
    /// [`PLAN_VERSION`].
    pub plan_version: u32,
    /// The container id.
    pub id: String,
    /// The bundle directory, made absolute.
    pub bundle: PathBuf,
    /// Namespaces created and joined.
    pub namespaces: NamespacesView,
    /// `hostname`, set in a new UTS namespace.
    pub hostname: Option<String>,
    /// `domainname`.
    pub domainname: Option<String>,
    /// The root filesystem: every mount, in order, and the devices.
    pub rootfs: RootfsView,
    /// The cgroup and every write to its files.
    pub cgroup: CgroupView,
    /// `linux.sysctl`, written through the container's procfs after the switch of root.
    pub sysctl: BTreeMap<String, String>,
    /// The container's process.
    pub process: ProcessView,
    /// `linux.seccomp`, summarised (`None`: no filter).
    pub seccomp: Option<SeccompView>,
    /// AppArmor and SELinux.
    pub lsm: LsmView,
    /// The config's hooks by point, as they will run.
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// A fresh session keyring is joined (unless `--no-new-keyring`).
    pub new_session_keyring: bool,
}

/// Namespaces: what is created, what is joined, and the id maps.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespacesView {
    /// Kinds created (`/proc/<pid>/ns/` names: `mnt`, `pid`, `net`, ...).
    pub create: Vec<String>,
    /// Kinds joined, in join order (user first, mount last), with the path opened.
    pub join: Vec<JoinView>,
    /// How the init is made: `"single clone"` (every namespace in one clone) or
    /// `"intermediate"` (a process joins/unshares first and clones the init).
    pub clone: String,
    /// `uid_map` lines written for a new user namespace.
    pub uid_map: Vec<String>,
    /// `gid_map` lines written for a new user namespace.
    pub gid_map: Vec<String>,
    /// How `uid_map` is written: `direct`, or `helper` (`newuidmap`).
    pub uid_map_writer: String,
    /// How `gid_map` is written: `direct`, or `helper` (`newgidmap`).
    pub gid_map_writer: String,
    /// `deny` is written to `setgroups` before `gid_map` (rootless).
    pub deny_setgroups: bool,
    /// `timens_offsets` lines for a new time namespace.
    pub time_offsets: Vec<String>,
}

/// One namespace joined by path.
#[derive(Debug, Clone, Serialize)]
pub struct JoinView {
    /// The kind (`net`, `ipc`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The path opened and `setns`ed.
    pub path: PathBuf,
}

/// Device nodes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicesView {
    /// `mknod`, or `bind` (in a user namespace: host nodes are bound).
    pub method: String,
    /// The nodes (empty when `/dev` is a bind from the host).
    pub nodes: Vec<crate::rootfs::DeviceOp>,
    /// Symlinks made in `/dev` (name, target).
    pub symlinks: Vec<(String, String)>,
}

/// The cgroup.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CgroupView {
    /// `cgroupfs` or `systemd` (the systemd driver sets what it has properties for
    /// on the unit first; these writes are the cgroupfs view).
    pub driver: String,
    /// v1, v2 or hybrid.
    pub mode: crate::cgroups::CgroupMode,
    /// The container's cgroup directory in each hierarchy.
    pub paths: Vec<PathBuf>,
    /// Every write, in order.
    pub writes: Vec<CgroupWriteView>,
    /// On cgroup v2: an eBPF device filter is attached (built from the device rules).
    pub device_filter: bool,
}

/// One cgroup file write.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CgroupWriteView {
    /// The OCI field it realises.
    pub field: String,
    /// The file's full path.
    pub path: PathBuf,
    /// The bytes written.
    pub value: String,
}

/// The container's process.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessView {
    /// `process.args`.
    pub args: Vec<String>,
    /// The environment, as exec'd (duplicates folded, the last wins).
    pub env: Vec<String>,
    /// `process.cwd`.
    pub cwd: PathBuf,
    /// `process.user`.
    pub user: UserView,
    /// `process.terminal`.
    pub terminal: bool,
    /// The five capability sets by name.
    pub capabilities: CapsView,
    /// `process.rlimits`, in order.
    pub rlimits: Vec<RlimitView>,
    /// `process.noNewPrivileges`.
    pub no_new_privileges: bool,
    /// `process.oomScoreAdj` (rootless: clamped to the caller's).
    pub oom_score_adj: Option<i32>,
    /// Fds 3.. passed in (`--preserve-fds` plus socket activation).
    pub preserve_fds: u32,
}

/// The user the process runs as.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// umask, in octal (`0022`).
    pub umask: String,
}

/// Capability sets.
#[derive(Debug, Clone, Serialize)]
pub struct CapsView {
    /// Bounding.
    pub bounding: Vec<String>,
    /// Effective.
    pub effective: Vec<String>,
    /// Inheritable.
    pub inheritable: Vec<String>,
    /// Permitted.
    pub permitted: Vec<String>,
    /// Ambient.
    pub ambient: Vec<String>,
}

/// One rlimit.
#[derive(Debug, Clone, Serialize)]
pub struct RlimitView {
    /// `RLIMIT_*`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// The seccomp filter, summarised.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompView {
    /// `SCMP_ACT_*` for syscalls no rule matches.
    pub default_action: String,
    /// The errno of an `SCMP_ACT_ERRNO` default.
    pub default_errno: Option<u16>,
    /// Architectures besides the native one.
    pub architectures: Vec<oci_spec::runtime::Arch>,
    /// Rules in the filter (one per syscall name resolved).
    pub rules: usize,
    /// Names skipped (unknown to libseccomp or this kernel).
    pub skipped: usize,
    /// Filter flags asked for (`SECCOMP_FILTER_FLAG_*`).
    pub flags: Vec<String>,
    /// The seccomp agent's socket that receives the notify fd.
    pub listener: Option<PathBuf>,
}

/// AppArmor and SELinux.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LsmView {
    /// `process.apparmorProfile`.
    pub apparmor_profile: Option<String>,
    /// `process.selinuxLabel`.
    pub selinux_label: Option<String>,
    /// `linux.mountLabel` (already in the `context=` data of the mounts that take it).
    pub mount_label: Option<String>,
}

impl CreatePlan {
    /// Renders `plan` (as `create` computed it) and the writes `cgroup` would do
    /// for `resources`.
    pub(crate) fn new(
        plan: &InitPlan,
        bundle: PathBuf,
        cgroup: &CgroupHandle,
        systemd: bool,
        resources: &oci_spec::runtime::LinuxResources,
    ) -> crate::Result<Self> {
        let writes = cgroup
            .plan(resources)?
            .into_iter()
            .map(|w| CgroupWriteView {
                path: cgroup
                    .dir_for(w.version, &w.controller)
                    .map(|d| d.join(&w.file))
                    .unwrap_or_else(|| PathBuf::from(&w.file)),
                field: w.field,
                value: w.value,
            })
            .collect();
        let p = &plan.process;
        Ok(CreatePlan {
            plan_version: PLAN_VERSION,
            id: plan.id.clone(),
            bundle,
            namespaces: namespaces(&plan.ns),
            hostname: plan.hostname.clone(),
            domainname: plan.domainname.clone(),
            rootfs: rootfs::view(&plan.rootfs, p.terminal),
            cgroup: CgroupView {
                driver: if systemd { "systemd" } else { "cgroupfs" }.into(),
                mode: cgroup.mode(),
                paths: cgroup.dirs().iter().map(|d| d.path.clone()).collect(),
                writes,
                device_filter: cgroup.device_filter(resources)?.is_some(),
            },
            sysctl: plan.sysctl.iter().cloned().collect(),
            process: ProcessView {
                args: p.args.clone(),
                env: p.env.clone(),
                cwd: p.cwd.clone(),
                user: UserView {
                    uid: p.user.uid,
                    gid: p.user.gid,
                    additional_gids: p.user.additional_gids.clone(),
                    umask: format!("{:04o}", p.user.umask),
                },
                terminal: p.terminal,
                capabilities: CapsView {
                    bounding: names::caps(p.caps.bounding),
                    effective: names::caps(p.caps.effective),
                    inheritable: names::caps(p.caps.inheritable),
                    permitted: names::caps(p.caps.permitted),
                    ambient: names::caps(p.caps.ambient),
                },
                rlimits: p
                    .rlimits
                    .iter()
                    .map(|r| RlimitView {
                        kind: names::rlimit(r.resource),
                        soft: r.soft,
                        hard: r.hard,
                    })
                    .collect(),
                no_new_privileges: p.no_new_privs,
                oom_score_adj: p.oom_score_adj,
                preserve_fds: p.preserve_fds,
            },
            seccomp: p.seccomp.as_ref().map(seccomp),
            lsm: LsmView {
                apparmor_profile: p.lsm.apparmor_profile.clone(),
                selinux_label: p.lsm.selinux_label.clone(),
                mount_label: plan.rootfs.mount_label.clone(),
            },
            hooks: plan.hooks.clone(),
            new_session_keyring: plan.new_keyring,
        })
    }
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn writer(w: crate::namespaces::MapWriter) -> String {
    match w {
        crate::namespaces::MapWriter::Direct => "direct",
        crate::namespaces::MapWriter::Helper => "helper",
    }
    .into()
}

fn namespaces(ns: &crate::namespaces::NamespacePlan) -> NamespacesView {
    NamespacesView {
        create: names::namespaces(ns.create),
        join: ns
            .join
            .iter()
            .map(|(f, p)| JoinView {
                kind: crate::namespaces::name(*f).to_string(),
                path: p.clone(),
            })
            .collect(),
        clone: if ns.single_clone() {
            "single clone"
        } else {
            "intermediate"
        }
        .into(),
        uid_map: lines(&ns.uid_map),
        gid_map: lines(&ns.gid_map),
        uid_map_writer: writer(ns.map_method.uid),
        gid_map_writer: writer(ns.map_method.gid),
        deny_setgroups: ns.map_method.deny_setgroups,
        time_offsets: lines(&ns.time_offsets),
    }
}

fn seccomp(s: &crate::seccomp::SeccompPlan) -> SeccompView {
    use crate::seccomp::Action;
    let f = s.flags;
    let flags = [
        (f.tsync, "SECCOMP_FILTER_FLAG_TSYNC"),
        (f.log, "SECCOMP_FILTER_FLAG_LOG"),
        (f.spec_allow, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
        (
            f.wait_killable_recv,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        ),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| n.to_string())
    .collect();
    SeccompView {
        default_action: s.default_action.spec_name().to_string(),
        default_errno: match s.default_action {
            Action::Errno(e) => Some(e),
            _ => None,
        },
        architectures: s.architectures.clone(),
        rules: s.rules.len(),
        skipped: s.skipped.len(),
        flags,
        listener: s.listener.as_ref().map(|l| l.path.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init_plan(json: &str) -> InitPlan {
        let spec: oci_spec::runtime::Spec = serde_json::from_str(json).unwrap();
        let opts = crate::process::PlanOptions::default();
        InitPlan::from_spec("c1", &spec, std::path::Path::new("/b"), &opts).unwrap()
    }

    #[test]
    fn mounts_in_apply_order_with_named_flags() {
        let p = init_plan(
            r#"{"ociVersion":"1.2.0","root":{"path":"rootfs","readonly":true},
            "process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],
              "capabilities":{"bounding":["CAP_KILL"]},
              "rlimits":[{"type":"RLIMIT_NOFILE","soft":10,"hard":20}]},
            "mounts":[
              {"destination":"/data","source":"data","options":["rbind","ro","rw","nosuid","rprivate"]},
              {"destination":"/t","type":"tmpfs","source":"tmpfs","options":["noexec","size=1m","rro"]}],
            "linux":{"namespaces":[{"type":"mount"},{"type":"pid"},{"type":"network","path":"/proc/1/ns/net"}],
              "maskedPaths":["/proc/kcore"],"readonlyPaths":["proc/sys"]}}"#,
        );
        let r = rootfs::view(&p.rootfs, false);
        let steps: Vec<String> = r
            .mounts
            .iter()
            .map(|s| {
                serde_json::to_value(s).unwrap()["step"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            steps,
            [
                "rootPropagation",
                "rootfsBind",
                "mount",
                "mount",
                "readonlyPath",
                "maskedPath",
                "rootReadonly"
            ]
        );
        let MountStep::Mount(data) = &r.mounts[2] else {
            panic!("{:?}", r.mounts[2])
        };
        assert_eq!(
            data.source.as_deref(),
            Some(std::path::Path::new("/b/data"))
        );
        assert_eq!(data.mount.flags, ["bind", "rec"]);
        // `rw` after `ro`: not read-only, and the remount clears it.
        let remount = data.remount.as_ref().map(|r| r.flags.clone());
        assert_eq!(
            remount,
            Some(vec!["nosuid".into(), "remount".into(), "bind".into()])
        );
        assert_eq!(data.cleared, ["ro"]);
        assert_eq!(data.propagation, ["rprivate"]);
        let MountStep::Mount(t) = &r.mounts[3] else {
            panic!("{:?}", r.mounts[3])
        };
        assert_eq!(
            (t.mount.flags.clone(), t.mount.data.as_str()),
            (vec!["noexec".to_string()], "size=1m")
        );
        assert_eq!(
            t.recursive.as_ref().map(|a| a.set.clone()),
            Some(vec!["rro".to_string()])
        );
        let v = serde_json::to_value(&r.mounts[4]).unwrap();
        assert_eq!(v["destination"], "/proc/sys");
        assert_eq!(r.switch_root, "pivot_root");

        let ns = namespaces(&p.ns);
        assert_eq!(ns.create, ["mnt", "pid"]);
        assert_eq!(ns.join.len(), 1);
        assert_eq!(
            (ns.join[0].kind.as_str(), ns.clone.as_str()),
            ("net", "intermediate")
        );
        assert_eq!(names::caps(p.process.caps.bounding), ["CAP_KILL"]);
        assert_eq!(
            names::rlimit(p.process.rlimits[0].resource),
            "RLIMIT_NOFILE"
        );
    }
}
