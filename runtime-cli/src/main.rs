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
mod logging;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

/// Global flags, placed before the subcommand as with runc.
#[derive(Parser, Debug)]
#[command(name = "husk", version = None, disable_version_flag = true, about = "husk: an OCI container runtime (runc-compatible)")]
struct Cli {
    /// Root directory for container state.
    #[arg(long, default_value = husk::DEFAULT_ROOT)]
    root: PathBuf,
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
    /// Rootless mode: true, false or auto.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
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
    /// The logger.
    pub log: Arc<logging::Logger>,
}

fn main() -> ExitCode {
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
        reexec_guarded();
    }
    let ctx = Ctx {
        root: cli.root,
        systemd_cgroup: cli.systemd_cgroup,
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

/// Before husk creates or enters a container, make sure the running binary is the
/// immutable copy (CVE-2019-5736; see `husk::security::exe_guard`). Costs one exec;
/// the copy itself is made once per binary version.
fn reexec_guarded() {
    use husk::security::exe_guard;
    if std::env::var_os("HUSK_NO_EXE_GUARD").is_some()
        || !nix::unistd::geteuid().is_root()
        || exe_guard::running_guarded()
    {
        return;
    }
    let exe = match std::fs::read_link("/proc/self/exe") {
        Ok(p) => p,
        Err(_) => return,
    };
    let copy = match exe_guard::guarded_copy(&exe, std::path::Path::new(exe_guard::DEFAULT_DIR)) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot make an immutable copy of {} ({e}): running unprotected against CVE-2019-5736", exe.display());
            return;
        }
    };
    let args: Vec<std::ffi::CString> = std::env::args_os()
        .filter_map(|a| {
            std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())).ok()
        })
        .collect();
    let Ok(path) = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(copy.as_os_str()))
    else {
        return;
    };
    let Err(e) = nix::unistd::execv(&path, &args);
    tracing::warn!(
        "exec {}: {e}: running unprotected against CVE-2019-5736",
        copy.display()
    );
}
