//! Before the systemd driver makes anything: is systemd the init, and does the
//! bus husk would talk to (the system bus, or rootless the user's session bus)
//! answer? Plain socket connects, no D-Bus library (no threads in the runtime).

use std::path::Path;

use super::super::error::CgroupError;
use super::{bus, SystemdError, SYSTEMD_RUNTIME_DIR};

/// Before anything is made: systemd is the init and the system bus (rootless: the
/// user's session bus) answers `connect`. No D-Bus library here (no threads): a
/// plain socket connect.
pub(super) fn preflight(user: bool) -> Result<(), CgroupError> {
    if !Path::new(SYSTEMD_RUNTIME_DIR).is_dir() {
        return Err(SystemdError::Unavailable(format!(
            "systemd is not running on this host ({SYSTEMD_RUNTIME_DIR} is missing), \
             so it cannot manage the container's cgroup; run without --systemd-cgroup \
             to use the cgroupfs driver"
        ))
        .into());
    }
    let (socket, what) = if user {
        let socket = bus::session_bus_socket().unwrap_or_default();
        (socket, "D-Bus session bus of the user")
    } else {
        let socket = std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
            .ok()
            .and_then(|a| unix_path(&a))
            .unwrap_or_else(|| bus::SYSTEM_BUS_SOCKET.to_string());
        (socket, "D-Bus system bus")
    };
    std::os::unix::net::UnixStream::connect(&socket)
        .map(drop)
        .map_err(|e| {
            let hint = if user {
                "rootless --systemd-cgroup talks to the user's systemd manager: is \
                 user@UID.service running (loginctl enable-linger) and \
                 DBUS_SESSION_BUS_ADDRESS or XDG_RUNTIME_DIR set?"
            } else {
                "is dbus running?"
            };
            SystemdError::Unavailable(format!(
                "cannot reach systemd: no {what} at {socket:?} ({e}); {hint}"
            ))
            .into()
        })
}

/// The socket path of a `unix:path=...` bus address (the first one that is).
pub(in crate::cgroups::systemd) fn unix_path(address: &str) -> Option<String> {
    address.split(';').find_map(|a| {
        a.strip_prefix("unix:")?
            .split(',')
            .find_map(|kv| kv.strip_prefix("path="))
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_addresses_give_their_socket() {
        assert_eq!(
            unix_path("unix:path=/run/dbus/system_bus_socket").as_deref(),
            Some("/run/dbus/system_bus_socket")
        );
        assert_eq!(
            unix_path("tcp:host=x;unix:guid=1,path=/a/b").as_deref(),
            Some("/a/b")
        );
        assert_eq!(unix_path("unix:abstract=/x"), None);
    }
}
