//! The floor with the rest of the bench config's kernel work (`bundle::default_config`,
//! runc's `runc spec`): what any runtime must make the kernel do for that config,
//! done in-process with raw syscalls, so that a runtime's gap to it is its own cost
//! (process start, config parsing, state, synchronisation) and nothing else.
//!
//! Before `pivot_root`, below the rootfs: /proc, the /dev tmpfs with its six device
//! nodes and five links, /dev/pts, /dev/shm, /dev/mqueue, /sys read-only, and
//! /sys/fs/cgroup as a tmpfs with the container's cgroup of every v1 hierarchy bound
//! read-only. After it: the masked paths (/dev/null over files, an empty read-only
//! tmpfs over directories), the read-only paths, the read-only root, `lo` up, the
//! hostname, the capability bounding set and sets, `RLIMIT_NOFILE`, `no_new_privs`.
//! The parent also writes the config's device rules (deny all, allow the defaults).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What the child needs, as C strings made before the clone.
pub(super) struct Work {
    /// (its directory in the rootfs's /sys/fs/cgroup, the container's host cgroup dir).
    cgroups: Vec<(CString, CString)>,
    cgroup_root: CString,
    proc_dir: CString,
    dev: CString,
    dirs: Vec<CString>,
    nodes: Vec<(CString, u64)>,
    links: Vec<(CString, CString)>,
    sys: CString,
}

/// `path` below `root`, as a C string.
fn under(root: &[u8], path: &str) -> io::Result<CString> {
    let mut v = root.to_vec();
    v.extend_from_slice(path.as_bytes());
    CString::new(v).map_err(io::Error::other)
}

impl Work {
    /// For the rootfs `root` and the container's cgroup directories `cgroups` (one
    /// per hierarchy, as the floor made them).
    pub(super) fn new(root: &CString, cgroups: &[PathBuf]) -> io::Result<Work> {
        let r = root.as_bytes();
        let mut binds = Vec::new();
        for d in cgroups {
            // The hybrid host's v2 hierarchy is not bound (runtimes leave it out too).
            let is_v2 = nix::sys::statfs::statfs(d.as_path())
                .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
                .unwrap_or(true);
            let Some(name) = d.parent().and_then(Path::file_name) else {
                continue;
            };
            if is_v2 {
                continue;
            }
            let target = format!("/sys/fs/cgroup/{}", name.to_string_lossy());
            binds.push((
                under(r, &target)?,
                CString::new(d.as_os_str().as_bytes()).map_err(io::Error::other)?,
            ));
        }
        let devs: [(&str, u64); 6] = [
            ("null", makedev(1, 3)),
            ("zero", makedev(1, 5)),
            ("full", makedev(1, 7)),
            ("random", makedev(1, 8)),
            ("urandom", makedev(1, 9)),
            ("tty", makedev(5, 0)),
        ];
        let links = [
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
            ("pts/ptmx", "/dev/ptmx"),
        ];
        Ok(Work {
            cgroups: binds,
            cgroup_root: under(r, "/sys/fs/cgroup")?,
            proc_dir: under(r, "/proc")?,
            dev: under(r, "/dev")?,
            dirs: ["/dev/pts", "/dev/shm", "/dev/mqueue"]
                .iter()
                .map(|d| under(r, d))
                .collect::<io::Result<_>>()?,
            nodes: devs
                .iter()
                .map(|(n, d)| Ok((under(r, &format!("/dev/{n}"))?, *d)))
                .collect::<io::Result<_>>()?,
            links: links
                .iter()
                .map(|(t, l)| Ok((CString::new(*t).map_err(io::Error::other)?, under(r, l)?)))
                .collect::<io::Result<_>>()?,
            sys: under(r, "/sys")?,
        })
    }
}

fn makedev(major: u64, minor: u64) -> u64 {
    libc::makedev(major as u32, minor as u32)
}

/// The config's device rules in the container's v1 devices cgroup: deny everything,
/// then allow the default devices (null, zero, full, random, urandom, tty, ptmx, pts).
pub(super) fn device_rules(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("devices.deny"), "a")?;
    for rule in [
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:2 rwm",
        "c 136:* rwm",
    ] {
        std::fs::write(dir.join("devices.allow"), rule)?;
    }
    Ok(())
}

const MASKED: [&std::ffi::CStr; 10] = [
    c"/proc/acpi",
    c"/proc/asound",
    c"/proc/kcore",
    c"/proc/keys",
    c"/proc/latency_stats",
    c"/proc/timer_list",
    c"/proc/timer_stats",
    c"/proc/sched_debug",
    c"/sys/firmware",
    c"/proc/scsi",
];
const READONLY: [&std::ffi::CStr; 5] = [
    c"/proc/bus",
    c"/proc/fs",
    c"/proc/irq",
    c"/proc/sys",
    c"/proc/sysrq-trigger",
];
/// The config's bounding, effective and permitted set: CAP_AUDIT_WRITE, CAP_KILL,
/// CAP_NET_BIND_SERVICE.
const CAPS: u64 = (1 << 29) | (1 << 5) | (1 << 10);

/// Exit codes of the child's steps (the basic steps use 121–127).
const STEPS: [&str; 9] = [
    "join cgroup",
    "make / private, bind rootfs",
    "config mounts",
    "cgroup mount",
    "device nodes and links",
    "pivot_root",
    "masked and read-only paths",
    "read-only root",
    "lo, hostname, rlimit, capabilities, no_new_privs",
];

/// The name of a step the child exited with.
pub(super) fn step_name(code: i32) -> &'static str {
    (code - 130)
        .try_into()
        .ok()
        .and_then(|i: usize| STEPS.get(i))
        .copied()
        .unwrap_or("?")
}

/// The child: joins `procs`, builds the rootfs as the config asks and execs /bin/true.
pub(super) fn child(rootfs: &CString, procs: &[CString], w: &Work) -> isize {
    // SAFETY: raw syscalls on NUL-terminated strings prepared before the clone and
    // on local buffers; every failure exits.
    unsafe {
        let die = |step: i32| -> ! { libc::_exit(130 + step) };
        let null = std::ptr::null::<libc::c_char>();
        let nodata = std::ptr::null::<libc::c_void>();
        let mount = |src: *const libc::c_char,
                     dst: *const libc::c_char,
                     fs: *const libc::c_char,
                     flags: libc::c_ulong,
                     data: Option<&std::ffi::CStr>| {
            libc::mount(
                src,
                dst,
                fs,
                flags,
                data.map_or(nodata, |d| d.as_ptr().cast()),
            ) == 0
        };
        for p in procs {
            let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, c"0".as_ptr().cast(), 1) != 1 {
                die(0);
            }
            libc::close(fd);
        }
        let r = rootfs.as_ptr();
        if !mount(
            null,
            c"/".as_ptr(),
            null,
            libc::MS_REC | libc::MS_PRIVATE,
            None,
        ) || !mount(r, r, null, libc::MS_BIND | libc::MS_REC, None)
        {
            die(1);
        }
        let (nosuid, noexec, nodev) = (libc::MS_NOSUID, libc::MS_NOEXEC, libc::MS_NODEV);
        let ok = mount(
            c"proc".as_ptr(),
            w.proc_dir.as_ptr(),
            c"proc".as_ptr(),
            0,
            None,
        ) && mount(
            c"tmpfs".as_ptr(),
            w.dev.as_ptr(),
            c"tmpfs".as_ptr(),
            nosuid | libc::MS_STRICTATIME,
            Some(c"mode=755,size=65536k"),
        ) && w.dirs.iter().all(|d| libc::mkdir(d.as_ptr(), 0o755) == 0)
            && mount(
                c"devpts".as_ptr(),
                w.dirs[0].as_ptr(),
                c"devpts".as_ptr(),
                nosuid | noexec,
                Some(c"newinstance,ptmxmode=0666,mode=0620,gid=5"),
            )
            && mount(
                c"shm".as_ptr(),
                w.dirs[1].as_ptr(),
                c"tmpfs".as_ptr(),
                nosuid | noexec | nodev,
                Some(c"mode=1777,size=65536k"),
            )
            && mount(
                c"mqueue".as_ptr(),
                w.dirs[2].as_ptr(),
                c"mqueue".as_ptr(),
                nosuid | noexec | nodev,
                None,
            )
            && mount(
                c"sysfs".as_ptr(),
                w.sys.as_ptr(),
                c"sysfs".as_ptr(),
                nosuid | noexec | nodev | libc::MS_RDONLY,
                None,
            );
        if !ok {
            die(2);
        }
        let ro_bind = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | nosuid | noexec | nodev;
        let root = w.cgroup_root.as_ptr();
        if !mount(
            c"cgroup".as_ptr(),
            root,
            c"tmpfs".as_ptr(),
            nosuid | noexec | nodev,
            None,
        ) {
            die(3);
        }
        for (target, host) in &w.cgroups {
            if libc::mkdir(target.as_ptr(), 0o755) != 0
                || !mount(host.as_ptr(), target.as_ptr(), null, libc::MS_BIND, None)
                || !mount(null, target.as_ptr(), null, ro_bind, None)
            {
                die(3);
            }
        }
        if !mount(
            null,
            root,
            null,
            libc::MS_REMOUNT | libc::MS_RDONLY | nosuid | noexec | nodev,
            None,
        ) {
            die(3);
        }
        for (path, dev) in &w.nodes {
            if libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o666, *dev) != 0 {
                die(4);
            }
        }
        for (target, link) in &w.links {
            if libc::symlink(target.as_ptr(), link.as_ptr()) != 0 {
                die(4);
            }
        }
        if libc::chdir(r) != 0
            || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
            || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
            || libc::chdir(c"/".as_ptr()) != 0
        {
            die(5);
        }
        for p in MASKED {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::stat(p.as_ptr(), &mut st) != 0 {
                continue;
            }
            let ok = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                mount(
                    c"tmpfs".as_ptr(),
                    p.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_RDONLY,
                    None,
                )
            } else {
                mount(c"/dev/null".as_ptr(), p.as_ptr(), null, libc::MS_BIND, None)
            };
            if !ok {
                die(6);
            }
        }
        for p in READONLY {
            if libc::access(p.as_ptr(), libc::F_OK) != 0 {
                continue;
            }
            if !mount(
                p.as_ptr(),
                p.as_ptr(),
                null,
                libc::MS_BIND | libc::MS_REC,
                None,
            ) || !mount(null, p.as_ptr(), null, ro_bind, None)
            {
                die(6);
            }
        }
        let remount_ro = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
        if !mount(null, c"/".as_ptr(), null, remount_ro, None) {
            die(7);
        }
        // lo up, as runtimes do in a new network namespace.
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        let lo_up = s >= 0 && libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr) == 0 && {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr) == 0
        };
        libc::close(s);
        let rl = libc::rlimit {
            rlim_cur: 1024,
            rlim_max: 1024,
        };
        if !lo_up
            || libc::sethostname(c"runc".as_ptr(), 4) != 0
            || libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0
            || !set_caps()
            || libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
        {
            die(8);
        }
        let argv = [c"true".as_ptr(), null];
        libc::execv(c"/bin/true".as_ptr(), argv.as_ptr());
        libc::_exit(127)
    }
}

/// Drops every capability outside [`CAPS`] from the bounding set, then sets effective
/// and permitted to [`CAPS`] and inheritable to none.
fn set_caps() -> bool {
    // SAFETY: prctl and capset with integer arguments and local structs.
    unsafe {
        let mut cap = 0;
        while libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) >= 0 {
            if CAPS & (1 << cap) == 0 && libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                return false;
            }
            cap += 1;
        }
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let header = Header {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let low = Data {
            effective: CAPS as u32,
            permitted: CAPS as u32,
            inheritable: 0,
        };
        let high = Data {
            effective: (CAPS >> 32) as u32,
            permitted: (CAPS >> 32) as u32,
            inheritable: 0,
        };
        let data = [low, high];
        libc::syscall(libc::SYS_capset, &header, data.as_ptr()) == 0
    }
}
