//! `husk`: a runc-compatible command line over the husk library.

/// `println!` that ignores a closed stdout (`husk list | head` must not panic).
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod commands;
mod guard;
mod logging;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

/// Global flags, placed before the subcommand as with runc.
#[derive(Parser, Debug)]
#[command(name = "husk", version = None, disable_version_flag = true, about = "husk: an OCI container runtime (runc-compatible)")]
struct Cli {
    /// Root directory for container state (default /run/husk; rootless:
    /// $XDG_RUNTIME_DIR/husk).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Log file (default: stderr).
    #[arg(long)]
    log: Option<String>,
    /// Log format: text or json.
    #[arg(long = "log-format", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Debug logging (each create phase with its duration).
    #[arg(long)]
    debug: bool,
    /// Use the systemd cgroup driver.
    #[arg(long = "systemd-cgroup")]
    systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (rootless when the effective uid is not 0).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value = "auto")]
    rootless: husk::rootless::RootlessMode,
    /// Path to criu (accepted for compatibility).
    #[arg(long)]
    criu: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<commands::Command>,
}

/// What every subcommand gets.
pub struct Ctx {
    /// State root.
    pub root: PathBuf,
    /// systemd cgroup driver.
    pub systemd_cgroup: bool,
    /// Rootless mode (`--rootless`, resolved).
    pub rootless: bool,
    /// The logger.
    pub log: Arc<logging::Logger>,
}

fn main() -> ExitCode {
    // The library's clone helper for multi-threaded embedders (HUSK_HELPER=husk).
    if let Some(code) = husk::helper::run_if_helper() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    guard::reexec_early();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if cli.version {
        commands::version::print();
        return ExitCode::SUCCESS;
    }
    let log = match logging::Logger::new(cli.log.as_deref(), &cli.log_format, cli.debug) {
        Ok(l) => Arc::new(l),
        Err(e) => {
            eprintln!(
                "husk: cannot open log file {:?}: {e}",
                cli.log.unwrap_or_default()
            );
            return ExitCode::from(1);
        }
    };
    logging::install(log.clone());
    let Some(command) = cli.command else {
        eprintln!("husk: no command given (try --help)");
        return ExitCode::from(1);
    };
    if command.spawns_container_process() {
        if let Err(msg) = guard::reexec_guarded() {
            log.write(&tracing::Level::ERROR, &msg);
            if log.to_file {
                eprintln!("{msg}");
            }
            return ExitCode::from(1);
        }
    }
    let ctx = Ctx {
        root: cli.root.unwrap_or_else(husk::rootless::default_root),
        systemd_cgroup: cli.systemd_cgroup,
        rootless: cli.rootless.resolve(
            nix::unistd::geteuid().as_raw(),
            husk::rootless::in_user_namespace(),
        ),
        log: log.clone(),
    };
    match commands::run(command, &ctx) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = e.to_string();
            log.write(&tracing::Level::ERROR, &msg);
            if log.to_file {
                eprintln!("{msg}");
            }
            ExitCode::from(1)
        }
    }
}
