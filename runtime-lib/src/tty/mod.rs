//! Terminals for container processes (`process.terminal`).
//!
//! The pty is allocated *inside* the container, from the container's own devpts
//! (after the rootfs is built), so the container cannot reach a host pty. The master
//! goes to the caller over the console socket as runc sends it: one message whose
//! payload is the master's name and whose SCM_RIGHTS control message carries the fd
//! (what conmon, containerd's shim and runc's `recvtty` expect). The peer becomes the
//! process's stdin, stdout, stderr and controlling terminal, and for the init it is
//! bind-mounted onto /dev/console.
//!
//! The receiving side ([`recv_master`], [`socketpair`]) is here too so embedders
//! and the CLI can act as their own console socket.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sys::socket::{
    connect, recvmsg, sendmsg, socket, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::sys::stat::{fstat, Mode, SFlag};

use crate::paths::{ProcHandle, Root};
use crate::sys;

/// `DEVPTS_SUPER_MAGIC`.
const DEVPTS_MAGIC: i64 = 0x1cd1;
/// /dev/pts/ptmx of a devpts instance: char 5:2, inode 2.
const PTMX_MAJOR: u32 = 5;
const PTMX_MINOR: u32 = 2;
const PTMX_INO: u64 = 2;
/// The name runc (1.1) sends as the payload with the master fd.
pub(crate) const MASTER_NAME: &str = "/dev/ptmx";

/// Errors setting up a terminal.
#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    /// `process.terminal` is set but nobody would receive the pty master.
    #[error(
        "cannot allocate tty if husk will detach without setting console socket (--console-socket)"
    )]
    NoConsoleSocket,
    /// A console socket was given but the process has no terminal.
    #[error("cannot use console socket if husk will not detach or allocate tty")]
    UnusedConsoleSocket,
    /// Stdio fds were given for a process with `process.terminal`.
    #[error("process.terminal is set: the process's stdio is its terminal, it cannot also be given stdio fds")]
    StdioWithTerminal,
    /// Connecting to the console socket failed.
    #[error("--console-socket {path}: {source}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A step of the pty set-up failed.
    #[error("process.terminal: {what}: {source}")]
    Setup {
        /// The step.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

fn setup_err<E: Into<io::Error>>(what: &'static str) -> impl FnOnce(E) -> TtyError {
    move |e| TtyError::Setup {
        what,
        source: e.into(),
    }
}

/// Where the pty master goes: a socket path to connect to, or an already connected
/// socket (one end of [`socketpair`]).
#[derive(Debug, Clone)]
pub enum ConsoleSocket {
    /// An AF_UNIX socket path (`--console-socket`).
    Path(PathBuf),
    /// A connected AF_UNIX socket.
    Connected(Arc<OwnedFd>),
}

impl ConsoleSocket {
    /// The connected socket: connects to a path, or duplicates a connected socket.
    pub(crate) fn connect(&self) -> Result<OwnedFd, TtyError> {
        match self {
            ConsoleSocket::Path(p) => connect_path(p),
            ConsoleSocket::Connected(fd) => fd.try_clone().map_err(setup_err("dup console socket")),
        }
    }
}

/// Connects to the console socket at `path` (SOCK_STREAM like runc; SOCK_SEQPACKET
/// when the listener is of that type).
pub(crate) fn connect_path(path: &Path) -> Result<OwnedFd, TtyError> {
    let err = |source: io::Error| TtyError::Connect {
        path: path.to_path_buf(),
        source,
    };
    let addr = UnixAddr::new(path).map_err(|e| err(e.into()))?;
    let mut last = None;
    for ty in [SockType::Stream, SockType::SeqPacket] {
        let fd = socket(AddressFamily::Unix, ty, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|e| err(e.into()))?;
        match connect(fd.as_raw_fd(), &addr) {
            Ok(()) => return Ok(fd),
            Err(nix::errno::Errno::EPROTOTYPE) => last = Some(nix::errno::Errno::EPROTOTYPE),
            Err(e) => return Err(err(e.into())),
        }
    }
    Err(err(last.unwrap_or(nix::errno::Errno::EINVAL).into()))
}

/// A connected pair of AF_UNIX stream sockets (close-on-exec) to act as one's own
/// console socket: give one end to the container, [`recv_master`] on the other.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::sys::socket::socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// Sends the pty master over the console socket: the name as payload, the fd as
/// SCM_RIGHTS.
pub(crate) fn send_master(
    sock: BorrowedFd<'_>,
    master: BorrowedFd<'_>,
    name: &str,
) -> io::Result<()> {
    let fds = [master.as_raw_fd()];
    let iov = [io::IoSlice::new(name.as_bytes())];
    loop {
        match sendmsg::<()>(
            sock.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives a pty master sent by husk (or by runc): the fd (close-on-exec)
/// and the name that came with it.
pub fn recv_master(sock: BorrowedFd<'_>) -> io::Result<(OwnedFd, String)> {
    let mut buf = [0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    loop {
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let r = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => other?,
        };
        let mut fd = None;
        for c in r.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for (i, f) in fds.iter().enumerate() {
                    // SAFETY: the kernel installed these fds for us; we own them now.
                    let owned = unsafe { OwnedFd::from_raw_fd(*f) };
                    if i == 0 && fd.is_none() {
                        fd = Some(owned);
                    }
                }
            }
        }
        let n = r.bytes;
        let name = String::from_utf8_lossy(&buf[..n]).into_owned();
        return match fd {
            Some(fd) => Ok((fd, name)),
            None if n == 0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "console socket closed before a pty master arrived",
            )),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "console socket message carried no file descriptor",
            )),
        };
    }
}

/// A window size (`process.consoleSize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct WinSize {
    /// Rows (height).
    pub rows: u16,
    /// Columns (width).
    pub cols: u16,
}

/// `TIOCSWINSZ`.
pub fn set_winsize(fd: BorrowedFd<'_>, ws: WinSize) -> io::Result<()> {
    let w = libc::winsize {
        ws_row: ws.rows,
        ws_col: ws.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: w is a valid winsize for the duration of the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &w) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `TIOCGWINSZ`.
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<WinSize> {
    // SAFETY: zeroed winsize is valid; the kernel fills it.
    let mut w: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: w is a valid out pointer.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut w) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(WinSize {
        rows: w.ws_row,
        cols: w.ws_col,
    })
}

/// A new pty pair from the container's devpts.
#[derive(Debug)]
pub(crate) struct Pty {
    /// The master (ptmx) end, for the console socket.
    pub master: OwnedFd,
    /// The peer (slave) end, for the process.
    pub peer: OwnedFd,
}

impl Pty {
    /// Allocates a pty from `<root>/dev/pts/ptmx`, where `root` is a directory acting as
    /// `/` (the rootfs before pivot_root, or `/` inside the container). The ptmx node is
    /// opened without following symlinks, checked to be the real ptmx of a devpts mount,
    /// and only then opened for I/O; the peer comes from TIOCGPTPEER, never from a path.
    pub fn open_in(root: BorrowedFd<'_>) -> Result<Pty, TtyError> {
        let handle = crate::paths::open_at(
            root,
            Path::new("dev/pts/ptmx"),
            libc::O_PATH | libc::O_NOFOLLOW,
            0,
            libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
        )
        .map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::ENOENT) {
                " (mount a devpts file system on /dev/pts in config.json)"
            } else {
                ""
            };
            TtyError::Setup {
                what: "open /dev/pts/ptmx",
                source: io::Error::new(e.kind(), format!("{e}{hint}")),
            }
        })?;
        check_ptmx(handle.as_fd())?;
        let proc = ProcHandle::new().map_err(setup_err("open procfs"))?;
        let master = proc
            .reopen(handle.as_fd(), libc::O_RDWR | libc::O_NOCTTY)
            .map_err(setup_err("open /dev/pts/ptmx"))?;
        let unlock: libc::c_int = 0;
        // SAFETY: TIOCSPTLCK reads an int from a valid pointer.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
            return Err(setup_err("unlockpt")(io::Error::last_os_error()));
        }
        // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd.
        let peer = unsafe {
            libc::ioctl(
                master.as_raw_fd(),
                libc::TIOCGPTPEER,
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            )
        };
        if peer < 0 {
            return Err(setup_err("ioctl(TIOCGPTPEER)")(io::Error::last_os_error()));
        }
        // SAFETY: the kernel returned a new fd that we own.
        let peer = unsafe { OwnedFd::from_raw_fd(peer) };
        Ok(Pty { master, peer })
    }

    /// Applies `process.consoleSize` (ignored when a dimension is 0, as runc does).
    pub fn resize(&self, ws: Option<WinSize>) -> Result<(), TtyError> {
        match ws {
            Some(ws) if ws.rows != 0 && ws.cols != 0 => {
                set_winsize(self.master.as_fd(), ws).map_err(setup_err("process.consoleSize"))
            }
            _ => Ok(()),
        }
    }

    /// The pty number (N of /dev/pts/N).
    #[cfg(test)]
    pub fn number(&self) -> io::Result<u32> {
        let mut n: libc::c_uint = 0;
        // SAFETY: TIOCGPTN writes an unsigned int through a valid pointer.
        if unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCGPTN, &mut n) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n)
    }

    /// Sends the master over `sock` and closes our copy of it.
    pub fn send_master(&mut self, sock: BorrowedFd<'_>) -> Result<(), TtyError> {
        send_master(sock, self.master.as_fd(), MASTER_NAME)
            .map_err(setup_err("send the pty master to the console socket"))
    }

    /// Makes the peer the caller's stdin, stdout and stderr and its controlling
    /// terminal (the caller must be a session leader without one: after setsid).
    pub fn into_stdio(self) -> Result<(), TtyError> {
        let Pty { master, peer } = self;
        drop(master);
        for target in 0..3 {
            // SAFETY: dup3 onto the standard fds; peer stays open until the end of scope.
            if unsafe { libc::dup3(peer.as_raw_fd(), target, 0) } < 0 {
                return Err(setup_err("dup the pty onto stdio")(
                    io::Error::last_os_error(),
                ));
            }
        }
        drop(peer);
        // SAFETY: integer arguments only.
        if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
            return Err(setup_err("ioctl(TIOCSCTTY)")(io::Error::last_os_error()));
        }
        Ok(())
    }
}

fn check_ptmx(fd: BorrowedFd<'_>) -> Result<(), TtyError> {
    let bad = |msg: String| TtyError::Setup {
        what: "verify /dev/pts/ptmx",
        source: io::Error::other(msg),
    };
    let magic = sys::fs_magic(fd).map_err(setup_err("statfs /dev/pts/ptmx"))?;
    if magic != DEVPTS_MAGIC {
        return Err(bad(format!(
            "not on a devpts mount (file system magic {magic:#x})"
        )));
    }
    let st = fstat(fd).map_err(setup_err("stat /dev/pts/ptmx"))?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    let (maj, min) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
    if !is_chr || maj != PTMX_MAJOR || min != PTMX_MINOR || st.st_ino != PTMX_INO {
        return Err(bad(format!(
            "not the devpts ptmx node (inode {}, device {maj}:{min})",
            st.st_ino
        )));
    }
    Ok(())
}

/// Bind-mounts the pty `peer` onto `/dev/console` of `root` (before pivot_root).
///
/// `/dev/console` is created as an empty regular file in the rootfs's /dev, resolved
/// inside the rootfs without following any symlink; whatever the image had there is
/// replaced. The mount targets the inode we created, by fd, after checking it is
/// that empty file (CVE-2025-52565: a symlink or a racing swap cannot redirect the
/// bind mount).
pub(crate) fn mount_console(root: &Root, peer: BorrowedFd<'_>) -> Result<(), TtyError> {
    let dev = crate::paths::open_at(
        root.fd(),
        Path::new("dev"),
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    )
    .map_err(setup_err("open /dev of the rootfs"))?;
    // Remove what the image has at /dev/console (a node, a file, a symlink).
    match nix::unistd::unlinkat(&dev, "console", nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(setup_err("remove the image's /dev/console")(e)),
    }
    // O_EXCL semantics: fails if anything appeared there meanwhile.
    nix::sys::stat::mknodat(
        &dev,
        "console",
        SFlag::S_IFREG,
        Mode::from_bits_truncate(0o600),
        0,
    )
    .map_err(setup_err("create /dev/console"))?;
    let target = crate::paths::open_at(
        dev.as_fd(),
        Path::new("console"),
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV,
    )
    .map_err(setup_err("open /dev/console"))?;
    let st = fstat(&target).map_err(setup_err("stat /dev/console"))?;
    let dst = fstat(&dev).map_err(setup_err("stat /dev"))?;
    let is_reg = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
    if !is_reg || st.st_size != 0 || st.st_dev != dst.st_dev {
        return Err(TtyError::Setup {
            what: "verify /dev/console",
            source: io::Error::other("the mount target is not the empty file husk created"),
        });
    }
    nix::mount::mount(
        Some(&sys::fd_path(&peer)),
        &sys::fd_path(&target),
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(setup_err("bind the pty onto /dev/console"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_roundtrip_over_socketpair() {
        let (a, b) = socketpair().unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        send_master(a.as_fd(), f.as_fd(), MASTER_NAME).unwrap();
        let (fd, name) = recv_master(b.as_fd()).unwrap();
        assert_eq!(name, MASTER_NAME);
        let st = fstat(&fd).unwrap();
        let orig = fstat(&f).unwrap();
        assert_eq!((st.st_dev, st.st_ino), (orig.st_dev, orig.st_ino));
        drop(a);
        assert_eq!(
            recv_master(b.as_fd()).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn connects_to_stream_and_seqpacket_listeners() {
        use nix::sys::socket::{bind, listen, Backlog};
        let dir = std::env::temp_dir().join(format!("husk-tty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, ty) in [SockType::Stream, SockType::SeqPacket]
            .into_iter()
            .enumerate()
        {
            let path = dir.join(format!("s{i}.sock"));
            let l = socket(AddressFamily::Unix, ty, SockFlag::SOCK_CLOEXEC, None).unwrap();
            bind(l.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
            listen(&l, Backlog::new(1).unwrap()).unwrap();
            let c = connect_path(&path).unwrap();
            let conn = nix::sys::socket::accept(l.as_raw_fd()).unwrap();
            // SAFETY: accept returned a new fd that nothing else owns.
            let conn = unsafe { std::os::fd::OwnedFd::from_raw_fd(conn) };
            let f = std::fs::File::open("/dev/null").unwrap();
            send_master(c.as_fd(), f.as_fd(), MASTER_NAME).unwrap();
            assert_eq!(recv_master(conn.as_fd()).unwrap().1, MASTER_NAME);
        }
        let err = connect_path(&dir.join("missing.sock")).unwrap_err();
        assert!(err.to_string().contains("missing.sock"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn host_pty_allocation_and_size() {
        // The host's /dev/pts is a devpts mount: allocate there as the init would in a rootfs.
        let root = std::fs::File::open("/").unwrap();
        let Ok(pty) = Pty::open_in(root.as_fd()) else {
            return; // no devpts on this machine (minimal CI sandboxes)
        };
        pty.resize(Some(WinSize {
            rows: 33,
            cols: 101,
        }))
        .unwrap();
        assert_eq!(
            get_winsize(pty.peer.as_fd()).unwrap(),
            WinSize {
                rows: 33,
                cols: 101
            }
        );
        assert!(pty.number().is_ok());
    }
}
