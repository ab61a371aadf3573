//! The CRI checks, pod by pod (see the module above for the harness).

use super::*;

impl Run<'_> {
    /// A pod on the CNI bridge: sharing, limits, exec, logs, stats, update, stop.
    pub(super) async fn pod_a(&mut self) -> R<()> {
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
    pub(super) async fn pod_b(&mut self) -> R<()> {
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
    pub(super) async fn pod_c(&mut self) -> R<()> {
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
    pub(super) async fn pod_d(&mut self) -> R<()> {
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
}
