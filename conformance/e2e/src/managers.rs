//! docker and podman smoke, side by side per runtime: each manager gets private
//! storage and the suite's image loaded from the archive, then the same commands run
//! with `--runtime` set to each runtime under test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::image::IMAGE;
use crate::report::Report;
use crate::util::{run, run_ok, wait_for, CPU_LIMIT, MEM_LIMIT};

type R<T> = Result<T, String>;

/// A manager's command line, with its private flags.
pub trait Manager {
    /// A command for `args`.
    fn cmd(&self, args: &[&str]) -> Command;
    /// The `--runtime` value for a runtime column.
    fn runtime_flag(&self, runtime: &str) -> String;
    /// Extra `run` flags every container gets.
    fn run_extra(&self) -> Vec<String> {
        Vec::new()
    }
    /// The flags of a read-only container with a writable /tmp.
    fn read_only(&self) -> Vec<String>;
}

/// dockerd with a private data root, exec root and socket.
pub struct Docker {
    sock: PathBuf,
    child: Child,
    dir: PathBuf,
}

impl Docker {
    /// Starts dockerd with husk registered as a runtime.
    pub fn start(dir: &Path, husk: &Path) -> R<Docker> {
        let dir = dir.join("docker");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let sock = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", sock.display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
            ])
            .args(["--storage-driver", "vfs"])
            .arg("--cgroup-parent")
            .arg(cgroup_parent("docker"))
            .arg("--add-runtime")
            .arg(format!("husk={}", husk.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("dockerd: {e}"))?;
        let d = Docker { sock, child, dir };
        let up = wait_for(Duration::from_secs(90), || {
            d.cmd(&["info"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if !up {
            return Err(format!(
                "dockerd did not start; see {}/dockerd.log",
                d.dir.display()
            ));
        }
        Ok(d)
    }
}

impl Manager for Docker {
    fn cmd(&self, args: &[&str]) -> Command {
        // /usr/bin/docker matches Debian's dockerd (machine notes).
        let mut c = Command::new("/usr/bin/docker");
        c.arg("--host")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args);
        c
    }
    fn runtime_flag(&self, runtime: &str) -> String {
        runtime.to_string()
    }
    fn read_only(&self) -> Vec<String> {
        vec!["--read-only".into(), "--tmpfs".into(), "/tmp".into()]
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "-f", "--volumes"]).status();
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        crate::util::unmount_below(&self.dir);
    }
}

/// podman with private vfs storage, runroot and config.
pub struct Podman {
    dir: PathBuf,
    husk: PathBuf,
    runc: PathBuf,
}

impl Podman {
    /// Prepares podman's private directories.
    pub fn new(dir: &Path, husk: &Path, runc: &Path) -> R<Podman> {
        let dir = dir.join("podman");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("containers.conf"),
            "[containers]\nnetns = \"none\"\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
        )
        .map_err(|e| e.to_string())?;
        Ok(Podman {
            dir,
            husk: husk.to_path_buf(),
            runc: runc.to_path_buf(),
        })
    }
}

impl Manager for Podman {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .args(args);
        c
    }
    fn runtime_flag(&self, runtime: &str) -> String {
        // podman passes --log-format json only to runtimes it knows by basename.
        if runtime == "runc" {
            self.runc.display().to_string()
        } else {
            self.husk.display().to_string()
        }
    }
    fn run_extra(&self) -> Vec<String> {
        // podman's defaults for root (1048576 files and processes) are above this
        // host's hard limits, which no runtime can raise without CAP_SYS_RESOURCE.
        vec![
            "--ulimit".into(),
            "nofile=1024:1024".into(),
            "--ulimit".into(),
            "nproc=4096:4096".into(),
            "--cgroup-parent".into(),
            cgroup_parent("podman"),
        ]
    }
    fn read_only(&self) -> Vec<String> {
        // podman mounts /tmp, /var/tmp, /run and /dev/shm as tmpfs with tmpcopyup.
        vec!["--read-only".into()]
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "-a", "-f"]).output();
        crate::util::unmount_below(&self.dir);
    }
}

/// The suite's own parent cgroup for a manager's containers (removed at the end).
pub fn cgroup_parent(manager: &str) -> String {
    format!("/husk-e2e-{}-{manager}", std::process::id())
}

/// Removes a manager's parent cgroup on every hierarchy; the names of container
/// cgroups still in it (there should be none).
pub fn remove_cgroup_parent(manager: &str) -> Vec<String> {
    let rel = cgroup_parent(manager);
    let mut dirs = vec![std::path::PathBuf::from(format!("/sys/fs/cgroup{rel}"))];
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        dirs.push(std::path::PathBuf::from(format!(
            "{}{rel}",
            e.path().display()
        )));
    }
    let mut left = Vec::new();
    for d in dirs.iter().filter(|d| d.is_dir()) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            // podman's conmon processes live in <parent>/conmon: not a container.
            if e.file_name() == "conmon" && std::fs::remove_dir(e.path()).is_ok() {
                continue;
            }
            if e.path().is_dir() {
                left.push(e.path().display().to_string());
            }
        }
        let _ = std::fs::remove_dir(d);
    }
    left
}

fn out(m: &dyn Manager, args: &[&str]) -> R<String> {
    run_ok(&mut m.cmd(args))
}

fn expect(cond: bool, what: impl FnOnce() -> String) -> R<()> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// Loads the image and runs the smoke checks for each runtime.
pub fn smoke(m: &dyn Manager, section: &str, tar: &Path, runtimes: &[&str], report: &mut Report) {
    if let Err(e) = out(m, &["load", "-i", &tar.to_string_lossy()]) {
        for rt in runtimes {
            report.record(section, "load the image", rt, Err(e.clone()));
        }
        return;
    }
    for rt in runtimes {
        let flag = m.runtime_flag(rt);
        let mut check = |name: &str, r: R<()>| report.record(section, name, rt, r);
        let run_args = |extra: &[&str], cmd: &str| -> Vec<String> {
            let mut v: Vec<String> = vec![
                "run".into(),
                "--rm".into(),
                "--runtime".into(),
                flag.clone(),
                "--network".into(),
                "none".into(),
            ];
            v.extend(m.run_extra());
            v.extend(extra.iter().map(|s| s.to_string()));
            v.push(IMAGE.into());
            v.extend(["sh".into(), "-c".into(), cmd.into()]);
            v
        };
        let go = |extra: &[&str], cmd: &str| -> R<(i32, String, String)> {
            let a = run_args(extra, cmd);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            run(&mut m.cmd(&a))
        };
        check(
            "run: output",
            go(&[], "echo hello").and_then(|(c, o, e)| {
                expect(c == 0 && o == "hello\n", || format!("{c} {o:?} {e}"))
            }),
        );
        check(
            "run: exit code",
            go(&[], "exit 7").and_then(|(c, _, e)| expect(c == 7, || format!("{c} {e}"))),
        );
        check(
            "run -t",
            go(&["-t"], "[ -t 1 ] && echo tty").and_then(|(c, o, e)| {
                expect(c == 0 && o.contains("tty"), || format!("{c} {o:?} {e}"))
            }),
        );
        check("run -i (stdin)", {
            let a = run_args(&["-i"], "cat");
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let mut cmd = m.cmd(&a);
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            (|| {
                let mut child = cmd.spawn().map_err(|e| e.to_string())?;
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .ok_or("stdin")?
                    .write_all(b"from stdin\n")
                    .map_err(|e| e.to_string())?;
                let o = child.wait_with_output().map_err(|e| e.to_string())?;
                let s = String::from_utf8_lossy(&o.stdout).to_string();
                expect(s == "from stdin\n", || {
                    format!("{s:?} {}", String::from_utf8_lossy(&o.stderr))
                })
            })()
        });
        check(
            "run -e (env)",
            go(&["-e", "HUSK_E2E=yes"], "echo $HUSK_E2E")
                .and_then(|(c, o, e)| expect(o == "yes\n", || format!("{c} {o:?} {e}"))),
        );
        check(
            "run --read-only",
            go(
                &m.read_only().iter().map(String::as_str).collect::<Vec<_>>(),
                "touch /x 2>/dev/null && echo writable || echo ro; touch /tmp/y && echo tmp-ok",
            )
            .and_then(|(c, o, e)| {
                expect(c == 0 && o == "ro\ntmp-ok\n", || format!("{c} {o:?} {e}"))
            }),
        );
        check(
            "run --user",
            go(&["--user", "1000:1000"], "id -u; id -g")
                .and_then(|(c, o, e)| expect(o == "1000\n1000\n", || format!("{c} {o:?} {e}"))),
        );
        let limits = format!("{MEM_LIMIT}; {CPU_LIMIT}");
        check(
            "run --memory --cpus",
            go(&["--memory", "64m", "--cpus", "0.5"], &limits).and_then(|(c, o, e)| {
                expect(
                    c == 0 && o.starts_with("67108864\n") && o.contains("50000 100000"),
                    || format!("{c} {o:?} {e}"),
                )
            }),
        );
        let name = format!("husk-e2e-{}-{rt}", std::process::id());
        let r = (|| {
            let mut a: Vec<String> = ["run", "-d", "--name", &name, "--runtime", &flag]
                .iter()
                .map(|s| s.to_string())
                .collect();
            a.extend(["--network".into(), "none".into()]);
            a.extend(m.run_extra());
            a.extend(
                [
                    IMAGE,
                    "sh",
                    "-c",
                    "trap 'exit 0' TERM; while :; do sleep 1; done",
                ]
                .map(String::from),
            );
            out(m, &a.iter().map(String::as_str).collect::<Vec<_>>())?;
            Ok::<(), String>(())
        })();
        check("run -d", r);
        check(
            "exec",
            out(m, &["exec", &name, "sh", "-c", "echo in-exec"])
                .and_then(|o| expect(o == "in-exec\n", || o.clone())),
        );
        check(
            "pause / unpause",
            (|| {
                out(m, &["pause", &name])?;
                let s = out(m, &["inspect", "-f", "{{.State.Status}}", &name])?;
                out(m, &["unpause", &name])?;
                let s2 = out(m, &["inspect", "-f", "{{.State.Status}}", &name])?;
                expect(s.trim() == "paused" && s2.trim() == "running", || {
                    format!("{s} then {s2}")
                })
            })(),
        );
        check(
            "stop / restart",
            (|| {
                out(m, &["stop", "-t", "10", &name])?;
                let code = out(m, &["inspect", "-f", "{{.State.ExitCode}}", &name])?;
                out(m, &["restart", &name])?;
                let s = out(m, &["inspect", "-f", "{{.State.Status}}", &name])?;
                expect(code.trim() == "0" && s.trim() == "running", || {
                    format!("exit {code} then {s}")
                })
            })(),
        );
        check(
            "rm -f",
            (|| {
                out(m, &["rm", "-f", &name])?;
                let gone = m
                    .cmd(&["inspect", &name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| !s.success())
                    .unwrap_or(false);
                let procs = crate::util::pids_with("while :; do sleep 1; done");
                expect(gone && procs.is_empty(), || {
                    format!("still there: {gone} {procs:?}")
                })
            })(),
        );
    }
}
