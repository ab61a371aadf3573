//! `husk run`: create + start; in the foreground husk waits for the container,
//! forwards signals to it, deletes it and exits with its status. With
//! `process.terminal` in the foreground husk is its own console socket and proxies
//! its stdin/stdout to the container's pty, as runc does.

use super::create::CreateFlags;
use super::tty;
use crate::Ctx;

// `run [flags] ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Return once started instead of waiting.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container when it exits.
    #[arg(long)]
    pub keep: bool,
    /// Container id.
    pub id: String,
}

/// Whether the bundle's config asks for a terminal (a bad config is left for
/// `create` to report).
/// `process.terminal` of the bundle's config.json, read on its own (the create that
/// follows loads and checks the whole config, and reports any error in it).
fn wants_terminal(flags: &CreateFlags) -> bool {
    #[derive(serde::Deserialize)]
    struct Config {
        process: Option<Process>,
    }
    #[derive(serde::Deserialize)]
    struct Process {
        terminal: Option<bool>,
    }
    std::fs::read(flags.bundle.join("config.json"))
        .ok()
        .and_then(|text| serde_json::from_slice::<Config>(&text).ok())
        .and_then(|c| c.process?.terminal)
        .unwrap_or(false)
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    if a.flags.dry_run {
        let mut b = a.flags.builder(&a.id, ctx);
        // In the foreground husk is the console socket itself (see below).
        if !a.detach && a.flags.console_socket.is_none() && wants_terminal(&a.flags) {
            b = b.console_fd(tty::console_pair()?.1);
        }
        return super::create::print_plan(&b);
    }
    if a.detach {
        let mut c = a.flags.builder(&a.id, ctx).create()?;
        if let Err(e) = c.start() {
            let _ = husk::Container::load(&ctx.root, &a.id).map(|c| c.delete(true));
            return Err(e.into());
        }
        return Ok(0);
    }
    if a.flags.console_socket.is_some() {
        return Err("cannot use console socket if husk will not detach or allocate tty".into());
    }
    let mut builder = a.flags.builder(&a.id, ctx);
    let ours = if wants_terminal(&a.flags) {
        let (ours, theirs) = tty::console_pair()?;
        builder = builder.console_fd(theirs);
        Some(ours)
    } else {
        None
    };
    let mut c = builder.create()?;
    let mut phases = crate::logging::Phases::start("run", &a.id);
    let mut proxy = tty::receive_or_delete(ours, ctx, &a.id)?;
    // Block the signals we forward before starting, so none is lost; the init was
    // forked before this and keeps the original mask.
    let set = tty::forwarded_signals();
    set.thread_block()?;
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let pid = c.pid();
    if let Err(e) = c.start() {
        drop(proxy);
        let _ = husk::Container::load(&ctx.root, &a.id).map(|c| c.delete(true));
        return Err(e.into());
    }
    phases.done("start");
    let code = tty::supervise(pid, &set, proxy.as_mut());
    drop(proxy);
    phases.done("container process runs and exits");
    if !a.keep {
        if let Ok(c) = husk::Container::load(&ctx.root, &a.id) {
            c.delete(true)?;
            phases.done("delete");
        }
    }
    Ok(code?)
}
