//! The scenarios. Each checks observable behaviour against what the OCI
//! runtime spec (and, where the spec is silent, runc) prescribes, and stops at
//! the first difference.
//!
//! One file per area, named as in the report; this file registers them.

mod cgroups;
mod compat;
mod devices;
mod errors;
mod exec;
mod hooks;
mod lifecycle;
mod mounts;
mod namespaces;
mod paths;
mod process;
mod seccomp;
mod tty;

use std::time::Duration;

use crate::scenario::Scenario;

use cgroups::*;
use compat::*;
use devices::*;
use errors::*;
use exec::*;
use hooks::*;
use lifecycle::*;
use mounts::*;
use namespaces::*;
use paths::*;
use process::*;
use seccomp::*;
use tty::*;

const SLEEP: [&str; 2] = ["sleep", "1000"];
const WAIT: Duration = Duration::from_secs(5);

macro_rules! scenario {
    ($name:literal, $area:literal, $checker:literal, $what:literal, $f:path) => {
        Scenario {
            name: $name,
            area: $area,
            what: $what,
            needs_checker: $checker,
            run: $f,
        }
    };
}

/// Areas, or parts of covered areas, with no scenarios yet (to be written
/// against real behaviour; deliberately no placeholder rows).
pub const NOT_YET_COVERED: &[&str] = &[
    "createContainer / startContainer hooks (order, state)",
    "exec --tty",
    "seccomp notify",
    "cgroup v2 files",
    "cpuset / blkio / hugetlb resources",
];

/// Every registered scenario, in report order.
pub fn all() -> Vec<Scenario> {
    vec![
        scenario!(
            "lifecycle-create",
            "lifecycle",
            false,
            "create: state fields, status created, process not started",
            lifecycle_create
        ),
        scenario!(
            "lifecycle-start",
            "lifecycle",
            false,
            "start: status running, same pid, process runs",
            lifecycle_start
        ),
        scenario!(
            "lifecycle-kill",
            "lifecycle",
            false,
            "kill TERM reaches the process's trap; status stopped",
            lifecycle_kill
        ),
        scenario!(
            "lifecycle-kill-created",
            "lifecycle",
            false,
            "kill KILL on a created container; then stopped and deletable",
            lifecycle_kill_created
        ),
        scenario!(
            "lifecycle-delete",
            "lifecycle",
            false,
            "delete a stopped container: state, list and cgroups gone",
            lifecycle_delete
        ),
        scenario!(
            "lifecycle-delete-force",
            "lifecycle",
            false,
            "delete --force a running container: process killed",
            lifecycle_delete_force
        ),
        scenario!(
            "run-exit-code",
            "lifecycle",
            false,
            "run propagates the exit status and deletes the container",
            run_exit_code
        ),
        scenario!(
            "run-output",
            "lifecycle",
            false,
            "run passes stdout and stderr through",
            run_output
        ),
        scenario!(
            "error-unknown-id",
            "errors",
            false,
            "state/start/kill/delete of an unknown id fail",
            error_unknown_id
        ),
        scenario!(
            "error-existing-id",
            "errors",
            false,
            "create with an id in use fails; the first container is intact",
            error_existing_id
        ),
        scenario!(
            "error-start-twice",
            "errors",
            false,
            "start of a running container fails",
            error_start_twice
        ),
        scenario!(
            "error-bad-config",
            "errors",
            false,
            "invalid JSON, missing rootfs, empty args: create fails, no state",
            error_bad_config
        ),
        scenario!(
            "ns-pid1",
            "namespaces",
            true,
            "pid 1; pid/mnt/uts/ipc/net inodes differ from host, user/cgroup shared",
            ns_pid1
        ),
        scenario!(
            "ns-hostname",
            "namespaces",
            true,
            "hostname from config",
            ns_hostname
        ),
        scenario!(
            "ns-net-loopback",
            "namespaces",
            false,
            "lo is up in a new network namespace, untouched in a joined one",
            ns_net_loopback
        ),
        scenario!(
            "ns-join-path",
            "namespaces",
            true,
            "namespace paths join existing net and ipc namespaces",
            ns_join_path
        ),
        scenario!(
            "mounts-default",
            "mounts",
            true,
            "default mounts: types and flags of /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys",
            mounts_default
        ),
        scenario!(
            "mounts-tmpfs",
            "mounts",
            true,
            "tmpfs with nosuid,nodev,noexec,mode,size",
            mounts_tmpfs
        ),
        scenario!(
            "mounts-bind",
            "mounts",
            true,
            "bind mounts: ro is read-only, rw writes reach the host",
            mounts_bind
        ),
        scenario!(
            "rootfs-readonly",
            "mounts",
            true,
            "root.readonly true and false",
            rootfs_readonly
        ),
        scenario!(
            "devices-default",
            "devices",
            true,
            "default device nodes (/dev/null 1:3 ...) and /dev symlinks",
            devices_default
        ),
        scenario!(
            "devices-custom",
            "devices",
            true,
            "linux.devices: type, numbers, mode and owner",
            devices_custom
        ),
        scenario!(
            "masked-paths",
            "paths",
            true,
            "default and custom maskedPaths read as empty",
            masked_paths
        ),
        scenario!(
            "readonly-paths",
            "paths",
            true,
            "default and custom readonlyPaths are read-only",
            readonly_paths
        ),
        scenario!(
            "process-user",
            "process",
            true,
            "uid, gid and additionalGids",
            process_user
        ),
        scenario!(
            "process-env",
            "process",
            true,
            "env passed verbatim",
            process_env
        ),
        scenario!(
            "process-env-home",
            "process",
            true,
            "HOME from /etc/passwd when env has none",
            process_env_home
        ),
        scenario!(
            "process-env-dedup",
            "process",
            false,
            "a variable listed twice in process.env is set once, to the last value",
            process_env_dedup
        ),
        scenario!(
            "process-env-home-link",
            "process",
            true,
            "HOME from /etc/passwd that is a symlink, resolved in the rootfs",
            process_env_home_symlink
        ),
        scenario!(
            "process-stdio-owner",
            "process",
            false,
            "stdio chowned to a non-root user (not /dev/null); it can reopen them",
            process_stdio_owner
        ),
        scenario!("process-cwd", "process", true, "cwd", process_cwd),
        scenario!(
            "caps-default",
            "process",
            true,
            "default spec capabilities in /proc/self/status",
            caps_default
        ),
        scenario!(
            "caps-custom",
            "process",
            true,
            "custom bounding/effective/permitted/inheritable/ambient",
            caps_custom
        ),
        scenario!(
            "caps-nonroot",
            "process",
            true,
            "uid 1000 keeps ambient capabilities",
            caps_nonroot
        ),
        scenario!(
            "no-new-privs",
            "process",
            true,
            "noNewPrivileges true and false",
            no_new_privs
        ),
        scenario!("rlimits", "process", true, "rlimits applied", rlimits),
        scenario!(
            "oom-score-adj",
            "process",
            true,
            "oomScoreAdj applied",
            oom_score_adj
        ),
        scenario!("umask", "process", true, "user.umask applied", umask),
        scenario!(
            "sysctl",
            "process",
            true,
            "linux.sysctl for namespaced keys",
            sysctl
        ),
        scenario!(
            "exec-output",
            "exec",
            false,
            "exec passes stdout, stderr and the exit status through",
            exec_output
        ),
        scenario!(
            "exec-pidns",
            "exec",
            false,
            "exec sees the init as pid 1; pid/mnt/net/ipc/uts namespaces of the init",
            exec_pidns
        ),
        scenario!(
            "exec-options",
            "exec",
            true,
            "exec --env, --cwd, --user (HOME from /etc/passwd)",
            exec_options
        ),
        scenario!(
            "exec-env-override",
            "exec",
            false,
            "exec --env replaces a variable of process.env",
            exec_env_override
        ),
        scenario!(
            "exec-stopped",
            "exec",
            false,
            "exec into a stopped container fails",
            exec_stopped
        ),
        scenario!(
            "tty-console-socket",
            "terminal",
            false,
            "terminal: pty master over --console-socket, stdio is the pty, consoleSize",
            tty_console_socket
        ),
        scenario!(
            "tty-no-console-socket",
            "terminal",
            false,
            "terminal without --console-socket: create fails, nothing left",
            tty_no_console_socket
        ),
        scenario!(
            "hooks-order",
            "hooks",
            false,
            "prestart, createRuntime, poststart, poststop: order and state status",
            hooks_order
        ),
        scenario!(
            "hooks-create-fails",
            "hooks",
            false,
            "a failing createRuntime hook fails create; nothing left",
            hooks_create_fails
        ),
        scenario!(
            "hooks-env",
            "hooks",
            false,
            "hooks without env inherit the runtime's (startContainer: the container's)",
            hooks_env
        ),
        scenario!(
            "hooks-create-container-rw",
            "hooks",
            false,
            "a createContainer hook writes into a read-only root before it is made read-only",
            hooks_create_container_rw
        ),
        scenario!(
            "seccomp-errno",
            "seccomp",
            true,
            "SCMP_ACT_ERRNO on mkdir: EPERM, other syscalls work, Seccomp: 2",
            seccomp_errno
        ),
        scenario!(
            "seccomp-errno-ret",
            "seccomp",
            true,
            "errnoRet is the errno returned",
            seccomp_errno_ret
        ),
        scenario!(
            "cgroup-limits",
            "cgroups",
            false,
            "memory limit, pids limit, cpu shares in the init's v1 cgroup files",
            cgroup_limits
        ),
        scenario!(
            "cgroup-update",
            "cgroups",
            false,
            "update --memory --pids-limit --cpu-shares on a running container",
            cgroup_update
        ),
        scenario!(
            "cgroup-pause",
            "cgroups",
            false,
            "pause/resume: status, freezer.state, the process stops and restarts",
            cgroup_pause
        ),
        scenario!(
            "compat-sysctl-hostname",
            "errors",
            false,
            "a kernel.hostname sysctl is refused (it conflicts with the hostname field)",
            compat_sysctl_hostname
        ),
        scenario!(
            "compat-userns-unmapped",
            "errors",
            false,
            "a new user namespace without uid/gid mappings is refused by create",
            compat_userns_unmapped
        ),
        scenario!(
            "compat-relative-masked",
            "paths",
            false,
            "relative maskedPaths / readonlyPaths are relative to the root",
            compat_relative_masked
        ),
        scenario!(
            "compat-proc-symlink",
            "errors",
            false,
            "a rootfs whose /proc is a symlink is refused",
            compat_proc_symlink
        ),
        scenario!(
            "compat-readonly-no-mntns",
            "mounts",
            false,
            "root.readonly without a mount namespace: no remount (root writable)",
            compat_readonly_no_mntns
        ),
        scenario!(
            "compat-readonly-cwd",
            "mounts",
            false,
            "a cwd missing from a read-only root is created",
            compat_readonly_cwd
        ),
        scenario!(
            "compat-tmpfs-mode",
            "mounts",
            false,
            "tmpfs without mode= keeps its directory's mode (new mount point: 1777)",
            compat_tmpfs_mode
        ),
        scenario!(
            "compat-rshared-volume",
            "mounts",
            false,
            "rootfsPropagation rshared + rshared bind volume: mounts propagate both ways",
            compat_rshared_volume
        ),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique() {
        let all = super::all();
        let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
