//! The loopback device of a network namespace the runtime creates.
//!
//! A new network namespace starts with `lo` down, so nothing in it can reach
//! 127.0.0.1. runc sets it up whenever it creates the namespace (its "loopback"
//! network); `docker run --network none`, CNI plugins that only add eth0, and
//! programs that bind 127.0.0.1 rely on that. A namespace joined by path is left
//! as its owner made it.

use super::netlink::RtSocket;
use super::NamespaceError;

/// Sets `lo` up in the calling process's network namespace. Called by the init,
/// which has the capabilities of the namespace's owning user namespace (also
/// when that is a new, rootless one).
pub fn loopback_up() -> Result<(), NamespaceError> {
    let mut sock = RtSocket::open().map_err(NamespaceError::Loopback)?;
    let lo = sock.link_index("lo").map_err(NamespaceError::Loopback)?;
    sock.set_up(lo, true).map_err(NamespaceError::Loopback)
}
