//! Embedding husk: create, start, wait for and delete a container from a bundle.
//!
//! ```sh
//! cargo run -p husk --example lifecycle -- /path/to/bundle [STATE_ROOT]
//! ```
//! Run as root from a single-threaded program (husk forks the container's init).
//! The container's process inherits this program's stdin, stdout and stderr.

use std::path::PathBuf;

use husk::{Container, ContainerBuilder, Status};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bundle = args.next().ok_or("usage: lifecycle BUNDLE [STATE_ROOT]")?;
    let root = PathBuf::from(args.next().unwrap_or_else(|| husk::DEFAULT_ROOT.into()));
    let id = format!("example-lifecycle-{}", std::process::id());

    // Everything is set up (namespaces, mounts, cgroup); the init waits for start.
    let mut c = ContainerBuilder::new(&id, &bundle).root(&root).create()?;
    println!(
        "created {} (init pid {}), status {}",
        c.id(),
        c.pid(),
        c.status()
    );
    assert_eq!(c.status(), Status::Created);

    c.start()?; // the configured process runs now
    println!("started, status {}", c.status());

    // The init is this program's child: wait for it like any other child.
    let code = match waitpid(Pid::from_raw(c.pid()), None)? {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        other => return Err(format!("unexpected wait status {other:?}").into()),
    };
    println!("container exited with {code}");

    // A fresh handle sees the live status; delete removes the cgroup and the state.
    let c = Container::load(&root, &id)?;
    println!("status after exit: {}", c.status());
    c.delete(false)?;
    println!("deleted {id}");
    Ok(())
}
