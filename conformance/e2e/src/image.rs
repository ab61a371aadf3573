//! The one image of the suite, built locally (no registry is reachable): busybox-static
//! with its applets, as a `docker save` archive that `ctr images import`, `docker load`
//! and `podman load` all read. Its default command sleeps, so it doubles as the CRI
//! sandbox (pause) image.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use crate::util::{run_ok, sha256_file};

/// The image's name in every store.
pub const IMAGE: &str = "localhost/husk-e2e/busybox:1";
/// The sandbox's command ends in this number, so a container sharing the pod's pid
/// namespace can recognise the pause process as its pid 1.
pub const PAUSE_MARK: &str = "2147483646";

/// Builds the archive at `dir/image.tar` and returns its path.
pub fn build(dir: &Path) -> Result<std::path::PathBuf, String> {
    let work = dir.join("image");
    let rootfs = work.join("rootfs");
    for d in [
        "bin", "etc", "proc", "sys", "dev", "tmp", "root", "srv/data",
    ] {
        fs::create_dir_all(rootfs.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).map_err(|e| format!("busybox: {e}"))?;
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .map_err(|e| format!("busybox --list: {e}"))?;
    for a in String::from_utf8_lossy(&list.stdout).lines() {
        if !a.is_empty() && a != "busybox" {
            let _ = symlink("busybox", rootfs.join("bin").join(a));
        }
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n",
    )
    .map_err(|e| e.to_string())?;
    fs::write(rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\n").map_err(|e| e.to_string())?;
    fs::write(rootfs.join("srv/data/in-image"), "from the image\n").map_err(|e| e.to_string())?;
    let out = work.join("out");
    fs::create_dir_all(out.join("layer")).map_err(|e| e.to_string())?;
    let layer = out.join("layer/layer.tar");
    run_ok(
        Command::new("tar")
            .args(["--numeric-owner", "-C"])
            .arg(&rootfs)
            .arg("-cf")
            .arg(&layer)
            .arg("."),
    )?;
    let diff_id = sha256_file(&layer)?;
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sleep", PAUSE_MARK],
            "WorkingDir": "/"
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        "history": [{"created_by": "husk-e2e"}]
    });
    let config_text = serde_json::to_vec(&config).map_err(|e| e.to_string())?;
    let config_path = out.join("config.json");
    fs::write(&config_path, &config_text).map_err(|e| e.to_string())?;
    let config_id = sha256_file(&config_path)?;
    let config_name = format!("{config_id}.json");
    fs::rename(&config_path, out.join(&config_name)).map_err(|e| e.to_string())?;
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [IMAGE],
        "Layers": ["layer/layer.tar"]
    }]);
    fs::write(out.join("manifest.json"), manifest.to_string()).map_err(|e| e.to_string())?;
    let tar = dir.join("image.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&out)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    )?;
    Ok(tar)
}
