//! The typed parent <-> child channel: JSON messages over a SOCK_SEQPACKET pair, so
//! every message arrives whole and a dead peer reads as end-of-file.

use std::io;
use std::os::fd::OwnedFd;

use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{Deserialize, Serialize};

/// A message between the runtime and the container's setup processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// Parent -> child: the id maps are in place (exec: also the cgroup), go on.
    Continue,
    /// Parent -> init: it is in its cgroups (and resctrl group), its network devices
    /// are moved. Sent after `Continue`: the init builds its rootfs meanwhile.
    Placed,
    /// Intermediate -> parent: it made a user namespace; write its id maps.
    NeedMaps,
    /// Intermediate -> parent: the init's pid (in the parent's pid namespace).
    InitPid(i32),
    /// Init -> parent: set-up is complete; waiting for `start`.
    Ready,
    /// Child -> parent: set-up failed (typed, see [`super::InitError`]).
    Error(super::InitError),
    /// Init -> parent: namespaces and mounts are ready, pivot_root is next: run the
    /// prestart and createRuntime hooks now, then answer `Continue`.
    RunHooks,
    /// Parent -> init: the state JSON for hooks the init runs itself.
    HookState(String),
    /// Init -> parent: the seccomp notify fd rides along (SCM_RIGHTS).
    SeccompFd,
}

/// ECONNRESET from a receive means the peer closed with messages of ours unread; the
/// kernel reports it once, ahead of what the peer sent before closing (its last
/// message, typically an error). So it is retried once: the next receive returns
/// that message, or end-of-file.
#[derive(Default)]
struct Reset {
    seen: bool,
}

impl Reset {
    fn again(&mut self, e: nix::errno::Errno) -> bool {
        let again = e == nix::errno::Errno::ECONNRESET && !self.seen;
        self.seen |= again;
        again
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// A connected pair (both ends close-on-exec).
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    /// Sends one message. MSG_NOSIGNAL: a dead peer is an error, not a SIGPIPE.
    pub fn send(&self, msg: &Msg) -> io::Result<()> {
        let data = serde_json::to_vec(msg).map_err(io::Error::other)?;
        send(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            &data,
            MsgFlags::MSG_NOSIGNAL,
        )?;
        Ok(())
    }

    /// Receives one message; the peer closing its end gives `UnexpectedEof`.
    pub fn recv(&self) -> io::Result<Msg> {
        let mut buf = self.buffer()?;
        let mut reset = Reset::default();
        loop {
            match recv(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                &mut buf,
                MsgFlags::empty(),
            ) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the container's init exited during set-up",
                    ))
                }
                Ok(n) => return serde_json::from_slice(&buf[..n]).map_err(io::Error::other),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) if reset.again(e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A zeroed buffer for the next message: 4 KiB fits every message but a long
    /// error or hook state, for which a peek of 4 KiB comes back full and 64 KiB are
    /// used (zeroing 64 KiB on every message cost 16 page faults per process).
    fn buffer(&self) -> io::Result<Vec<u8>> {
        const SMALL: usize = 4096;
        let mut buf = vec![0u8; SMALL];
        let mut reset = Reset::default();
        let n = loop {
            match recv(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                &mut buf,
                MsgFlags::MSG_PEEK,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) if reset.again(e) => continue,
                r => break r?,
            }
        };
        if n == SMALL {
            buf = vec![0u8; 64 * 1024];
        }
        Ok(buf)
    }

    /// A message already waiting, without blocking: `None` when there is none.
    pub fn recv_ready(&self) -> Option<io::Result<Msg>> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(n) if n > 0 => Some(self.recv()),
            _ => None,
        }
    }

    /// Sends one message with an fd attached.
    pub fn send_fd(&self, msg: &Msg, fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage};
        let data = serde_json::to_vec(msg).map_err(io::Error::other)?;
        let fds = [std::os::fd::AsRawFd::as_raw_fd(&fd)];
        let iov = [std::io::IoSlice::new(&data)];
        sendmsg::<()>(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        Ok(())
    }

    /// Receives one message and the fd attached to it, if any.
    pub fn recv_fd(&self) -> io::Result<(Msg, Option<OwnedFd>)> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned};
        use std::os::fd::FromRawFd;
        let mut buf = self.buffer()?;
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut reset = Reset::default();
        loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let r = recvmsg::<()>(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let r = match r {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) if reset.again(e) => continue,
                other => other?,
            };
            let mut fd = None;
            for c in r.cmsgs()? {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    // SAFETY: the kernel installed these fds for us.
                    fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
                }
            }
            let n = r.bytes;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the container's init exited during set-up",
                ));
            }
            let msg = serde_json::from_slice(&buf[..n]).map_err(io::Error::other)?;
            return Ok((msg, fd));
        }
    }

    /// One end made from an inherited socket fd (the clone helper's child).
    pub(crate) fn from_fd(fd: OwnedFd) -> Channel {
        Channel { fd }
    }

    /// The fd's number (handed to the clone helper).
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_eof() {
        let (a, b) = Channel::pair().unwrap();
        a.send(&Msg::InitPid(42)).unwrap();
        a.send(&Msg::Error(super::super::InitError::other("boom")))
            .unwrap();
        assert_eq!(b.recv().unwrap(), Msg::InitPid(42));
        assert_eq!(
            b.recv().unwrap(),
            Msg::Error(super::super::InitError::other("boom"))
        );
        assert!(b.recv_ready().is_none());
        a.send(&Msg::Placed).unwrap();
        assert_eq!(b.recv_ready().unwrap().unwrap(), Msg::Placed);
        drop(a);
        assert_eq!(b.recv().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn the_last_message_of_a_peer_that_closed_with_unread_ones_arrives() {
        let (a, b) = Channel::pair().unwrap();
        b.send(&Msg::Continue).unwrap(); // never read by `a`
        a.send(&Msg::Error(super::super::InitError::other("last words")))
            .unwrap();
        drop(a); // closes with unread data: `b` gets ECONNRESET first
        assert_eq!(
            b.recv().unwrap(),
            Msg::Error(super::super::InitError::other("last words"))
        );
        assert_eq!(b.recv().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let (a, b) = Channel::pair().unwrap();
        b.send(&Msg::Continue).unwrap();
        a.send(&Msg::Ready).unwrap();
        drop(a);
        assert_eq!(b.recv_fd().unwrap().0, Msg::Ready);
    }

    #[test]
    fn messages_longer_than_the_small_buffer_arrive_whole() {
        let (a, b) = Channel::pair().unwrap();
        for len in [4000, 4094, 4096, 10_000, 60_000] {
            let long = Msg::HookState("x".repeat(len));
            a.send(&long).unwrap();
            a.send(&Msg::Ready).unwrap();
            assert_eq!(b.recv().unwrap(), long, "{len}");
            assert_eq!(b.recv().unwrap(), Msg::Ready);
            let fd = std::fs::File::open("/dev/null").unwrap();
            a.send_fd(&long, std::os::fd::AsFd::as_fd(&fd)).unwrap();
            a.send(&Msg::Ready).unwrap();
            let (got, fd) = b.recv_fd().unwrap();
            assert_eq!((got, fd.is_some()), (long, true), "{len}");
            assert_eq!(b.recv().unwrap(), Msg::Ready);
        }
    }
}
