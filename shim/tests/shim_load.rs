//! The shim under load: a private containerd (see `common`) runs N containers at
//! once in one namespace with the husk shim (`HUSK_SHIM_LOAD_N`, 10 by default;
//! `make stress` runs 50), drives exec and kill traffic into them, then SIGKILLs
//! every shim. containerd then cleans each container up through the shim binary's
//! `delete` action and publishes the exits itself. The pass condition: every
//! container's TaskExit seen (the killed ones with their own status, the others
//! with 137), and nothing orphaned: no container process, no husk state, no
//! cgroup directory in any hierarchy, no mount below containerd's state, no
//! bundle directory, no task left in containerd. `HUSK_SHIM_LOAD_RUNTIME=io.containerd.runc.v2`
//! runs the same against containerd's runc shim, for comparison.
//!
//! Skips when containerd cannot run here (fails under CI).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{alive, ctr_events, shim, Env};

/// How many containers run at once.
fn count() -> usize {
    std::env::var("HUSK_SHIM_LOAD_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// The runtime under test: the husk shim, or `HUSK_SHIM_LOAD_RUNTIME` (e.g.
/// `io.containerd.runc.v2`, to compare with containerd's runc shim).
fn runtime() -> String {
    std::env::var("HUSK_SHIM_LOAD_RUNTIME").unwrap_or_else(|_| shim().to_string())
}

/// Containers left in the runtime's state root for namespace `ns`.
fn states_left(rt: &str, ns: &str) -> usize {
    if rt.contains("runc") {
        let root = format!("/run/containerd/runc/{ns}");
        std::fs::read_dir(root).map(|d| d.count()).unwrap_or(0)
    } else {
        let root = PathBuf::from(format!("/run/containerd/husk/{ns}"));
        husk::list(&root).map(|l| l.len()).unwrap_or(0)
    }
}

/// Runs `f(i)` for every `i < n`, `width` at a time; returns the results in order.
fn parallel<T: Send>(n: usize, width: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: std::sync::Mutex<Vec<Option<T>>> =
        std::sync::Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..width.min(n) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    return;
                }
                let r = f(i);
                out.lock().expect("results")[i] = Some(r);
            });
        }
    });
    out.into_inner()
        .expect("results")
        .into_iter()
        .map(|r| r.expect("every case ran"))
        .collect()
}

/// `ctr events` in the background: its lines arrive on the receiver.
struct Events {
    child: std::process::Child,
    rx: mpsc::Receiver<String>,
    lines: Vec<String>,
}

impl Events {
    fn start(env: &Env) -> Events {
        let (child, rx) = ctr_events(env);
        std::thread::sleep(Duration::from_millis(300));
        Events {
            child,
            rx,
            lines: Vec::new(),
        }
    }

    /// The exit statuses of the init processes seen so far (TaskExit whose id
    /// is the container's), by container id.
    fn init_exits(&mut self) -> HashMap<String, Vec<u32>> {
        self.lines.extend(self.rx.try_iter());
        let mut out: HashMap<String, Vec<u32>> = HashMap::new();
        for l in &self.lines {
            let Some(i) = l.find(" /tasks/exit ") else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&l[i + 13..]) else {
                continue;
            };
            let cid = v["container_id"].as_str().unwrap_or_default();
            if v["id"].as_str().unwrap_or_default() != cid {
                continue;
            }
            let status = v["exit_status"].as_u64().unwrap_or(0) as u32;
            out.entry(cid.to_string()).or_default().push(status);
        }
        out
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The containers' cgroup directories (`<hierarchy>/<ns>/<id>`, where ctr puts
/// them) left in any hierarchy.
fn cgroups_left(ns: &str, ids: &[String]) -> Vec<PathBuf> {
    let mut left = Vec::new();
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for id in ids {
            let p = h.path().join(ns).join(id);
            if p.is_dir() {
                left.push(p);
            }
        }
    }
    left
}

/// Mount points at or below `dir`.
fn mounts_below(dir: &Path) -> Vec<String> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.to_string_lossy().to_string();
    mi.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&prefix) && p.contains("io.containerd.runtime.v2.task"))
        .map(str::to_string)
        .collect()
}

#[test]
fn many_containers_exec_kill_then_every_shim_killed() {
    let Some(env) = Env::start("load") else {
        return;
    };
    let n = count();
    let ids: Vec<String> = (0..n).map(|i| format!("l{i}")).collect();
    let rt = runtime();
    let mut events = Events::start(&env);

    // N containers at once (8 ctr clients at a time).
    let t0 = Instant::now();
    let runs = parallel(n, 8, |i| {
        env.ctr(&[
            "run",
            "-d",
            "--runtime",
            &rt,
            common::IMAGE,
            &ids[i],
            "sh",
            "-c",
            "trap 'exit 3' TERM; while true; do sleep 0.2; done",
        ])
    });
    let start_secs = t0.elapsed().as_secs_f64();
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r.code, 0, "ctr run {}: {r:?}\n{}", ids[i], env.log());
    }
    for id in &ids {
        assert!(env.wait_status(id, "RUNNING"), "{id} not running");
    }

    // Exec traffic: two execs per container with their own exit codes.
    let t1 = Instant::now();
    let execs = parallel(2 * n, 8, |k| {
        let (i, j) = (k / 2, k % 2);
        let code = (i + j) % 7;
        let r = env.ctr(&[
            "task",
            "exec",
            "--exec-id",
            &format!("e{j}"),
            &ids[i],
            "sh",
            "-c",
            &format!("echo out-{i}; exit {code}"),
        ]);
        (i, code as i32, r)
    });
    let exec_secs = t1.elapsed().as_secs_f64();
    for (i, code, r) in &execs {
        assert_eq!(r.code, *code, "exec into {}: {r:?}", ids[*i]);
        assert!(r.stdout.contains(&format!("out-{i}")), "{r:?}");
    }

    // Kill traffic: every fifth container gets SIGTERM and exits 3.
    let killed: Vec<usize> = (0..n).filter(|i| i % 5 == 0).collect();
    let kills = parallel(killed.len(), 8, |k| {
        env.ctr(&["task", "kill", &ids[killed[k]]])
    });
    for (k, r) in kills.iter().enumerate() {
        assert_eq!(r.code, 0, "kill {}: {r:?}", ids[killed[k]]);
    }
    for &i in &killed {
        assert!(
            env.wait_status(&ids[i], "STOPPED"),
            "{} not stopped",
            ids[i]
        );
    }

    // Every container's processes, then every shim SIGKILLed.
    let pids: Vec<i32> = ids.iter().filter_map(|id| env.task_pid(id)).collect();
    let running: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert_eq!(running.len(), n - killed.len(), "running inits before");
    let shims = env.shims();
    assert_eq!(shims.len(), n, "one shim per container: {shims:?}");
    let t2 = Instant::now();
    for (pid, _) in &shims {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    // containerd notices each dead shim, drops the task, runs `<shim> delete`
    // and publishes the exit: poll until all that is done (60 s at most).
    let bundles = env
        .dir
        .join("state/io.containerd.runtime.v2.task")
        .join(&env.ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    let left = || {
        let ls = env.ctr(&["task", "ls", "-q"]);
        let tasks = if ls.code == 0 {
            ls.stdout.split_whitespace().count()
        } else {
            n
        };
        let orphans: Vec<i32> = running.iter().copied().filter(|p| alive(*p)).collect();
        let shims = env.shims();
        let states = states_left(&rt, &env.ns);
        let cgroups = cgroups_left(&env.ns, &ids);
        let mounts = mounts_below(&env.dir);
        let bundles = std::fs::read_dir(&bundles).map(|d| d.count()).unwrap_or(0);
        (tasks, orphans, shims, states, cgroups, mounts, bundles)
    };
    let mut exits;
    let (tasks_left, orphans, shims_left, states_left, cgroups, mounts, bundles_left) = loop {
        let l = left();
        exits = events.init_exits();
        let clean = l.0 == 0
            && l.1.is_empty()
            && l.2.is_empty()
            && l.3 == 0
            && l.4.is_empty()
            && l.5.is_empty()
            && l.6 == 0
            && exits.len() == n;
        if clean || Instant::now() > deadline {
            break l;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let cleanup_secs = t2.elapsed().as_secs_f64();
    let mut bad_exits = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let want = if i % 5 == 0 { 3 } else { 137 };
        match exits.get(id) {
            Some(s) if s.contains(&want) => {}
            other => bad_exits.push(format!("{id}: want {want}, saw {other:?}")),
        }
    }
    eprintln!(
        "shim load ({rt}): {n} containers started in {start_secs:.1} s, {} execs in {exec_secs:.1} s, \
         {} killed; {} shims SIGKILLed, cleaned up in {cleanup_secs:.1} s; left: tasks {tasks_left}, \
         processes {}, shims {}, states {states_left}, cgroups {}, mounts {}, bundles \
         {bundles_left}; TaskExit wrong/missing {}",
        2 * n,
        killed.len(),
        shims.len(),
        orphans.len(),
        shims_left.len(),
        cgroups.len(),
        mounts.len(),
        bad_exits.len()
    );
    assert_eq!(tasks_left, 0, "tasks left in containerd\n{}", env.log());
    assert!(
        orphans.is_empty(),
        "orphaned container processes {orphans:?}"
    );
    assert!(shims_left.is_empty(), "shims left {shims_left:?}");
    assert_eq!(states_left, 0, "runtime states left");
    assert!(cgroups.is_empty(), "cgroups left {cgroups:?}");
    assert!(mounts.is_empty(), "mounts left {mounts:?}");
    assert_eq!(bundles_left, 0, "bundles left in {}", bundles.display());
    assert!(bad_exits.is_empty(), "TaskExit events: {bad_exits:?}");

    // The containers (metadata) remain, as with runc: removable at once.
    for id in &ids {
        let r = env.ctr(&["container", "rm", id]);
        assert_eq!(r.code, 0, "container rm {id}: {r:?}");
    }
    // And the namespace still works: an id of a cleaned-up container runs again.
    let r = env.ctr(&[
        "run",
        "--rm",
        "--runtime",
        &rt,
        common::IMAGE,
        &ids[0],
        "true",
    ]);
    assert_eq!(r.code, 0, "run again after the cleanup: {r:?}");
}
