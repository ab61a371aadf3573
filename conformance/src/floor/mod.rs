//! The floor reference: the bare kernel work of a default container, done
//! in-process with no runtime. `clone` with the default config's namespaces
//! (pid, net, ipc, uts, mount), make the mounts private, bind the busybox
//! rootfs onto itself, `pivot_root` into it, mount /proc, exec /bin/true, and
//! wait. Optionally also create a cgroup in every mounted hierarchy, join it
//! from the child, and remove it afterwards.
//!
//! No runtime can be faster than this on the same machine; the gap is the
//! runtime's own cost (process start-up, config parsing, state files,
//! synchronisation, the extra mounts and security settings).
//!
//! The third kind of sample ([`Kind::Config`], `config.rs`) does the rest of the
//! bench config's kernel work too, so that the gap to it is the runtime's own cost
//! alone.

mod config;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;

use crate::proc::{Status, Usage};

/// The namespaces of the default config.
pub const NAMESPACES: &str = "pid, net, ipc, uts, mnt";

/// Cgroup hierarchies mounted under /sys/fs/cgroup (v1 and cgroup2).
pub fn hierarchies() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for l in info.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        let fstype = f.get(sep + 1).copied().unwrap_or("");
        let mp = f.get(4).copied().unwrap_or("");
        if (fstype == "cgroup" || fstype == "cgroup2") && mp.starts_with("/sys/fs/cgroup/") {
            out.push(PathBuf::from(mp));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What a floor sample does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// clone, pivot_root, /proc, exec.
    Bare,
    /// The same in a new cgroup in every hierarchy.
    Cgroups,
    /// The same plus the rest of the bench config's kernel work (`config.rs`).
    Config,
}

/// Reusable state for floor samples.
pub struct Floor {
    rootfs: CString,
    stack: Vec<u8>,
    hierarchies: Vec<PathBuf>,
    seq: u64,
}

impl Floor {
    /// A floor runner on `rootfs` (a populated busybox rootfs).
    pub fn new(rootfs: &Path) -> io::Result<Floor> {
        let rootfs = CString::new(rootfs.as_os_str().as_bytes()).map_err(io::Error::other)?;
        Ok(Floor {
            rootfs,
            stack: vec![0u8; 256 * 1024],
            hierarchies: hierarchies(),
            seq: 0,
        })
    }

    /// One sample: wall time and CPU (ours + the child's).
    pub fn once(&mut self, kind: Kind) -> io::Result<(Duration, Usage)> {
        self.seq += 1;
        let before = Usage::current_self();
        let t0 = Instant::now();
        let mut made: Vec<PathBuf> = Vec::new();
        let result = self.spawn_and_wait(kind, &mut made);
        for d in made.iter().rev() {
            let mut tries = 0;
            while std::fs::remove_dir(d).is_err() && tries < 100 {
                tries += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let wall = t0.elapsed();
        let child = result?;
        let mut usage = Usage::current_self().since(&before);
        usage.user += child.user;
        usage.sys += child.sys;
        usage.maxrss_kib = child.maxrss_kib;
        Ok((wall, usage))
    }

    fn spawn_and_wait(&mut self, kind: Kind, made: &mut Vec<PathBuf>) -> io::Result<Usage> {
        let mut procs: Vec<CString> = Vec::new();
        if kind != Kind::Bare {
            let name = format!("husk-floor-{}-{}", std::process::id(), self.seq);
            for h in &self.hierarchies {
                let d = h.join(&name);
                std::fs::create_dir(&d)?;
                made.push(d.clone());
                if h.ends_with("cpuset") {
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        let v = std::fs::read_to_string(h.join(f))?;
                        std::fs::write(d.join(f), v.trim())?;
                    }
                }
                if kind == Kind::Config && h.ends_with("devices") {
                    config::device_rules(&d)?;
                }
                procs.push(
                    CString::new(d.join("cgroup.procs").as_os_str().as_bytes())
                        .map_err(io::Error::other)?,
                );
            }
        }
        let work = match kind {
            Kind::Config => Some(config::Work::new(&self.rootfs, made)?),
            _ => None,
        };
        let rootfs = self.rootfs.clone();
        let flags = CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWNS;
        let cb = Box::new(move || match &work {
            Some(w) => config::child(&rootfs, &procs, w),
            None => child(&rootfs, &procs),
        });
        // SAFETY: the child only makes raw syscalls on pre-built strings and
        // then execs or exits; the harness is single-threaded here.
        let pid = unsafe { nix::sched::clone(cb, &mut self.stack, flags, Some(libc::SIGCHLD)) }
            .map_err(io::Error::from)?;
        let (status, usage) = crate::proc::wait4(pid.as_raw(), false)
            .ok_or_else(|| io::Error::other("floor child vanished"))?;
        if status != Status::Exited(0) {
            return Err(io::Error::other(format!(
                "floor child: {status} (step {})",
                step_name(&status)
            )));
        }
        Ok(usage)
    }
}

fn step_name(s: &Status) -> &'static str {
    match s {
        Status::Exited(121) => "join cgroup",
        Status::Exited(122) => "make / private",
        Status::Exited(123) => "bind rootfs",
        Status::Exited(124) => "pivot_root",
        Status::Exited(125) => "mount /proc",
        Status::Exited(127) => "exec /bin/true",
        Status::Exited(c) => config::step_name(*c),
        _ => "?",
    }
}

fn child(rootfs: &CString, procs: &[CString]) -> isize {
    // SAFETY: raw syscalls on NUL-terminated strings; every failure exits.
    unsafe {
        let die = |code: i32| -> ! { libc::_exit(code) };
        for p in procs {
            let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, c"0".as_ptr().cast(), 1) != 1 {
                die(121);
            }
            libc::close(fd);
        }
        let null = std::ptr::null::<libc::c_char>();
        if libc::mount(
            null,
            c"/".as_ptr(),
            null,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            die(122);
        }
        if libc::mount(
            rootfs.as_ptr(),
            rootfs.as_ptr(),
            null,
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        ) != 0
            || libc::chdir(rootfs.as_ptr()) != 0
        {
            die(123);
        }
        if libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
            || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
            || libc::chdir(c"/".as_ptr()) != 0
        {
            die(124);
        }
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        if libc::mount(
            c"proc".as_ptr(),
            c"/proc".as_ptr(),
            c"proc".as_ptr(),
            flags,
            std::ptr::null(),
        ) != 0
        {
            die(125);
        }
        let argv = [c"true".as_ptr(), null];
        libc::execv(c"/bin/true".as_ptr(), argv.as_ptr());
        die(127)
    }
}
