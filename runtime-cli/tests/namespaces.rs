//! Namespaces: new ones differ from the host, PID 1, user namespace id maps,
//! joining by path, time namespace offsets.

mod common;

use std::collections::HashMap;
use std::fs;

use common::*;
use serde_json::json;

/// `kind link` lines for the container's /proc/self/ns entries.
fn ns_links(out: &str) -> HashMap<String, String> {
    out.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().to_string()))
        })
        .collect()
}

const SHOW_NS: &str =
    "for n in pid mnt uts ipc net cgroup user time; do echo \"$n $(readlink /proc/self/ns/$n)\"; done";

#[test]
fn default_namespaces_differ_from_host() {
    let mut b = Bundle::new("nsdiff");
    let out = b.sh(SHOW_NS);
    let links = ns_links(&out);
    for kind in ["pid", "mnt", "uts", "ipc", "net", "cgroup"] {
        let inside = links
            .get(kind)
            .unwrap_or_else(|| panic!("no {kind} in {out}"));
        assert!(inside.starts_with(&format!("{kind}:[")), "{kind}: {inside}");
        assert_ne!(*inside, host_ns(kind), "{kind} namespace is the host's");
    }
    // Not asked for: shared with the host.
    for kind in ["user", "time"] {
        assert_eq!(
            links[kind],
            host_ns(kind),
            "{kind} namespace should be the host's"
        );
    }
}

#[test]
fn only_listed_namespaces_are_created() {
    let mut b = Bundle::new("nssome");
    b.remove_namespace("network");
    b.remove_namespace("ipc");
    b.remove_namespace("cgroup");
    // sysfs cannot be mounted without a network namespace of our own; runc binds it.
    let links = ns_links(&b.sh(SHOW_NS));
    for kind in ["net", "ipc", "cgroup", "user", "time"] {
        assert_eq!(links[kind], host_ns(kind), "{kind}");
    }
    for kind in ["pid", "mnt", "uts"] {
        assert_ne!(links[kind], host_ns(kind), "{kind}");
    }
}

#[test]
fn pid_one_inside() {
    let mut b = Bundle::new("pid1");
    let out = b.sh("echo $$; cat /proc/1/comm; ps -o pid,comm | wc -l");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    assert_eq!(lines[1], "sh");
    // Header + sh + ps + wc: nothing of the host is visible.
    let procs: usize = lines[2].trim().parse().unwrap();
    assert!(procs <= 4, "the container sees host processes: {out}");
}

fn userns_bundle(prefix: &str) -> Bundle {
    let mut b = Bundle::new(prefix);
    b.set_namespace("user", None);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    // The rootfs belongs to the host's root, unmapped inside: mount points must exist.
    fs::create_dir_all(b.rootfs.join("data")).unwrap();
    b
}

#[test]
fn user_namespace_maps_root() {
    let mut b = userns_bundle("userns");
    let data = b.host_dir("data");
    b.add_mount(json!({
        "destination": "/data", "type": "bind", "source": data.to_str().unwrap(),
        "options": ["rbind", "rw"]
    }));
    let out = b.sh(
        "id; cat /proc/self/uid_map /proc/self/gid_map; readlink /proc/self/ns/user; \
         touch /data/made-inside && mkdir /data/dir-inside && echo touched",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("uid=0(root) gid=0(root)"), "{out}");
    let maps: Vec<Vec<&str>> = lines[1..3]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(maps[0], ["0", "100000", "65536"], "uid_map: {out}");
    assert_eq!(maps[1], ["0", "100000", "65536"], "gid_map: {out}");
    assert_ne!(lines[3], host_ns("user"));
    assert_eq!(lines[4], "touched", "{out}");
    assert_eq!(owner(&data.join("made-inside")), (100000, 100000));
    assert_eq!(owner(&data.join("dir-inside")), (100000, 100000));
}

#[test]
fn user_namespace_with_non_root_user() {
    let mut b = userns_bundle("usernsuser");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let data = b.host_dir("data");
    b.add_mount(json!({
        "destination": "/data", "type": "bind", "source": data.to_str().unwrap(),
        "options": ["rbind"]
    }));
    let out = b.sh("id -u; id -g; touch /data/f && echo ok");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["1000", "1000", "ok"]);
    assert_eq!(owner(&data.join("f")), (101000, 101000));
}

#[test]
fn loopback_is_up_in_a_new_network_namespace() {
    // As runc does; also when the network namespace belongs to a user namespace.
    // Without lo up, 127.0.0.1 is unreachable.
    let script = "cat /sys/class/net/lo/flags; ip route get 127.0.0.1 | head -n 1";
    for mut b in [Bundle::new("loopback"), userns_bundle("loopback-userns")] {
        let out = b.sh(script);
        let mut lines = out.lines();
        let flags = lines.next().unwrap_or_default();
        let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap();
        assert_eq!(flags & 1, 1, "lo is down: {out}");
        let route = lines.next().unwrap_or_default();
        assert!(route.starts_with("local 127.0.0.1 dev lo"), "{out}");
    }
}

#[test]
fn join_namespaces_by_path() {
    let mut a = Bundle::new("joina");
    a.config["hostname"] = json!("joined-host");
    let (_id, pid) = a.run_detached(&["sleep", "1000"]);
    let net = fs::read_link(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let uts = fs::read_link(format!("/proc/{pid}/ns/uts"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_ne!(net, host_ns("net"));

    let mut b = Bundle::new("joinb");
    b.set_namespace("network", Some(&format!("/proc/{pid}/ns/net")));
    b.set_namespace("uts", Some(&format!("/proc/{pid}/ns/uts")));
    // Setting a hostname would change the joined namespace's.
    b.config.as_object_mut().unwrap().remove("hostname");
    let out = b.sh("readlink /proc/self/ns/net; readlink /proc/self/ns/uts; hostname; readlink /proc/self/ns/pid");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], net);
    assert_eq!(lines[1], uts);
    assert_eq!(lines[2], "joined-host");
    // The rest is still new.
    assert_ne!(lines[3], host_ns("pid"));
    let a_pid = fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    assert_ne!(lines[3], a_pid.to_string_lossy());
}

#[test]
fn join_missing_namespace_path_fails_cleanly() {
    let mut b = Bundle::new("joinmissing");
    b.set_namespace("network", Some("/proc/999999999/ns/net"));
    b.set_script("true");
    b.write_config();
    let id = b.new_id();
    b.husk(&["create", "--bundle", b.dir_str(), &id])
        .fails_with(&["linux.namespaces", "/proc/999999999/ns/net"]);
    b.assert_nothing_left(&id);
}

#[test]
fn time_namespace_offsets() {
    let mut b = Bundle::new("timens");
    b.set_namespace("time", None);
    b.config["linux"]["timeOffsets"] = json!({
        "monotonic": {"secs": 86400, "nanosecs": 0},
        "boottime": {"secs": 2000000, "nanosecs": 0}
    });
    let host_uptime = uptime(&fs::read_to_string("/proc/uptime").unwrap());
    let out = b.sh("readlink /proc/self/ns/time; cat /proc/self/timens_offsets; cat /proc/uptime");
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], host_ns("time"));
    let offsets: Vec<Vec<&str>> = lines[1..3]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(offsets.contains(&vec!["monotonic", "86400", "0"]), "{out}");
    assert!(offsets.contains(&vec!["boottime", "2000000", "0"]), "{out}");
    let inside = uptime(lines[3]);
    let delta = inside - host_uptime;
    assert!(
        (2_000_000.0 - 5.0..2_000_000.0 + 30.0).contains(&delta),
        "uptime inside {inside}, host {host_uptime}"
    );
}

fn uptime(s: &str) -> f64 {
    s.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn ipc_namespace_is_private() {
    let mut b = Bundle::new("ipc");
    // A fresh IPC namespace has no System V objects.
    let out = b.sh("cat /proc/sysvipc/shm | wc -l; readlink /proc/self/ns/ipc");
    assert_eq!(out.lines().next().unwrap().trim(), "1", "{out}");
}

#[test]
fn network_namespace_has_only_loopback() {
    let mut b = Bundle::new("net");
    let out = b.sh("ls /sys/class/net; cat /proc/net/dev | tail -n +3 | cut -d: -f1");
    let ifaces: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(ifaces.iter().all(|i| *i == "lo"), "{out}");
}

#[test]
fn cgroup_namespace_root() {
    let mut b = Bundle::new("cgns");
    let out = b.sh("cat /proc/self/cgroup");
    for line in out.lines() {
        assert!(
            line.ends_with(":/"),
            "the container sees its cgroup path: {out}"
        );
    }
    // Without a cgroup namespace the host path shows.
    b.remove_namespace("cgroup");
    let out = b.sh("cat /proc/self/cgroup");
    assert!(out.lines().any(|l| !l.ends_with(":/")), "{out}");
}

#[test]
fn user_and_time_namespaces_together() {
    let mut b = userns_bundle("usertime");
    b.set_namespace("time", None);
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 1000000, "nanosecs": 0}});
    let out = b.sh("id -u; cat /proc/self/uid_map; grep boottime /proc/self/timens_offsets");
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"]);
    assert_eq!(lines[1], ["0", "100000", "65536"]);
    assert_eq!(lines[2], ["boottime", "1000000", "0"]);
}

/// A host process holding a namespace; killed and reaped on drop.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn mount_namespace_is_joined_last() {
    // The network namespace path only resolves in the runtime's mounts: in the
    // mount namespace to join, a tmpfs hides it. Listed after the mount namespace,
    // it must still be opened (and joined) before it, as runc does.
    let mut b = Bundle::new("nsjoinorder");
    let nsdir = b.host_dir("nsdir");
    let net = std::process::Command::new("unshare")
        .args(["--net", "sleep", "1000"])
        .spawn()
        .expect("unshare (util-linux)");
    let net = Holder(net);
    let net_pid = net.0.id();
    let net_link = format!("/proc/{net_pid}/ns/net");
    let host_net = host_ns("net");
    let start = std::time::Instant::now();
    while fs::read_link(&net_link)
        .map(|l| l.to_string_lossy() == host_net)
        .unwrap_or(true)
    {
        assert!(start.elapsed().as_secs() < 10, "netns holder did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::os::unix::fs::symlink(&net_link, nsdir.join("net")).unwrap();
    // The container pivots inside the mount namespace it joins: a fresh one per runtime.
    let bdir = b.dir.clone();
    let mnt_holder = |tag: &str| {
        let ready = bdir.join(format!("mnt-ready-{tag}"));
        let script = format!(
            "mount -t tmpfs hide {} && touch {} && exec sleep 1000",
            nsdir.display(),
            ready.display()
        );
        let h = Holder(
            std::process::Command::new("unshare")
                .args(["--mount", "--propagation", "private", "sh", "-c", &script])
                .spawn()
                .expect("unshare"),
        );
        wait_for_content(&ready, "");
        h
    };
    let want = fs::read_link(&net_link)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mnt = mnt_holder("husk");
    b.set_namespace("mount", Some(&format!("/proc/{}/ns/mnt", mnt.0.id())));
    b.set_namespace("network", Some(nsdir.join("net").to_str().unwrap()));
    let out = b.sh("readlink /proc/self/ns/net");
    assert_eq!(out.trim(), want, "husk");
    drop(mnt);
    // runc on the same config.
    let mnt = mnt_holder("runc");
    b.set_namespace("mount", Some(&format!("/proc/{}/ns/mnt", mnt.0.id())));
    b.set_namespace("network", Some(nsdir.join("net").to_str().unwrap()));
    b.write_config();
    let id = format!("{}-runc", b.name);
    let r = std::process::Command::new("runc")
        .arg("--root")
        .arg(b.dir.join("runc-state"))
        .args(["run", "--bundle", b.dir_str(), &id])
        .env(MARK, &b.name)
        .output()
        .expect("runc");
    assert!(
        r.status.success(),
        "runc: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&r.stdout).trim(), want, "runc");
    drop(mnt);
    drop(net);
}

/// `hierarchy -> path` of a /proc/<pid>/cgroup text.
fn cgroup_paths(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (id, ctrl, path) = (f.next()?, f.next()?, f.next()?);
            Some((format!("{id}:{ctrl}"), path.to_string()))
        })
        .collect()
}

/// The init joins its cgroups while it builds its rootfs (docs/architecture.md,
/// "Create, as data flows"): with a cgroup namespace its root must still be the
/// container's cgroup in every hierarchy, and without one the process must run in
/// the container's cgroups, not the runtime's.
#[test]
fn the_process_runs_in_its_cgroups_with_or_without_a_cgroup_namespace() {
    let mut b = Bundle::new("cgplace");
    let out = b.sh("cat /proc/self/cgroup");
    let inside = cgroup_paths(&out);
    assert!(!inside.is_empty(), "{out}");
    for (h, path) in &inside {
        assert_eq!(
            path, "/",
            "{h}: the cgroup namespace's root is not the container's cgroup: {out}"
        );
    }

    let mut b = Bundle::new("cgplace-nons");
    b.remove_namespace("cgroup");
    let out = b.sh("cat /proc/self/cgroup");
    let host = cgroup_paths(&std::fs::read_to_string("/proc/self/cgroup").unwrap());
    let inside = cgroup_paths(&out);
    for (h, path) in &host {
        let theirs = inside.get(h).unwrap_or_else(|| panic!("no {h} in {out}"));
        assert_ne!(
            theirs, path,
            "{h}: the process runs in the runtime's cgroup: {out}"
        );
    }
}
