//! `create`: from a bundle to an init waiting for `start`.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::{Container, DEFAULT_ROOT};
use crate::cgroups::CgroupHandle;
use crate::process::{self, InitPlan};
use crate::spec;
use crate::state::{self, State, StateError, Status, EXEC_FIFO};
use crate::tty::{ConsoleSocket, TtyError};

/// Builds and creates a container from an OCI bundle.
///
/// ```no_run
/// let c = husk::ContainerBuilder::new("demo", "/path/to/bundle").root("/run/husk").create()?;
/// # Ok::<(), husk::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ContainerBuilder {
    pub(super) id: String,
    pub(super) bundle: PathBuf,
    pub(super) root: PathBuf,
    pub(super) pid_file: Option<PathBuf>,
    pub(super) console_socket: Option<ConsoleSocket>,
    pub(super) opts: process::PlanOptions,
    extra_env: Vec<String>,
    listen_fds: u32,
    pub(super) systemd_cgroup: bool,
    pub(super) rootless: bool,
    stdio: process::Stdio,
}

impl ContainerBuilder {
    /// A container `id` from the bundle directory `bundle` (holding config.json).
    pub fn new(id: impl Into<String>, bundle: impl Into<PathBuf>) -> Self {
        ContainerBuilder {
            id: id.into(),
            bundle: bundle.into(),
            root: PathBuf::from(DEFAULT_ROOT),
            pid_file: None,
            console_socket: None,
            opts: Default::default(),
            extra_env: Vec::new(),
            listen_fds: 0,
            systemd_cgroup: false,
            rootless: false,
            stdio: process::Stdio::new(),
        }
    }

    /// State root directory (default `/run/husk`).
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// The container process's stdin, stdout and stderr (by default the caller's
    /// fds 0, 1 and 2). Not with `process.terminal`, whose pty is its stdio.
    pub fn stdio(mut self, stdio: process::Stdio) -> Self {
        self.stdio = stdio;
        self
    }

    /// Write the init's pid to this file once created.
    pub fn pid_file(mut self, p: impl Into<PathBuf>) -> Self {
        self.pid_file = Some(p.into());
        self
    }

    /// Unix socket that receives the pty master when `process.terminal` is set
    /// (runc's `--console-socket`): one message, the name as payload, the fd as
    /// SCM_RIGHTS. Setting it without `process.terminal` is an error, as with runc.
    pub fn console_socket(mut self, p: impl Into<PathBuf>) -> Self {
        self.console_socket = Some(ConsoleSocket::Path(p.into()));
        self
    }

    /// Like [`ContainerBuilder::console_socket`] with an already connected socket,
    /// e.g. one end of [`crate::tty::socketpair`] whose other end the caller reads
    /// with [`crate::tty::recv_master`].
    ///
    /// ```no_run
    /// use std::os::fd::AsFd;
    ///
    /// let (ours, theirs) = husk::tty::socketpair()?;
    /// let mut c = husk::ContainerBuilder::new("c1", "/path/to/bundle") // process.terminal: true
    ///     .console_fd(theirs)
    ///     .create()?;
    /// let (master, _name) = husk::tty::recv_master(ours.as_fd())?;
    /// c.start()?; // the container's terminal output is read from `master`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn console_fd(mut self, fd: OwnedFd) -> Self {
        self.console_socket = Some(ConsoleSocket::Connected(std::sync::Arc::new(fd)));
        self
    }

    /// Variables added to `process.env`, each replacing the variable of the same
    /// name (as `exec --env` does).
    pub fn env(mut self, vars: Vec<String>) -> Self {
        self.extra_env = vars;
        self
    }

    /// Socket activation: the caller's fds 3..3+n (its listening sockets) are passed
    /// to the container process, before the [`ContainerBuilder::preserve_fds`] ones,
    /// with `LISTEN_FDS=n` and `LISTEN_PID` set to the process's pid as it sees it
    /// (1 in its own pid namespace, as runc and crun set).
    pub fn listen_fds(mut self, n: u32) -> Self {
        self.listen_fds = n;
        self
    }

    /// Pass fds 3..3+n of the caller (after the [`ContainerBuilder::listen_fds`]
    /// ones) to the container process.
    pub fn preserve_fds(mut self, n: u32) -> Self {
        self.opts.preserve_fds = n;
        self
    }

    /// Use MS_MOVE + chroot instead of pivot_root (for ramfs roots).
    pub fn no_pivot(mut self, on: bool) -> Self {
        self.opts.no_pivot = on;
        self
    }

    /// Keep the caller's session keyring instead of a fresh one.
    pub fn no_new_keyring(mut self, on: bool) -> Self {
        self.opts.no_new_keyring = on;
        self
    }

    /// Use the systemd cgroup driver.
    pub fn systemd_cgroup(mut self, on: bool) -> Self {
        self.systemd_cgroup = on;
        self
    }

    /// Rootless mode (runc's `--rootless`): the caller is an unprivileged user. Id maps
    /// other than the caller's own id go through `newuidmap`/`newgidmap`; cgroups the
    /// user may not create are skipped when no limit is asked (a limit that cannot be
    /// applied is an error) and no device cgroup is set; `rbind,ro` mounts are made
    /// read-only recursively. See [`crate::rootless`] for the caller's defaults
    /// (e.g. [`crate::rootless::default_root`]).
    pub fn rootless(mut self, on: bool) -> Self {
        self.rootless = on;
        self
    }

    /// The plan `create` would apply, computed without touching the system: no
    /// state directory, no cgroup, no process, no mount (it only reads the bundle,
    /// `/proc/self/mountinfo`, `/proc/self/cgroup` and the cgroup files the cgroup
    /// planner probes). A bad config fails with the same error `create` gives.
    /// Serialize it (`serde_json`) for `husk create --dry-run`'s JSON.
    ///
    /// ```no_run
    /// let plan = husk::ContainerBuilder::new("demo", "/path/to/bundle").plan()?;
    /// for step in &plan.rootfs.mounts {
    ///     println!("{}", serde_json::to_string(step).unwrap_or_default());
    /// }
    /// # Ok::<(), husk::Error>(())
    /// ```
    pub fn plan(&self) -> crate::Result<crate::plan::CreatePlan> {
        let (bundle, spec, mut plan) = self.load_and_plan(&mut Phase::start(&self.id))?;
        let linux = spec.linux().as_ref();
        let cgroup = CgroupHandle::resolve_as(
            cgroups_path(linux).as_deref(),
            &self.id,
            self.systemd_cgroup,
            self.rootless,
        )?;
        let resources = if self.rootless {
            linux
                .and_then(|l| l.resources().clone())
                .unwrap_or_default()
        } else {
            device_resources(linux)
        };
        plan.rootfs.cgroup_sources = cgroup.mount_sources();
        plan.rootfs.cgroup_ns = plan
            .ns
            .owns(nix::sched::CloneFlags::CLONE_NEWCGROUP.bits() as u64);
        crate::plan::CreatePlan::new(&plan, bundle, &cgroup, self.systemd_cgroup, &resources)
    }

    /// The first step of create and of [`ContainerBuilder::plan`]: the id, the
    /// bundle, config.json loaded, validated and planned, the LSM fields checked
    /// against the host and the console socket against `process.terminal`.
    fn load_and_plan(
        &self,
        phase: &mut Phase<'_>,
    ) -> crate::Result<(PathBuf, oci_spec::runtime::Spec, InitPlan)> {
        state::validate_id(&self.id)?;
        let bundle =
            std::fs::canonicalize(&self.bundle).map_err(|source| spec::SpecError::Read {
                path: self.bundle.clone(),
                source,
            })?;
        let spec = spec::load(&bundle)?;
        spec::validate(&spec, &bundle)?;
        let mut opts = self.opts.clone();
        opts.preserve_fds += self.listen_fds;
        opts.rootless = self.rootless;
        let mut plan = InitPlan::from_spec(&self.id, &spec, &bundle, &opts)?;
        plan.process.add_env(&self.extra_env);
        if self.listen_fds > 0 {
            plan.process
                .add_env(&[format!("LISTEN_FDS={}", self.listen_fds)]);
            plan.process.listen_pid = true;
        }
        // An LSM field the host cannot apply fails now, before anything is made.
        crate::lsm::check_host(
            &plan.process.lsm,
            plan.rootfs.mount_label.as_deref(),
            &crate::lsm::HostLsm::detect(),
        )?;
        match (&self.console_socket, plan.process.terminal) {
            (None, true) => return Err(TtyError::NoConsoleSocket.into()),
            (Some(_), false) => return Err(TtyError::UnusedConsoleSocket.into()),
            _ => {}
        }
        if self.stdio.is_set() && plan.process.terminal {
            return Err(TtyError::StdioWithTerminal.into());
        }
        plan.process.stdio = self.stdio.raw();
        phase.done("load and plan config.json");
        Ok((bundle, spec, plan))
    }

    /// Creates the container: all set-up done, the init waits for `start`.
    /// On any failure nothing is left behind (process, cgroup, state directory).
    ///
    /// Safe from a multi-threaded process: the init is then cloned by a helper
    /// process (see [`crate::helper`]); it is a child of the caller either way.
    pub fn create(self) -> crate::Result<Container> {
        let mut phase = Phase::start(&self.id);
        let (bundle, spec, mut plan) = self.load_and_plan(&mut phase)?;
        // Connect before anything is made: a bad socket leaves nothing behind.
        let console = match (&self.console_socket, plan.process.terminal) {
            (Some(cs), true) => Some(cs.connect()?),
            _ => None,
        };

        state::ensure_root(&self.root)?;
        let dir = State::dir(&self.root, &self.id);
        state::create_dir(&dir, &self.id)?;
        let mut undo = Undo {
            dir: Some(dir.clone()),
            cgroup: None,
            rdt: None,
        };
        let lock = state::Lock::acquire(&dir)?;
        // From here on a `creating` state names everything made so far, so that
        // `delete --force` can undo a create that was killed midway.
        let root_path = spec
            .root()
            .as_ref()
            .map(|r| bundle.join(r.path()))
            .unwrap_or_default();
        let me = std::process::id() as i32;
        let mut st = State {
            oci_version: spec.version().clone(),
            id: self.id.clone(),
            pid: 0,
            init_start_time: 0,
            status: Status::Creating,
            bundle: bundle.clone(),
            rootfs: root_path,
            created: state::rfc3339_nano(SystemTime::now()),
            owner: String::new(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            cgroup: None,
            hooks: spec.hooks().clone(),
            terminal: plan.process.terminal,
            exec: Some(process::ExecBase::from_spec(
                &spec,
                self.opts.no_new_keyring,
            )),
            intel_rdt: plan.intel_rdt.clone(),
            creator: Some((me, state::start_time(me)?)),
        };
        // One write names the cgroup directories about to be made too (resolving
        // creates nothing), as a plan: `create` alone learns which existed.
        let linux = spec.linux().as_ref();
        let mut cgroup = CgroupHandle::resolve_as(
            cgroups_path(linux).as_deref(),
            &self.id,
            self.systemd_cgroup,
            self.rootless,
        )?;
        st.cgroup = Some(cgroup.planned());
        st.save(&self.root)?;
        phase.done("create and lock state directory");
        crate::fault::point("state-dir");

        if self.rootless {
            cgroup.create_rootless()?;
            undo.cgroup = Some(cgroup.clone());
            let r = linux
                .and_then(|l| l.resources().clone())
                .unwrap_or_default();
            cgroup.apply_rootless(&r)?;
        } else {
            cgroup.create()?;
            undo.cgroup = Some(cgroup.clone());
            cgroup.apply(&device_resources(linux))?;
        }
        phase.done("create cgroup and apply resources");
        crate::fault::point("cgroup");
        // The next state write (the init's pid) holds what `create` made, exactly.
        st.cgroup = Some(cgroup.clone());
        plan.rootfs.cgroup_sources = cgroup.mount_sources();
        plan.rootfs.cgroup_ns = plan
            .ns
            .owns(nix::sched::CloneFlags::CLONE_NEWCGROUP.bits() as u64);

        // Idmapped mount sources are made here, where we are privileged in the initial
        // user namespace; the init inherits them. Held until the init is cloned.
        let idmap_sources = plan.rootfs.prepare_idmaps()?;
        let fifo = make_fifo(&dir)?;
        let annotations = spec.annotations().clone().unwrap_or_default();
        let state_json = |pid| {
            state::oci_state_json(
                spec.version(),
                &self.id,
                Status::Created,
                pid,
                &bundle,
                &annotations,
            )
        };
        // The init's pid goes into the `creating` state before anything else
        // happens to it: a husk killed from now on leaves an init `delete` finds.
        let init_start = std::cell::Cell::new(0u64);
        let record_pid = |pid: i32| -> Result<(), String> {
            let mut s = st.clone();
            s.pid = pid;
            s.init_start_time = state::start_time(pid).map_err(|e| e.to_string())?;
            init_start.set(s.init_start_time);
            s.save(&self.root).map_err(|e| e.to_string())?;
            crate::fault::point("clone");
            Ok(())
        };
        let pid = process::spawn_init(
            &plan,
            Some(&cgroup),
            fifo,
            console,
            &[lock.raw_fd()],
            &state_json,
            &record_pid,
        )?;
        undo.rdt = plan.intel_rdt.clone();
        drop(idmap_sources);
        phase.done("clone init and wait until ready");
        crate::fault::point("created");
        // The start time read for the `creating` state (the same process), or read now.
        let start = match init_start.get() {
            0 => state::start_time(pid),
            t => Ok(t),
        };
        let saved = start.and_then(|start| {
            st.pid = pid;
            st.init_start_time = start;
            st.status = Status::Created;
            st.creator = None;
            st.cgroup = Some(cgroup);
            st.save(&self.root)?;
            match &self.pid_file {
                Some(p) => write_pid_file(p, pid),
                None => Ok(()),
            }
        });
        commit(self.root, st, pid, saved, undo)
    }
}

/// `linux.cgroupsPath` as a string.
fn cgroups_path(linux: Option<&oci_spec::runtime::Linux>) -> Option<String> {
    linux
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned())
}

/// The last step of create and restore: when the final state or pid file could not
/// be written the init is killed and reaped and `undo` (dropped) removes the rest;
/// else the guard is disarmed and the container handed out.
pub(super) fn commit(
    root: PathBuf,
    st: State,
    pid: i32,
    saved: Result<(), StateError>,
    mut undo: Undo,
) -> Result<Container, crate::Error> {
    if let Err(e) = saved {
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(e.into());
    }
    undo.disarm();
    Ok(Container { root, state: st })
}

/// The exec fifo, opened for reading before any writer exists (see the init's wait).
fn make_fifo(dir: &Path) -> Result<OwnedFd, StateError> {
    let path = dir.join(EXEC_FIFO);
    // 0622: only root may open it for reading; the umask must not narrow it.
    nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o622))
        .map_err(|e| state::io_err("mkfifo", &path)(e.into()))?;
    let fd = nix::fcntl::open(
        &path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| state::io_err("open", &path)(e.into()))?;
    Ok(fd)
}

/// Writes the pid file atomically (temp file + rename), as runc does.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<(), StateError> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string()).map_err(state::io_err("write pid file", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(state::io_err("rename pid file", &path))
}

/// Undoes a half-made create when dropped unless disarmed: the cgroup (only what
/// create made: in a cgroup that existed before, nobody else's process is killed),
/// the resctrl group, the state directory. The init is killed before.
pub(super) struct Undo {
    pub(super) dir: Option<PathBuf>,
    pub(super) cgroup: Option<CgroupHandle>,
    pub(super) rdt: Option<crate::intelrdt::RdtPlan>,
}

impl Undo {
    pub(super) fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.rdt = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.destroy();
        }
        if let Some(rdt) = self.rdt.take() {
            let _ = crate::intelrdt::remove(&rdt);
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The spec's resources with runc's device rules: the config's list, then the devices
/// every container may use, then an allow rule per `linux.devices` entry.
pub(super) fn device_resources(
    linux: Option<&oci_spec::runtime::Linux>,
) -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxResources};
    let mut r = linux
        .and_then(|l| l.resources().clone())
        .unwrap_or_else(|| {
            let mut r = LinuxResources::default();
            r.set_devices(None);
            r
        });
    let mut rules = r.devices().clone().unwrap_or_default();
    rules.extend(crate::cgroups::plan::default_allow_rules());
    // Fifos ('p') are not device-cgroup rules: the cgroup only governs b/c nodes.
    for d in linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .filter(|d| !matches!(d.typ(), oci_spec::runtime::LinuxDeviceType::P))
    {
        // 'u' (unbuffered char) is a char device to the cgroup.
        let typ = match d.typ() {
            oci_spec::runtime::LinuxDeviceType::U => oci_spec::runtime::LinuxDeviceType::C,
            t => t,
        };
        if let Ok(rule) = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(typ)
            .major(d.major())
            .minor(d.minor())
            .access("rwm")
            .build()
        {
            rules.push(rule);
        }
    }
    r.set_devices(Some(rules));
    r
}

/// `--debug`: logs each create phase with its duration. Reads the clock only when
/// debug logging is on.
struct Phase<'a> {
    id: &'a str,
    last: Option<std::time::Instant>,
}

impl<'a> Phase<'a> {
    fn start(id: &'a str) -> Self {
        let last = tracing::enabled!(tracing::Level::DEBUG).then(std::time::Instant::now);
        Phase { id, last }
    }

    fn done(&mut self, what: &str) {
        if let Some(t) = self.last {
            let now = std::time::Instant::now();
            tracing::debug!("create {}: {what}: {:?}", self.id, now - t);
            self.last = Some(now);
        }
    }
}
