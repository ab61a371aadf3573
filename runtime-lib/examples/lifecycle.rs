//! Embedding husk: create, start, wait and delete a container from a bundle.
//!
//! ```sh
//! cargo run --example lifecycle -- /path/to/bundle
//! ```
//! Run as root from a single-threaded program (husk forks the container's init).

use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bundle = std::env::args().nth(1).ok_or("usage: lifecycle BUNDLE")?;
    let id = format!("example-{}", std::process::id());
    let mut c = husk::ContainerBuilder::new(&id, &bundle)
        .root("/run/husk")
        .create()?;
    println!(
        "created {} (init pid {}), status {}",
        c.id(),
        c.pid(),
        c.status()
    );
    c.start()?;
    // The init is our child: wait for it like any other process.
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(c.pid()), None)?;
    println!("container exited: {status:?}");
    std::thread::sleep(Duration::from_millis(10));
    husk::Container::load(std::path::Path::new("/run/husk"), &id)?.delete(true)?;
    Ok(())
}
