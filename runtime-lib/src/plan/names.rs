//! Names for the numbers the planners work with (MS_* and MOUNT_ATTR_* bits,
//! CLONE_NEW* flags, capability masks, RLIMIT_* numbers), for the plan's JSON.
//! Pure: rendering only, nothing is planned here.

use nix::mount::MsFlags;

/// mount(8) option names of MS_* bits, in a fixed order.
const MS_NAMES: &[(u64, &str)] = &[
    (MsFlags::MS_RDONLY.bits(), "ro"),
    (MsFlags::MS_NOSUID.bits(), "nosuid"),
    (MsFlags::MS_NODEV.bits(), "nodev"),
    (MsFlags::MS_NOEXEC.bits(), "noexec"),
    (MsFlags::MS_SYNCHRONOUS.bits(), "sync"),
    (MsFlags::MS_REMOUNT.bits(), "remount"),
    (MsFlags::MS_MANDLOCK.bits(), "mand"),
    (MsFlags::MS_DIRSYNC.bits(), "dirsync"),
    (libc::MS_NOSYMFOLLOW, "nosymfollow"),
    (MsFlags::MS_NOATIME.bits(), "noatime"),
    (MsFlags::MS_NODIRATIME.bits(), "nodiratime"),
    (MsFlags::MS_BIND.bits(), "bind"),
    (MsFlags::MS_REC.bits(), "rec"),
    (MsFlags::MS_SILENT.bits(), "silent"),
    (MsFlags::MS_RELATIME.bits(), "relatime"),
    (MsFlags::MS_I_VERSION.bits(), "iversion"),
    (MsFlags::MS_STRICTATIME.bits(), "strictatime"),
    (MsFlags::MS_LAZYTIME.bits(), "lazytime"),
];

/// The names of the MS_* bits in `flags` (propagation bits excluded).
pub fn ms_flags(flags: u64) -> Vec<String> {
    MS_NAMES
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// The option name of a propagation change (`rslave`, `private`, ...).
pub fn propagation(flags: u64) -> String {
    let rec = flags & MsFlags::MS_REC.bits() != 0;
    let base = if flags & MsFlags::MS_SHARED.bits() != 0 {
        "shared"
    } else if flags & MsFlags::MS_SLAVE.bits() != 0 {
        "slave"
    } else if flags & MsFlags::MS_PRIVATE.bits() != 0 {
        "private"
    } else if flags & MsFlags::MS_UNBINDABLE.bits() != 0 {
        "unbindable"
    } else {
        return format!("{flags:#x}");
    };
    if rec {
        format!("r{base}")
    } else {
        base.to_string()
    }
}

/// Recursive option names (`rro`, `rnosuid`, ...) of MOUNT_ATTR_* bits.
pub fn mount_attrs(attrs: u64) -> Vec<String> {
    const NAMES: &[(u64, &str)] = &[
        (libc::MOUNT_ATTR_RDONLY, "rro"),
        (libc::MOUNT_ATTR_NOSUID, "rnosuid"),
        (libc::MOUNT_ATTR_NODEV, "rnodev"),
        (libc::MOUNT_ATTR_NOEXEC, "rnoexec"),
        (libc::MOUNT_ATTR_NOATIME, "rnoatime"),
        (libc::MOUNT_ATTR_STRICTATIME, "rstrictatime"),
        (libc::MOUNT_ATTR_NODIRATIME, "rnodiratime"),
        (libc::MOUNT_ATTR_NOSYMFOLLOW, "rnosymfollow"),
    ];
    let mut out: Vec<String> = NAMES
        .iter()
        .filter(|(b, _)| attrs & b != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    // MOUNT_ATTR_RELATIME is 0: the atime field's absence of bits. Only named when
    // the whole atime field is in play (it is in the clear half of every atime mode).
    if attrs & libc::MOUNT_ATTR__ATIME == libc::MOUNT_ATTR__ATIME {
        out.push("atime".to_string());
    }
    out
}

/// `/proc/<pid>/ns/` names of the CLONE_NEW* bits in `flags`, in bit order.
pub fn namespaces(flags: u64) -> Vec<String> {
    (0..64)
        .map(|b| 1u64 << b)
        .filter(|b| flags & b != 0)
        .map(|b| crate::namespaces::name(b).to_string())
        .collect()
}

/// `CAP_*` names of the bits in `mask`, in capability-number order.
pub fn caps(mask: u64) -> Vec<String> {
    let mut all: Vec<caps::Capability> = caps::all().into_iter().collect();
    all.sort_by_key(|c| c.index());
    all.into_iter()
        .filter(|c| mask & c.bitmask() != 0)
        .map(|c| c.to_string())
        .collect()
}

/// The `RLIMIT_*` name of a resource number.
pub fn rlimit(resource: u32) -> String {
    const NAMES: &[(u32, &str)] = &[
        (libc::RLIMIT_CPU, "RLIMIT_CPU"),
        (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        (libc::RLIMIT_DATA, "RLIMIT_DATA"),
        (libc::RLIMIT_STACK, "RLIMIT_STACK"),
        (libc::RLIMIT_CORE, "RLIMIT_CORE"),
        (libc::RLIMIT_RSS, "RLIMIT_RSS"),
        (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
        (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        (libc::RLIMIT_AS, "RLIMIT_AS"),
        (libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        (libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        (libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        (libc::RLIMIT_NICE, "RLIMIT_NICE"),
        (libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    ];
    NAMES
        .iter()
        .find(|(r, _)| *r == resource)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("RLIMIT_{resource}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let f = (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY).bits();
        assert_eq!(ms_flags(f), ["ro", "bind", "rec"]);
        assert_eq!(
            propagation((MsFlags::MS_SLAVE | MsFlags::MS_REC).bits()),
            "rslave"
        );
        assert_eq!(propagation(MsFlags::MS_PRIVATE.bits()), "private");
        assert_eq!(
            mount_attrs(libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NODEV),
            ["rro", "rnodev"]
        );
        assert_eq!(namespaces(0x2000_0000 | 0x0002_0000), ["mnt", "pid"]);
        let m = caps::Capability::CAP_KILL.bitmask() | caps::Capability::CAP_CHOWN.bitmask();
        assert_eq!(caps(m), ["CAP_CHOWN", "CAP_KILL"]);
        assert_eq!(rlimit(libc::RLIMIT_NOFILE), "RLIMIT_NOFILE");
    }
}
