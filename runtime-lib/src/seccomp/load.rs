//! Applying a [`SeccompPlan`]: libseccomp builds the BPF program, and we
//! install it ourselves with `seccomp(2)` so that every filter flag the
//! kernel knows can be used whatever the libseccomp version (as runc does).

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;

use libseccomp::{ScmpFilterContext, ScmpSyscall};
use nix::errno::Errno;
use nix::sys::memfd::{memfd_create, MFdFlags};

use super::error::SeccompError;
use super::sys;
use super::types::{scmp_arch, ArgCondition, SeccompPlan};

/// The kernel's limit on instructions in one classic BPF program.
const BPF_MAXINSNS: usize = 4096;

/// Size of one `struct sock_filter` in libseccomp's export.
const INSN_SIZE: usize = std::mem::size_of::<libc::sock_filter>();

/// A seccomp program compiled from a [`SeccompPlan`], ready to install.
///
/// Compiling allocates and talks to libseccomp; installing is one syscall.
/// Callers may compile early and install right before `execve`.
pub struct CompiledFilter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    new_listener: bool,
}

impl fmt::Debug for CompiledFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledFilter")
            .field("instructions", &self.program.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("new_listener", &self.new_listener)
            .finish()
    }
}

impl CompiledFilter {
    /// Number of BPF instructions.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.program.len()
    }

    /// Whether the program is empty (never true for a compiled plan).
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// The `flags` argument that [`CompiledFilter::install`] passes to `seccomp(2)`.
    #[cfg(test)]
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// Installs the filter into the calling thread (all threads with TSYNC).
    ///
    /// Does not set `no_new_privs`: like runc, that follows
    /// `process.noNewPrivileges`, so without it the caller needs
    /// `CAP_SYS_ADMIN`. Returns the notify fd when a rule notifies.
    ///
    /// # Errors
    ///
    /// [`SeccompError::Load`] with the kernel's error (EACCES without
    /// privilege, EINVAL for an unsupported flag), or
    /// [`SeccompError::Tsync`] when another thread cannot be synchronized.
    pub fn install(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let rc = sys::set_mode_filter(&self.program, self.flags).map_err(load_error)?;
        if self.new_listener {
            return sys::own_fd(rc).map(Some).map_err(load_error);
        }
        if rc > 0 {
            // Without TSYNC_ESRCH the kernel reports a TSYNC failure as the
            // id of the thread that could not be synchronized.
            return Err(SeccompError::Tsync { tid: rc });
        }
        Ok(None)
    }
}

fn load_error(source: Errno) -> SeccompError {
    let hint = match source {
        Errno::EACCES => " (the caller needs no_new_privs or CAP_SYS_ADMIN)",
        Errno::EINVAL => " (a flag or action may be unsupported by this kernel)",
        Errno::ESRCH => " (SECCOMP_FILTER_FLAG_TSYNC: another thread could not be synchronized)",
        _ => "",
    };
    SeccompError::Load { source, hint }
}

impl SeccompPlan {
    /// Builds the BPF program with libseccomp without installing it.
    ///
    /// # Errors
    ///
    /// [`SeccompError::Libseccomp`] naming the rule or architecture libseccomp
    /// refused, or [`SeccompError::Program`]/[`SeccompError::Os`] when the
    /// program cannot be exported or is too long for the kernel.
    pub fn compile(&self) -> Result<CompiledFilter, SeccompError> {
        let lib_err = |field: String, what, source| SeccompError::Libseccomp {
            field,
            what,
            source,
        };
        let mut ctx = ScmpFilterContext::new(self.default_action.to_scmp())
            .map_err(|e| lib_err("linux.seccomp.defaultAction".into(), "create the filter", e))?;

        for &arch in &self.architectures {
            let token = scmp_arch(arch);
            let field = || format!("linux.seccomp.architectures ({arch})");
            // Adding an architecture that is already present (the native one) fails.
            let present = ctx
                .is_arch_present(token)
                .map_err(|e| lib_err(field(), "check the architecture", e))?;
            if !present {
                ctx.add_arch(token)
                    .map_err(|e| lib_err(field(), "add the architecture", e))?;
            }
        }

        for rule in &self.rules {
            let conditions: Vec<_> = rule
                .conditions
                .iter()
                .map(|c| ArgCondition::to_scmp(*c))
                .collect();
            ctx.add_rule_conditional(
                rule.action.to_scmp(),
                ScmpSyscall::from_raw_syscall(rule.nr),
                &conditions,
            )
            .map_err(|e| lib_err(rule.field.clone(), "add the rule", e))?;
        }

        for skipped in &self.skipped {
            tracing::debug!(field = %skipped.field, syscall = %skipped.name,
                reason = ?skipped.reason, "seccomp rule skipped");
        }
        let mut program = export(&ctx)?;
        if super::enosys::wanted(self) {
            // Syscalls newer than the profile answer ENOSYS, so libc falls back (runc's stub).
            let mut stub = super::enosys::stub(&super::enosys::last_syscalls(self));
            if stub.len() + program.len() > BPF_MAXINSNS {
                return Err(SeccompError::Program {
                    reason: format!(
                        "{} instructions with the ENOSYS stub, more than the kernel's limit of {BPF_MAXINSNS}",
                        stub.len() + program.len()
                    ),
                });
            }
            stub.append(&mut program);
            program = stub;
        }
        let new_listener = self.uses_notify();
        Ok(CompiledFilter {
            program,
            flags: self.flags.kernel_bits(new_listener),
            new_listener,
        })
    }
}

/// Exports the program through a memfd (libseccomp < 2.6 can only write to
/// an fd) and decodes it into instructions.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let os = |what, source| SeccompError::Os { what, source };
    let fd = memfd_create(c"husk-seccomp-bpf", MFdFlags::MFD_CLOEXEC)
        .map_err(|e| os("memfd_create", e.into()))?;
    let mut file = File::from(fd);
    ctx.export_bpf(&file)
        .map_err(|e| SeccompError::Libseccomp {
            field: "linux.seccomp".into(),
            what: "export the BPF program",
            source: e,
        })?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| os("reading the exported BPF program", e))?;
    decode(&bytes)
}

/// Decodes libseccomp's raw `struct sock_filter` array (native layout).
pub(super) fn decode(bytes: &[u8]) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let program_error = |reason: String| SeccompError::Program { reason };
    if bytes.is_empty() || !bytes.len().is_multiple_of(INSN_SIZE) {
        return Err(program_error(format!(
            "{} bytes is not a whole number of instructions",
            bytes.len()
        )));
    }
    let count = bytes.len() / INSN_SIZE;
    if count > BPF_MAXINSNS {
        return Err(program_error(format!(
            "{count} instructions, more than the kernel's limit of {BPF_MAXINSNS}"
        )));
    }
    Ok(bytes
        .chunks_exact(INSN_SIZE)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}
