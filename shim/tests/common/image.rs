//! The busybox image the containerd tests import: an OCI layout (one layer of
//! Debian's busybox-static, a config, a manifest, an index) tarred once per test
//! run, since there is no registry to pull from.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::IMAGE;

fn sha256(p: &Path) -> String {
    let o = Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Moves `f` into `blobs/sha256/<digest>`; returns (digest, size).
fn blob(layout: &Path, f: &Path) -> (String, u64) {
    let d = sha256(f);
    let size = fs::metadata(f).map(|m| m.len()).unwrap_or(0);
    fs::rename(f, layout.join("blobs/sha256").join(&d)).expect("move blob");
    (d, size)
}

/// An OCI image archive with busybox-static as its only layer: one file in the
/// temporary directory per busybox binary, reused by later runs.
pub(super) fn image_tar() -> Result<PathBuf, String> {
    static IMG: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    IMG.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata("/bin/busybox").map_err(|e| format!("/bin/busybox: {e}"))?;
        let out = std::env::temp_dir().join(format!(
            "husk-shim-test-image-{:x}-{:x}.tar",
            m.size(),
            m.mtime()
        ));
        if out.is_file() {
            return Ok(out);
        }
        let bb = Path::new("/bin/busybox");
        let static_bb = Command::new("file")
            .arg("-L")
            .arg(bb)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("statically linked"))
            .unwrap_or(true);
        if !bb.is_file() || !static_bb {
            return Err("/bin/busybox (static) missing: apt-get install busybox-static".into());
        }
        let w = std::env::temp_dir().join(format!("husk-shim-image-{}", std::process::id()));
        let _ = fs::remove_dir_all(&w);
        let rootfs = w.join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
            fs::create_dir_all(rootfs.join(d)).map_err(|e| e.to_string())?;
        }
        fs::copy(bb, rootfs.join("bin/busybox")).map_err(|e| e.to_string())?;
        let list = Command::new(bb)
            .arg("--list")
            .output()
            .map_err(|e| e.to_string())?;
        for a in String::from_utf8_lossy(&list.stdout).lines() {
            if a != "busybox" && !a.is_empty() {
                let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a));
            }
        }
        fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
            .map_err(|e| e.to_string())?;
        fs::write(rootfs.join("etc/group"), "root:x:0:\n").map_err(|e| e.to_string())?;
        let layout = w.join("layout");
        fs::create_dir_all(layout.join("blobs/sha256")).map_err(|e| e.to_string())?;
        let layer = w.join("layer.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["--numeric-owner", "-cf"])
            .arg(&layer)
            .arg(".")
            .status()
            .map_err(|e| e.to_string())?;
        if !st.success() {
            return Err("tar of the rootfs failed".into());
        }
        let (ld, ls) = blob(&layout, &layer);
        let cfg = w.join("config.json");
        fs::write(
            &cfg,
            format!(
                r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/bin"],"Cmd":["sh"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{ld}"]}}}}"#
            ),
        )
        .map_err(|e| e.to_string())?;
        let (cd, cs) = blob(&layout, &cfg);
        let man = w.join("manifest.json");
        fs::write(
            &man,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{cd}","size":{cs}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:{ld}","size":{ls}}}]}}"#
            ),
        )
        .map_err(|e| e.to_string())?;
        let (md, ms) = blob(&layout, &man);
        fs::write(
            layout.join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{md}","size":{ms},"platform":{{"architecture":"amd64","os":"linux"}},"annotations":{{"io.containerd.image.name":"{IMAGE}","org.opencontainers.image.ref.name":"latest"}}}}]}}"#
            ),
        )
        .map_err(|e| e.to_string())?;
        fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(|e| e.to_string())?;
        let tmp = w.with_extension("tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&tmp)
            .arg(".")
            .status()
            .map_err(|e| e.to_string())?;
        let _ = fs::remove_dir_all(&w);
        if !st.success() {
            let _ = fs::remove_file(&tmp);
            return Err("tar of the image layout failed".into());
        }
        fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
        Ok(out)
    })
    .clone()
}
