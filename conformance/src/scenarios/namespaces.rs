//! Namespace scenarios: pid 1, hostname, joining a namespace by path, the
//! loopback device of a new network namespace.

use std::time::Duration;

use serde_json::json;

use super::WAIT;
use crate::scenario::{expect, expect_eq, fail, Case, Check, Verdict};

pub(super) fn ns_pid1(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |_, _| {})?;
    r.expect("pid", "1")?;
    for ns in ["pid", "mnt", "uts", "ipc", "net"] {
        let got = r.get(&format!("ns.{ns}"))?;
        let host = c.host.ns.get(ns).map(String::as_str).unwrap_or("");
        expect(got != host, || format!("ns.{ns} is the host's ({host})"))?;
    }
    for ns in ["user", "cgroup"] {
        let Some(host) = c.host.ns.get(ns) else {
            continue;
        };
        r.expect(&format!("ns.{ns}"), host)?;
    }
    Ok(())
}

pub(super) fn ns_hostname(c: &mut Case) -> Check {
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["hostname"] = json!("husk-conf")
    })?;
    r.expect("hostname", "husk-conf")
}

/// A helper process in fresh net and ipc namespaces; killed on drop.
struct NsHelper(Option<crate::proc::Running>);

impl Drop for NsHelper {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            // SAFETY: killing our own child.
            unsafe { libc::kill(r.pid(), libc::SIGKILL) };
            let _ = r.wait(Duration::from_secs(5));
        }
    }
}

/// Starts `unshare --net --ipc sleep 60`; returns it once it is in its new
/// network namespace.
fn ns_helper(c: &Case) -> Result<(NsHelper, i32), Verdict> {
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--net", "--ipc", "--", "sleep", "60"]);
    cmd.stdin(std::process::Stdio::null());
    let helper = NsHelper(Some(
        crate::proc::spawn(&mut cmd).map_err(|e| fail(format!("harness: unshare: {e}")))?,
    ));
    let pid = helper.0.as_ref().map(|r| r.pid()).unwrap_or(0);
    let read = |ns: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let end = std::time::Instant::now() + WAIT;
    while Some(&read("net")) == c.host.ns.get("net") && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    if Some(&read("net")) == c.host.ns.get("net") {
        return Err(fail(
            "harness: unshare helper did not enter a new net namespace",
        ));
    }
    Ok((helper, pid))
}

pub(super) fn ns_join_path(c: &mut Case) -> Check {
    let (helper, pid) = ns_helper(c)?;
    let read = |ns: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let (net, ipc) = (read("net"), read("ipc"));
    let r = c.checker("b", &["report"], |cfg, _| {
        cfg["linux"]["namespaces"] = json!([
            { "type": "pid" }, { "type": "network", "path": format!("/proc/{pid}/ns/net") },
            { "type": "ipc", "path": format!("/proc/{pid}/ns/ipc") }, { "type": "uts" }, { "type": "mount" },
        ]);
    })?;
    r.expect("ns.net", &net)?;
    r.expect("ns.ipc", &ipc)?;
    drop(helper);
    Ok(())
}

/// Whether `lo` is up (IFF_UP in its sysfs flags) in a container made from
/// bundle `name`, edited by `edit`.
fn lo_up(
    c: &mut Case,
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<bool, Verdict> {
    let b = c.bundle(name, &["cat", "/sys/class/net/lo/flags"], |cfg, _| {
        edit(cfg)
    })?;
    let id = c.id(name);
    let o = c.run(&b, &id)?;
    let flags = o.stdout.trim();
    let bits = u32::from_str_radix(flags.trim_start_matches("0x"), 16)
        .map_err(|_| fail(format!("lo flags: got {flags:?}: {}", o.err_line())))?;
    Ok(bits & 1 != 0)
}

/// A network namespace the runtime creates has `lo` up (runc's loopback
/// strategy; `docker run --network none` relies on it); one joined by path is
/// left as it is.
pub(super) fn ns_net_loopback(c: &mut Case) -> Check {
    expect_eq(
        "lo up in a new network namespace",
        &lo_up(c, "new", |_| {})?,
        &true,
    )?;
    let (helper, pid) = ns_helper(c)?;
    let up = lo_up(c, "joined", |cfg| {
        cfg["linux"]["namespaces"] = json!([
            { "type": "pid" }, { "type": "network", "path": format!("/proc/{pid}/ns/net") },
            { "type": "ipc" }, { "type": "uts" }, { "type": "mount" },
        ]);
    })?;
    drop(helper);
    expect_eq("lo up in a joined (down) network namespace", &up, &false)
}
