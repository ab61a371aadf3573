//! The writes that put labels on the process: its own `attr/` files, reached through
//! the verified procfs handle, so a mount the container made over `/proc` cannot
//! redirect them (the attack class of CVE-2025-52881).

use std::io::{ErrorKind, Write};

use super::{LsmError, ProcessLsm};
use crate::paths::ProcHandle;

const AA_EXEC: &str = "thread-self/attr/apparmor/exec";
/// Kernels before 5.8 have no per-LSM directory: AppArmor owns `attr/exec` there.
const AA_EXEC_OLD: &str = "thread-self/attr/exec";
const SE_EXEC: &str = "thread-self/attr/exec";
const SE_KEYCREATE: &str = "thread-self/attr/keycreate";

/// Sets the AppArmor profile and the SELinux label the process gets at its next
/// exec (`change_onexec` and `setexeccon`). Call it before the user switch and
/// `no_new_privs`, as runc does.
pub fn apply_exec(proc: &ProcHandle, lsm: &ProcessLsm) -> Result<(), LsmError> {
    if let Some(p) = &lsm.apparmor_profile {
        apparmor_exec(proc, p)?;
    }
    if let Some(l) = &lsm.selinux_label {
        write(proc, SE_EXEC, "process.selinuxLabel", l, l.as_bytes())?;
    }
    Ok(())
}

/// The label of keys the process creates (its session keyring): the process label,
/// as runc. Call it before joining the session keyring.
pub fn set_keycreate(proc: &ProcHandle, lsm: &ProcessLsm) -> Result<(), LsmError> {
    match &lsm.selinux_label {
        Some(l) => write(proc, SE_KEYCREATE, "process.selinuxLabel", l, l.as_bytes()),
        None => Ok(()),
    }
}

fn apparmor_exec(proc: &ProcHandle, profile: &str) -> Result<(), LsmError> {
    let field = "process.apparmorProfile";
    let err = |attr: &str| {
        let attr = attr.to_string();
        move |source| LsmError::Apply {
            field,
            value: profile.to_string(),
            attr,
            source,
        }
    };
    let (attr, mut f) = match proc.open_write(AA_EXEC) {
        Ok(f) => (AA_EXEC, f),
        Err(e) if e.kind() == ErrorKind::NotFound => (
            AA_EXEC_OLD,
            proc.open_write(AA_EXEC_OLD).map_err(err(AA_EXEC_OLD))?,
        ),
        Err(e) => return Err(err(AA_EXEC)(e)),
    };
    match f.write_all(format!("exec {profile}").as_bytes()) {
        Ok(()) => Ok(()),
        // The kernel's answer for a profile it does not have.
        Err(e) if e.kind() == ErrorKind::NotFound => Err(LsmError::AppArmorNotLoaded {
            field,
            profile: profile.to_string(),
        }),
        Err(e) => Err(err(attr)(e)),
    }
}

fn write(
    proc: &ProcHandle,
    attr: &str,
    field: &'static str,
    value: &str,
    data: &[u8],
) -> Result<(), LsmError> {
    proc.open_write(attr)
        .and_then(|mut f| f.write_all(data))
        .map_err(|source| LsmError::Apply {
            field,
            value: value.to_string(),
            attr: attr.to_string(),
            source,
        })
}
