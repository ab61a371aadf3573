//! `linux.netDevices`: host devices moved into the container (veth pairs made by the
//! test: this kernel has no dummy module).

use std::process::Command;

use serde_json::json;

use crate::common::*;

/// A veth pair on the host, deleted on drop if still there.
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    fn new(tag: &str) -> Veth {
        // Interface names have at most 15 bytes.
        let n = std::process::id() % 100_000;
        let v = Veth {
            a: format!("hk{tag}{n}a"),
            b: format!("hk{tag}{n}b"),
        };
        ip(&["link", "add", &v.a, "type", "veth", "peer", "name", &v.b]);
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.b]).output();
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn host_has(dev: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(dev).exists()
}

#[test]
fn device_moves_in_renamed_with_its_address_and_up() {
    let v = Veth::new("m");
    ip(&["addr", "add", "10.231.7.1/24", "dev", &v.a]);
    let mut b = Bundle::new("netdev");
    b.config["linux"]["netDevices"] = json!({ v.a.clone(): {"name": "ctr0"} });
    let out = b.sh("ls /sys/class/net | sort | tr '\\n' ' '; echo; \
         ip -o -4 addr show dev ctr0 | awk '{print $4}'; ip -o link show ctr0");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "ctr0 lo", "{out}");
    assert_eq!(
        lines[1], "10.231.7.1/24",
        "the permanent global address moved along: {out}"
    );
    assert!(lines[2].contains(",UP"), "the device is up: {out}");
    assert!(!host_has(&v.a), "the device left the host");
    // The container is gone, so is its namespace: the kernel destroyed the veth
    // (runtime-spec: the runtime does not move devices back).
    // The kernel cleans up a dead namespace asynchronously.
    let start = std::time::Instant::now();
    while host_has(&v.b) && start.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        !host_has(&v.b),
        "the veth peer should be gone with the namespace"
    );
}

#[test]
fn device_name_template() {
    let v = Veth::new("t");
    let mut b = Bundle::new("netdev-tmpl");
    b.config["linux"]["netDevices"] = json!({ v.a.clone(): {"name": "eth%d"} });
    let out = b.sh("ls /sys/class/net | sort | tr '\\n' ' '");
    assert_eq!(out.trim(), "eth0 lo", "{out}");
}

#[test]
fn device_keeps_its_name_and_stays_while_the_container_lives() {
    let v = Veth::new("k");
    let mut b = Bundle::new("netdev-keep");
    b.config["linux"]["netDevices"] = json!({ v.a.clone(): {} });
    let (id, pid) = b.run_detached(&["sleep", "1000"]);
    let inside = std::fs::read_dir(format!("/proc/{pid}/root/sys/class/net"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert!(inside.contains(&v.a), "{inside:?}");
    assert!(!host_has(&v.a));
    b.husk(&["delete", "--force", &id]).ok();
}

#[test]
fn moving_fails_cleanly() {
    let v = Veth::new("f");
    let mut b = Bundle::new("netdev-fail");
    b.set_args(&["true"]);
    // No such host device.
    b.config["linux"]["netDevices"] = json!({"hknosuchdev0": {}});
    b.write_config();
    let id = b.new_id();
    // (The log escapes the quotes of `linux.netDevices["hknosuchdev0"]`.)
    b.create(&id)
        .fails_with(&["linux.netDevices[", "hknosuchdev0", "find the device"]);
    b.assert_nothing_left(&id);
    // A name the container's namespace already has.
    b.config["linux"]["netDevices"] = json!({ v.a.clone(): {"name": "lo"} });
    b.write_config();
    let id = b.new_id();
    b.create(&id)
        .fails_with(&["linux.netDevices", "File exists"]);
    b.assert_nothing_left(&id);
}
