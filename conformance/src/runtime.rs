//! A runtime under test: a runc-compatible binary, invoked with its own
//! `--root` for each scenario.
//!
//! crun 1.8 refuses a cgroup v1 host whose `/sys/fs/cgroup/unified` lists a
//! controller ("cgroups in hybrid mode not supported"). For crun every call
//! therefore runs in a private mount namespace in which an empty file is bind
//! mounted over `/sys/fs/cgroup/unified/cgroup.controllers` (done in
//! `pre_exec`, so no extra process is measured). The host's mounts are not
//! touched.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The cgroup2 controller list that makes crun see a "hybrid" host.
pub const UNIFIED_CONTROLLERS: &str = "/sys/fs/cgroup/unified/cgroup.controllers";

/// One runtime under test.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Column name (`husk`, `runc`, ...).
    pub name: String,
    /// The binary.
    pub path: PathBuf,
    /// First line of `--version`.
    pub version: String,
    /// Empty file to bind over [`UNIFIED_CONTROLLERS`] (crun on a hybrid host).
    hide_cgroup2: Option<Arc<CString>>,
}

impl Runtime {
    /// Parses `NAME=PATH` (or a bare path, named after its file name).
    pub fn parse(arg: &str) -> Result<Runtime, String> {
        let (name, path) = match arg.split_once('=') {
            Some((n, p)) => (n.to_string(), PathBuf::from(p)),
            None => {
                let p = PathBuf::from(arg);
                let n = p
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .ok_or_else(|| format!("bad runtime {arg:?}: want NAME=PATH"))?;
                (n, p)
            }
        };
        if name.is_empty() || name.contains(['/', ' ']) {
            return Err(format!("bad runtime name {name:?}"));
        }
        Ok(Runtime {
            name,
            path,
            version: String::new(),
            hide_cgroup2: None,
        })
    }

    /// Checks that the binary runs, records its version, and sets up the
    /// hybrid-cgroup workaround for crun. `work` holds the empty file.
    pub fn probe(&mut self, work: &Path) -> Result<(), String> {
        if !self.path.is_absolute() {
            if let Ok(abs) = std::fs::canonicalize(&self.path) {
                self.path = abs;
            }
        }
        let out = Command::new(&self.path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: cannot run {}: {e}", self.name, self.path.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        self.version = text.lines().next().unwrap_or("").trim().to_string();
        let is_crun = self.version.starts_with("crun");
        let hybrid = std::fs::read_to_string(UNIFIED_CONTROLLERS)
            .map(|s| !s.trim().is_empty())
            .unwrap_or(false);
        if is_crun && hybrid {
            let empty = work.join(".empty-cgroup.controllers");
            std::fs::write(&empty, b"").map_err(|e| format!("{}: {e}", empty.display()))?;
            let c = CString::new(empty.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
            self.hide_cgroup2 = Some(Arc::new(c));
        }
        Ok(())
    }

    /// Whether calls run with the cgroup2 controller list hidden.
    pub fn hides_cgroup2(&self) -> bool {
        self.hide_cgroup2.is_some()
    }

    /// `RUNTIME --root ROOT ARGS...` with stdin from /dev/null.
    pub fn command<I, S>(&self, root: &Path, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root").arg(root).args(args).stdin(Stdio::null());
        if let Some(src) = &self.hide_cgroup2 {
            let src = src.clone();
            // SAFETY: the closure only makes raw syscalls on pre-built C strings
            // (no allocation) between fork and exec.
            unsafe {
                cmd.pre_exec(move || hide_cgroup2(&src));
            }
        }
        cmd
    }

    /// `RUNTIME --root ROOT ARGS...` run through `launcher maxrss` (this crate's binary),
    /// which prints the runtime process's own peak RSS (see [`run_measured`]).
    pub fn measured_command<I, S>(&self, launcher: &Path, root: &Path, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(launcher);
        cmd.arg("maxrss");
        if let Some(src) = &self.hide_cgroup2 {
            cmd.arg("--hide-cgroup2")
                .arg(OsStr::from_bytes(src.as_bytes()));
        }
        cmd.arg("--")
            .arg(&self.path)
            .arg("--root")
            .arg(root)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Whether `RUNTIME SUB --help` succeeds (e.g. `exec`, which husk lacks).
    pub fn supports(&self, sub: &str) -> bool {
        let mut cmd = self.command(Path::new("/nonexistent-husk-root"), [sub, "--help"]);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        crate::proc::run(&mut cmd, Duration::from_secs(10))
            .map(|f| f.success())
            .unwrap_or(false)
    }
}

fn hide_cgroup2(src: &CString) -> io::Result<()> {
    let check = |r: libc::c_int| {
        if r != 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: raw syscalls with NUL-terminated static or pre-built strings.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        check(libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            src.as_ptr(),
            c"/sys/fs/cgroup/unified/cgroup.controllers".as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        ))?;
    }
    Ok(())
}

/// Whether an ELF file has no program interpreter (statically linked).
pub fn is_static_elf(path: &Path) -> io::Result<bool> {
    let data = std::fs::read(path)?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "not a 64-bit little-endian ELF");
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return Err(bad());
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(data[32..40].try_into().map_err(|_| bad())?) as usize;
    let phentsize = u16_at(54);
    let phnum = u16_at(56);
    for i in 0..phnum {
        let off = phoff + i * phentsize;
        if off + 4 > data.len() {
            return Err(bad());
        }
        let p_type = u32::from_le_bytes(data[off..off + 4].try_into().map_err(|_| bad())?);
        if p_type == 3 {
            return Ok(false); // PT_INTERP
        }
    }
    Ok(true)
}

/// Runs `command` in a forked child (hiding the cgroup2 controller list first when
/// `hide` names the empty file), waits, and returns its exit code and its peak RSS
/// in KiB. Forked, never vforked, from a process that has done little: the child's
/// peak then starts from this process's few resident pages, not from a caller's.
pub fn run_measured(
    command: &[std::ffi::OsString],
    hide: Option<&Path>,
) -> Result<(i32, u64), String> {
    let (prog, args) = command.split_first().ok_or("no command")?;
    let mut cmd = Command::new(prog);
    // Our stdout carries the answer: a container init the command leaves behind must
    // not hold it open.
    cmd.args(args).stdout(Stdio::null());
    let hide = match hide {
        Some(p) => Some(CString::new(p.as_os_str().as_bytes()).map_err(|e| e.to_string())?),
        None => None,
    };
    // SAFETY: the closure only makes raw syscalls on a pre-built C string (no
    // allocation) between fork and exec; a pre_exec also rules out vfork.
    unsafe {
        cmd.pre_exec(move || match &hide {
            Some(src) => hide_cgroup2(src),
            None => Ok(()),
        });
    }
    let f = crate::proc::run(&mut cmd, Duration::from_secs(60))
        .map_err(|e| format!("{}: {e}", prog.to_string_lossy()))?;
    Ok((f.code().unwrap_or(1), f.usage.maxrss_kib))
}
