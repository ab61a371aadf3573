//! One file per subcommand; each turns its flags into library calls. `tty` and
//! `activation` hold what `run`, `create` and `exec` share.

pub mod activation;
pub mod checkpoint;
pub mod completion;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod restore;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod tty;
pub mod update;
pub mod version;

use clap::Subcommand;

use crate::Ctx;

/// An error to print: one line, exit status 1.
pub type CmdResult = Result<u8, Box<dyn std::error::Error>>;

/// The subcommands. Each one's arguments are defined only when it is the one
/// parsed (or help, completion and man pages need them all): building every
/// subcommand's arguments took a few percent of a `run`'s CPU time. The `Args`
/// structs have plain comments, not doc comments: deferred, their doc comment
/// would replace the description given here.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Create a container (its init waits for `start`).
    Create(create::Args),
    /// Start a created container.
    Start(start::Args),
    /// Create and start a container (foreground unless --detach).
    Run(run::Args),
    /// Print a container's state as JSON.
    State(state::Args),
    /// Send a signal to a container's init (or all its processes).
    Kill(kill::Args),
    /// Delete a container.
    Delete(delete::Args),
    /// List containers.
    #[command(alias = "ps-list")]
    List(list::Args),
    /// Write a default config.json.
    Spec(spec::Args),
    /// Print what this runtime supports, as JSON.
    Features(features::Args),
    /// Freeze every process of a container.
    Pause(pause::Args),
    /// Thaw a paused container.
    Resume(pause::Args),
    /// Show the container's processes.
    Ps(ps::Args),
    /// Change a container's resource limits.
    Update(update::Args),
    /// Stream stats and OOM events.
    Events(events::Args),
    /// Run a new process inside a container.
    Exec(exec::Args),
    /// Print a shell completion script (bash, zsh or fish).
    Completion(completion::Args),
    /// Checkpoint a running container with CRIU.
    Checkpoint(checkpoint::Args),
    /// Restore a container from a CRIU checkpoint.
    Restore(restore::Args),
}

impl Command {
    /// Commands that run husk code inside a container's namespaces before an exec.
    pub fn spawns_container_process(&self) -> bool {
        // A dry run forks nothing: no guarded copy of the binary is made for it.
        match self {
            Command::Create(a) => !a.flags.dry_run,
            Command::Run(a) => !a.flags.dry_run,
            Command::Exec(_) => true,
            _ => false,
        }
    }
}

/// Dispatches a subcommand; returns the exit status.
pub fn run(cmd: Command, ctx: &Ctx) -> CmdResult {
    match cmd {
        Command::Create(a) => create::run(a, ctx),
        Command::Start(a) => start::run(a, ctx),
        Command::Run(a) => run::run(a, ctx),
        Command::State(a) => state::run(a, ctx),
        Command::Kill(a) => kill::run(a, ctx),
        Command::Delete(a) => delete::run(a, ctx),
        Command::List(a) => list::run(a, ctx),
        Command::Spec(a) => spec::run(a, ctx),
        Command::Features(a) => features::run(a, ctx),
        Command::Pause(a) => pause::pause(a, ctx),
        Command::Resume(a) => pause::resume(a, ctx),
        Command::Ps(a) => ps::run(a, ctx),
        Command::Update(a) => update::run(a, ctx),
        Command::Events(a) => events::run(a, ctx),
        Command::Exec(a) => exec::run(a, ctx),
        Command::Completion(a) => completion::run(a, ctx),
        Command::Checkpoint(a) => checkpoint::run(a, ctx),
        Command::Restore(a) => restore::run(a, ctx),
    }
}
