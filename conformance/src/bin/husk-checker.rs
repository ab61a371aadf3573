//! `husk-checker`: a tiny probe that runs *inside* a test container and prints
//! what it observes as `key=value` lines for the conformance harness.
//!
//! It uses the standard library only (plus a few libc calls declared below), so
//! `build.rs` can compile it a second time with plain `rustc` and
//! `-C target-feature=+crt-static`; that static copy is the one placed into the
//! busybox rootfs. This dynamic binary target exists for debugging on the host.
//!
//! Usage: `husk-checker WORD [PATH...] [WORD [PATH...]]...`, where WORD is one of
//!
//! - `report`: ids, groups, cwd, hostname, umask, capabilities, no_new_privs,
//!   oom_score_adj, namespace inodes, rlimits and the environment;
//! - `stat PATH...`: `stat:PATH=c 1:3 0666 0:0` (type, rdev, mode, owner),
//!   `l -> TARGET` for symlinks, or the errno name;
//! - `read PATH...`: `read:PATH=ok N` (bytes) / `dir N` (entries) / errno;
//! - `cat PATH...`: `cat:PATH=` the first 256 bytes, newlines as `\n`;
//! - `write PATH...`: `write:PATH=ok` or the errno name (a directory gets a
//!   new file that is removed again; a file is opened for appending);
//! - `ro PATH...`: `ro:PATH=1` when statvfs reports a read-only mount;
//! - `mount PATH...`: `mount:PATH=FSTYPE|MOUNT OPTIONS|SUPER OPTIONS` from the
//!   last /proc/self/mountinfo entry mounted exactly at PATH, or `none`;
//! - `create PATH...`: `create:PATH=ok` after creating (or truncating) the
//!   file with the content `husk-checker`, else the errno name;
//! - `mkdir PATH...`: `mkdir:PATH=ok` after creating (and removing again) the
//!   directory, else the errno name;
//! - `exit N`: exit with status N after printing everything.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};

// The library's own file, by path: the static build stays a single rustc call.
#[path = "../mountinfo.rs"]
mod mountinfo;

#[repr(C)]
struct Rlimit {
    cur: u64,
    max: u64,
}

extern "C" {
    fn getuid() -> u32;
    fn geteuid() -> u32;
    fn getgid() -> u32;
    fn getegid() -> u32;
    fn getppid() -> i32;
    fn getgroups(size: i32, list: *mut u32) -> i32;
    fn prctl(option: i32, a2: u64, a3: u64, a4: u64, a5: u64) -> i32;
    fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
    fn statvfs(path: *const std::ffi::c_char, buf: *mut u64) -> i32;
}

const PR_GET_NO_NEW_PRIVS: i32 = 39;
const ST_RDONLY: u64 = 1;
/// `struct statvfs` on 64-bit glibc: eleven 8-byte fields then `int __f_spare[6]`;
/// `f_flag` is the tenth field. Sixteen words leave room to spare.
const STATVFS_WORDS: usize = 16;
const STATVFS_FLAG: usize = 9;

const RLIMITS: [(&str, i32); 16] = [
    ("RLIMIT_CPU", 0),
    ("RLIMIT_FSIZE", 1),
    ("RLIMIT_DATA", 2),
    ("RLIMIT_STACK", 3),
    ("RLIMIT_CORE", 4),
    ("RLIMIT_RSS", 5),
    ("RLIMIT_NPROC", 6),
    ("RLIMIT_NOFILE", 7),
    ("RLIMIT_MEMLOCK", 8),
    ("RLIMIT_AS", 9),
    ("RLIMIT_LOCKS", 10),
    ("RLIMIT_SIGPENDING", 11),
    ("RLIMIT_MSGQUEUE", 12),
    ("RLIMIT_NICE", 13),
    ("RLIMIT_RTPRIO", 14),
    ("RLIMIT_RTTIME", 15),
];

const WORDS: [&str; 10] = [
    "report", "stat", "read", "cat", "write", "create", "mkdir", "ro", "mount", "exit",
];

fn errno_name(e: &std::io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(1) => "EPERM",
        Some(2) => "ENOENT",
        Some(5) => "EIO",
        Some(6) => "ENXIO",
        Some(13) => "EACCES",
        Some(16) => "EBUSY",
        Some(17) => "EEXIST",
        Some(19) => "ENODEV",
        Some(20) => "ENOTDIR",
        Some(21) => "EISDIR",
        Some(22) => "EINVAL",
        Some(28) => "ENOSPC",
        Some(30) => "EROFS",
        Some(n) => return format!("errno{n}"),
        None => return format!("error({e})"),
    };
    name.to_string()
}

fn escape(s: &[u8]) -> String {
    let mut out = String::new();
    for &b in s {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn report(out: &mut Vec<String>) {
    // SAFETY: plain libc getters without arguments.
    let (uid, euid, gid, egid, ppid) =
        unsafe { (getuid(), geteuid(), getgid(), getegid(), getppid()) };
    out.push(format!("pid={}", std::process::id()));
    out.push(format!("ppid={ppid}"));
    out.push(format!("uid={uid}"));
    out.push(format!("euid={euid}"));
    out.push(format!("gid={gid}"));
    out.push(format!("egid={egid}"));
    let mut groups = vec![0u32; 256];
    // SAFETY: the buffer holds 256 entries.
    let n = unsafe { getgroups(256, groups.as_mut_ptr()) };
    groups.truncate(n.max(0) as usize);
    groups.sort_unstable();
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    out.push(format!("groups={}", groups.join(",")));
    match std::env::current_dir() {
        Ok(d) => out.push(format!("cwd={}", d.display())),
        Err(e) => out.push(format!("cwd={}", errno_name(&e))),
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    out.push(format!("hostname={}", hostname.trim()));
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    out.push(format!("umask={}", status_field(&status, "Umask")));
    for key in [
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
        "Seccomp",
    ] {
        out.push(format!("{key}={}", status_field(&status, key)));
    }
    // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointers.
    let nnp = unsafe { prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    out.push(format!("no_new_privs={nnp}"));
    let oom = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap_or_default();
    out.push(format!("oom_score_adj={}", oom.trim()));
    if let Ok(dir) = std::fs::read_dir("/proc/self/ns") {
        let mut ns: Vec<(String, String)> = dir
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let target = std::fs::read_link(e.path())
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (name, target)
            })
            .collect();
        ns.sort();
        for (name, target) in ns {
            out.push(format!("ns.{name}={target}"));
        }
    }
    for (name, res) in RLIMITS {
        let mut r = Rlimit { cur: 0, max: 0 };
        // SAFETY: r is a valid struct rlimit (two 64-bit words).
        if unsafe { getrlimit(res, &mut r) } == 0 {
            let show = |v: u64| {
                if v == u64::MAX {
                    "unlimited".to_string()
                } else {
                    v.to_string()
                }
            };
            out.push(format!("rlimit.{name}={}:{}", show(r.cur), show(r.max)));
        }
    }
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    env.sort();
    for (k, v) in env {
        out.push(format!("env.{k}={}", escape(v.as_bytes())));
    }
}

fn stat(path: &str) -> String {
    let md = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return errno_name(&e),
    };
    let ft = md.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(path)
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        return format!("l -> {target}");
    }
    let kind = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else if ft.is_dir() {
        "d"
    } else if ft.is_fifo() {
        "p"
    } else if ft.is_socket() {
        "s"
    } else {
        "f"
    };
    let rdev = md.rdev();
    // glibc's major()/minor() encoding.
    let major = ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff);
    let minor = ((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff);
    format!(
        "{kind} {major}:{minor} {:04o} {}:{}",
        md.mode() & 0o7777,
        md.uid(),
        md.gid()
    )
}

fn read(path: &str) -> String {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => match std::fs::read_dir(path) {
            Ok(d) => format!("dir {}", d.count()),
            Err(e) => errno_name(&e),
        },
        _ => {
            let mut buf = vec![0u8; 4096];
            match std::fs::File::open(path) {
                Ok(mut f) => {
                    use std::io::Read;
                    match f.read(&mut buf) {
                        Ok(n) => format!("ok {n}"),
                        Err(e) => errno_name(&e),
                    }
                }
                Err(e) => errno_name(&e),
            }
        }
    }
}

fn cat(path: &str) -> String {
    match std::fs::File::open(path) {
        Ok(mut f) => {
            use std::io::Read;
            let mut buf = vec![0u8; 256];
            match f.read(&mut buf) {
                Ok(n) => escape(&buf[..n]),
                Err(e) => errno_name(&e),
            }
        }
        Err(e) => errno_name(&e),
    }
}

fn write(path: &str) -> String {
    let is_dir = std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false);
    if is_dir {
        let file = format!(
            "{}/.husk-checker-{}",
            path.trim_end_matches('/'),
            std::process::id()
        );
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&file)
        {
            Ok(_) => {
                let _ = std::fs::remove_file(&file);
                "ok".to_string()
            }
            Err(e) => errno_name(&e),
        }
    } else {
        match std::fs::OpenOptions::new().append(true).open(path) {
            Ok(_) => "ok".to_string(),
            Err(e) => errno_name(&e),
        }
    }
}

fn create(path: &str) -> String {
    match std::fs::write(path, b"husk-checker") {
        Ok(()) => "ok".to_string(),
        Err(e) => errno_name(&e),
    }
}

fn mkdir(path: &str) -> String {
    match std::fs::create_dir(path) {
        Ok(()) => {
            let _ = std::fs::remove_dir(path);
            "ok".to_string()
        }
        Err(e) => errno_name(&e),
    }
}

fn ro(path: &str) -> String {
    let Ok(c) = CString::new(path) else {
        return "EINVAL".to_string();
    };
    let mut buf = [0u64; STATVFS_WORDS];
    // SAFETY: buf is larger than struct statvfs; c is NUL-terminated.
    if unsafe { statvfs(c.as_ptr(), buf.as_mut_ptr()) } != 0 {
        return errno_name(&std::io::Error::last_os_error());
    }
    if buf[STATVFS_FLAG] & ST_RDONLY != 0 {
        "1".to_string()
    } else {
        "0".to_string()
    }
}

fn mount(path: &str, mountinfo: &str) -> String {
    let mut found = "none".to_string();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.len() < sep + 4 || fields.len() < 6 {
            continue;
        }
        if mountinfo::unescape(fields[4]) == path {
            found = format!("{}|{}|{}", fields[sep + 1], fields[5], fields[sep + 3]);
        }
    }
    found
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = Vec::new();
    let mut word = "";
    let mut exit_code = 0;
    let mut mountinfo: Option<String> = None;
    for arg in &args {
        if WORDS.contains(&arg.as_str()) {
            word = arg;
            if word == "report" {
                report(&mut out);
            }
            continue;
        }
        let line = match word {
            "stat" => format!("stat:{arg}={}", stat(arg)),
            "read" => format!("read:{arg}={}", read(arg)),
            "cat" => format!("cat:{arg}={}", cat(arg)),
            "write" => format!("write:{arg}={}", write(arg)),
            "create" => format!("create:{arg}={}", create(arg)),
            "mkdir" => format!("mkdir:{arg}={}", mkdir(arg)),
            "ro" => format!("ro:{arg}={}", ro(arg)),
            "mount" => {
                let mi = mountinfo.get_or_insert_with(|| {
                    std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
                });
                format!("mount:{arg}={}", mount(arg, mi))
            }
            "exit" => {
                exit_code = arg.parse().unwrap_or(2);
                continue;
            }
            _ => {
                eprintln!("husk-checker: unexpected argument {arg:?}");
                std::process::exit(2);
            }
        };
        out.push(line);
    }
    let mut stdout = std::io::stdout().lock();
    for line in out {
        let _ = stdout.write_all(line.as_bytes());
        let _ = stdout.write_all(b"\n");
    }
    let _ = stdout.flush();
    std::process::exit(exit_code);
}
