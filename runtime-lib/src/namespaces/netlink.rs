//! The few rtnetlink messages moving a network device needs, written by hand (a
//! netlink crate would pull an async runtime into `create`). Building and parsing
//! are pure; [`RtSocket`] sends a request and collects the answer.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_DUMP: u16 = 0x300;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_NET_NS_FD: u16 = 28;
pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_BROADCAST: u16 = 4;
pub const IFA_FLAGS: u16 = 8;
pub const IFA_F_PERMANENT: u32 = 0x80;
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const IFF_UP: u32 = 1;
const HDR: usize = 16;
const IFINFO: usize = 16;
const IFADDR: usize = 8;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// One rtattr (header, data, padding).
pub fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
    let len = 4 + data.len();
    let mut v = Vec::with_capacity(align(len));
    v.extend_from_slice(&(len as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(data);
    v.resize(align(len), 0);
    v
}

/// A NUL-terminated string attribute.
pub fn attr_str(kind: u16, s: &str) -> Vec<u8> {
    let mut d = s.as_bytes().to_vec();
    d.push(0);
    attr(kind, &d)
}

/// `struct ifinfomsg` for link `index`, setting `flags` within `change`.
pub fn ifinfomsg(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut v = vec![0u8; 4]; // family AF_UNSPEC, pad, type
    v.extend_from_slice(&index.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&change.to_ne_bytes());
    v
}

/// `struct ifaddrmsg`.
pub fn ifaddrmsg(family: u8, prefix: u8, flags: u8, scope: u8, index: u32) -> Vec<u8> {
    let mut v = vec![family, prefix, flags, scope];
    v.extend_from_slice(&index.to_ne_bytes());
    v
}

/// A whole message: header then payload.
pub fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + payload.len());
    v.extend_from_slice(&((HDR + payload.len()) as u32).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes());
    v.extend_from_slice(payload);
    v
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Splits a receive buffer into `(type, seq, payload)` messages.
pub fn split_messages(buf: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while let (Some(len), Some(kind), Some(seq)) =
        (u32_at(buf, at), u16_at(buf, at + 4), u32_at(buf, at + 8))
    {
        let len = len as usize;
        let Some(payload) = buf.get(at + HDR..at + len).filter(|_| len >= HDR) else {
            break;
        };
        out.push((kind, seq, payload));
        at += align(len);
    }
    out
}

/// The attributes after a fixed header of `skip` bytes.
pub fn attrs(payload: &[u8], skip: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = skip;
    while let (Some(len), Some(kind)) = (u16_at(payload, at), u16_at(payload, at + 2)) {
        let len = len as usize;
        let Some(data) = payload.get(at + 4..at + len).filter(|_| len >= 4) else {
            break;
        };
        out.push((kind & 0x3fff, data));
        at += align(len);
    }
    out
}

/// A link from an RTM_NEWLINK answer: `(index, name)`.
pub fn parse_link(payload: &[u8]) -> Option<(i32, String)> {
    let index = u32_at(payload, 4)? as i32;
    let name = attrs(payload, IFINFO)
        .into_iter()
        .find(|(k, _)| *k == IFLA_IFNAME)
        .map(|(_, d)| {
            String::from_utf8_lossy(d.split(|b| *b == 0).next().unwrap_or(d)).into_owned()
        })?;
    Some((index, name))
}

/// An address from an RTM_NEWADDR answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    /// AF_INET or AF_INET6.
    pub family: u8,
    /// Prefix length.
    pub prefix: u8,
    /// Scope (RT_SCOPE_*).
    pub scope: u8,
    /// IFA_F_* flags (IFA_FLAGS when present, else the header's 8 bits).
    pub flags: u32,
    /// Link index.
    pub index: u32,
    /// IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST as found.
    pub attrs: Vec<(u16, Vec<u8>)>,
}

pub fn parse_addr(payload: &[u8]) -> Option<Addr> {
    let h = payload.get(..IFADDR)?;
    let mut a = Addr {
        family: h[0],
        prefix: h[1],
        flags: h[2] as u32,
        scope: h[3],
        index: u32_at(payload, 4)?,
        attrs: Vec::new(),
    };
    for (k, d) in attrs(payload, IFADDR) {
        match k {
            IFA_FLAGS => a.flags = u32_at(d, 0).unwrap_or(a.flags),
            IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST => a.attrs.push((k, d.to_vec())),
            _ => {}
        }
    }
    Some(a)
}

/// An rtnetlink socket of the network namespace it was opened in.
pub struct RtSocket {
    fd: OwnedFd,
    seq: u32,
}

impl RtSocket {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Self> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(RtSocket { fd, seq: 0 })
    }

    /// A socket in the network namespace `ns`: the calling thread enters it only for
    /// the `socket()` call and returns to its own at once.
    pub fn open_in(ns: BorrowedFd<'_>) -> io::Result<Self> {
        use nix::sched::{setns, CloneFlags};
        let home = std::fs::File::open("/proc/thread-self/ns/net")?;
        setns(ns, CloneFlags::CLONE_NEWNET)?;
        let sock = Self::open();
        setns(home.as_fd(), CloneFlags::CLONE_NEWNET)?;
        sock
    }

    /// Sends one request and returns the payloads of the answer's messages (for a
    /// dump, every entry; else none). A netlink error becomes the io::Error.
    pub fn request(&mut self, kind: u16, flags: u16, payload: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let msg = message(
            kind,
            flags | NLM_F_REQUEST | if dump { 0 } else { NLM_F_ACK },
            seq,
            payload,
        );
        socket::send(self.fd.as_raw_fd(), &msg, MsgFlags::empty())?;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            // The next datagram's size (MSG_TRUNC), then a buffer just that big: a
            // zeroed 64 KiB buffer cost the init 16 page faults for a 1.5 KiB answer.
            let peek = MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC;
            let size = match socket::recv(self.fd.as_raw_fd(), &mut [], peek) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => r?,
            };
            // 0: a kernel that does not report the size; the old 64 KiB then.
            let size = if size == 0 { 64 * 1024 } else { size };
            buf.resize(size.max(buf.len()), 0);
            let n = match socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => r?,
            };
            for (t, s, p) in split_messages(&buf[..n]) {
                if s != seq {
                    continue;
                }
                match t {
                    NLMSG_ERROR => {
                        let code = u32_at(p, 0).unwrap_or(0) as i32;
                        return if code == 0 {
                            Ok(out)
                        } else {
                            Err(io::Error::from_raw_os_error(-code))
                        };
                    }
                    NLMSG_DONE => return Ok(out),
                    _ => out.push(p.to_vec()),
                }
            }
        }
    }

    /// Every link: `(index, name)`.
    pub fn links(&mut self) -> io::Result<Vec<(i32, String)>> {
        let answer = self.request(RTM_GETLINK, NLM_F_DUMP, &ifinfomsg(0, 0, 0))?;
        Ok(answer.iter().filter_map(|p| parse_link(p)).collect())
    }

    /// The index of the link `name`.
    pub fn link_index(&mut self, name: &str) -> io::Result<i32> {
        let mut req = ifinfomsg(0, 0, 0);
        req.extend(attr_str(IFLA_IFNAME, name));
        let answer = self.request(RTM_GETLINK, 0, &req)?;
        answer
            .iter()
            .find_map(|p| parse_link(p))
            .map(|(i, _)| i)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
    }

    /// Every address of link `index`.
    pub fn addrs(&mut self, index: i32) -> io::Result<Vec<Addr>> {
        let answer = self.request(RTM_GETADDR, NLM_F_DUMP, &ifaddrmsg(0, 0, 0, 0, 0))?;
        Ok(answer
            .iter()
            .filter_map(|p| parse_addr(p))
            .filter(|a| a.index == index as u32)
            .collect())
    }

    /// Sets IFF_UP on or off.
    pub fn set_up(&mut self, index: i32, up: bool) -> io::Result<()> {
        let flags = if up { IFF_UP } else { 0 };
        self.request(RTM_NEWLINK, 0, &ifinfomsg(index, flags, IFF_UP))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_parse_a_link() {
        let mut payload = ifinfomsg(7, IFF_UP, IFF_UP);
        payload.extend(attr_str(IFLA_IFNAME, "veth0"));
        payload.extend(attr(IFLA_NET_NS_FD, &5u32.to_ne_bytes()));
        let msg = message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 9, &payload);
        assert_eq!(msg.len() % 4, 0);
        let msgs = split_messages(&msg);
        assert_eq!(msgs.len(), 1);
        assert_eq!((msgs[0].0, msgs[0].1), (RTM_NEWLINK, 9));
        assert_eq!(parse_link(msgs[0].2), Some((7, "veth0".to_string())));
        let a = attrs(msgs[0].2, IFINFO);
        assert_eq!(a[1], (IFLA_NET_NS_FD, &5u32.to_ne_bytes()[..]));
    }

    #[test]
    fn parse_an_address() {
        let mut p = ifaddrmsg(libc::AF_INET as u8, 24, 0x80, RT_SCOPE_UNIVERSE, 3);
        p.extend(attr(IFA_ADDRESS, &[10, 0, 0, 1]));
        p.extend(attr(IFA_LOCAL, &[10, 0, 0, 1]));
        p.extend(attr(IFA_FLAGS, &IFA_F_PERMANENT.to_ne_bytes()));
        let a = parse_addr(&p).unwrap();
        assert_eq!((a.family, a.prefix, a.index), (libc::AF_INET as u8, 24, 3));
        assert_eq!(a.flags & IFA_F_PERMANENT, IFA_F_PERMANENT);
        assert_eq!(a.attrs.len(), 2);
    }

    #[test]
    fn truncated_input_is_ignored() {
        assert!(split_messages(&[1, 0, 0]).is_empty());
        let msg = message(RTM_NEWLINK, 0, 1, &[0; 3]);
        assert!(split_messages(&msg[..msg.len() - 1]).is_empty());
        assert!(attrs(&[8, 0, 3, 0], 0).is_empty());
    }
}
