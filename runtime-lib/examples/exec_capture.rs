//! Embedding husk: run a command in a container with `exec` and capture its output.
//!
//! ```sh
//! cargo run -p husk --example exec_capture -- /path/to/bundle [STATE_ROOT]
//! ```
//! The container is created but never started (exec works in a created container),
//! then force-deleted. Run as root from a single-threaded program.
//!
//! The process's stdout is a pipe given with `ExecOptions::stdio` (without it,
//! processes husk starts inherit the caller's stdin, stdout and stderr).

use std::io::Read;
use std::path::PathBuf;

use husk::{ContainerBuilder, ExecOptions, Stdio};
use nix::sys::wait::waitpid;
use nix::unistd::{pipe, Pid};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bundle = args
        .next()
        .ok_or("usage: exec_capture BUNDLE [STATE_ROOT]")?;
    let root = PathBuf::from(args.next().unwrap_or_else(|| husk::DEFAULT_ROOT.into()));
    let id = format!("example-exec-{}", std::process::id());

    let c = ContainerBuilder::new(&id, &bundle).root(&root).create()?;
    let init = Pid::from_raw(c.pid());
    let result = capture(&c);
    // Whatever happened, kill the init and remove the container; the init is our
    // child, so we reap it.
    c.delete(true)?;
    waitpid(init, None)?;
    let (code, output) = result?;
    print!("captured ({} bytes, exit {code}):\n{output}", output.len());
    Ok(())
}

/// Runs `sh -c ...` in the container with its stdout on a pipe; returns its exit
/// status and everything it wrote.
fn capture(c: &husk::Container) -> Result<(i32, String), Box<dyn std::error::Error>> {
    let (reader, writer) = pipe()?;
    let opts = ExecOptions {
        args: vec![
            "sh".into(),
            "-c".into(),
            "echo hello from exec; echo uid=$(id -u) pid=$$".into(),
        ],
        stdio: Stdio::new().stdout(writer),
        ..Default::default()
    };
    // `exec` consumes `opts`: afterwards the process holds the only write end, so
    // the read below ends when it exits.
    let process = c.exec(opts)?;
    let mut output = String::new();
    std::fs::File::from(reader).read_to_string(&mut output)?;
    Ok((process.wait()?, output))
}
