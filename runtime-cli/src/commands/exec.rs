//! `husk exec`: run a new process in a container, with runc's flags. In the
//! foreground husk waits for it, forwarding signals (and proxying its terminal with
//! `--tty` and no console socket), and exits with its status; `--detach` returns once
//! it runs. Failures exit with 255, as runc's exec does.

use std::path::PathBuf;

use super::activation::listen_fds;
use super::tty::{self, Proxy};
use crate::Ctx;

// `exec [flags] ID COMMAND [ARGS...]` or `exec --process FILE [flags] ID`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// AF_UNIX socket that receives the pty master (with --tty and --detach).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=value); repeatable.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// UID (format: <uid>[:<gid>]).
    #[arg(short = 'u', long, allow_hyphen_values = true)]
    pub user: Option<String>,
    /// Additional gids; repeatable.
    #[arg(short = 'g', long = "additional-gids", allow_hyphen_values = true)]
    pub additional_gids: Vec<String>,
    /// Path to a process.json (replaces the configured process and the flags above).
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Detach from the process (return once it runs).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Write the process's pid to this file.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process (default: the container's `process.selinuxLabel`).
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process (default: the container's `process.apparmorProfile`).
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privileges for the process.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the bounding, effective and permitted sets; repeatable.
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass this many extra fds (3, 4, ...) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run in a sub-cgroup: <path> or <controller>[,<controller>]:<path>; repeatable.
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Container id, then the command and its arguments (everything after the id
    /// belongs to the command).
    #[arg(
        trailing_var_arg = true,
        required = true,
        value_name = "ID COMMAND [ARGS]"
    )]
    pub args: Vec<String>,
}

/// runc's `--user uid[:gid]`: decimal ids only (no names), within 0..2^31-1.
pub fn parse_user(s: &str) -> Result<(u32, Option<u32>), String> {
    let id = |v: &str, what: &str| -> Result<u32, String> {
        let n: i64 = v
            .parse()
            .map_err(|_| format!("parsing {v} as int for {what} failed: invalid syntax"))?;
        if !(0..=i32::MAX as i64).contains(&n) {
            return Err("uids and gids must be in range 0-2147483647".into());
        }
        Ok(n as u32)
    };
    match s.split_once(':') {
        Some((u, g)) => Ok((id(u, "uid")?, Some(id(g, "gid")?))),
        None => Ok((id(s, "uid")?, None)),
    }
}

/// `--additional-gids N`: non-negative decimal.
pub fn parse_gid(s: &str) -> Result<u32, String> {
    let n: i64 = s
        .parse()
        .map_err(|_| format!("invalid value {s:?} for --additional-gids: not a number"))?;
    if n < 0 {
        return Err(format!("additional-gids must be a positive number {n}"));
    }
    u32::try_from(n).map_err(|_| "uids and gids must be in range 0-2147483647".to_string())
}

pub fn run(a: Args, ctx: &Ctx) -> super::CmdResult {
    match exec(a, ctx) {
        Ok(code) => Ok(code),
        Err(e) => {
            let msg = format!("exec failed: {e}");
            ctx.log.write(&tracing::Level::ERROR, &msg);
            if ctx.log.to_file {
                eprintln!("{msg}");
            }
            Ok(255)
        }
    }
}

fn exec(a: Args, ctx: &Ctx) -> super::CmdResult {
    let (id, command) = a.args.split_first().ok_or("container id cannot be empty")?;
    let mut phases = crate::logging::Phases::start("exec", id);
    let container = husk::Container::load(&ctx.root, id)?;
    phases.done("load state");
    // The status errors come first, as with runc.
    match container.status() {
        husk::Status::Stopped => return Err("cannot exec in a stopped container".into()),
        husk::Status::Paused if !a.ignore_paused => {
            return Err(
                "cannot exec in a paused container (use --ignore-paused to override)".into(),
            )
        }
        _ => {}
    }
    let mut opts = husk::ExecOptions {
        preserve_fds: a.preserve_fds + listen_fds(),
        cgroup: a.cgroup.clone(),
        ignore_paused: a.ignore_paused,
        ..Default::default()
    };
    if let Some(path) = &a.process {
        let p: husk::oci_spec::runtime::Process = husk::spec::load_file(path)?;
        opts.process = Some(p);
    } else {
        if command.is_empty() {
            return Err("process args cannot be empty".into());
        }
        opts.args = command.to_vec();
        opts.env = a.env.clone();
        opts.cwd = a.cwd.clone();
        opts.user = a.user.as_deref().map(parse_user).transpose()?;
        opts.additional_gids = a
            .additional_gids
            .iter()
            .map(|g| parse_gid(g))
            .collect::<Result<_, _>>()?;
        opts.caps = a.cap.clone();
        opts.no_new_privs = a.no_new_privs.then_some(true);
        opts.tty = a.tty;
        opts.apparmor = a.apparmor.clone().filter(|s| !s.is_empty());
        opts.process_label = a.process_label.clone().filter(|s| !s.is_empty());
    }
    let terminal = match &opts.process {
        Some(p) => p.terminal().unwrap_or(false),
        None => opts.tty,
    };
    // runc's rules: a console socket only for a detached process with a terminal.
    if a.console_socket.is_some() && (!a.detach || !terminal) {
        return Err("cannot use console socket if husk will not detach or allocate tty".into());
    }
    let mut ours = None;
    if let Some(s) = &a.console_socket {
        opts.console = Some(husk::tty::ConsoleSocket::Path(s.clone()));
    } else if terminal && !a.detach {
        let (mine, theirs) = tty::console_pair()?;
        opts.console = Some(husk::tty::ConsoleSocket::Connected(std::sync::Arc::new(
            theirs,
        )));
        ours = Some(mine);
    }
    // Block what we forward before the process exists, so that no signal sent to us
    // from then on is lost (the process itself starts with an empty mask).
    let set = tty::forwarded_signals();
    if !a.detach {
        set.thread_block()?;
    }
    let proc = container.exec(opts)?;
    phases.done("set up and spawn the process");
    if let Some(p) = &a.pid_file {
        write_pid_file(p, proc.pid())?;
    }
    if a.detach {
        return Ok(0);
    }
    let mut proxy = match ours.as_ref().map(Proxy::receive) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(proc.pid()),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = proc.wait();
            return Err(format!("receive the pty master: {e}").into());
        }
        None => None,
    };
    drop(ours);
    let code = tty::supervise(proc.pid(), &set, proxy.as_mut());
    phases.done("process runs and exits");
    drop(proxy);
    Ok(code?)
}

/// Writes the pid file atomically (temp file + rename), as runc does.
fn write_pid_file(path: &std::path::Path, pid: i32) -> std::io::Result<()> {
    let path = std::path::absolute(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, pid.to_string())?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_strict() {
        assert_eq!(parse_user("0"), Ok((0, None)));
        assert_eq!(parse_user("1000:100"), Ok((1000, Some(100))));
        for bad in ["root", "abc", "1:x", "", ":", "1.5", "0x10", "1:2:3"] {
            let e = parse_user(bad).unwrap_err();
            assert!(e.contains("as int"), "{bad}: {e}");
        }
        for bad in ["-1", "1:-1", "2147483648"] {
            assert!(parse_user(bad).unwrap_err().contains("range"), "{bad}");
        }
        assert_eq!(parse_gid("5"), Ok(5));
        assert_eq!(
            parse_gid("-5").unwrap_err(),
            "additional-gids must be a positive number -5"
        );
        assert!(parse_gid("x").is_err());
    }
}
