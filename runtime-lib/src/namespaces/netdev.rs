//! `linux.netDevices`: host network devices moved into the container's network
//! namespace at create, optionally renamed, with their permanent global addresses
//! and set up (runtime-spec 1.3).
//!
//! As the runtime-spec requires, nothing is moved back on delete: when the
//! namespace goes away the kernel returns physical devices to the host and destroys
//! virtual ones (veth, macvlan, ...).

use std::os::fd::AsFd;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};

use super::netlink::{self, Addr, RtSocket};
use crate::spec::SpecError;

/// Devices to move: `(name on the host, name in the container)`, sorted by host name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetDevPlan {
    /// The devices.
    pub devices: Vec<(String, String)>,
}

/// Moving a device failed.
#[derive(Debug, thiserror::Error)]
#[error("linux.netDevices[{device:?}]: {step}: {source}")]
pub struct NetDevError {
    /// The device's host name.
    pub device: String,
    /// What failed.
    pub step: &'static str,
    /// The OS (netlink) error.
    pub source: std::io::Error,
}

/// A valid interface name: 1..15 bytes (IFNAMSIZ - 1), not "." or "..", no '/', ':'
/// or whitespace. `%d` (a kernel name template) is allowed where `template`.
fn check_name(name: &str, template: bool) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err(format!("{name:?} must be 1 to 15 bytes long"));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid interface name"));
    }
    if name.contains(['/', ':']) || name.chars().any(char::is_whitespace) {
        return Err(format!("{name:?} contains '/', ':' or whitespace"));
    }
    if !template && name.contains('%') {
        return Err(format!("{name:?} contains '%'"));
    }
    Ok(())
}

/// Validates `linux.netDevices` and computes the plan.
pub fn plan(spec: &Spec) -> Result<NetDevPlan, SpecError> {
    let Some(linux) = spec.linux() else {
        return Ok(NetDevPlan::default());
    };
    let Some(devs) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(NetDevPlan::default());
    };
    let netns = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::Network);
    match netns {
        None => {
            return Err(SpecError::invalid(
                "linux.netDevices",
                "moving network devices needs a network namespace in linux.namespaces",
            ))
        }
        Some(n) if n.path().as_deref().is_some_and(is_host_netns) => {
            return Err(SpecError::invalid(
                "linux.netDevices",
                "the network namespace joined by path is the runtime's own",
            ))
        }
        Some(_) => {}
    }
    let mut devices: Vec<(String, String)> = Vec::new();
    for (host, dev) in devs {
        let field = format!("linux.netDevices[{host:?}]");
        check_name(host, false).map_err(|r| SpecError::invalid(&field, r))?;
        let inner = dev
            .name()
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or(host.clone());
        check_name(&inner, true).map_err(|r| SpecError::invalid(format!("{field}.name"), r))?;
        if !inner.contains('%') && devices.iter().any(|(_, n)| *n == inner) {
            return Err(SpecError::invalid(
                format!("{field}.name"),
                format!("{inner:?} is given to two devices"),
            ));
        }
        devices.push((host.clone(), inner));
    }
    devices.sort();
    Ok(NetDevPlan { devices })
}

fn is_host_netns(p: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(p), std::fs::metadata("/proc/self/ns/net")) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Only permanent addresses of global scope move with a device (runtime-spec).
pub fn kept(a: &Addr) -> bool {
    a.flags & netlink::IFA_F_PERMANENT != 0 && a.scope == netlink::RT_SCOPE_UNIVERSE
}

/// Moves every device into the network namespace of `pid` (the container's init,
/// still waiting for its set-up). A device already moved stays there on a later
/// failure: the kernel takes it back (or destroys it) with the namespace.
///
/// Switches the calling thread's network namespace for an instant (to open a
/// netlink socket there); call it from a single-threaded process.
pub fn attach(plan: &NetDevPlan, pid: i32) -> Result<(), NetDevError> {
    if plan.devices.is_empty() {
        return Ok(());
    }
    let first = plan.devices[0].0.clone();
    let err = |device: &str, step| {
        let device = device.to_string();
        move |source| NetDevError {
            device,
            step,
            source,
        }
    };
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(err(&first, "open the container's network namespace"))?;
    let mut host = RtSocket::open().map_err(err(&first, "netlink socket"))?;
    let mut inside =
        RtSocket::open_in(ns.as_fd()).map_err(err(&first, "netlink socket in the container"))?;
    for (name, inner) in &plan.devices {
        move_one(&mut host, &mut inside, &ns, name, inner)?;
    }
    Ok(())
}

fn move_one(
    host: &mut RtSocket,
    inside: &mut RtSocket,
    ns: &std::fs::File,
    name: &str,
    inner: &str,
) -> Result<(), NetDevError> {
    use std::os::fd::AsRawFd;
    let err = |step| {
        move |source| NetDevError {
            device: name.to_string(),
            step,
            source,
        }
    };
    let index = host
        .link_index(name)
        .map_err(err("find the device on the host"))?;
    // Down first, so nothing on the host uses it while it moves (as runc).
    host.set_up(index, false)
        .map_err(err("set the device down"))?;
    let addrs: Vec<Addr> = host
        .addrs(index)
        .map_err(err("list its addresses"))?
        .into_iter()
        .filter(kept)
        .collect();
    let before: Vec<i32> = inside
        .links()
        .map_err(err("list the container's devices"))?
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    // Move and rename in one request: the new name is only checked in the container.
    let mut req = netlink::ifinfomsg(index, 0, 0);
    req.extend(netlink::attr(
        netlink::IFLA_NET_NS_FD,
        &(ns.as_raw_fd() as u32).to_ne_bytes(),
    ));
    req.extend(netlink::attr_str(netlink::IFLA_IFNAME, inner));
    host.request(netlink::RTM_NEWLINK, 0, &req)
        .map_err(err("move it into the container's network namespace"))?;
    let moved = if inner.contains('%') {
        inside
            .links()
            .map_err(err("list the container's devices"))?
            .into_iter()
            .map(|(i, _)| i)
            .find(|i| !before.contains(i))
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENODEV))
    } else {
        inside.link_index(inner)
    }
    .map_err(err("find it in the container"))?;
    for a in &addrs {
        let mut req = netlink::ifaddrmsg(a.family, a.prefix, 0, a.scope, moved as u32);
        for (k, d) in &a.attrs {
            req.extend(netlink::attr(*k, d));
        }
        inside
            .request(
                netlink::RTM_NEWADDR,
                netlink::NLM_F_CREATE | netlink::NLM_F_EXCL,
                &req,
            )
            .map_err(err("restore an address"))?;
    }
    inside.set_up(moved, true).map_err(err("set the device up"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(linux: &str) -> Spec {
        serde_json::from_str(&format!(r#"{{"ociVersion":"1.3.0","linux":{linux}}}"#)).unwrap()
    }

    #[test]
    fn plan_renames_and_sorts() {
        let p = plan(&spec(
            r#"{"namespaces":[{"type":"network"}],"netDevices":{"veth1":{"name":"eth%d"},"eth9":{}}}"#,
        ))
        .unwrap();
        assert_eq!(
            p.devices,
            vec![
                ("eth9".to_string(), "eth9".to_string()),
                ("veth1".to_string(), "eth%d".to_string())
            ]
        );
    }

    #[test]
    fn rules() {
        for (linux, field) in [
            (
                r#"{"namespaces":[],"netDevices":{"eth0":{}}}"#,
                "linux.netDevices",
            ),
            (
                r#"{"namespaces":[{"type":"network","path":"/proc/self/ns/net"}],"netDevices":{"eth0":{}}}"#,
                "linux.netDevices",
            ),
            (
                r#"{"namespaces":[{"type":"network"}],"netDevices":{"a/b":{}}}"#,
                "linux.netDevices[\"a/b\"]",
            ),
            (
                r#"{"namespaces":[{"type":"network"}],"netDevices":{"eth0":{"name":"averyveryverylongname"}}}"#,
                "linux.netDevices[\"eth0\"].name",
            ),
            (
                r#"{"namespaces":[{"type":"network"}],"netDevices":{"a":{"name":"x"},"b":{"name":"x"}}}"#,
                ".name",
            ),
        ] {
            let e = plan(&spec(linux)).unwrap_err().to_string();
            assert!(e.contains(field), "{linux}: {e}");
        }
    }

    #[test]
    fn only_permanent_global_addresses_move() {
        let a = |flags, scope| Addr {
            family: 2,
            prefix: 24,
            scope,
            flags,
            index: 1,
            attrs: vec![],
        };
        assert!(kept(&a(netlink::IFA_F_PERMANENT, 0)));
        assert!(!kept(&a(0, 0)));
        assert!(!kept(&a(netlink::IFA_F_PERMANENT, 253)));
    }
}
