//! A private containerd with the CRI plugin: its own root, state, sockets, CNI config
//! and PATH (for the husk shim); nothing in /etc is read or written. Handlers:
//! `husk` (the husk shim, `io.containerd.husk.v2`), `husk-runc` (containerd's runc shim
//! with `BinaryName` = the husk CLI) and `runc`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{run_ok, wait_for};

/// Paths of the binaries under test.
pub struct Binaries {
    /// The husk CLI.
    pub husk: PathBuf,
    /// containerd-shim-husk-v2.
    pub shim: PathBuf,
    /// runc (the reference).
    pub runc: PathBuf,
}

/// A running private containerd, stopped (and its state removed) on drop.
pub struct Containerd {
    /// Everything of this containerd lives below this directory.
    pub dir: PathBuf,
    /// The CRI/containerd gRPC socket.
    pub socket: PathBuf,
    /// The CNI bridge device it uses.
    pub bridge: String,
    child: Child,
}

/// The CNI subnet of the bridge network.
pub const SUBNET_PREFIX: &str = "10.88.212.";

fn config(dir: &Path, b: &Binaries, systemd: bool) -> String {
    let d = dir.display();
    let (husk, runc) = (b.husk.display(), b.runc.display());
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        Root = "{d}/runc-root"
        SystemdCgroup = {systemd}
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.husk-runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.husk-runc.options]
        BinaryName = "{husk}"
        Root = "{d}/husk-runc-root"
        SystemdCgroup = {systemd}
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.husk]
      runtime_type = "io.containerd.husk.v2"
"#,
        image = crate::image::IMAGE,
    )
}

impl Containerd {
    /// Writes the config and CNI network, starts containerd and waits for its socket.
    pub fn start(dir: &Path, b: &Binaries, systemd: bool) -> Result<Containerd, String> {
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
        fs::create_dir_all(dir.join("cni")).map_err(|e| e.to_string())?;
        let _ = symlink(&b.shim, bin.join("containerd-shim-husk-v2"));
        fs::write(dir.join("config.toml"), config(dir, b, systemd)).map_err(|e| e.to_string())?;
        let bridge = format!("hske2e{}", std::process::id() % 10000);
        let cni = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": "husk-e2e",
            "plugins": [{
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": format!("{SUBNET_PREFIX}0/24")}]],
                    "dataDir": dir.join("cni-ipam"),
                }
            }]
        });
        fs::write(dir.join("cni/10-husk-e2e.conflist"), cni.to_string())
            .map_err(|e| e.to_string())?;
        let log = fs::File::create(dir.join("containerd.log")).map_err(|e| e.to_string())?;
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
        );
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("containerd: {e}"))?;
        let socket = dir.join("containerd.sock");
        let c = Containerd {
            dir: dir.to_path_buf(),
            socket: socket.clone(),
            bridge,
            child,
        };
        if !wait_for(Duration::from_secs(60), || socket.exists()) {
            return Err(format!(
                "containerd did not listen within 60 s; see {}",
                dir.join("containerd.log").display()
            ));
        }
        Ok(c)
    }

    /// `ctr -n k8s.io images import` of the suite's image.
    pub fn import(&self, tar: &Path) -> Result<(), String> {
        run_ok(
            Command::new("ctr")
                .arg("--address")
                .arg(&self.socket)
                .args(["-n", "k8s.io", "images", "import"])
                .arg(tar),
        )
        .map(|_| ())
    }

    /// Pids of shims serving this containerd.
    pub fn shims(&self) -> Vec<i32> {
        crate::util::pids_with(&format!("-address {}", self.socket.display()))
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        for pid in self.shims() {
            // SAFETY: kill(2) of a shim this containerd started (matched by its socket).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        crate::util::unmount_below(&self.dir);
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
    }
}
