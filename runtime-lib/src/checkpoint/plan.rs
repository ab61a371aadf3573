//! What CRIU is told about a container (pure): which mounts are external (binds,
//! cgroup binds, masked files, bound device nodes), which namespaces are external,
//! the cgroup to freeze and restore into, and the caller's options as CRIU's RPC
//! options. The rules follow runc's, so images are described the same way.

use std::path::{Path, PathBuf};

use rust_criu::rust_criu_protobuf::rpc;

use super::{CheckpointError, CheckpointOptions, RestoreOptions, DUMP_LOG, RESTORE_LOG};
use crate::rootfs::plan::MountOp;

/// CRIU's log verbosity, as runc uses (4 = debug): the log is the only account of a
/// failed dump or restore.
const LOG_LEVEL: i32 = 4;
/// The key of an external network namespace (the one runc uses, so images interoperate).
pub const EXT_NET_NS_KEY: &str = "extRootNetNS";
/// The key of an external pid namespace.
pub const EXT_PID_NS_KEY: &str = "extRootPidNS";

/// `--manage-cgroups-mode`: how CRIU treats the container's cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupsMode {
    /// Restore cgroup properties only where cgroups were made by CRIU.
    Soft,
    /// Restore all properties.
    Full,
    /// Fail if a cgroup exists with other properties.
    Strict,
    /// Leave cgroups alone.
    Ignore,
}

impl std::str::FromStr for CgroupsMode {
    type Err = CheckpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "soft" => Ok(CgroupsMode::Soft),
            "full" => Ok(CgroupsMode::Full),
            "strict" => Ok(CgroupsMode::Strict),
            "ignore" => Ok(CgroupsMode::Ignore),
            _ => Err(CheckpointError::Option(format!(
                "invalid --manage-cgroups-mode {s:?}: use soft, full, strict or ignore"
            ))),
        }
    }
}

impl CgroupsMode {
    fn rpc(self) -> rpc::Criu_cg_mode {
        match self {
            CgroupsMode::Soft => rpc::Criu_cg_mode::SOFT,
            CgroupsMode::Full => rpc::Criu_cg_mode::FULL,
            CgroupsMode::Strict => rpc::Criu_cg_mode::STRICT,
            CgroupsMode::Ignore => rpc::Criu_cg_mode::IGNORE,
        }
    }
}

/// A namespace the container joined by path: CRIU leaves it out of the images
/// (dump) and is handed an fd of it (restore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalNs {
    /// `net` or `pid`.
    pub kind: &'static str,
    /// The key in the images.
    pub key: &'static str,
    /// The namespace file the config names.
    pub path: PathBuf,
}

/// The container facts CRIU needs, taken from its plan and cgroup.
#[derive(Debug, Clone, Default)]
pub struct CriuPlanInput {
    /// `mounts` of the config, planned.
    pub mounts: Vec<MountOp>,
    /// For `cgroup` mounts: (hierarchy name, host dir); one unnamed entry on v2.
    pub cgroup_sources: Vec<(String, PathBuf)>,
    /// The container has its own cgroup namespace (a v2 cgroup mount is then a real
    /// cgroup2 mount CRIU dumps itself, not a bind).
    pub cgroup_ns: bool,
    /// `linux.maskedPaths`.
    pub masked: Vec<PathBuf>,
    /// Device nodes bound from the host (in a user namespace) rather than made.
    pub device_binds: Vec<PathBuf>,
    /// Namespaces joined by path that CRIU must treat as external.
    pub external_ns: Vec<ExternalNs>,
}

impl CriuPlanInput {
    /// The facts of an [`crate::process::InitPlan`] (with its cgroup sources set).
    pub fn from_init_plan(plan: &crate::process::InitPlan) -> Self {
        use nix::sched::CloneFlags;
        let external_ns = plan
            .ns
            .join
            .iter()
            .filter_map(|(flag, path)| {
                let (kind, key) = if *flag == CloneFlags::CLONE_NEWNET.bits() as u64 {
                    ("net", EXT_NET_NS_KEY)
                } else if *flag == CloneFlags::CLONE_NEWPID.bits() as u64 {
                    ("pid", EXT_PID_NS_KEY)
                } else {
                    return None;
                };
                Some(ExternalNs {
                    kind,
                    key,
                    path: path.clone(),
                })
            })
            .collect();
        CriuPlanInput {
            mounts: plan.rootfs.mounts.clone(),
            cgroup_sources: plan.rootfs.cgroup_sources.clone(),
            cgroup_ns: plan.rootfs.cgroup_ns,
            masked: plan.rootfs.masked.clone(),
            device_binds: if plan.rootfs.bind_devices {
                plan.rootfs.devices.iter().map(|d| d.path.clone()).collect()
            } else {
                Vec::new()
            },
            external_ns,
        }
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The cgroup mounts' parts that are binds of host directories: (container path,
/// host dir). v2 with a cgroup namespace mounts cgroup2 itself: nothing external.
fn cgroup_binds(input: &CriuPlanInput, dest: &Path) -> Vec<(PathBuf, PathBuf)> {
    match input.cgroup_sources.as_slice() {
        [(name, host)] if name.is_empty() => {
            if input.cgroup_ns {
                Vec::new()
            } else {
                vec![(dest.to_path_buf(), host.clone())]
            }
        }
        many => many
            .iter()
            .map(|(name, host)| {
                (
                    dest.join(name.strip_prefix("name=").unwrap_or(name)),
                    host.clone(),
                )
            })
            .collect(),
    }
}

/// External mounts for a dump: each key is the container path, each value the name
/// recorded in the images (the path again; `/dev/null` for masked files).
/// `masked_files` are the masked paths that are files in the running container (a
/// masked directory is a tmpfs CRIU dumps itself).
pub fn dump_ext_mounts(input: &CriuPlanInput, masked_files: &[PathBuf]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in &input.mounts {
        if m.is_bind() || m.typ == "bind" {
            out.push((s(&m.dest), s(&m.dest)));
        } else if m.typ == "cgroup" || m.typ == "cgroup2" {
            for (dest, _) in cgroup_binds(input, &m.dest) {
                out.push((s(&dest), s(&dest)));
            }
        }
    }
    for p in masked_files {
        out.push((s(p), "/dev/null".into()));
    }
    for d in &input.device_binds {
        out.push((s(d), s(d)));
    }
    out
}

/// External mounts for a restore: each key is the name in the images, each value
/// the host path to bind there now (a bind's source, this container's cgroup dirs,
/// the host's `/dev/null` for masked files, the host's device nodes).
pub fn restore_ext_mounts(input: &CriuPlanInput) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in &input.mounts {
        if m.is_bind() || m.typ == "bind" {
            let src = m.source.clone().unwrap_or_default();
            out.push((s(&m.dest), s(&src)));
        } else if m.typ == "cgroup" || m.typ == "cgroup2" {
            for (dest, host) in cgroup_binds(input, &m.dest) {
                out.push((s(&dest), s(&host)));
            }
        }
    }
    if !input.masked.is_empty() {
        out.push(("/dev/null".into(), "/dev/null".into()));
    }
    for d in &input.device_binds {
        out.push((s(d), s(d)));
    }
    out
}

/// `--empty-ns` names to CLONE_NEW* bits. CRIU can leave out only the network
/// namespace; anything else is refused here rather than by CRIU mid-dump.
pub fn empty_ns_bits(names: &[String]) -> Result<u32, CheckpointError> {
    let mut bits = 0u32;
    for n in names {
        match n.as_str() {
            "network" | "net" => bits |= libc::CLONE_NEWNET as u32,
            "ipc" | "mount" | "pid" | "user" | "uts" | "cgroup" | "time" => {
                return Err(CheckpointError::Option(format!(
                    "--empty-ns {n}: CRIU can only leave out the network namespace"
                )))
            }
            _ => {
                return Err(CheckpointError::Option(format!(
                    "--empty-ns {n}: not a namespace type"
                )))
            }
        }
    }
    Ok(bits)
}

/// The stdio of the checkpointed init that restore must replace: each pipe
/// (`pipe:[N]`) or external file (`file[MNT:INO]`) in `descriptors` (the init's fds
/// 0, 1, 2 as recorded at checkpoint) is inherited from the restoring process's fd
/// of the same number.
pub fn stdio_inherits(descriptors: &[String]) -> Vec<(String, i32)> {
    descriptors
        .iter()
        .take(3)
        .enumerate()
        .filter(|(_, d)| d.starts_with("pipe:") || d.starts_with("file["))
        .map(|(i, d)| (d.clone(), i as i32))
        .collect()
}

/// One stdio fd of the init at checkpoint: what `/proc/PID/fd/N` links to, the
/// mount its file is on (`mnt_id` of fdinfo) and its inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioFd {
    /// The link (a path, `pipe:[N]`, `socket:[N]`, ...).
    pub link: String,
    /// The mount id, when the fd has one.
    pub mnt_id: Option<u64>,
    /// The inode.
    pub ino: u64,
}

/// The descriptors to record and the CRIU externals for the init's stdio. A file
/// (e.g. the host's `/dev/null`, or a fifo of containerd's) opened on a mount that is
/// not in the container's mount namespace cannot be dumped by path: it becomes
/// CRIU's external `file[MNT:INO]` (hex, CRIU's format), recorded under that key so
/// restore hands its own fd of the same number in its place, as it does for pipes.
pub fn stdio_descriptors(fds: &[StdioFd], container_mounts: &[u64]) -> (Vec<String>, Vec<String>) {
    let mut descriptors = Vec::new();
    let mut externals = Vec::new();
    for f in fds {
        match f.mnt_id {
            Some(m) if f.link.starts_with('/') && !container_mounts.contains(&m) => {
                let key = format!("file[{m:x}:{:x}]", f.ino);
                externals.push(key.clone());
                descriptors.push(key);
            }
            _ => descriptors.push(f.link.clone()),
        }
    }
    (descriptors, externals)
}

/// `--page-server ADDRESS:PORT`.
pub fn parse_page_server(v: &str) -> Result<(String, i32), CheckpointError> {
    let bad = || {
        CheckpointError::Option(format!(
            "--page-server {v:?}: expected ADDRESS:PORT (e.g. 192.0.2.1:27)"
        ))
    };
    let (addr, port) = v.rsplit_once(':').ok_or_else(bad)?;
    let port: i32 = port.parse().map_err(|_| bad())?;
    if addr.is_empty() || !(1..=65535).contains(&port) {
        return Err(bad());
    }
    Ok((addr.trim_matches(['[', ']']).to_string(), port))
}

fn ext_mnt(pairs: Vec<(String, String)>) -> Vec<rpc::Ext_mount_map> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            let mut m = rpc::Ext_mount_map::new();
            m.set_key(k);
            m.set_val(v);
            m
        })
        .collect()
}

/// Options shared by dump and restore.
fn common(images_fd: i32, work_fd: i32, log: &str) -> rpc::Criu_opts {
    let mut o = rpc::Criu_opts::new();
    o.set_images_dir_fd(images_fd);
    o.set_work_dir_fd(work_fd);
    o.set_log_level(LOG_LEVEL);
    o.set_log_file(log.into());
    o.set_manage_cgroups(true);
    o.set_notify_scripts(true);
    // A terminal's master lives outside the container: CRIU hands a new one back.
    o.set_orphan_pts_master(true);
    o
}

/// The dump's facts discovered on the live container.
#[derive(Debug, Clone, Default)]
pub struct DumpFacts {
    /// The init's host pid.
    pub pid: i32,
    /// The container's rootfs on the host.
    pub root: PathBuf,
    /// Masked paths that are files in the container.
    pub masked_files: Vec<PathBuf>,
    /// (kind, inode) of each external namespace.
    pub ns_inodes: Vec<(&'static str, &'static str, u64)>,
    /// The freezer (v1) or the cgroup (v2) CRIU freezes the container with.
    pub freeze_cgroup: Option<PathBuf>,
    /// `file[MNT:INO]` externals for stdio opened outside the container.
    pub stdio_externals: Vec<String>,
}

/// CRIU's options for a dump or pre-dump.
pub fn dump_opts(
    input: &CriuPlanInput,
    facts: &DumpFacts,
    o: &CheckpointOptions,
    images_fd: i32,
    work_fd: i32,
) -> Result<rpc::Criu_opts, CheckpointError> {
    let mut r = common(images_fd, work_fd, DUMP_LOG);
    r.set_pid(facts.pid);
    r.set_root(s(&facts.root));
    r.set_shell_job(o.shell_job);
    r.set_leave_running(o.leave_running || o.pre_dump);
    r.set_tcp_established(o.tcp_established);
    r.set_ext_unix_sk(o.ext_unix_sk);
    r.set_file_locks(o.file_locks);
    r.set_auto_dedup(o.auto_dedup);
    let empty = empty_ns_bits(&o.empty_ns)?;
    if empty != 0 {
        r.set_empty_ns(empty);
    }
    if let Some(f) = &facts.freeze_cgroup {
        r.set_freeze_cgroup(s(f));
    }
    if let Some((addr, port)) = &o.page_server {
        let mut ps = rpc::Criu_page_server_info::new();
        ps.set_address(addr.clone());
        ps.set_port(*port);
        r.ps = protobuf::MessageField::some(ps);
    }
    if let Some(p) = &o.parent_path {
        r.set_parent_img(s(p));
    }
    // Memory tracking lets a later dump send only what changed since this one.
    if o.pre_dump || o.parent_path.is_some() {
        r.set_track_mem(true);
    }
    if let Some(m) = o.manage_cgroups_mode {
        r.set_manage_cgroups_mode(m.rpc());
    }
    for (kind, key, ino) in &facts.ns_inodes {
        r.external.push(format!("{kind}[{ino}]:{key}"));
    }
    r.external.extend(facts.stdio_externals.iter().cloned());
    // A pre-dump only copies memory: mounts are described by the final dump.
    if !o.pre_dump {
        r.ext_mnt = ext_mnt(dump_ext_mounts(input, &facts.masked_files));
    }
    Ok(r)
}

/// The restore's facts prepared on the host.
#[derive(Debug, Clone, Default)]
pub struct RestoreFacts {
    /// The rootfs as a mount point CRIU can pivot into.
    pub root: PathBuf,
    /// (key, fd number in `criu swrk`) of inherited fds: stdio pipes, namespaces.
    pub inherit: Vec<(String, i32)>,
    /// (controllers or None for all, path below the hierarchy root) to restore into.
    pub cg_root: Vec<(Option<String>, String)>,
}

/// CRIU's options for a restore.
pub fn restore_opts(
    input: &CriuPlanInput,
    facts: &RestoreFacts,
    o: &RestoreOptions,
    images_fd: i32,
    work_fd: i32,
) -> Result<rpc::Criu_opts, CheckpointError> {
    let mut r = common(images_fd, work_fd, RESTORE_LOG);
    r.set_root(s(&facts.root));
    // The restored init becomes our child, as a created one is.
    r.set_rst_sibling(true);
    r.set_evasive_devices(true);
    r.set_shell_job(o.shell_job);
    r.set_tcp_established(o.tcp_established);
    r.set_ext_unix_sk(o.ext_unix_sk);
    r.set_file_locks(o.file_locks);
    r.set_auto_dedup(o.auto_dedup);
    let empty = empty_ns_bits(&o.empty_ns)?;
    if empty != 0 {
        r.set_empty_ns(empty);
    }
    if let Some(m) = o.manage_cgroups_mode {
        r.set_manage_cgroups_mode(m.rpc());
    }
    if let Some(p) = &o.lsm_profile {
        r.set_lsm_profile(p.clone());
    }
    if let Some(c) = &o.lsm_mount_context {
        r.set_lsm_mount_context(c.clone());
    }
    r.ext_mnt = ext_mnt(restore_ext_mounts(input));
    for (key, fd) in &facts.inherit {
        let mut i = rpc::Inherit_fd::new();
        i.set_key(key.clone());
        i.set_fd(*fd);
        r.inherit_fd.push(i);
    }
    for (ctrl, path) in &facts.cg_root {
        let mut c = rpc::Cgroup_root::new();
        if let Some(ctrl) = ctrl {
            c.set_ctrl(ctrl.clone());
        }
        c.set_path(path.clone());
        r.cg_root.push(c);
    }
    Ok(r)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
