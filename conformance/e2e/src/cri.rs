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

    /// A pod on the CNI bridge: sharing, limits, exec, logs, stats, update, stop.
    async fn pod_a(&mut self) -> R<()> {
        let pcfg = self.pod_config("net", POD, CONTAINER, false);
        let pod = self.run_pod(&pcfg).await?;
        let st = self
            .rt
            .pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: pod.clone(),
                verbose: false,
            })
            .await
            .map_err(|e| e.message().to_string())?
            .into_inner()
            .status
            .ok_or("no pod status")?;
        let ip = st.network.map(|n| n.ip).unwrap_or_default();
        let ready = st.state == PodSandboxState::SandboxReady as i32;
        self.record(
            "pod sandbox ready",
            expect(ready, || format!("state {}", st.state)),
        );
        let mut main = self.container(
            "main",
            sh("trap 'echo got TERM; exit 0' TERM; echo hello-stdout; echo hello-stderr >&2; while :; do sleep 1; done"),
            LinuxContainerSecurityContext::default(),
        );
        main.linux.as_mut().ok_or("linux")?.resources = Some(LinuxContainerResources {
            cpu_period: 100_000,
            cpu_quota: 50_000,
            memory_limit_in_bytes: 64 * MIB,
            ..Default::default()
        });
        let main_id = self.start(&pod, &pcfg, main).await?;
        let peer = self.container(
            "peer",
            sh("trap '' TERM; while :; do sleep 100000; done"),
            LinuxContainerSecurityContext::default(),
        );
        let peer_id = self.start(&pod, &pcfg, peer).await?;

        let r = async {
            let addr = self.out(&main_id, "ip -4 -o addr show eth0").await?;
            expect(
                ip.starts_with(crate::containerd::SUBNET_PREFIX) && addr.contains(&ip),
                || format!("pod ip {ip:?}, eth0: {addr}"),
            )
        }
        .await;
        self.record("CNI bridge network (pod IP on eth0)", r);

        let r = async {
            let q = "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done; hostname";
            let a = self.out(&main_id, q).await?;
            let b = self.out(&peer_id, q).await?;
            let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
            expect(al.len() == 5 && al[..3] == bl[..3], || {
                format!("net/ipc/uts differ: {a} vs {b}")
            })?;
            expect(al[3] != bl[3], || {
                format!("pid namespace shared without shareProcessNamespace: {a}")
            })?;
            expect(al[4] == "net-host", || format!("hostname {}", al[4]))
        }
        .await;
        self.record("containers share the pod's net, ipc, uts", r);

        let parent = pcfg
            .linux
            .as_ref()
            .map(|l| l.cgroup_parent.clone())
            .unwrap_or_default();
        let r = {
            // cgroupfs: <parent>/<id>; systemd: <expanded slice>/cri-containerd-<id>.scope.
            let leaf = if self.systemd {
                format!("cri-containerd-{main_id}.scope")
            } else {
                main_id.clone()
            };
            let dirs = cgroup_dirs(&parent, self.systemd);
            let found = dirs.iter().any(|d| d.join(&leaf).is_dir());
            expect(found, || format!("no {leaf} under {parent} ({dirs:?})"))
        };
        self.record("container cgroup under the pod's parent", r);

        let r = async {
            let m = self.out(&main_id, MEM_LIMIT).await?;
            let c = self.out(&main_id, CPU_LIMIT).await?;
            expect(m.trim() == (64 * MIB).to_string(), || format!("memory {m}"))?;
            expect(c.trim() == "50000 100000", || format!("cpu {c}"))
        }
        .await;
        self.record("CPU and memory limits read back inside", r);

        let r = async {
            let (code, out, err) = self
                .exec(&main_id, "echo out; echo err >&2; exit 3")
                .await?;
            expect(code == 3 && out == "out\n" && err == "err\n", || {
                format!("code {code} out {out:?} err {err:?}")
            })
        }
        .await;
        self.record("ExecSync output and exit code", r);

        let log = Path::new(&pcfg.log_directory).join("main.log");
        let r = {
            let ok = util::wait_for(Duration::from_secs(10), || {
                let t = std::fs::read_to_string(&log).unwrap_or_default();
                t.contains(" stdout F hello-stdout") && t.contains(" stderr F hello-stderr")
            });
            expect(ok, || {
                format!(
                    "log {}: {:?}",
                    log.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
        };
        self.record("container logs (stdout and stderr)", r);

        let r = async {
            self.out(&main_id, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
                .await?;
            let s = self
                .rt
                .container_stats(ContainerStatsRequest {
                    container_id: main_id.clone(),
                })
                .await
                .map_err(|e| e.message().to_string())?
                .into_inner()
                .stats
                .ok_or("no stats")?;
            let cpu = s
                .cpu
                .and_then(|c| c.usage_core_nano_seconds)
                .map(|v| v.value)
                .unwrap_or(0);
            let mem = s
                .memory
                .and_then(|m| m.working_set_bytes)
                .map(|v| v.value)
                .unwrap_or(0);
            expect(cpu > 0 && mem > 0, || {
                format!("cpu {cpu} ns, working set {mem} B")
            })
        }
        .await;
        self.record("ContainerStats (cpu, memory)", r);

        let r = async {
            self.rt
                .update_container_resources(UpdateContainerResourcesRequest {
                    container_id: main_id.clone(),
                    linux: Some(LinuxContainerResources {
                        cpu_period: 100_000,
                        cpu_quota: 20_000,
                        memory_limit_in_bytes: 96 * MIB,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("UpdateContainerResources: {}", e.message()))?;
            let m = self.out(&main_id, MEM_LIMIT).await?;
            let c = self.out(&main_id, CPU_LIMIT).await?;
            expect(
                m.trim() == (96 * MIB).to_string() && c.trim() == "20000 100000",
                || format!("memory {m} cpu {c}"),
            )
        }
        .await;
        self.record("UpdateContainerResources read back", r);

        let r = async {
            let t = Instant::now();
            self.rt
                .stop_container(StopContainerRequest {
                    container_id: main_id.clone(),
                    timeout: 20,
                })
                .await
                .map_err(|e| e.message().to_string())?;
            let st = self.wait_exit(&main_id, Duration::from_secs(30)).await?;
            let took = t.elapsed();
            let logged = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("got TERM");
            expect(
                st.exit_code == 0 && logged && took < Duration::from_secs(15),
                || format!("exit {} after {took:?}, TERM seen: {logged}", st.exit_code),
            )?;
            let t = Instant::now();
            self.rt
                .stop_container(StopContainerRequest {
                    container_id: peer_id.clone(),
                    timeout: 2,
                })
                .await
                .map_err(|e| e.message().to_string())?;
            let st = self.wait_exit(&peer_id, Duration::from_secs(30)).await?;
            let took = t.elapsed();
            expect(
                st.exit_code == 137 && took >= Duration::from_secs(2),
                || {
                    format!(
                        "TERM-ignoring container: exit {} after {took:?}",
                        st.exit_code
                    )
                },
            )
        }
        .await;
        self.record(
            "stop with grace period (TERM handled; TERM ignored -> KILL)",
            r,
        );

        let r = async {
            for id in [&main_id, &peer_id] {
                self.rt
                    .remove_container(RemoveContainerRequest {
                        container_id: id.clone(),
                    })
                    .await
                    .map_err(|e| format!("RemoveContainer: {}", e.message()))?;
            }
            let left = self
                .rt
                .list_containers(ListContainersRequest {
                    filter: Some(ContainerFilter {
                        pod_sandbox_id: pod.clone(),
                        ..Default::default()
                    }),
                })
                .await
                .map_err(|e| e.message().to_string())?
                .into_inner()
                .containers;
            expect(left.is_empty(), || {
                format!("{} containers left", left.len())
            })
        }
        .await;
        self.record("remove containers", r);
        Ok(())
    }

    /// Host network and `shareProcessNamespace`.
    async fn pod_b(&mut self) -> R<()> {
        let pcfg = self.pod_config("hostnet", NODE, POD, false);
        let pod = self.run_pod(&pcfg).await?;
        let c = self.container(
            "shared-pid",
            vec!["sleep".into(), "100000".into()],
            LinuxContainerSecurityContext::default(),
        );
        let id = self.start(&pod, &pcfg, c).await?;
        let host_net = std::fs::read_link("/proc/self/ns/net").map_err(|e| e.to_string())?;
        let r = async {
            let n = self.out(&id, "readlink /proc/self/ns/net").await?;
            expect(n.trim() == host_net.to_string_lossy(), || {
                format!("{n} vs host {host_net:?}")
            })
        }
        .await;
        self.record("host network", r);
        let r = async {
            let p = self
                .out(
                    &id,
                    "tr '\\0' ' ' < /proc/1/cmdline; echo; ps -o pid,args | grep -c 'sleep 100000'",
                )
                .await?;
            expect(p.contains(PAUSE_MARK), || {
                format!("pid 1 is not the pause process: {p}")
            })
        }
        .await;
        self.record("shareProcessNamespace (pause is pid 1)", r);
        Ok(())
    }

    /// Users, read-only root, capabilities, seccomp, OOM.
    async fn pod_c(&mut self) -> R<()> {
        let pcfg = self.pod_config("sec", POD, CONTAINER, false);
        let pod = self.run_pod(&pcfg).await?;
        let status = "grep -E '^(CapEff|Seccomp):' /proc/self/status";

        let sc = LinuxContainerSecurityContext {
            run_as_user: Some(Int64Value { value: 1234 }),
            run_as_group: Some(Int64Value { value: 5678 }),
            ..Default::default()
        };
        let c = self.container("user", sh("id -u; id -g"), sc);
        let r = self
            .one_shot(&pod, &pcfg, c)
            .await
            .and_then(|o| expect(o == "1234\n5678\n", || format!("{o:?}")));
        self.record("runAsUser / runAsGroup", r);

        let sc = LinuxContainerSecurityContext {
            readonly_rootfs: true,
            ..Default::default()
        };
        let c = self.container(
            "ro",
            sh("touch /x 2>/dev/null && echo writable || echo read-only"),
            sc,
        );
        let r = self
            .one_shot(&pod, &pcfg, c)
            .await
            .and_then(|o| expect(o == "read-only\n", || format!("{o:?}")));
        self.record("readOnlyRootFilesystem", r);

        let caps = |add: &[&str]| LinuxContainerSecurityContext {
            capabilities: Some(Capability {
                drop_capabilities: vec!["ALL".into()],
                add_capabilities: add.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = self.container("nocaps", sh(status), caps(&[]));
        let r = self
            .one_shot(&pod, &pcfg, c)
            .await
            .and_then(|o| expect(o.contains("CapEff:\t0000000000000000"), || o.clone()));
        self.record("capabilities dropped to none", r);
        let c = self.container("netadmin", sh(status), caps(&["NET_ADMIN"]));
        let r = self
            .one_shot(&pod, &pcfg, c)
            .await
            .and_then(|o| expect(o.contains("CapEff:\t0000000000001000"), || o.clone()));
        self.record("capability added back (NET_ADMIN only)", r);

        let sc = LinuxContainerSecurityContext {
            seccomp: Some(SecurityProfile {
                profile_type: security_profile::ProfileType::RuntimeDefault as i32,
                localhost_ref: String::new(),
            }),
            ..Default::default()
        };
        let c = self.container(
            "seccomp",
            sh(&format!("{status}; unshare -U true 2>/dev/null && echo unshare-allowed || echo unshare-denied")),
            sc,
        );
        let r = self.one_shot(&pod, &pcfg, c).await.and_then(|o| {
            expect(
                o.contains("Seccomp:\t2") && o.contains("unshare-denied"),
                || o.clone(),
            )
        });
        self.record("seccomp RuntimeDefault", r);

        // containerd's CRI gives an unprivileged container its default AppArmor
        // profile when the kernel has AppArmor on (the guest's default), nothing otherwise
        // (then, without any LSM, the attr file does not even read: the host's kernel).
        let want = if apparmor_enabled() {
            "cri-containerd.apparmor.d (enforce)"
        } else {
            "unconfined"
        };
        let c = self.container(
            "apparmor",
            sh("cat /proc/self/attr/current 2>/dev/null || echo unconfined; echo"),
            LinuxContainerSecurityContext::default(),
        );
        let r = self.one_shot(&pod, &pcfg, c).await.and_then(|o| {
            expect(o.trim_end_matches(['\0', '\n']) == want, || {
                format!("{o:?}, want {want:?}")
            })
        });
        self.record(
            "AppArmor profile (containerd's default when the kernel has it on)",
            r,
        );

        let mut c = self.container(
            "oom",
            sh("echo start; tail /dev/zero"),
            LinuxContainerSecurityContext::default(),
        );
        c.linux.as_mut().ok_or("linux")?.resources = Some(LinuxContainerResources {
            memory_limit_in_bytes: 32 * MIB,
            memory_swap_limit_in_bytes: 32 * MIB,
            ..Default::default()
        });
        let r = async {
            let id = self.start(&pod, &pcfg, c).await?;
            let st = self.wait_exit(&id, Duration::from_secs(120)).await?;
            expect(st.reason == "OOMKilled" && st.exit_code == 137, || {
                format!("reason {:?} exit {}", st.reason, st.exit_code)
            })
        }
        .await;
        self.record("OOM-killed container reported OOMKilled", r);
        Ok(())
    }

    /// A privileged pod: full capabilities and devices, hostPath propagation both ways.
    async fn pod_d(&mut self) -> R<()> {
        let pcfg = self.pod_config("priv", POD, CONTAINER, true);
        let pod = self.run_pod(&pcfg).await?;
        let bidi = self.dir.join("bidi");
        let h2c = self.dir.join("h2c");
        util::make_shared_dir(&bidi)?;
        util::make_shared_dir(&h2c)?;
        std::fs::create_dir_all(bidi.join("sub")).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(h2c.join("sub")).map_err(|e| e.to_string())?;
        let mut c = self.container(
            "priv",
            vec!["sleep".into(), "100000".into()],
            LinuxContainerSecurityContext {
                privileged: true,
                ..Default::default()
            },
        );
        c.mounts = vec![
            Mount {
                container_path: "/bidi".into(),
                host_path: bidi.to_string_lossy().into(),
                propagation: BIDIRECTIONAL,
                ..Default::default()
            },
            Mount {
                container_path: "/h2c".into(),
                host_path: h2c.to_string_lossy().into(),
                propagation: HOST_TO_CONTAINER,
                ..Default::default()
            },
        ];
        let id = self.start(&pod, &pcfg, c).await?;
        let r = async {
            let host_bnd = std::fs::read_to_string("/proc/self/status")
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("CapBnd:"))
                .map(|l| l.replace("CapBnd:", ""))
                .unwrap_or_default();
            let o = self
                .out(&id, "grep CapEff /proc/self/status; ls /dev | wc -l")
                .await?;
            let mut lines = o.lines();
            let eff = lines.next().unwrap_or_default().replace("CapEff:", "");
            let devs: usize = lines.next().unwrap_or("0").trim().parse().unwrap_or(0);
            expect(eff.trim() == host_bnd.trim() && devs > 30, || {
                format!("CapEff {eff} (host bounding {host_bnd}), {devs} entries in /dev")
            })
        }
        .await;
        self.record("privileged container (all caps, host devices)", r);

        let r = async {
            util::run_ok(
                std::process::Command::new("mount")
                    .args(["-t", "tmpfs", "h2c-from-host"])
                    .arg(h2c.join("sub")),
            )?;
            let ok = self
                .out(&id, "grep -c ' /h2c/sub ' /proc/self/mountinfo || true")
                .await?;
            expect(ok.trim() != "0", || {
                "a host mount made after start is not in the container".into()
            })
        }
        .await;
        self.record("hostPath HostToContainer propagation", r);

        let r = async {
            self.out(&id, "mount -t tmpfs bidi-from-ctr /bidi/sub")
                .await?;
            let sub = bidi.join("sub").to_string_lossy().to_string();
            let seen = util::wait_for(Duration::from_secs(5), || {
                util::mount_points().contains(&sub)
            });
            expect(seen, || {
                "a mount made in the container is not on the host".into()
            })
        }
        .await;
        self.record("hostPath Bidirectional propagation", r);
        Ok(())
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
