//! `husk create`.

use std::path::PathBuf;

use super::activation::listen_fds;
use crate::Ctx;

// Flags shared by `create` and `run`.
#[derive(clap::Args, Debug, Clone)]
pub struct CreateFlags {
    /// Bundle directory (default: current directory).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master when the process has a terminal.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the init's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many extra fds (3, 4, ...) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Print the plan husk would apply (namespaces, mounts in order, devices, cgroup
    /// writes, process, capabilities, rlimits, seccomp, hooks) as JSON, and change
    /// nothing: no state, no cgroup, no process, no mount.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

impl CreateFlags {
    /// The library builder for these flags.
    pub fn builder(&self, id: &str, ctx: &Ctx) -> husk::ContainerBuilder {
        let mut b = husk::ContainerBuilder::new(id, &self.bundle)
            .root(&ctx.root)
            .preserve_fds(self.preserve_fds)
            .listen_fds(listen_fds())
            .no_pivot(self.no_pivot)
            .no_new_keyring(self.no_new_keyring)
            .systemd_cgroup(ctx.systemd_cgroup)
            .rootless(ctx.rootless);
        if let Some(p) = &self.pid_file {
            b = b.pid_file(p);
        }
        if let Some(s) = &self.console_socket {
            b = b.console_socket(s);
        }
        b
    }
}

// `create [flags] ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Container id.
    pub id: String,
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    if a.flags.dry_run {
        return print_plan(&a.flags.builder(&a.id, ctx));
    }
    a.flags.builder(&a.id, ctx).create()?;
    Ok(0)
}

/// `--dry-run`: the plan as pretty JSON on stdout.
pub fn print_plan(b: &husk::ContainerBuilder) -> super::CmdResult {
    let plan = b.plan()?;
    let json = serde_json::to_string_pretty(&plan)?;
    println!("{json}");
    Ok(0)
}
