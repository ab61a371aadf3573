//! The console socket the shim gives the library for a container with a terminal:
//! the init connects and sends its pty master (runc's console-socket protocol,
//! received with `husk::tty::recv_master`).

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// The console socket the library's init sends a pty master to: a listening
/// socket in a private temporary directory.
#[derive(Debug)]
pub struct ConsoleListener {
    dir: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl ConsoleListener {
    /// A fresh socket under `/tmp/husk-pty*/pty.sock`.
    pub fn new() -> std::io::Result<ConsoleListener> {
        let mut tmpl = *b"/tmp/husk-ptyXXXXXX\0";
        // SAFETY: mkdtemp writes into our NUL-terminated buffer.
        let p = unsafe { libc::mkdtemp(tmpl.as_mut_ptr().cast()) };
        if p.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let dir = PathBuf::from(std::str::from_utf8(&tmpl[..tmpl.len() - 1]).unwrap_or_default());
        let listener = match std::os::unix::net::UnixListener::bind(dir.join("pty.sock")) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        listener.set_nonblocking(true)?;
        Ok(ConsoleListener { dir, listener })
    }

    /// The socket's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join("pty.sock")
    }

    /// Accepts the init's connection (already made when create returned) and
    /// receives the pty master.
    pub fn receive(&self) -> std::io::Result<OwnedFd> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let conn = loop {
            match self.listener.accept() {
                Ok((c, _)) => break c,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() > deadline {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no pty master arrived on the console socket",
                        ));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(e),
            }
        };
        conn.set_nonblocking(false)?;
        husk::tty::recv_master(conn.as_fd()).map(|(fd, _name)| fd)
    }
}

impl Drop for ConsoleListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
