//! Embedding husk: a custom console. The container gets a pty (`process.terminal`
//! must be true in the bundle's config.json); husk hands its master to us over a
//! socket pair, we size it and read the container's output from it.
//!
//! ```sh
//! cargo run -p husk --example console -- /path/to/bundle [STATE_ROOT]
//! ```
//! Run as root from a single-threaded program.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::PathBuf;

use husk::tty::{recv_master, set_winsize, socketpair, WinSize};
use husk::ContainerBuilder;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bundle = args.next().ok_or("usage: console BUNDLE [STATE_ROOT]")?;
    let root = PathBuf::from(args.next().unwrap_or_else(|| husk::DEFAULT_ROOT.into()));
    let id = format!("example-console-{}", std::process::id());

    // Our end receives the master; the other end goes to the container (runc's
    // --console-socket protocol over an already connected socket).
    let (ours, theirs) = socketpair()?;
    let mut c = ContainerBuilder::new(&id, &bundle)
        .root(&root)
        .console_fd(theirs)
        .create()?;
    let (master, name) = recv_master(ours.as_fd())?;
    println!("got the pty master ({name:?}) of {}", c.id());
    set_winsize(master.as_fd(), WinSize { rows: 24, cols: 80 })?;

    c.start()?;
    // Read until the container's side of the pty is gone (EIO on Linux).
    let mut output = Vec::new();
    let mut master = std::fs::File::from(master);
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let status = waitpid(Pid::from_raw(c.pid()), None)?;
    println!("container exited: {status:?}");
    print!("console output:\n{}", String::from_utf8_lossy(&output));
    husk::Container::load(&root, &id)?.delete(true)?;
    Ok(())
}
