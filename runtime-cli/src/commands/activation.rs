//! systemd socket activation for `create`/`run` and `exec`: the listening fds
//! handed to husk are passed on to the container's process, as runc does (the
//! library sets LISTEN_FDS and LISTEN_PID for the container's init).

/// How many fds after stdio systemd passed to this process (LISTEN_FDS, when
/// LISTEN_PID names us); 0 without socket activation.
pub fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
