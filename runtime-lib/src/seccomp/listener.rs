//! Handing the seccomp notify fd to the agent at `linux.seccomp.listenerPath`.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use oci_spec::runtime::{ContainerProcessState, State, SECCOMP_FD_NAME, VERSION};

use super::error::SeccompError;

/// Builds the container process state message (pure; see [`send_to_listener`]).
///
/// # Errors
///
/// [`SeccompError::State`] when `state_json` is not an OCI state with a `pid`.
pub fn process_state_message(
    listener_path: &Path,
    state_json: &[u8],
    metadata: &str,
) -> Result<Vec<u8>, SeccompError> {
    let state_error = |reason: String| SeccompError::State {
        path: listener_path.to_path_buf(),
        reason,
    };
    let state: State = serde_json::from_slice(state_json)
        .map_err(|e| state_error(format!("invalid JSON: {e}")))?;
    let pid = state
        .pid()
        .ok_or_else(|| state_error("has no pid".to_string()))?;
    let version = if state.version().is_empty() {
        VERSION.to_string()
    } else {
        state.version().clone()
    };

    let mut message = ContainerProcessState::default();
    message
        .set_version(version)
        .set_fds(vec![SECCOMP_FD_NAME.to_string()])
        .set_pid(pid)
        // Omitted when empty, like runc (Go's omitempty).
        .set_metadata((!metadata.is_empty()).then(|| metadata.to_string()))
        .set_state(state);
    serde_json::to_vec(&message).map_err(|e| state_error(format!("cannot serialize: {e}")))
}

/// Connects to the agent's `AF_UNIX` `SOCK_STREAM` socket at `listener_path`
/// and sends the OCI container process state (`ociVersion`,
/// `fds: ["seccompFd"]`, `pid`, `metadata`, `state`) with `notify_fd` in
/// `SCM_RIGHTS`, then closes the connection.
///
/// `state_json` is the container's OCI state; its `pid` becomes the message's
/// `pid`. An empty `metadata` is left out of the message.
///
/// # Errors
///
/// [`SeccompError::State`] for an unusable state, and
/// [`SeccompError::Listener`] naming the socket and the failed step
/// (`connect`, `sendmsg`) with the OS error.
pub fn send_to_listener(
    listener_path: &Path,
    notify_fd: BorrowedFd<'_>,
    state_json: &[u8],
    metadata: &str,
) -> Result<(), SeccompError> {
    let message = process_state_message(listener_path, state_json, metadata)?;
    let sock = connect_to(listener_path)?;
    send_all(&sock, &message, notify_fd).map_err(|source| SeccompError::Listener {
        path: listener_path.to_path_buf(),
        what: "sendmsg",
        source,
    })
    // `sock` is dropped here: the spec wants one message per connection.
}

fn connect_to(path: &Path) -> Result<OwnedFd, SeccompError> {
    let err = |what, source| SeccompError::Listener {
        path: path.to_path_buf(),
        what,
        source,
    };
    let addr = UnixAddr::new(path).map_err(|e| err("building the socket address", e))?;
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| err("socket", e))?;
    loop {
        match connect(sock.as_raw_fd(), &addr) {
            Ok(()) => return Ok(sock),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(err("connect", e)),
        }
    }
}

/// Sends `message`, the fd riding on the first `sendmsg` only (as the spec
/// requires when the payload takes several calls). MSG_NOSIGNAL keeps an agent
/// that hangs up from killing us with `SIGPIPE`.
fn send_all(sock: &OwnedFd, message: &[u8], fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let fds = [fd.as_raw_fd()];
    let mut sent = 0;
    while sent < message.len() {
        let iov = [IoSlice::new(&message[sent..])];
        let rights = [ControlMessage::ScmRights(&fds)];
        let cmsgs: &[ControlMessage] = if sent == 0 { &rights } else { &[] };
        match sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(0) => return Err(Errno::EPIPE),
            Ok(n) => sent += n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
