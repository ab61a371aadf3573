//! `linux.rootfsPropagation: rshared` with an `rshared` bind volume (Kubernetes
//! `Bidirectional` mount propagation): mounts made by the container under the
//! volume appear on the host, and the host's appear in the container.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use serde_json::json;

fn add_sys_admin(b: &mut Bundle) {
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set]
            .as_array_mut()
            .expect("capability set")
            .push(json!("CAP_SYS_ADMIN"));
    }
}

#[test]
fn rshared_volume_propagates_both_ways() {
    let mut b = Bundle::new("bidir");
    let vol = b.dir.join("vol");
    b.host_tmpfs(&vol);
    b.host_make_shared(&vol);
    b.add_mount(json!({"destination": "/vol", "type": "bind",
        "source": vol.to_str().unwrap(), "options": ["rbind", "rshared"]}));
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    add_sys_admin(&mut b);
    b.set_script(
        "cat /vol/h/f > /vol/seen 2>&1; mkdir -p /vol/t && mount -t tmpfs t /vol/t && \
         echo from-container > /vol/t/f; echo done > /vol/done",
    );
    let id = b.new_id();
    b.create_ok(&id);
    // Host -> container: a mount the host makes after create.
    let h = vol.join("h");
    b.host_tmpfs(&h);
    fs::write(h.join("f"), "from-host\n").unwrap();
    b.husk(&["start", &id]).ok();
    wait_for_content(&vol.join("done"), "done");
    assert_eq!(fs::read_to_string(vol.join("seen")).unwrap(), "from-host\n");
    // Container -> host: the tmpfs the container mounted is on the host, and stays
    // after the container is gone (unmounted with the volume on drop).
    std::thread::sleep(Duration::from_millis(50));
    let mi = parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap());
    let t = vol.join("t");
    assert!(
        mi.iter()
            .any(|m| m.mount_point == t.to_str().unwrap() && m.fstype == "tmpfs"),
        "the container's mount did not reach the host"
    );
    assert_eq!(fs::read_to_string(t.join("f")).unwrap(), "from-container\n");
}
