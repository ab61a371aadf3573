//! Before husk creates or enters a container it makes sure the running binary cannot
//! be overwritten from inside one (CVE-2019-5736; see `husk::security::exe_guard`):
//! - as root: re-exec from the immutable copy in /run/husk-exe/p-<hash of the binary's
//!   path> (made once per binary version, so a run costs one exec); where the kernel cannot make a tmpfs file
//!   immutable (before 6.0), from a sealed memfd copy made for this run (as crun);
//! - rootless (also root of a user namespace): nothing when the user cannot write the binary (the usual root-owned
//!   install), else re-exec from a sealed memfd copy made for this run.
//!
//! It fails closed: when no protection can be set up, `create`/`run`/`exec` refuse,
//! unless the operator opts out with `HUSK_NO_EXE_GUARD=1` (docs/security.md).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use husk::unstable::exe_guard;

/// The opt-out: run without the CVE-2019-5736 guard.
pub const OPT_OUT: &str = "HUSK_NO_EXE_GUARD";

/// Re-executes husk from a guarded copy when needed. Returns only when no re-exec
/// is needed (already guarded, opted out, or a binary the user cannot write), or
/// with the error that made every protection fail.
pub fn reexec_guarded() -> Result<(), String> {
    if std::env::var_os(OPT_OUT).is_some_and(|v| !v.is_empty() && v != "0") {
        tracing::debug!("{OPT_OUT} is set: running without the CVE-2019-5736 guard");
        return Ok(());
    }
    if exe_guard::running_guarded() {
        return Ok(());
    }
    let exe = std::fs::read_link("/proc/self/exe")
        .map_err(|e| refuse(format!("read /proc/self/exe: {e}")))?;
    let euid = nix::unistd::geteuid();
    // Root of a user namespace (rootless podman runs its runtime so) cannot set the
    // immutable flag either: it takes the rootless path.
    if euid.is_root() && !husk::rootless::in_user_namespace() {
        let immutable = reexec_immutable(&exe);
        tracing::debug!(
            "no immutable copy of {} ({immutable}): using a sealed memfd copy",
            exe.display()
        );
        let sealed = reexec_sealed(&exe);
        Err(refuse(format!("{immutable}; {sealed}")))
    } else {
        match std::fs::metadata(&exe) {
            Ok(m) if !exe_guard::rootless_needs_seal(&m, euid.as_raw()) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(refuse(format!("stat {}: {e}", exe.display()))),
        }
        Err(refuse(reexec_sealed(&exe)))
    }
}

/// The root fast path, before argument parsing and logging: when an argument names a
/// command that may run a container process and this binary's immutable copy already
/// exists, exec it at once (about half the cost of a full start-up). Anything else
/// (no copy yet, not root, opted out, already the copy, a dry run, an exec that fails)
/// returns, and [`reexec_guarded`] decides after parsing, as always. A false positive
/// (`husk state run`, a container called "run") costs only this re-exec.
pub fn reexec_early() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let candidate = argv
        .iter()
        .skip(1)
        .any(|a| matches!(a.to_str(), Some("create" | "run" | "exec")));
    if !candidate || argv.iter().any(|a| a == "--dry-run") || std::env::var_os(OPT_OUT).is_some() {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    if exe.starts_with(exe_guard::DEFAULT_DIR) {
        return;
    }
    let Ok(meta) = std::fs::metadata(&exe) else {
        return;
    };
    let dir = exe_guard::dir_for(Path::new(exe_guard::DEFAULT_DIR), &exe);
    let copy = dir.join(exe_guard::copy_name(&meta));
    if !exe_guard::is_immutable(&copy) {
        return;
    }
    if let Ok(path) = CString::new(copy.as_os_str().as_bytes()) {
        let argv: Vec<CString> = argv
            .iter()
            .filter_map(|a| CString::new(a.as_bytes()).ok())
            .collect();
        let _ = nix::unistd::execv(&path, &argv);
    }
}

fn refuse(why: String) -> String {
    format!(
        "cannot protect the husk binary against CVE-2019-5736 ({why}); refusing to run a \
         container process (set {OPT_OUT}=1 to run unprotected, see docs/security.md)"
    )
}

fn args() -> Vec<CString> {
    std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect()
}

/// Re-executes from the immutable copy; returns why it could not.
fn reexec_immutable(exe: &Path) -> String {
    let dir = exe_guard::dir_for(Path::new(exe_guard::DEFAULT_DIR), exe);
    let copy = match exe_guard::guarded_copy(exe, &dir) {
        Ok(c) => c,
        Err(e) => return format!("immutable copy in {}: {e}", dir.display()),
    };
    let Ok(path) = CString::new(copy.as_os_str().as_bytes()) else {
        return format!("bad path {}", copy.display());
    };
    let Err(e) = nix::unistd::execv(&path, &args());
    format!("exec {}: {e}", copy.display())
}

/// Re-executes from a sealed memfd copy; returns why it could not.
fn reexec_sealed(exe: &Path) -> String {
    let fd = match exe_guard::sealed_copy(exe) {
        Ok(fd) => fd,
        Err(e) => return format!("sealed memfd copy of {}: {e}", exe.display()),
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
    format!("exec the sealed copy of {}: {e}", exe.display())
}
