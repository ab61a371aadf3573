//! Embedding husk in a tokio program: create, start, wait for and delete many
//! containers concurrently from one multi-threaded process.
//!
//! ```sh
//! cargo run --example tokio_many -- /path/to/bundle [COUNT] [AT_ONCE] [systemd]
//! ```
//! Run as root. The bundle's `process` should exit by itself (e.g. `["true"]`).
//! `systemd` uses the systemd cgroup driver (a transient scope per container; its
//! D-Bus calls, too, go through the helper).
//!
//! husk forks the container's processes; from a multi-threaded process it does so
//! through a single-threaded helper: this binary re-executed, which is why `main`
//! calls `husk::helper::run_if_helper()` before the tokio runtime (and its
//! threads) exist. Blocking library calls run on tokio's blocking pool.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(code) = husk::helper::run_if_helper() {
        std::process::exit(code);
    }
    let mut args = std::env::args().skip(1);
    let bundle = PathBuf::from(
        args.next()
            .ok_or("usage: tokio_many BUNDLE [COUNT] [AT_ONCE] [systemd]")?,
    );
    let count: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(50);
    let at_once: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    let systemd = args.next().as_deref() == Some("systemd");
    let root = PathBuf::from(format!("/run/husk-example-{}", std::process::id()));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let results = rt.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(at_once));
        let mut tasks = Vec::new();
        for i in 0..count {
            let permit = limit.clone().acquire_owned().await?;
            let (bundle, root) = (bundle.clone(), root.clone());
            let id = format!("tokio-many-{}-{i}", std::process::id());
            tasks.push(tokio::task::spawn_blocking(move || {
                let _permit = permit;
                run_one(&id, &bundle, &root, systemd)
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await?);
        }
        Ok::<_, Box<dyn std::error::Error>>(results)
    })?;
    let failed = results.iter().filter(|r| r.is_err()).count();
    for e in results.iter().filter_map(|r| r.as_ref().err()).take(3) {
        eprintln!("error: {e}");
    }
    println!(
        "{count} containers, {at_once} at once: {:.2?}, {failed} failed",
        started.elapsed()
    );
    let _ = std::fs::remove_dir(&root);
    Ok(())
}

/// One container's whole life; returns its exit code.
fn run_one(
    id: &str,
    bundle: &std::path::Path,
    root: &std::path::Path,
    systemd: bool,
) -> husk::Result<i32> {
    let mut c = husk::ContainerBuilder::new(id, bundle)
        .root(root)
        .systemd_cgroup(systemd)
        .create()?;
    c.start()?;
    // The init is our child (also when the helper cloned it): wait for it.
    let code = loop {
        use nix::sys::wait::{waitpid, WaitStatus};
        match waitpid(nix::unistd::Pid::from_raw(c.pid()), None) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, sig, _)) => break 128 + sig as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(husk::Error::Sys {
                    what: "waitpid",
                    source: e.into(),
                })
            }
        }
    };
    c.delete(false)?;
    Ok(code)
}
