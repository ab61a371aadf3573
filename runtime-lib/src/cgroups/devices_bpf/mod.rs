//! The cgroup-v2 device filter: OCI device rules -> an eBPF
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, attached to the container's cgroup.
//!
//! - `rules.rs`: the rules replayed into a default action plus exceptions,
//!   with the v1 semantics runc keeps on v2 (pure).
//! - `prog.rs`: the eBPF instructions for that, emitted directly (pure).
//! - `sys.rs`: the `bpf(2)` calls; the only `unsafe` code.
//! - here: [`install`], load + attach, replacing the filter husk attached
//!   earlier (found by its program name) so `update` leaves exactly one.

mod prog;
mod rules;
mod sys;

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

use super::error::CgroupError;

pub use prog::{disassemble, encode, program};
pub use rules::{rule_kind, DevKind, DeviceFilter};

/// The license the program is loaded under (the kernel wants a
/// `MODULE_LICENSE`-style string; the program uses no GPL-only helpers).
const LICENSE: &CStr = c"Apache";
/// The program's name; how husk recognises its own filter on `update`.
pub const PROG_NAME: &str = "husk_devices";
/// Verifier log size for the retry after a failed load.
const LOG_SIZE: usize = 256 * 1024;

fn name_bytes() -> [u8; sys::NAME_LEN] {
    let mut n = [0u8; sys::NAME_LEN];
    let len = PROG_NAME.len().min(sys::NAME_LEN - 1);
    n[..len].copy_from_slice(&PROG_NAME.as_bytes()[..len]);
    n
}

fn fail(dir: &Path, op: &'static str, source: io::Error, log: String) -> CgroupError {
    CgroupError::DeviceFilter {
        path: dir.to_path_buf(),
        op,
        source,
        log,
    }
}

/// Enforce `filter` on the cgroup directory `dir`: load the program, attach
/// it with `BPF_F_ALLOW_MULTI`, then detach the device filters husk attached
/// there before (so an update swaps the filter without a moment where the
/// cgroup has none). Programs attached by others are left alone: with
/// `ALLOW_MULTI` each can only restrict further. An allow-all filter needs
/// no program; it only removes husk's old one.
///
/// Without the privilege to use bpf(2) inside a user namespace (rootless),
/// the filter is skipped with a warning, as runc and crun do.
pub fn install(dir: &Path, filter: &DeviceFilter) -> Result<(), CgroupError> {
    let cgroup = File::open(dir).map_err(|e| fail(dir, "open the cgroup for", e, String::new()))?;
    let old = match ours(&cgroup) {
        Ok(old) => old,
        // Nothing of ours can be attached where we cannot even look.
        Err(_) if filter.is_allow_all() => return Ok(()),
        Err(e) if skippable(&e) => return skip(dir, &e),
        Err(e) => {
            return Err(fail(
                dir,
                "list the attached programs for",
                e,
                String::new(),
            ))
        }
    };
    if !filter.is_allow_all() {
        let insns = program(filter);
        tracing::debug!(
            dir = %dir.display(),
            "device filter ({} instructions):\n{}",
            insns.len(),
            disassemble(&insns)
        );
        let prog = match load(&encode(&insns)) {
            Ok(p) => p,
            Err((e, _)) if skippable(&e) => return skip(dir, &e),
            Err((e, log)) => return Err(fail(dir, "load", e, log)),
        };
        if let Err(e) = sys::prog_attach(cgroup.as_fd(), prog.as_fd(), sys::BPF_F_ALLOW_MULTI) {
            if skippable(&e) {
                return skip(dir, &e);
            }
            return Err(fail(dir, "attach", e, String::new()));
        }
    }
    for p in &old {
        match sys::prog_detach(cgroup.as_fd(), p.as_fd()) {
            Ok(()) => {}
            // Already gone (a concurrent update): the point anyway.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(fail(dir, "detach the previous", e, String::new())),
        }
    }
    Ok(())
}

/// The device programs attached to `cgroup` that husk loaded.
fn ours(cgroup: &File) -> io::Result<Vec<OwnedFd>> {
    let mut out = Vec::new();
    for id in sys::prog_query(cgroup.as_fd())? {
        let fd = match sys::prog_get_fd_by_id(id) {
            Ok(fd) => fd,
            // Detached meanwhile, or hidden from us by an LSM: not ours to
            // replace either way.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::EPERM | libc::EACCES)
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        if sys::prog_name(fd.as_fd())? == PROG_NAME {
            out.push(fd);
        }
    }
    Ok(out)
}

/// Load the program; on failure, load again with the verifier log on and
/// return it with the error. Kernels before 5.11 charge programs to
/// RLIMIT_MEMLOCK: on EPERM the limit is raised for the retry and put back
/// afterwards, so the container does not inherit it.
fn load(insns: &[u8]) -> Result<OwnedFd, (io::Error, String)> {
    let name = name_bytes();
    let first = match sys::prog_load(insns, LICENSE, &name, None) {
        Ok(fd) => return Ok(fd),
        Err(e) => e,
    };
    let saved = (first.raw_os_error() == Some(libc::EPERM))
        .then(|| getrlimit(Resource::RLIMIT_MEMLOCK).ok())
        .flatten()
        .filter(|_| setrlimit(Resource::RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY).is_ok());
    let mut log = vec![0u8; LOG_SIZE];
    let second = sys::prog_load(insns, LICENSE, &name, Some(&mut log));
    if let Some((soft, hard)) = saved {
        let _ = setrlimit(Resource::RLIMIT_MEMLOCK, soft, hard);
    }
    match second {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).trim_end().to_string();
            Err((e, text))
        }
    }
}

/// bpf(2) refused for lack of privilege while in a user namespace.
fn skippable(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) && in_user_namespace()
}

fn skip(dir: &Path, e: &io::Error) -> Result<(), CgroupError> {
    tracing::warn!(
        dir = %dir.display(),
        "device rules not enforced: bpf(2) is not permitted in this user namespace: {e}"
    );
    Ok(())
}

/// Whether this process runs in a user namespace other than the initial one
/// (whose uid_map is the identity map of all 2^32-1 ids).
fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields != ["0", "0", "4294967295"]
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::{HierarchyVersion, HostLayout};
    use std::path::PathBuf;
    use std::process::Command;

    /// A scratch cgroup in the host's v2 hierarchy (`/sys/fs/cgroup` on v2,
    /// `/sys/fs/cgroup/unified` on hybrid hosts), removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Option<Scratch> {
            if !nix::unistd::geteuid().is_root() {
                return None;
            }
            let layout = HostLayout::detect().ok()?;
            let v2 = layout
                .hierarchies
                .iter()
                .find(|h| h.version == HierarchyVersion::V2)?;
            let dir = v2
                .mount_point
                .join(format!("husk-bpf-test-{}", std::process::id()));
            std::fs::create_dir(&dir).ok()?;
            Some(Scratch(dir))
        }

        /// Which of /dev/null (c 1:3) and /dev/zero (c 1:5) a shell moved
        /// into the cgroup can open.
        fn opens(&self) -> String {
            let script = format!(
                "echo $$ > {}/cgroup.procs || exit 1; \
                 true < /dev/null && echo null; true < /dev/zero && echo zero",
                self.0.display()
            );
            let out = Command::new("/bin/sh").arg("-c").arg(script).output();
            let out = out.unwrap_or_else(|e| panic!("sh: {e}"));
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        }

        fn attached(&self) -> Vec<u32> {
            let f = File::open(&self.0).unwrap_or_else(|e| panic!("{e}"));
            sys::prog_query(f.as_fd()).unwrap_or_else(|e| panic!("query: {e}"))
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }

    fn only(access: &str) -> DeviceFilter {
        let json = format!(
            r#"[{{"allow":false,"access":"rwm"}},{{"allow":true,"type":"c","major":1,"minor":{access},"access":"rwm"}}]"#
        );
        let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        DeviceFilter::from_rules(&rules).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Root only, on any host with a cgroup2 mount (a hybrid host's
    /// `unified` one will do): load, attach, enforce, replace, remove.
    #[test]
    fn install_enforces_and_replaces_on_a_live_cgroup() {
        let Some(cg) = Scratch::new() else {
            eprintln!("skipped: needs root and a writable cgroup2 mount");
            return;
        };
        assert_eq!(cg.opens(), "null zero");
        install(&cg.0, &only("3")).unwrap_or_else(|e| panic!("{e}"));
        let first = cg.attached();
        assert_eq!(first.len(), 1);
        assert_eq!(cg.opens(), "null");
        // An update swaps the program: still one, a new one.
        install(&cg.0, &only("5")).unwrap_or_else(|e| panic!("{e}"));
        let second = cg.attached();
        assert_eq!(second.len(), 1);
        assert_ne!(second, first);
        assert_eq!(cg.opens(), "zero");
        // Allow-all needs no program: husk's is removed.
        let all: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":true,"access":"rwm"}]"#).unwrap_or_default();
        let all = DeviceFilter::from_rules(&all).unwrap_or_else(|e| panic!("{e}"));
        install(&cg.0, &all).unwrap_or_else(|e| panic!("{e}"));
        assert!(cg.attached().is_empty());
        assert_eq!(cg.opens(), "null zero");
    }

    /// Root only: a program the verifier rejects fails with its log.
    #[test]
    fn a_rejected_program_comes_back_with_the_verifier_log() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        // `w0 = 0` and no exit.
        let bad = prog::encode(
            &program(&DeviceFilter::from_rules(&[]).unwrap_or_else(|e| panic!("{e}")))[6..7],
        );
        match load(&bad) {
            Ok(_) => panic!("the verifier accepted a program without exit"),
            Err((e, log)) => {
                assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
                assert!(!log.is_empty(), "no verifier log");
                let msg = fail(Path::new("/sys/fs/cgroup/x"), "load", e, log).to_string();
                assert!(
                    msg.starts_with("linux.resources.devices: cannot load the eBPF device filter of /sys/fs/cgroup/x: Invalid argument"),
                    "{msg}"
                );
                assert!(msg.contains("; verifier log:\n"), "{msg}");
            }
        }
    }

    #[test]
    fn the_name_fits_the_kernel_limit_and_its_alphabet() {
        let n = name_bytes();
        assert_eq!(&n[..PROG_NAME.len()], PROG_NAME.as_bytes());
        assert_eq!(n[sys::NAME_LEN - 1], 0);
        assert!(PROG_NAME.len() < sys::NAME_LEN);
        assert!(PROG_NAME
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'));
    }
}
