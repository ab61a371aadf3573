//! Running hooks: validate, spawn, supervise, judge the outcome.

use oci_spec::runtime::Hook;

use super::command::HookCommand;
use super::error::{HookError, HookRef};
use super::kind::HookKind;
use super::supervise::{supervise, Outcome};

/// Runs one hook: `path` with `args` (`args[0]` is `argv[0]`) and exactly
/// `env` (without `env`, the caller's environment, as runc's hooks inherit
/// runc's), the container state `state_json` on its stdin, and `timeout`
/// seconds to finish (then SIGKILL and an error).
///
/// Works from a single-threaded forked process (no threads are started).
/// A hook that exits without reading its stdin is not an error; the caller's
/// SIGPIPE disposition is left as it was. SIGCHLD must not be ignored
/// (`SIG_IGN` makes the kernel reap the hook before we can wait for it).
///
/// # Errors
///
/// [`HookError::Invalid`] for a hook the spec forbids (relative path,
/// non-positive timeout, malformed env entry), [`HookError::Spawn`] when it
/// cannot be executed, [`HookError::Failed`] with its exit status and stderr
/// when it exits unsuccessfully, [`HookError::Timeout`] when it was killed at
/// its timeout, and [`HookError::Io`] when supervising it failed.
pub fn run_hook(hook: &Hook, state_json: &[u8]) -> Result<(), HookError> {
    let cmd = HookCommand::prepare(hook)?;
    let who = HookRef {
        path: cmd.path.clone(),
        position: None,
    };
    tracing::debug!(hook = %who, "running hook");

    let mut child = cmd.command().spawn().map_err(|source| HookError::Spawn {
        hook: who.clone(),
        source,
    })?;
    let outcome = match supervise(&mut child, state_json, cmd.timeout()) {
        Ok(outcome) => outcome,
        Err((what, source)) => {
            // Never leave the hook running or unreaped behind an error.
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Io {
                hook: who,
                what,
                source,
            });
        }
    };

    match outcome {
        Outcome::Exited { status, .. } if status.success() => Ok(()),
        Outcome::Exited {
            status,
            stdout,
            stderr,
        } => Err(HookError::Failed {
            hook: who,
            status,
            stderr,
            stdout,
        }),
        Outcome::TimedOut { stderr } => Err(HookError::Timeout {
            hook: who,
            timeout: cmd.timeout_secs.unwrap_or_default(),
            stderr,
        }),
    }
}

/// Runs `hooks` (the `kind` list of `config.json`) in order, stopping at the
/// first failure; errors name the hook as `hooks.<kind>[<index>]`.
///
/// # Errors
///
/// The first hook's error, as from [`run_hook`].
pub fn run_hooks(kind: HookKind, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run_hook(hook, state_json).map_err(|e| e.at(kind, index))?;
    }
    Ok(())
}

/// `hooks` where those without an environment of their own (no or an empty `env`)
/// get `env`: what runc does for startContainer hooks, which see the container
/// process's environment.
pub fn with_default_env(hooks: &[Hook], env: &[String]) -> Vec<Hook> {
    hooks
        .iter()
        .map(|h| {
            let mut h = h.clone();
            if h.env().as_ref().is_none_or(Vec::is_empty) {
                h.set_env(Some(env.to_vec()));
            }
            h
        })
        .collect()
}
