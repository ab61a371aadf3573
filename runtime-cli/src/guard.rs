//! Before husk creates or enters a container it makes sure the running binary cannot
//! be overwritten from inside one (CVE-2019-5736; see `husk::security::exe_guard`):
//! - as root: re-exec from the immutable copy in /run/husk-exe (made once per binary
//!   version, so a run costs one exec);
//! - rootless (also root of a user namespace): nothing when the user cannot write the binary (the usual root-owned
//!   install), else re-exec from a sealed memfd copy made for this run.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use husk::unstable::exe_guard;

/// Re-executes husk from a guarded copy when needed. Never fails: when no copy can
/// be made it says so (as root) and runs on.
pub fn reexec_guarded() {
    if std::env::var_os("HUSK_NO_EXE_GUARD").is_some() || exe_guard::running_guarded() {
        return;
    }
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let euid = nix::unistd::geteuid();
    // Root of a user namespace (rootless podman runs its runtime so) cannot set the
    // immutable flag either: it takes the rootless path.
    if euid.is_root() && !husk::rootless::in_user_namespace() {
        reexec_immutable(&exe);
    } else {
        reexec_sealed(&exe, euid.as_raw());
    }
}

fn args() -> Vec<CString> {
    std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect()
}

fn reexec_immutable(exe: &Path) {
    let copy = match exe_guard::guarded_copy(exe, Path::new(exe_guard::DEFAULT_DIR)) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                "cannot make an immutable copy of {} ({e}): running unprotected against CVE-2019-5736",
                exe.display()
            );
            return;
        }
    };
    let Ok(path) = CString::new(copy.as_os_str().as_bytes()) else {
        return;
    };
    let Err(e) = nix::unistd::execv(&path, &args());
    tracing::warn!(
        "exec {}: {e}: running unprotected against CVE-2019-5736",
        copy.display()
    );
}

fn reexec_sealed(exe: &Path, euid: u32) {
    match std::fs::metadata(exe) {
        Ok(m) if !exe_guard::rootless_needs_seal(&m, euid) => return,
        Ok(_) => {}
        Err(e) => {
            tracing::debug!("stat {}: {e}", exe.display());
            return;
        }
    }
    let fd = match exe_guard::sealed_copy(exe) {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(
                "cannot make a sealed copy of {} ({e}): running unprotected against CVE-2019-5736",
                exe.display()
            );
            return;
        }
    };
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let Err(e) = nix::unistd::fexecve(&fd, &args(), &env);
    tracing::warn!(
        "exec the sealed copy of {}: {e}: running unprotected against CVE-2019-5736",
        exe.display()
    );
}
