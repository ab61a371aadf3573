//! Facts recorded with the results: each runtime binary (version, size,
//! static or not), the machine, and the load average.

use std::path::Path;
use std::process::Stdio;

use super::RtInfo;
use crate::runtime::Runtime;

pub(super) fn rt_info(rt: &Runtime) -> RtInfo {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    // husk as installed: bin/husk is the launcher, the CLI is libexec/husk/husk.
    let cli = rt
        .path
        .parent()
        .and_then(Path::parent)
        .map(|prefix| prefix.join("libexec/husk/husk"))
        .filter(|c| c.is_file());
    let binary = cli.as_deref().unwrap_or(&rt.path);
    RtInfo {
        name: rt.name.clone(),
        path: rt.path.clone(),
        version: rt.version.clone(),
        size: size(binary),
        is_static: crate::runtime::is_static_elf(binary).ok(),
        launcher: cli.is_some().then(|| size(&rt.path)),
    }
}

pub(super) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn first_line_of(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

pub(super) fn machine_info(runtimes: &[Runtime]) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:").map(|v| {
                v.trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("PRETTY_NAME=")
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let hybrid = std::fs::read_to_string(crate::runtime::UNIFIED_CONTROLLERS).ok();
    let cgroups = match (
        Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        hybrid,
    ) {
        (true, _) => "cgroup v2 (unified)".to_string(),
        (false, Some(c)) => format!(
            "cgroup v1 hybrid (cgroup2 at /sys/fs/cgroup/unified: {})",
            c.trim()
        ),
        (false, None) => "cgroup v1".to_string(),
    };
    let commit = first_line_of("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .stderr(Stdio::null())
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    let mut m = vec![
        (
            "CPU".to_string(),
            format!("{model} ({cores} cores available)"),
        ),
        ("memory".to_string(), format!("{} MiB", mem / 1024)),
        ("OS".to_string(), os),
        ("kernel".to_string(), kernel),
        ("cgroups".to_string(), cgroups),
    ];
    if !commit.is_empty() {
        m.push((
            "husk source".to_string(),
            format!(
                "git {commit}{}",
                if dirty {
                    " (with uncommitted changes)"
                } else {
                    ""
                }
            ),
        ));
    }
    for rt in runtimes {
        let extra = if rt.hides_cgroup2() {
            "; run in a private mount namespace with cgroup.controllers of /sys/fs/cgroup/unified hidden"
        } else {
            ""
        };
        m.push((
            rt.name.clone(),
            format!("{} — {}{extra}", rt.path.display(), rt.version),
        ));
    }
    m
}
