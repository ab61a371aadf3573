//! The CRI part: for one runtime handler, pods and containers through containerd's CRI
//! (what the kubelet sends), each check a verdict.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::Channel;

use crate::image::{IMAGE, PAUSE_MARK};
use crate::report::Report;
use crate::util::{self, CPU_LIMIT, MEM_LIMIT};

type R<T> = Result<T, String>;

const SECTION: &str = "CRI";
// NamespaceMode and MountPropagation values of the CRI API.
const POD: i32 = 0;
const CONTAINER: i32 = 1;
const NODE: i32 = 2;
const HOST_TO_CONTAINER: i32 = 1;
const BIDIRECTIONAL: i32 = 2;
const MIB: i64 = 1024 * 1024;

mod pods;

/// Connects a CRI client to containerd's socket.
pub async fn connect(sock: &Path) -> R<Channel> {
    let sock = sock.to_path_buf();
    // A hung RPC fails its check instead of the whole run (guests are slow: be generous).
    let limit = std::env::var("HUSK_E2E_RPC_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    tonic::transport::Endpoint::try_from("http://[::]:50051")
        .map_err(|e| e.to_string())?
        .timeout(Duration::from_secs(limit))
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let p = sock.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(p).await?,
                ))
            }
        }))
        .await
        .map_err(|e| format!("connect: {e}"))
}

/// Checks that the CRI answers and the image is there.
pub async fn ready(ch: &Channel) -> R<()> {
    let mut rt = RuntimeServiceClient::new(ch.clone());
    let v = rt
        .version(VersionRequest::default())
        .await
        .map_err(|e| e.message().to_string())?
        .into_inner();
    println!(
        "CRI: {} {} (API {})",
        v.runtime_name, v.runtime_version, v.runtime_api_version
    );
    let mut img = ImageServiceClient::new(ch.clone());
    let st = img
        .image_status(ImageStatusRequest {
            image: Some(image()),
            verbose: false,
        })
        .await
        .map_err(|e| e.message().to_string())?
        .into_inner();
    st.image
        .map(|_| ())
        .ok_or_else(|| format!("{IMAGE} is not in the CRI's store"))
}

fn image() -> ImageSpec {
    ImageSpec {
        image: IMAGE.into(),
        ..Default::default()
    }
}

/// One handler's run.
pub struct Run<'a> {
    rt: RuntimeServiceClient<Channel>,
    handler: &'a str,
    column: &'a str,
    dir: PathBuf,
    systemd: bool,
    report: &'a mut Report,
    pods: Vec<String>,
    parents: Vec<String>,
    n: usize,
}

/// Runs every CRI check with `handler`, recorded in `column`.
pub async fn run_handler(
    ch: &Channel,
    handler: &str,
    column: &str,
    dir: &Path,
    systemd: bool,
    report: &mut Report,
) {
    let dir = dir.join(format!("cri-{handler}"));
    let _ = std::fs::create_dir_all(&dir);
    let mut r = Run {
        rt: RuntimeServiceClient::new(ch.clone()),
        handler,
        column,
        dir,
        systemd,
        report,
        pods: Vec::new(),
        parents: Vec::new(),
        n: 0,
    };
    r.all().await;
    r.cleanup().await;
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

fn expect(cond: bool, what: impl FnOnce() -> String) -> R<()> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

impl Run<'_> {
    fn record(&mut self, check: &str, r: R<()>) {
        self.report.record(SECTION, check, self.column, r);
    }

    /// The pod's cgroup parent: a kubelet-shaped slice under systemd, a path otherwise.
    fn cgroup_parent(&mut self, uid: &str) -> String {
        let p = if self.systemd {
            format!("kubepods-burstable-pod{}.slice", uid.replace('-', "_"))
        } else {
            format!("/husk-e2e-{}/pod{uid}", std::process::id())
        };
        self.parents.push(p.clone());
        p
    }

    fn pod_config(&mut self, name: &str, net: i32, pid: i32, privileged: bool) -> PodSandboxConfig {
        self.n += 1;
        let uid = format!("{}-{}-{}", self.handler, std::process::id(), self.n);
        let log_dir = self.dir.join(format!("logs-{name}"));
        let _ = std::fs::create_dir_all(&log_dir);
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: format!("{name}-{}", self.handler),
                uid: uid.clone(),
                namespace: "husk-e2e".into(),
                attempt: 0,
            }),
            // A host-network pod shares the host's UTS namespace: no hostname of its own.
            hostname: if net == NODE {
                String::new()
            } else {
                format!("{name}-host")
            },
            log_directory: log_dir.to_string_lossy().into(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent(&uid),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        network: net,
                        pid,
                        ipc: POD,
                        ..Default::default()
                    }),
                    privileged,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn run_pod(&mut self, cfg: &PodSandboxConfig) -> R<String> {
        let id = self
            .rt
            .run_pod_sandbox(RunPodSandboxRequest {
                config: Some(cfg.clone()),
                runtime_handler: self.handler.into(),
            })
            .await
            .map_err(|e| format!("RunPodSandbox: {}", e.message()))?
            .into_inner()
            .pod_sandbox_id;
        self.pods.push(id.clone());
        Ok(id)
    }

    fn container(
        &self,
        name: &str,
        cmd: Vec<String>,
        sc: LinuxContainerSecurityContext,
    ) -> ContainerConfig {
        ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(image()),
            command: cmd,
            log_path: format!("{name}.log"),
            linux: Some(LinuxContainerConfig {
                resources: None,
                security_context: Some(sc),
            }),
            ..Default::default()
        }
    }

    async fn start(
        &mut self,
        pod: &str,
        pcfg: &PodSandboxConfig,
        mut c: ContainerConfig,
    ) -> R<String> {
        // As the kubelet: each container repeats the pod's namespace options.
        let pod_ns = pcfg
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.clone());
        if let Some(sc) = c.linux.as_mut().and_then(|l| l.security_context.as_mut()) {
            if sc.namespace_options.is_none() {
                sc.namespace_options = pod_ns;
            }
        }
        let id = self
            .rt
            .create_container(CreateContainerRequest {
                pod_sandbox_id: pod.into(),
                config: Some(c),
                sandbox_config: Some(pcfg.clone()),
            })
            .await
            .map_err(|e| format!("CreateContainer: {}", e.message()))?
            .into_inner()
            .container_id;
        self.rt
            .start_container(StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .map_err(|e| format!("StartContainer: {}", e.message()))?;
        Ok(id)
    }

    async fn exec(&mut self, id: &str, script: &str) -> R<(i32, String, String)> {
        let r = self
            .rt
            .exec_sync(ExecSyncRequest {
                container_id: id.into(),
                cmd: sh(script),
                timeout: 30,
            })
            .await
            .map_err(|e| format!("ExecSync: {}", e.message()))?
            .into_inner();
        Ok((
            r.exit_code,
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        ))
    }

    async fn out(&mut self, id: &str, script: &str) -> R<String> {
        let (code, out, err) = self.exec(id, script).await?;
        expect(code == 0, || format!("`{script}` exited {code}: {err}"))?;
        Ok(out)
    }

    async fn status(&mut self, id: &str) -> R<ContainerStatus> {
        self.rt
            .container_status(ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
            .await
            .map_err(|e| format!("ContainerStatus: {}", e.message()))?
            .into_inner()
            .status
            .ok_or_else(|| "no status".to_string())
    }

    async fn wait_exit(&mut self, id: &str, limit: Duration) -> R<ContainerStatus> {
        let start = Instant::now();
        loop {
            let st = self.status(id).await?;
            if st.state == ContainerState::ContainerExited as i32 {
                return Ok(st);
            }
            if start.elapsed() > limit {
                return Err(format!("still running after {limit:?}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs a one-shot container in `pod` and returns its log (the container's stdout).
    async fn one_shot(
        &mut self,
        pod: &str,
        pcfg: &PodSandboxConfig,
        c: ContainerConfig,
    ) -> R<String> {
        let log = Path::new(&pcfg.log_directory).join(&c.log_path);
        let id = self.start(pod, pcfg, c).await?;
        let st = self.wait_exit(&id, Duration::from_secs(60)).await?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // CRI log lines: "<time> stdout F <text>".
        let out: String = text
            .lines()
            .filter_map(|l| l.splitn(4, ' ').nth(3))
            .map(|l| format!("{l}\n"))
            .collect();
        expect(st.exit_code == 0, || {
            format!("exited {}: {out}", st.exit_code)
        })?;
        Ok(out)
    }

    async fn all(&mut self) {
        if let Err(e) = self.pod_a().await {
            self.record("pod with a CNI network", Err(e));
        }
        if let Err(e) = self.pod_b().await {
            self.record("pod on the host network, shared pid namespace", Err(e));
        }
        if let Err(e) = self.pod_c().await {
            self.record("security contexts", Err(e));
        }
        if let Err(e) = self.pod_d().await {
            self.record("privileged pod", Err(e));
        }
    }

    /// Stops and removes every pod, then checks nothing is left.
    async fn cleanup(&mut self) {
        let mut errs = Vec::new();
        for pod in std::mem::take(&mut self.pods) {
            if let Err(e) = self
                .rt
                .stop_pod_sandbox(StopPodSandboxRequest {
                    pod_sandbox_id: pod.clone(),
                })
                .await
            {
                errs.push(format!("StopPodSandbox: {}", e.message()));
            }
            if let Err(e) = self
                .rt
                .remove_pod_sandbox(RemovePodSandboxRequest {
                    pod_sandbox_id: pod.clone(),
                })
                .await
            {
                errs.push(format!("RemovePodSandbox: {}", e.message()));
            }
        }
        self.record(
            "stop and remove pod sandboxes",
            expect(errs.is_empty(), || errs.join("; ")),
        );
        util::unmount_below(&self.dir.join("bidi"));
        util::unmount_below(&self.dir.join("h2c"));
        let r = self.nothing_left().await;
        self.record("nothing left (pods, mounts, cgroups, shims, processes)", r);
    }

    async fn nothing_left(&mut self) -> R<()> {
        let pods = self
            .rt
            .list_pod_sandbox(ListPodSandboxRequest::default())
            .await
            .map_err(|e| e.message().to_string())?
            .into_inner()
            .items;
        let mine: Vec<_> = pods
            .iter()
            .filter(|p| {
                p.metadata
                    .as_ref()
                    .is_some_and(|m| m.name.ends_with(&format!("-{}", self.handler)))
            })
            .collect();
        expect(mine.is_empty(), || {
            format!("{} pod sandboxes left", mine.len())
        })?;
        let ok = util::wait_for(Duration::from_secs(10), || {
            util::pids_with("sleep 100000").is_empty()
        });
        expect(ok, || {
            format!(
                "container processes left: {:?}",
                util::pids_with("sleep 100000")
            )
        })?;
        let root_marker = "/io.containerd.runtime.v2.task/k8s.io/";
        let mounts: Vec<String> = util::mount_points()
            .into_iter()
            .filter(|m| {
                m.contains(root_marker) || m.contains("/io.containerd.grpc.v1.cri/sandboxes/")
            })
            .collect();
        expect(mounts.is_empty(), || format!("mounts left: {mounts:?}"))?;
        let mut left = Vec::new();
        for parent in std::mem::take(&mut self.parents) {
            for dir in cgroup_dirs(&parent, self.systemd) {
                let subs: Vec<String> = std::fs::read_dir(&dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.path().display().to_string())
                    .collect();
                left.extend(subs);
                // The pod's own cgroup is the kubelet's to remove; the suite made it.
                let _ = std::fs::remove_dir(&dir);
            }
        }
        expect(left.is_empty(), || {
            format!("container cgroups left: {left:?}")
        })
    }
}

/// The host directories of a pod cgroup parent, on every hierarchy.
fn cgroup_dirs(parent: &str, systemd: bool) -> Vec<PathBuf> {
    let rel = if systemd {
        // kubepods-burstable-podX.slice -> kubepods.slice/kubepods-burstable.slice/...
        let base = parent.trim_end_matches(".slice");
        let mut path = String::new();
        let mut prefix = String::new();
        for part in base.split('-') {
            path.push_str(&format!("/{prefix}{part}.slice"));
            prefix.push_str(&format!("{part}-"));
        }
        path
    } else {
        parent.to_string()
    };
    let mut out = Vec::new();
    if util::cgroup_v2() {
        out.push(PathBuf::from(format!("/sys/fs/cgroup{rel}")));
    } else {
        for e in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = PathBuf::from(format!("{}{rel}", e.path().display()));
            if p.is_dir() {
                out.push(p);
            }
        }
    }
    out.retain(|p| p.is_dir());
    out
}

/// The kernel has AppArmor on (containerd's own test: securityfs has it and the
/// module parameter says Y).
fn apparmor_enabled() -> bool {
    std::path::Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|v| v.starts_with('Y'))
}
