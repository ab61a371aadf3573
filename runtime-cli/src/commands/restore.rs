//! `husk restore`: a container from CRIU images (runc's flags). In the foreground
//! husk waits for the restored container as `run` does and deletes it afterwards.

use std::path::PathBuf;

use husk::checkpoint::RestoreOptions;

use super::checkpoint::CriuFlags;
use super::tty;
use crate::Ctx;

// `restore [flags] ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Bundle directory (default: current directory).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Return once restored instead of waiting.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the restored init's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the restored pty master.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Do not become a subreaper while waiting in the foreground.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Refused: CRIU sets up the restored root itself, with pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// LSM profile for the restored process (apparmor:NAME or selinux:LABEL).
    #[arg(long = "lsm-profile")]
    pub lsm_profile: Option<String>,
    /// SELinux mount context for the restored mounts.
    #[arg(long = "lsm-mount-context")]
    pub lsm_mount_context: Option<String>,
    /// Container id.
    pub id: String,
}

fn wants_terminal(bundle: &std::path::Path) -> bool {
    husk::spec::load(bundle)
        .ok()
        .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false)
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    a.criu.refuse()?;
    if a.no_pivot {
        return Err("--no-pivot is not supported by restore: CRIU restores the container's root itself (with pivot_root) and has no chroot mode".into());
    }
    let opts = RestoreOptions {
        image_path: a.criu.image_path()?,
        work_path: a.criu.work_path.clone(),
        tcp_established: a.criu.tcp_established,
        ext_unix_sk: a.criu.ext_unix_sk,
        shell_job: a.criu.shell_job,
        file_locks: a.criu.file_locks,
        manage_cgroups_mode: a.criu.cgroups_mode()?,
        empty_ns: a.criu.empty_ns.clone(),
        auto_dedup: a.criu.auto_dedup,
        lsm_profile: a.lsm_profile.clone(),
        lsm_mount_context: a.lsm_mount_context.clone(),
    };
    let mut b = husk::ContainerBuilder::new(&a.id, &a.bundle)
        .root(&ctx.root)
        .systemd_cgroup(ctx.systemd_cgroup);
    if let Some(p) = &a.pid_file {
        b = b.pid_file(p);
    }
    if a.detach {
        if let Some(s) = &a.console_socket {
            b = b.console_socket(s);
        }
        b.restore(&opts)?;
        return Ok(0);
    }
    if a.console_socket.is_some() {
        return Err("cannot use console socket if husk will not detach or allocate tty".into());
    }
    let ours = if wants_terminal(&a.bundle) {
        let (ours, theirs) = tty::console_pair()?;
        b = b.console_fd(theirs);
        Some(ours)
    } else {
        None
    };
    let set = tty::forwarded_signals();
    set.thread_block()?;
    if !a.no_subreaper {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    let c = b.restore(&opts)?;
    let mut proxy = tty::receive_or_delete(ours, ctx, &a.id)?;
    let code = tty::supervise(c.pid(), &set, proxy.as_mut());
    drop(proxy);
    if let Ok(c) = husk::Container::load(&ctx.root, &a.id) {
        c.delete(true)?;
    }
    Ok(code?)
}
