//! husk end to end through the managers, side by side with runc:
//! containerd's CRI (the husk shim, containerd's runc shim running husk, runc),
//! docker and podman. Prints one line per check, tables, and `N passed, M failed`.
//!
//! Usage: `husk-e2e [--runtimes "husk runc"] [--parts "cri docker podman"]
//! [--systemd] [--husk PATH] [--shim PATH] [--runc PATH] [--markdown FILE]`.
//! Runs as root; everything it makes lives below one scratch directory (removed at
//! the end unless `HUSK_E2E_KEEP=1`).

mod containerd;
mod cri;
mod image;
mod managers;
mod report;
mod util;

use std::path::PathBuf;

use report::Report;

struct Args {
    runtimes: Vec<String>,
    parts: Vec<String>,
    systemd: bool,
    bins: containerd::Binaries,
    markdown: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        runtimes: vec!["husk".into()],
        parts: vec!["cri".into(), "docker".into(), "podman".into()],
        systemd: false,
        bins: containerd::Binaries {
            husk: PathBuf::from("target/release/husk"),
            shim: PathBuf::from("target/release/containerd-shim-husk-v2"),
            runc: PathBuf::from("/usr/sbin/runc"),
        },
        markdown: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--runtimes" => a.runtimes = val()?.split_whitespace().map(String::from).collect(),
            "--parts" => a.parts = val()?.split_whitespace().map(String::from).collect(),
            "--systemd" => a.systemd = true,
            "--husk" => a.bins.husk = PathBuf::from(val()?),
            "--shim" => a.bins.shim = PathBuf::from(val()?),
            "--runc" => a.bins.runc = PathBuf::from(val()?),
            "--markdown" => a.markdown = Some(PathBuf::from(val()?)),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    for p in [&mut a.bins.husk, &mut a.bins.shim] {
        *p = std::fs::canonicalize(&*p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(a)
}

/// CRI handlers for a runtime column: husk runs behind two shims.
fn handlers(runtime: &str) -> Vec<(&'static str, &'static str)> {
    match runtime {
        "husk" => vec![("husk", "husk shim"), ("husk-runc", "husk via runc shim")],
        "runc" => vec![("runc", "runc")],
        _ => Vec::new(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("husk-e2e: {e}");
            std::process::exit(2);
        }
    };
    // SAFETY: prctl(2) with plain integer arguments. Orphaned container processes
    // must be reaped by someone: this host's pid 1 does not.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let dir = PathBuf::from(format!("/tmp/hske2e-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut report = Report::default();
    let code = match run(&args, &dir, &mut report).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("husk-e2e: {e}");
            2
        }
    };
    let md = report.markdown();
    println!("{md}");
    if let Some(p) = &args.markdown {
        let _ = std::fs::write(p, &md);
    }
    if std::env::var_os("HUSK_E2E_KEEP").is_none() {
        util::unmount_below(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (passed, failed) = report.counts();
    println!("{passed} passed, {failed} failed");
    std::process::exit(if failed > 0 { 1 } else { code });
}

async fn run(args: &Args, dir: &std::path::Path, report: &mut Report) -> Result<(), String> {
    let tar = image::build(dir)?;
    let runtimes: Vec<&str> = args.runtimes.iter().map(String::as_str).collect();
    if args.parts.iter().any(|p| p == "cri") {
        let c = containerd::Containerd::start(&dir.join("containerd"), &args.bins, args.systemd)?;
        c.import(&tar)?;
        let ch = cri::connect(&c.socket).await?;
        cri::ready(&ch).await?;
        for rt in &runtimes {
            for (handler, column) in handlers(rt) {
                println!("== CRI handler {handler} ({column})");
                cri::run_handler(&ch, handler, column, dir, args.systemd, report).await;
            }
        }
        let shims = c.shims();
        report.record(
            "CRI",
            "no shim left after all pods",
            "all handlers",
            if shims.is_empty() {
                Ok(())
            } else {
                Err(format!("shims {shims:?}"))
            },
        );
        drop(c);
        // The suite's own pod parent cgroups (cgroupfs hosts).
        for e in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir(e.path().join(format!("husk-e2e-{}", std::process::id())));
        }
        let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/husk-e2e-{}", std::process::id()));
    }
    if args.parts.iter().any(|p| p == "docker") {
        println!("== docker");
        match managers::Docker::start(dir, &args.bins.husk) {
            Ok(d) => {
                managers::smoke(&d, "docker", &tar, &runtimes, report);
                drop(d);
                let left = managers::remove_cgroup_parent("docker");
                report.record(
                    "docker",
                    "no container cgroup left",
                    "all",
                    if left.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("{left:?}"))
                    },
                );
            }
            Err(e) => report.record("docker", "start dockerd", "all", Err(e)),
        }
    }
    if args.parts.iter().any(|p| p == "podman") {
        println!("== podman");
        match managers::Podman::new(dir, &args.bins.husk, &args.bins.runc) {
            Ok(p) => {
                managers::smoke(&p, "podman", &tar, &runtimes, report);
                drop(p);
                let left = managers::remove_cgroup_parent("podman");
                report.record(
                    "podman",
                    "no container cgroup left",
                    "all",
                    if left.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("{left:?}"))
                    },
                );
            }
            Err(e) => report.record("podman", "set up", "all", Err(e)),
        }
    }
    Ok(())
}
