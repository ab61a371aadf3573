//! Checkpoint a running container with CRIU, and restore one from its images into a
//! new container (the same or another id). The images are described to CRIU as
//! runc does (`checkpoint/plan.rs`), so husk and runc images interoperate.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use rust_criu::rust_criu_protobuf::rpc::Criu_req_type;

use super::builder::{device_resources, write_pid_file, Undo};
use super::{Container, ContainerBuilder};
use crate::cgroups::CgroupHandle;
use crate::cgroups::HierarchyVersion;
use crate::checkpoint::plan::{self, CriuPlanInput, DumpFacts, RestoreFacts};
use crate::checkpoint::{
    io_err, CheckpointError, CheckpointOptions, RestoreOptions, Swrk, DESCRIPTORS_FILE, DUMP_LOG,
    RESTORE_LOG,
};
use crate::hooks::HookKind;
use crate::process::{self, InitPlan};
use crate::state::{self, Lock, State, Status};
use crate::tty::TtyError;
use crate::{spec, Error};

/// Where the rootfs is bound for a restore, in the state directory: CRIU needs the
/// root to be a mount point whose parent is not overmounted.
const CRIU_ROOT: &str = "criu-root";

fn open_dir(p: &Path) -> Result<OwnedFd, CheckpointError> {
    nix::fcntl::open(
        p,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", p)(e.into()))
}

fn mkdir_all(p: &Path) -> Result<(), CheckpointError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
        .map_err(io_err("create", p))
}

/// The container's plan as CRIU needs it, with the cgroup it has.
fn criu_input(plan: &mut InitPlan, cgroup: Option<&CgroupHandle>) -> CriuPlanInput {
    if let Some(cg) = cgroup {
        plan.rootfs.cgroup_sources = cg.mount_sources();
    }
    plan.rootfs.cgroup_ns = plan
        .ns
        .owns(nix::sched::CloneFlags::CLONE_NEWCGROUP.bits() as u64);
    CriuPlanInput::from_init_plan(plan)
}

impl Container {
    /// Checkpoints the container into `opts.image_path` with CRIU. Unless
    /// `leave_running` or `pre_dump`, the container is gone afterwards (its
    /// processes end with the dump and it is deleted, as runc does). Errors from
    /// CRIU name CRIU's log (`dump.log` in the work directory, by default the
    /// images directory).
    pub fn checkpoint(&mut self, opts: &CheckpointOptions) -> crate::Result<()> {
        if opts.image_path.as_os_str().is_empty() {
            return Err(CheckpointError::Option("checkpoint: no image path".into()).into());
        }
        {
            let _lock = Lock::acquire(&self.dir())?;
            self.state.refresh(&self.root);
            match self.state.status {
                Status::Running | Status::Paused => {}
                s => {
                    return Err(Error::State {
                        id: self.id().into(),
                        msg: format!("cannot checkpoint a container in {s} state"),
                    })
                }
            }
            self.dump(opts)?;
        }
        if !opts.leave_running && !opts.pre_dump {
            // CRIU ended the processes; what is left is the cgroup and the state.
            Container::load(&self.root, self.id())?.delete(true)?;
            self.state.status = Status::Stopped;
        }
        Ok(())
    }

    fn dump(&self, opts: &CheckpointOptions) -> crate::Result<()> {
        let spec = spec::load(&self.state.bundle)?;
        let mut plan =
            InitPlan::from_spec(self.id(), &spec, &self.state.bundle, &Default::default())?;
        let input = criu_input(&mut plan, self.state.cgroup.as_ref());
        let pid = self.state.pid;

        mkdir_all(&opts.image_path)?;
        let images = open_dir(&opts.image_path)?;
        let work_path = opts
            .work_path
            .clone()
            .unwrap_or_else(|| opts.image_path.clone());
        mkdir_all(&work_path)?;
        let work = open_dir(&work_path)?;

        let proc_root = PathBuf::from(format!("/proc/{pid}/root"));
        let masked_files = input
            .masked
            .iter()
            .filter(|p| {
                let inside = proc_root.join(p.strip_prefix("/").unwrap_or(p));
                std::fs::metadata(inside)
                    .map(|m| !m.is_dir())
                    .unwrap_or(false)
            })
            .cloned()
            .collect();
        let mut ns_inodes = Vec::new();
        for ns in &input.external_ns {
            let st =
                nix::sys::stat::stat(&ns.path).map_err(|e| io_err("stat", &ns.path)(e.into()))?;
            ns_inodes.push((ns.kind, ns.key, st.st_ino));
        }
        let freeze_cgroup = self.state.cgroup.as_ref().and_then(|cg| {
            cg.dir_for(HierarchyVersion::V1, "freezer")
                .map(Path::to_path_buf)
                .or_else(|| cg.v2_dir())
        });
        let (descriptors, stdio_externals) = stdio_of(pid);
        let facts = DumpFacts {
            pid,
            root: std::fs::canonicalize(&self.state.rootfs).unwrap_or(self.state.rootfs.clone()),
            masked_files,
            ns_inodes,
            freeze_cgroup,
            stdio_externals,
        };
        let rpc_opts = plan::dump_opts(&input, &facts, opts, images.as_raw_fd(), work.as_raw_fd())?;
        if !opts.pre_dump {
            let path = opts.image_path.join(DESCRIPTORS_FILE);
            let json =
                serde_json::to_vec(&descriptors).map_err(|e| io_err("encode", &path)(e.into()))?;
            std::fs::write(&path, json).map_err(io_err("write", &path))?;
        }
        let kind = if opts.pre_dump {
            Criu_req_type::PRE_DUMP
        } else {
            Criu_req_type::DUMP
        };
        let swrk = Swrk::spawn(&[images.as_fd(), work.as_fd()], work_path.join(DUMP_LOG))?;
        swrk.call(kind, Some(rpc_opts), &mut |_| Ok(()))?;
        Ok(())
    }
}

/// The init's stdio as CRIU must be told about it (see [`plan::stdio_descriptors`]):
/// what each of fds 0-2 links to, its mount and inode, against the mounts of the
/// container's mount namespace.
fn stdio_of(pid: i32) -> (Vec<String>, Vec<String>) {
    let container_mounts: Vec<u64> = procfs::process::Process::new(pid)
        .and_then(|p| p.mountinfo())
        .map(|m| m.into_iter().map(|m| m.mnt_id as u64).collect())
        .unwrap_or_default();
    let fds: Vec<plan::StdioFd> = (0..3)
        .map(|i| {
            let link = std::fs::read_link(format!("/proc/{pid}/fd/{i}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Hand-read: procfs's fdinfo has no `mnt_id`.
            let mnt_id = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{i}"))
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("mnt_id:").map(|v| v.trim().parse().ok()))
                        .flatten()
                });
            let ino = std::fs::metadata(format!("/proc/{pid}/fd/{i}"))
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .unwrap_or(0);
            plan::StdioFd { link, mnt_id, ino }
        })
        .collect();
    plan::stdio_descriptors(&fds, &container_mounts)
}

impl ContainerBuilder {
    /// Restores a container from CRIU images (made by [`Container::checkpoint`] or
    /// runc) under this builder's id, bundle, state root, pid file and console
    /// socket. The restored init is a child of the caller; the container is
    /// `running` with the new pid. On failure nothing is left behind.
    pub fn restore(self, opts: &RestoreOptions) -> crate::Result<Container> {
        state::validate_id(&self.id)?;
        let bundle =
            std::fs::canonicalize(&self.bundle).map_err(|source| spec::SpecError::Read {
                path: self.bundle.clone(),
                source,
            })?;
        let spec = spec::load(&bundle)?;
        spec::validate(&spec, &bundle)?;
        let mut plan = InitPlan::from_spec(&self.id, &spec, &bundle, &self.opts)?;
        // Check the images before anything is made.
        let images = open_dir(&opts.image_path)?;
        let desc_path = opts.image_path.join(DESCRIPTORS_FILE);
        let desc = std::fs::read(&desc_path).map_err(io_err("read", &desc_path))?;
        let descriptors: Vec<String> = serde_json::from_slice(&desc)
            .map_err(|e| io_err("parse", &desc_path)(std::io::Error::other(e)))?;
        let console = match (&self.console_socket, plan.process.terminal) {
            (Some(cs), true) => Some(cs.connect()?),
            (None, true) => return Err(TtyError::NoConsoleSocket.into()),
            (Some(_), false) => return Err(TtyError::UnusedConsoleSocket.into()),
            (None, false) => None,
        };

        state::ensure_root(&self.root)?;
        let dir = State::dir(&self.root, &self.id);
        state::create_dir(&dir, &self.id)?;
        let mut undo = Undo {
            dir: Some(dir.clone()),
            cgroup: None,
            rdt: None,
        };
        let _lock = Lock::acquire(&dir)?;
        let linux = spec.linux().as_ref();
        let cg_path = linux
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let cgroup = CgroupHandle::resolve(cg_path.as_deref(), &self.id, self.systemd_cgroup)?;
        cgroup.create()?;
        undo.cgroup = Some(cgroup.clone());
        cgroup.apply(&device_resources(linux))?;
        let input = criu_input(&mut plan, Some(&cgroup));

        let work_path = opts
            .work_path
            .clone()
            .unwrap_or_else(|| opts.image_path.clone());
        mkdir_all(&work_path)?;
        let work = open_dir(&work_path)?;
        let root = RootBind::new(&dir.join(CRIU_ROOT), &plan.rootfs.rootfs)?;

        // Namespaces joined by path are handed to CRIU as fds it inherits.
        let mut ns_files = Vec::new();
        let mut inherit = plan::stdio_inherits(&descriptors);
        for ns in &input.external_ns {
            let f = std::fs::File::open(&ns.path).map_err(io_err("open", &ns.path))?;
            inherit.push((ns.key.to_string(), f.as_raw_fd()));
            ns_files.push(f);
        }
        let cg_root = cgroup
            .dirs()
            .iter()
            .filter(|d| {
                cgroup.mode() == crate::cgroups::CgroupMode::V2 || d.version == HierarchyVersion::V1
            })
            .map(|d| {
                let rel = d.path.strip_prefix(&d.mount_point).unwrap_or(&d.path);
                let path = format!("/{}", rel.to_string_lossy().trim_start_matches('/'));
                let ctrl = (d.version == HierarchyVersion::V1).then(|| d.controllers.join(","));
                (ctrl, path)
            })
            .collect();
        let facts = RestoreFacts {
            root: root.path.clone(),
            inherit,
            cg_root,
        };
        let rpc_opts =
            plan::restore_opts(&input, &facts, opts, images.as_raw_fd(), work.as_raw_fd())?;
        let mut keep = vec![images.as_fd(), work.as_fd()];
        keep.extend(ns_files.iter().map(|f| f.as_fd()));
        let swrk = Swrk::spawn(&keep, work_path.join(RESTORE_LOG))?;
        // CRIU restores into the cgroups it runs in (and those named in cg_root).
        cgroup.add_pid(swrk.pid())?;

        let annotations = spec.annotations().clone().unwrap_or_default();
        let hooks = spec.hooks().clone();
        let mut restored_pid = 0;
        let mut on_notify = |n: crate::checkpoint::Notify| -> Result<(), String> {
            match n.script.as_str() {
                "setup-namespaces" => {
                    let st = state::oci_state_json(
                        spec.version(),
                        &self.id,
                        Status::Creating,
                        n.pid,
                        &bundle,
                        &annotations,
                    );
                    if let Some(h) = &hooks {
                        for kind in [HookKind::Prestart, HookKind::CreateRuntime] {
                            crate::hooks::run_hooks(kind, kind.select(h), &st)
                                .map_err(|e| e.to_string())?;
                        }
                    }
                }
                "post-restore" => restored_pid = n.pid,
                "orphan-pts-master" => {
                    let (Some(sock), Some(master)) = (console.as_ref(), n.fd.as_ref()) else {
                        return Err("CRIU sent a pty master but there is no console socket".into());
                    };
                    crate::tty::send_master(sock.as_fd(), master.as_fd(), "orphan-pts-master")
                        .map_err(|e| format!("send the pty master to the console socket: {e}"))?;
                }
                _ => {}
            }
            Ok(())
        };
        let out = swrk.call(Criu_req_type::RESTORE, Some(rpc_opts), &mut on_notify)?;
        if restored_pid <= 0 {
            restored_pid = out.resp.restore.pid();
        }
        drop(root);
        let start_time = state::start_time(restored_pid)?;
        let st = State {
            oci_version: spec.version().clone(),
            id: self.id.clone(),
            pid: restored_pid,
            init_start_time: start_time,
            status: Status::Running,
            bundle: bundle.clone(),
            rootfs: plan.rootfs.rootfs.clone(),
            created: state::rfc3339_nano(SystemTime::now()),
            owner: String::new(),
            annotations,
            cgroup: Some(cgroup),
            hooks: spec.hooks().clone(),
            terminal: plan.process.terminal,
            exec: Some(process::ExecBase::from_spec(
                &spec,
                self.opts.no_new_keyring,
            )),
            intel_rdt: plan.intel_rdt.clone(),
            creator: None,
        };
        let saved = st.save(&self.root).and_then(|_| match &self.pid_file {
            Some(p) => write_pid_file(p, restored_pid),
            None => Ok(()),
        });
        super::builder::commit(self.root, st, restored_pid, saved, undo)
    }
}

/// The rootfs bound at a private mount point for CRIU; unbound and removed on drop.
struct RootBind {
    path: PathBuf,
}

impl RootBind {
    fn new(path: &Path, rootfs: &Path) -> Result<RootBind, CheckpointError> {
        std::fs::create_dir(path).map_err(io_err("create", path))?;
        let b = RootBind {
            path: path.to_path_buf(),
        };
        mount(
            Some(rootfs),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| io_err("bind the rootfs at", path)(e.into()))?;
        Ok(b)
    }
}

impl Drop for RootBind {
    fn drop(&mut self) {
        let _ = umount2(&self.path, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.path);
    }
}
