//! Terminals: `process.terminal` with `--console-socket` (the pty master arrives as
//! runc sends it, with SCM_RIGHTS, and works), /dev/console, `consoleSize`, `exec -t`,
//! and `husk run` / `husk exec -t` in the foreground acting as their own console
//! socket when stdin is not a terminal.

mod common;

use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// A console socket like runc's `recvtty`: listens, accepts one connection and
/// receives the pty master (and the name sent with it).
struct Recv {
    path: PathBuf,
    handle: Option<JoinHandle<std::io::Result<(OwnedFd, String)>>>,
}

impl Recv {
    fn new(dir: &Path) -> Recv {
        let path = dir.join(format!("console-{}.sock", unique("s")));
        let listener = UnixListener::bind(&path).expect("bind console socket");
        let handle = std::thread::spawn(move || {
            let (conn, _) = listener.accept()?;
            husk::tty::recv_master(conn.as_fd())
        });
        Recv {
            path,
            handle: Some(handle),
        }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// The master (waits at most 10 s for it).
    fn master(&mut self) -> (OwnedFd, String) {
        let h = self.handle.take().expect("master already taken");
        let start = Instant::now();
        while !h.is_finished() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no pty master arrived"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        h.join().expect("receiver thread").expect("receive master")
    }
}

/// Writes `input` to the master, then reads until `until` appears (at most 10 s).
#[track_caller]
fn converse(master: &OwnedFd, input: &str, until: &str) -> String {
    let mut f = fs::File::from(master.try_clone().unwrap());
    f.write_all(input.as_bytes()).unwrap();
    let mut out = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains(until) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never saw {until:?}; got {:?}",
            String::from_utf8_lossy(&out)
        );
        let mut p = [libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: p is a valid pollfd array of length 1.
        if unsafe { libc::poll(p.as_mut_ptr(), 1, 100) } <= 0 {
            continue;
        }
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a shell on the pty reports about its terminal; ends with "DONE-42". The pty
/// echoes the typed line, so every marker is spelled differently in the input.
const PROBE: &str = "tty; test -t 0 && echo IN\"\"-TTY; test -t 1 && echo OUT\"\"-TTY; stty size; \
    [ \"$(stat -c %t:%T /dev/console)\" = \"$(stat -c %t:%T $(tty))\" ] && echo CONSOLE\"\"-IS-PTY; \
    echo DONE-$((40+2))\n";

fn terminal_bundle(prefix: &str) -> Bundle {
    let mut b = Bundle::new(prefix);
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 25, "width": 80});
    b.set_args(&["sh"]);
    b
}

/// `husk create --console-socket` of the bundle as a new container, which must
/// succeed; returns the socket (the pty master is on its way) and the container's id.
fn create_with_console_socket(b: &Bundle) -> (Recv, String) {
    let r = Recv::new(&b.dir);
    let id = b.new_id();
    b.write_config();
    b.husk(&[
        "create",
        "--console-socket",
        r.path(),
        "--bundle",
        b.dir_str(),
        &id,
    ])
    .ok();
    (r, id)
}

#[test]
fn console_socket_receives_a_working_pty() {
    let b = terminal_bundle("tty-sock");
    let (mut r, id) = create_with_console_socket(&b);
    let (master, name) = r.master();
    assert_eq!(
        name, "/dev/ptmx",
        "runc sends the master's name as the payload"
    );
    let init = b.state(&id)["pid"].as_i64().unwrap() as i32;
    // /dev/console is the pty, bind-mounted from the container's devpts.
    let mounts = parse_mountinfo(&fs::read_to_string(format!("/proc/{init}/mountinfo")).unwrap());
    assert_eq!(mount_at(&mounts, "/dev/console").fstype, "devpts");
    b.husk(&["start", &id]).ok();
    let out = converse(&master, PROBE, "DONE-42");
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("IN-TTY") && out.contains("OUT-TTY"), "{out}");
    assert!(out.contains("25 80"), "consoleSize not applied: {out}");
    assert!(out.contains("CONSOLE-IS-PTY"), "{out}");
    // The shell is the session leader with the pty as controlling terminal: exit ends it.
    let _ = converse(&master, "exit\n", "exit");
    b.wait_status(&id, "stopped");
}

#[test]
fn exec_tty_with_console_socket() {
    let mut b = Bundle::new("tty-exec");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let mut r = Recv::new(&b.dir);
    let pid_file = b.dir.join("exec.pid");
    b.husk(&[
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        r.path(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sh",
    ])
    .ok();
    let (master, _) = r.master();
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = converse(&master, PROBE, "DONE-42");
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("IN-TTY") && out.contains("OUT-TTY"), "{out}");
    // The process is in the container's pid namespace and session of its own.
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let (sid, tty_nr) = (fields[3], fields[4]);
    assert_eq!(sid.parse::<i32>().unwrap(), pid, "not a session leader");
    assert_ne!(tty_nr, "0", "no controlling terminal");
    let _ = converse(&master, "exit 0\n", "exit");
}

/// `husk ARGS` with stdin from `input` (a regular file: not a terminal), stdout and
/// stderr to files, at most 30 s.
fn husk_with_stdin(b: &Bundle, args: &[&str], input: &str) -> Out {
    let n = unique("io");
    let inp = b.dir.join(format!("{n}.in"));
    fs::write(&inp, input).unwrap();
    let (op, ep) = (
        b.dir.join(format!("{n}.out")),
        b.dir.join(format!("{n}.err")),
    );
    let mut child = Command::new(HUSK)
        .arg("--root")
        .arg(&b.root)
        .args(args)
        .env(MARK, &b.name)
        .stdin(fs::File::open(&inp).unwrap())
        .stdout(fs::File::create(&op).unwrap())
        .stderr(fs::File::create(&ep).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("husk {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Out {
        code: status.code().unwrap_or(-1),
        stdout: fs::read_to_string(&op).unwrap(),
        stderr: fs::read_to_string(&ep).unwrap(),
    }
}

#[test]
fn run_foreground_terminal_without_console_socket() {
    let mut b = terminal_bundle("tty-run");
    b.set_script("read x; echo got:$x; tty; test -t 0 && echo IN-TTY; stty size; exit 5");
    b.write_config();
    let id = b.new_id();
    let out = husk_with_stdin(&b, &["run", "--bundle", b.dir_str(), &id], "hi\n");
    assert_eq!(out.code, 5, "{out:?}");
    assert!(out.stdout.contains("got:hi"), "{out:?}");
    assert!(out.stdout.contains("/dev/pts/0"), "{out:?}");
    assert!(out.stdout.contains("IN-TTY"), "{out:?}");
    // stdin is not a terminal: consoleSize stays, and husk leaves no raw mode behind.
    assert!(out.stdout.contains("25 80"), "{out:?}");
    // runc clears ONLCR on the pty: lines end in "\n", not "\r\n".
    assert!(!out.stdout.contains("got:hi\r\n"), "{out:?}");
    b.assert_nothing_left(&id);
}

#[test]
fn exec_tty_in_the_foreground_without_console_socket() {
    let mut b = Bundle::new("tty-exec-fg");
    let (id, _) = b.run_detached(&["sleep", "1000"]);
    let out = husk_with_stdin(
        &b,
        &[
            "exec",
            "-t",
            &id,
            "sh",
            "-c",
            "read x; echo got:$x; tty; test -t 0 && echo IN-TTY; exit 3",
        ],
        "there\n",
    );
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stdout.contains("got:there"), "{out:?}");
    assert!(out.stdout.contains("/dev/pts/"), "{out:?}");
    assert!(out.stdout.contains("IN-TTY"), "{out:?}");
}

#[test]
fn terminal_and_console_socket_must_agree() {
    let b = terminal_bundle("tty-rules");
    b.write_config();
    let id = b.new_id();
    b.husk(&["create", "--bundle", b.dir_str(), &id])
        .fails_with(&["cannot allocate tty if husk will detach without setting console socket"]);
    b.assert_nothing_left(&id);
    let id = b.new_id();
    b.husk(&["run", "-d", "--bundle", b.dir_str(), &id])
        .fails_with(&["cannot allocate tty"]);
    let mut nb = Bundle::new("tty-rules2");
    nb.set_args(&["true"]);
    nb.write_config();
    let r = Recv::new(&nb.dir);
    let id = nb.new_id();
    nb.husk(&[
        "create",
        "--console-socket",
        r.path(),
        "--bundle",
        nb.dir_str(),
        &id,
    ])
    .fails_with(&["cannot use console socket"]);
    nb.assert_nothing_left(&id);
    // A socket nobody listens on is reported before anything is made.
    let id = b.new_id();
    let missing = b.dir.join("nobody.sock");
    b.husk(&[
        "create",
        "--console-socket",
        missing.to_str().unwrap(),
        "--bundle",
        b.dir_str(),
        &id,
    ])
    .fails_with(&["--console-socket", "nobody.sock"]);
    b.assert_nothing_left(&id);
}

/// CVE-2025-52565: an image whose /dev/console is a symlink out of the rootfs must
/// not make husk bind the pty over a host file.
#[test]
fn dev_console_symlink_is_not_followed() {
    let mut b = terminal_bundle("tty-cve");
    // /dev comes from the image (no tmpfs), with the attacker's /dev/console.
    b.remove_mount("/dev");
    let target = b.dir.join("host-target");
    fs::write(&target, "host file\n").unwrap();
    fs::create_dir_all(b.rootfs.join("dev/pts")).unwrap();
    std::os::unix::fs::symlink(&target, b.rootfs.join("dev/console")).unwrap();
    let (mut r, id) = create_with_console_socket(&b);
    let (master, _) = r.master();
    b.husk(&["start", &id]).ok();
    let out = converse(&master, PROBE, "DONE-42");
    assert!(out.contains("CONSOLE-IS-PTY"), "{out}");
    let host_mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host_mounts.contains(target.to_str().unwrap()),
        "the pty was mounted over the host file"
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "host file\n");
    let _ = converse(&master, "exit\n", "exit");
}

/// `husk run` with a terminal on stdin: the terminal goes raw while the container
/// runs (keys reach the container's pty as typed), its size is copied to the pty,
/// and its settings are restored afterwards.
#[test]
fn run_foreground_with_a_terminal_on_stdin() {
    let mut b = terminal_bundle("tty-raw");
    b.set_script("stty size; tty; read x; echo got:$x");
    b.write_config();
    // The caller's terminal: a pty of the host.
    let pty = nix::pty::openpty(None, None).expect("host pty");
    let (master, peer) = (pty.master, pty.slave);
    husk::tty::set_winsize(
        peer.as_fd(),
        husk::tty::WinSize {
            rows: 40,
            cols: 100,
        },
    )
    .unwrap();
    let before = termios(&peer);
    let id = b.new_id();
    let mut child = Command::new(HUSK)
        .arg("--root")
        .arg(&b.root)
        .args(["run", "--bundle", b.dir_str(), &id])
        .env(MARK, &b.name)
        .stdin(peer.try_clone().unwrap())
        .stdout(peer.try_clone().unwrap())
        .stderr(peer.try_clone().unwrap())
        .spawn()
        .unwrap();
    let out = converse(&master, "", "/dev/pts/0");
    assert!(
        out.contains("40 100"),
        "the caller's size is not the pty's: {out:?}"
    );
    let raw = termios(&peer);
    assert_eq!(
        raw.c_lflag & (libc::ICANON | libc::ECHO),
        0,
        "stdin is not raw"
    );
    let out = converse(&master, "typed\r", "got:typed");
    assert!(out.contains("got:typed"), "{out:?}");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "husk run hung");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(status.success(), "{status:?}");
    let after = termios(&peer);
    assert_eq!(
        (after.c_lflag, after.c_iflag, after.c_oflag),
        (before.c_lflag, before.c_iflag, before.c_oflag),
        "the caller's terminal settings were not restored"
    );
    b.assert_nothing_left(&id);
}

fn termios(fd: &OwnedFd) -> libc::termios {
    // SAFETY: zeroed termios is valid; tcgetattr fills it from a valid fd.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) }, 0);
    t
}
