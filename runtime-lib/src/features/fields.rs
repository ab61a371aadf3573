//! Every `config.json` field and what husk does with it. `docs/config-fields.md` is
//! rendered from this table and a test keeps the two identical; another test checks
//! the table against every field oci-spec parses, and `husk features` reads it.

/// What husk does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented (the note says how, or what is refused).
    Yes(&'static str),
    /// Accepted and has no effect (the note says why).
    Ignored(&'static str),
    /// Another platform's field: not applicable on Linux.
    OtherPlatform,
}

use Support::*;

/// `(field path, support)`. `[]` is an array element, `{}` the value of a map whose
/// keys are free (a device name, a clock); a row covers every field below it.
pub const CONFIG_FIELDS: &[(&str, Support)] = &[
    ("ociVersion", Yes("1.x; features report 1.0.0 to 1.3.0")),
    ("root.path", Yes("")),
    ("root.readonly", Yes("not applied without a mount namespace (the host's mounts are shared), as runc")),
    ("mounts[].destination", Yes("proc and sysfs must go on a real directory of the image (a symlink there is refused, as runc)")),
    ("mounts[].source", Yes("")),
    ("mounts[].type", Yes("a tmpfs without mode= keeps the mode of the directory it covers (runc's rule)")),
    ("mounts[].options", Yes("mount(8) flags, propagation, recursive attributes (rro, ...), idmap/ridmap, tmpcopyup (a tmpfs starts with a copy of the directory it covers)")),
    ("mounts[].uidMappings[]", Yes("idmapped bind mounts (MOUNT_ATTR_IDMAP); without mappings, idmap/ridmap use the container's")),
    ("mounts[].gidMappings[]", Yes("must come with uidMappings")),
    ("process.terminal", Yes("")),
    ("process.consoleSize", Yes("")),
    ("process.cwd", Yes("created when missing, before the root is made read-only (as runc)")),
    ("process.env", Yes("")),
    ("process.args", Yes("")),
    ("process.commandLine", OtherPlatform),
    ("process.rlimits[]", Yes("")),
    ("process.apparmorProfile", Yes("applied at exec (change_onexec); refused at create where AppArmor is off or the profile is not loaded; exec'd processes inherit it")),
    ("process.capabilities", Yes("")),
    ("process.noNewPrivileges", Yes("")),
    ("process.oomScoreAdj", Yes("")),
    ("process.scheduler.policy", Yes("sched_setattr(2); SCHED_ISO is refused (not in Linux)")),
    ("process.scheduler.nice", Yes("SCHED_OTHER and SCHED_BATCH only, -20..19")),
    ("process.scheduler.priority", Yes("SCHED_FIFO and SCHED_RR only, 1..99")),
    ("process.scheduler.flags", Yes("SCHED_FLAG_UTIL_CLAMP_* are refused (no value field in the spec)")),
    ("process.scheduler.runtime", Yes("SCHED_DEADLINE only; runtime <= deadline <= period")),
    ("process.scheduler.deadline", Yes("SCHED_DEADLINE only")),
    ("process.scheduler.period", Yes("SCHED_DEADLINE only")),
    ("process.selinuxLabel", Yes("applied at exec (attr/exec) and to the session keyring; refused where SELinux is off, as runc")),
    ("process.ioPriority.class", Yes("ioprio_set(2) on the process group")),
    ("process.ioPriority.priority", Yes("0..7")),
    ("process.execCPUAffinity.initial", Yes("exec'd processes only (the spec excludes the init)")),
    ("process.execCPUAffinity.final", Yes("exec'd processes only (the spec excludes the init)")),
    ("process.user.uid", Yes("not switched in a user namespace without mappings")),
    ("process.user.gid", Yes("")),
    ("process.user.umask", Yes("")),
    ("process.user.additionalGids", Yes("")),
    ("process.user.username", OtherPlatform),
    ("hostname", Yes("needs a UTS namespace")),
    ("domainname", Yes("needs a UTS namespace")),
    ("hooks.prestart[]", Yes("")),
    ("hooks.createRuntime[]", Yes("")),
    ("hooks.createContainer[]", Yes("")),
    ("hooks.startContainer[]", Yes("")),
    ("hooks.poststart[]", Yes("")),
    ("hooks.poststop[]", Yes("")),
    ("annotations", Yes("kept in the state")),
    ("linux.netDevices{}.name", Yes("moved and renamed over rtnetlink with their permanent global addresses, set up; never moved back (runtime-spec)")),
    ("linux.uidMappings[]", Yes("a new user namespace needs uid and gid mappings (refused without, as runc)")),
    ("linux.gidMappings[]", Yes("")),
    ("linux.sysctl", Yes("only namespaced keys the container owns (runc's list); kernel.hostname is refused (use hostname), kernel.domainname must agree with domainname")),
    ("linux.resources.devices[]", Yes("")),
    ("linux.resources.memory.limit", Yes("")),
    ("linux.resources.memory.reservation", Yes("")),
    ("linux.resources.memory.swap", Yes("")),
    ("linux.resources.memory.kernel", Ignored("the kernel no longer supports it; a warning is logged")),
    ("linux.resources.memory.kernelTCP", Ignored("the kernel no longer supports it; a warning is logged")),
    ("linux.resources.memory.swappiness", Yes("cgroup v1")),
    ("linux.resources.memory.disableOOMKiller", Yes("cgroup v1")),
    ("linux.resources.memory.useHierarchy", Ignored("always on in current kernels")),
    ("linux.resources.memory.checkBeforeUpdate", Yes("")),
    ("linux.resources.cpu", Yes("realtimeRuntime and realtimePeriod: cgroup v1")),
    ("linux.resources.pids.limit", Yes("")),
    ("linux.resources.blockIO", Yes("leafWeight: cgroup v1")),
    ("linux.resources.hugepageLimits[]", Yes("")),
    ("linux.resources.network", Yes("cgroup v1")),
    ("linux.resources.rdma{}", Yes("")),
    ("linux.resources.unified", Yes("cgroup v2")),
    ("linux.cgroupsPath", Yes("")),
    ("linux.namespaces[]", Yes("")),
    ("linux.devices[]", Yes("in a user namespace: the host's node bound nosuid,noexec; one the host lacks is made by mknod where allowed (fifo), else refused")),
    ("linux.seccomp", Yes("with runc's ENOSYS stub for syscalls newer than the profile names (unless the default allows, logs, traces or is ENOSYS)")),
    ("linux.rootfsPropagation", Yes("set on / before the rootfs is bound (shared/rshared keep the host peer groups: Bidirectional volumes), again after the switch; unbindable only after (before, host binds would fail)")),
    ("linux.maskedPaths", Yes("a relative path is relative to the container's root")),
    ("linux.readonlyPaths", Yes("a relative path is relative to the container's root")),
    ("linux.mountLabel", Yes("context= on the filesystems husk mounts (not proc, sysfs, cgroup, binds), an xattr on mqueue; refused where SELinux is off")),
    ("linux.intelRdt.closID", Yes("needs a mounted resctrl filesystem, else refused")),
    ("linux.intelRdt.schemata", Yes("")),
    ("linux.intelRdt.l3CacheSchema", Yes("")),
    ("linux.intelRdt.memBwSchema", Yes("")),
    ("linux.intelRdt.enableMonitoring", Yes("a MON group named after the container")),
    ("linux.intelRdt.enableCMT", Yes("deprecated: taken as enableMonitoring")),
    ("linux.intelRdt.enableMBM", Yes("deprecated: taken as enableMonitoring")),
    ("linux.memoryPolicy.mode", Yes("set_mempolicy(2); nodes required or forbidden by mode")),
    ("linux.memoryPolicy.nodes", Yes("")),
    ("linux.memoryPolicy.flags", Yes("")),
    ("linux.personality.domain", Yes("personality(2)")),
    ("linux.personality.flags", Yes("the spec defines none; husk takes personality(2) flag names")),
    ("linux.timeOffsets{}", Yes("monotonic and boottime; needs a new time namespace")),
    ("solaris", OtherPlatform),
    ("windows", OtherPlatform),
    ("vm", OtherPlatform),
    ("zos", OtherPlatform),
];

/// The support of `path` (an exact row, or the row covering it).
pub fn support(path: &str) -> Option<Support> {
    CONFIG_FIELDS
        .iter()
        .find(|(row, _)| covers(row, path))
        .map(|(_, s)| *s)
}

/// True if the row `row` covers the field `path`.
pub fn covers(row: &str, path: &str) -> bool {
    path == row
        || path
            .strip_prefix(row)
            .is_some_and(|rest| rest.starts_with(['.', '[', '{']))
}

/// True if husk implements `path`.
pub fn supported(path: &str) -> bool {
    matches!(support(path), Some(Yes(_)))
}

/// `docs/config-fields.md`.
pub fn markdown() -> String {
    let mut s = String::from(
        "# config.json fields\n\n\
         Every field of the runtime-spec's `config.json` (as oci-spec 0.10 parses it) and \
         what husk does with it.\n\
         Generated from `runtime-lib/src/features/fields.rs`; a unit test fails when the two \
         differ (`HUSK_BLESS=1 cargo test -p husk features` rewrites this file).\n\
         `[]` is an array element, `{}` the value of a map with free keys; a row covers \
         the fields below it. Unknown fields are ignored.\n\n\
         | field | husk | notes |\n|---|---|---|\n",
    );
    for (path, sup) in CONFIG_FIELDS {
        let (word, note) = match sup {
            Yes(n) => ("yes", *n),
            Ignored(n) => ("ignored", *n),
            OtherPlatform => ("n/a", "not a Linux field"),
        };
        s.push_str(&format!("| `{path}` | {word} | {note} |\n"));
    }
    s
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
