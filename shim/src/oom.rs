//! Deciding whether a container saw an OOM kill when its own counter may be gone.
//!
//! The shim reads the container cgroup's OOM-kill counter every half second and
//! when the init exits. On a systemd node the container's cgroup is a transient
//! scope that systemd removes as soon as it is empty, so by the time the shim
//! handles the exit the counter can be unreadable (an open fd does not help: a
//! removed cgroup's files answer ENODEV). On cgroup v2 the parent's
//! `memory.events` counts the whole subtree and survives, so an exit by SIGKILL
//! while the parent's count rose by more than the kills already reported for
//! this container is taken as an OOM kill. (A sibling's OOM kill at the same
//! moment as a SIGKILL from elsewhere would be misread; both must coincide.)

/// Counters taken when the container was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OomBase {
    /// The container's own count at create.
    pub own: u64,
    /// The parent cgroup's hierarchical count at create (v2 only).
    pub parent: Option<u64>,
}

/// What is known when the shim looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OomReading {
    /// The container's own count now; `None` once its cgroup is gone.
    pub own: Option<u64>,
    /// The parent's hierarchical count now.
    pub parent: Option<u64>,
    /// Count already reported for this container (including `OomBase::own`).
    pub reported: u64,
    /// The init ended by SIGKILL (only set on the exit path).
    pub sigkilled: bool,
}

/// The container's OOM-kill count to record, or `None` when nothing can be said.
/// A value above `reported` means a TaskOOM is due.
pub fn kills(base: OomBase, now: OomReading) -> Option<u64> {
    if let Some(n) = now.own {
        return Some(n);
    }
    if !now.sigkilled {
        return None;
    }
    let subtree = now.parent?.checked_sub(base.parent?)?;
    let ours = now.reported.saturating_sub(base.own);
    (subtree > ours).then_some(now.reported + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: OomBase = OomBase {
        own: 0,
        parent: Some(3),
    };

    #[test]
    fn own_counter_wins_while_readable() {
        let r = OomReading {
            own: Some(2),
            parent: Some(3),
            reported: 0,
            sigkilled: false,
        };
        assert_eq!(kills(BASE, r), Some(2));
    }

    #[test]
    fn gone_cgroup_sigkill_and_parent_rise_is_an_oom() {
        let r = OomReading {
            own: None,
            parent: Some(4),
            reported: 0,
            sigkilled: true,
        };
        assert_eq!(kills(BASE, r), Some(1));
    }

    #[test]
    fn a_kill_already_reported_is_not_counted_twice() {
        let r = OomReading {
            own: None,
            parent: Some(4),
            reported: 1,
            sigkilled: true,
        };
        assert_eq!(kills(BASE, r), None);
    }

    #[test]
    fn no_sigkill_or_no_rise_or_no_parent_is_no_oom() {
        let mut r = OomReading {
            own: None,
            parent: Some(4),
            reported: 0,
            sigkilled: false,
        };
        assert_eq!(kills(BASE, r), None);
        r.sigkilled = true;
        r.parent = Some(3);
        assert_eq!(kills(BASE, r), None);
        r.parent = None;
        assert_eq!(kills(BASE, r), None);
        assert_eq!(
            kills(
                OomBase::default(),
                OomReading {
                    parent: Some(9),
                    ..r
                }
            ),
            None
        );
    }
}
