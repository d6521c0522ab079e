//! The few rtnetlink (NETLINK_ROUTE) requests that move a network device between network
//! namespaces: find a link, dump links and addresses, add an address, set a link up or down,
//! move (and rename) a link into the namespace an fd refers to.
//!
//! Messages are built and parsed as bytes in native byte order (the kernel's structs from
//! <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h> and <linux/if_addr.h>), so no
//! `unsafe` is needed; the socket calls are nix's.
use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

// <linux/netlink.h>
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const NLA_TYPE_MASK: u16 = 0x3fff;
// <linux/rtnetlink.h>
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
// <linux/if_link.h>
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
// <linux/if_addr.h>
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_ANYCAST: u16 = 5;
const IFA_FLAGS: u16 = 8;
const IFA_RT_PRIORITY: u16 = 9;
const IFA_PROTO: u16 = 11;
/// IFA_F_PERMANENT: an address configured by hand, not learned (RFC 3549 2.3.3.2).
pub const IFA_F_PERMANENT: u32 = 0x80;
/// RT_SCOPE_UNIVERSE: a global address.
pub const RT_SCOPE_UNIVERSE: u8 = 0;
const IFF_UP: u32 = 0x1;
/// struct ifinfomsg and struct ifaddrmsg.
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
/// A dump the kernel reports as interrupted (the table changed under it) is tried this often.
const DUMP_TRIES: usize = 5;

/// A network device as RTM_GETLINK reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
    /// IFF_* flags (IFF_UP is 1).
    pub flags: u32,
}

impl Link {
    /// Whether the device is administratively up.
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }
}

/// An address as RTM_GETADDR reports it, with the attributes that re-create it elsewhere (its
/// label, which names the old device, and its cache info are left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub family: u8,
    pub prefix_len: u8,
    /// IFA_F_* flags (from IFA_FLAGS when present: the byte in ifaddrmsg holds only the low 8).
    pub flags: u32,
    pub scope: u8,
    pub index: i32,
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Address {
    /// A permanent address of global scope: what the runtime-spec says moves with a device.
    pub fn is_permanent_global(&self) -> bool {
        self.flags & IFA_F_PERMANENT != 0 && self.scope == RT_SCOPE_UNIVERSE
    }

    /// `address/prefix`, for messages.
    pub fn describe(&self) -> String {
        let raw = self.attr(IFA_LOCAL).or_else(|| self.attr(IFA_ADDRESS)).unwrap_or_default();
        let ip = match <[u8; 4]>::try_from(raw) {
            Ok(v4) => std::net::IpAddr::from(v4).to_string(),
            Err(_) => match <[u8; 16]>::try_from(raw) {
                Ok(v6) => std::net::IpAddr::from(v6).to_string(),
                Err(_) => format!("{raw:02x?}"),
            },
        };
        format!("{ip}/{}", self.prefix_len)
    }

    fn attr(&self, kind: u16) -> Option<&[u8]> {
        self.attrs.iter().find(|(k, _)| *k == kind).map(|(_, v)| v.as_slice())
    }
}

/// A NETLINK_ROUTE socket bound in the network namespace it was opened in.
pub struct RouteSocket {
    fd: OwnedFd,
    seq: u32,
}

impl RouteSocket {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<RouteSocket> {
        let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkRoute)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(RouteSocket { fd, seq: 0 })
    }

    /// A socket in the network namespace `netns` refers to. A socket stays in the namespace it
    /// was made in, so a short-lived thread joins the namespace, opens it and ends: the caller's
    /// own namespace never changes. The thread is joined before this returns.
    pub fn open_in(netns: BorrowedFd<'_>) -> io::Result<RouteSocket> {
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)?;
                RouteSocket::open()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netlink thread panicked")))
        })
    }

    /// The device named `name` (ENODEV when there is none).
    pub fn link(&mut self, name: &str) -> io::Result<Link> {
        let replies = self.request(RTM_GETLINK, 0, &[0; IFINFOMSG_LEN], &[(IFLA_IFNAME, &nul_terminated(name))])?;
        replies.iter().find_map(|r| parse_link(r)).ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
    }

    /// Every device of the socket's namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        Ok(self.dump(RTM_GETLINK, &[0; IFINFOMSG_LEN])?.iter().filter_map(|r| parse_link(r)).collect())
    }

    /// Every address of device `index` (any family).
    pub fn addresses(&mut self, index: i32) -> io::Result<Vec<Address>> {
        let all = self.dump(RTM_GETADDR, &[0; IFADDRMSG_LEN])?;
        Ok(all.iter().filter_map(|r| parse_address(r)).filter(|a| a.index == index).collect())
    }

    /// Adds `addr` to device `index` (replacing an equal one).
    pub fn add_address(&mut self, index: i32, addr: &Address) -> io::Result<()> {
        let mut head = [0u8; IFADDRMSG_LEN];
        head[0] = addr.family;
        head[1] = addr.prefix_len;
        head[2] = addr.flags as u8;
        head[3] = addr.scope;
        head[4..8].copy_from_slice(&index.to_ne_bytes());
        let attrs: Vec<(u16, &[u8])> = addr.attrs.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &head, &attrs).map(drop)
    }

    /// Sets device `index` administratively up or down.
    pub fn set_up(&mut self, index: i32, up: bool) -> io::Result<()> {
        let head = ifinfomsg(index, if up { IFF_UP } else { 0 }, IFF_UP);
        self.request(RTM_NEWLINK, 0, &head, &[]).map(drop)
    }

    /// Moves device `index` into the network namespace `netns` refers to, named `name` there
    /// (a `%d` template lets the kernel pick a free name).
    pub fn move_link(&mut self, index: i32, netns: BorrowedFd<'_>, name: &str) -> io::Result<()> {
        let fd = u32::try_from(netns.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        let attrs: [(u16, &[u8]); 2] = [(IFLA_NET_NS_FD, &fd.to_ne_bytes()), (IFLA_IFNAME, &nul_terminated(name))];
        self.request(RTM_NEWLINK, 0, &ifinfomsg(index, 0, 0), &attrs).map(drop)
    }

    /// Sends one request with NLM_F_ACK and returns the payloads of the replies before the ack.
    fn request(&mut self, kind: u16, flags: u16, head: &[u8], attrs: &[(u16, &[u8])]) -> io::Result<Vec<Vec<u8>>> {
        let seq = self.send(kind, NLM_F_REQUEST | NLM_F_ACK | flags, head, attrs)?;
        let mut replies = Vec::new();
        loop {
            for reply in self.recv(seq)? {
                match reply {
                    Reply::Data(payload) => replies.push(payload),
                    Reply::Ack => return Ok(replies),
                    Reply::Done => {}
                }
            }
        }
    }

    /// Sends a dump request and returns every message's payload, retrying an interrupted dump.
    fn dump(&mut self, kind: u16, head: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        'tries: for _ in 0..DUMP_TRIES {
            let seq = self.send(kind, NLM_F_REQUEST | NLM_F_DUMP, head, &[])?;
            let mut replies = Vec::new();
            let mut interrupted = false;
            loop {
                for reply in self.recv_flagged(seq, &mut interrupted)? {
                    match reply {
                        Reply::Data(payload) => replies.push(payload),
                        Reply::Done | Reply::Ack if interrupted => continue 'tries,
                        Reply::Done | Reply::Ack => return Ok(replies),
                    }
                }
            }
        }
        Err(io::Error::new(io::ErrorKind::Interrupted, "netlink dump interrupted too often"))
    }

    fn send(&mut self, kind: u16, flags: u16, head: &[u8], attrs: &[(u16, &[u8])]) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let msg = encode(kind, flags, self.seq, head, attrs);
        send(self.fd.as_raw_fd(), &msg, MsgFlags::empty())?;
        Ok(self.seq)
    }

    fn recv(&mut self, seq: u32) -> io::Result<Vec<Reply>> {
        let mut interrupted = false;
        self.recv_flagged(seq, &mut interrupted)
    }

    /// Reads one datagram and returns the replies to `seq` in it; an error reply is an `Err`.
    fn recv_flagged(&mut self, seq: u32, interrupted: &mut bool) -> io::Result<Vec<Reply>> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::Error::EINTR) => continue,
                other => break other?,
            }
        };
        let mut out = Vec::new();
        for (hdr, payload) in messages(&buf[..n]) {
            if hdr.seq != seq {
                continue;
            }
            *interrupted |= hdr.flags & NLM_F_DUMP_INTR != 0;
            out.push(match hdr.kind {
                NLMSG_ERROR | NLMSG_DONE => match read_i32(payload, 0).unwrap_or(0) {
                    0 if hdr.kind == NLMSG_DONE => Reply::Done,
                    0 => Reply::Ack,
                    e => return Err(io::Error::from_raw_os_error(-e)),
                },
                _ => Reply::Data(payload.to_vec()),
            });
        }
        Ok(out)
    }
}

enum Reply {
    Data(Vec<u8>),
    Ack,
    Done,
}

struct Header {
    kind: u16,
    flags: u16,
    seq: u32,
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; IFINFOMSG_LEN] {
    let mut head = [0u8; IFINFOMSG_LEN];
    head[4..8].copy_from_slice(&index.to_ne_bytes());
    head[8..12].copy_from_slice(&flags.to_ne_bytes());
    head[12..16].copy_from_slice(&change.to_ne_bytes());
    head
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message: header, the fixed struct `head`, then the attributes, each padded to 4.
fn encode(kind: u16, flags: u16, seq: u32, head: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut msg = vec![0u8; NLMSG_HDRLEN];
    msg.extend_from_slice(head);
    msg.resize(align4(msg.len()), 0);
    for (kind, data) in attrs {
        let len = 4 + data.len();
        msg.extend_from_slice(&(len as u16).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(data);
        msg.resize(align4(msg.len()), 0);
    }
    let total = msg.len() as u32;
    msg[0..4].copy_from_slice(&total.to_ne_bytes());
    msg[4..6].copy_from_slice(&kind.to_ne_bytes());
    msg[6..8].copy_from_slice(&flags.to_ne_bytes());
    msg[8..12].copy_from_slice(&seq.to_ne_bytes());
    msg
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn read_i32(b: &[u8], at: usize) -> Option<i32> {
    read_u32(b, at).map(|v| v as i32)
}

/// The messages of one datagram: header and payload; a truncated message ends the walk.
fn messages(buf: &[u8]) -> Vec<(Header, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while let (Some(len), Some(kind), Some(flags), Some(seq)) =
        (read_u32(buf, at), read_u16(buf, at + 4), read_u16(buf, at + 6), read_u32(buf, at + 8))
    {
        let len = len as usize;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            break;
        }
        out.push((Header { kind, flags, seq }, &buf[at + NLMSG_HDRLEN..at + len]));
        at += align4(len);
    }
    out
}

/// The attributes after a fixed struct of `skip` bytes: (type, data).
fn attributes(payload: &[u8], skip: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = align4(skip);
    while let (Some(len), Some(kind)) = (read_u16(payload, at), read_u16(payload, at + 2)) {
        let len = len as usize;
        if len < 4 || at + len > payload.len() {
            break;
        }
        out.push((kind & NLA_TYPE_MASK, &payload[at + 4..at + len]));
        at += align4(len);
    }
    out
}

fn parse_link(payload: &[u8]) -> Option<Link> {
    let index = read_i32(payload, 4)?;
    let flags = read_u32(payload, 8)?;
    let name = attributes(payload, IFINFOMSG_LEN).into_iter().find(|(k, _)| *k == IFLA_IFNAME)?.1;
    let name = String::from_utf8_lossy(name.split(|b| *b == 0).next().unwrap_or_default()).into_owned();
    Some(Link { index, name, flags })
}

fn parse_address(payload: &[u8]) -> Option<Address> {
    let head = payload.get(..IFADDRMSG_LEN)?;
    let mut addr = Address {
        family: head[0],
        prefix_len: head[1],
        flags: head[2] as u32,
        scope: head[3],
        index: read_i32(head, 4)?,
        attrs: Vec::new(),
    };
    for (kind, data) in attributes(payload, IFADDRMSG_LEN) {
        if kind == IFA_FLAGS {
            addr.flags = read_u32(data, 0).unwrap_or(addr.flags);
        }
        if matches!(
            kind,
            IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST | IFA_ANYCAST | IFA_FLAGS | IFA_RT_PRIORITY | IFA_PROTO
        ) {
            addr.attrs.push((kind, data.to_vec()));
        }
    }
    Some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_laid_out_as_the_kernel_reads_it() {
        let msg = encode(
            RTM_NEWLINK,
            NLM_F_REQUEST | NLM_F_ACK,
            7,
            &ifinfomsg(5, 0, 0),
            &[(IFLA_NET_NS_FD, &9u32.to_ne_bytes()), (IFLA_IFNAME, &nul_terminated("ab"))],
        );
        // 16 header + 16 ifinfomsg + 8 (fd attr) + 8 ("ab\0" attr, padded)
        assert_eq!(msg.len(), 48);
        assert_eq!(read_u32(&msg, 0), Some(48));
        assert_eq!(read_u16(&msg, 4), Some(RTM_NEWLINK));
        assert_eq!(read_u16(&msg, 6), Some(NLM_F_REQUEST | NLM_F_ACK));
        assert_eq!(read_u32(&msg, 8), Some(7));
        assert_eq!(read_i32(&msg, 20), Some(5), "ifi_index");
        let attrs = attributes(&msg[NLMSG_HDRLEN..], IFINFOMSG_LEN);
        assert_eq!(attrs, vec![(IFLA_NET_NS_FD, &9u32.to_ne_bytes()[..]), (IFLA_IFNAME, &b"ab\0"[..])]);
    }

    #[test]
    fn replies_parse_into_links_addresses_and_errors() {
        let link = encode(RTM_NEWLINK, 0, 3, &ifinfomsg(4, IFF_UP, 0), &[(IFLA_IFNAME, &nul_terminated("eth0"))]);
        let mut addr_head = [0u8; IFADDRMSG_LEN];
        addr_head[..4].copy_from_slice(&[2, 24, 0x80, 0]);
        addr_head[4..].copy_from_slice(&4i32.to_ne_bytes());
        let addr = encode(
            20,
            0,
            3,
            &addr_head,
            &[(IFA_LOCAL, &[10, 0, 0, 1]), (3, b"eth0\0"), (IFA_FLAGS, &0x280u32.to_ne_bytes())],
        );
        let mut err = encode(NLMSG_ERROR, 0, 3, &(-libc::EEXIST).to_ne_bytes(), &[]);
        err.extend(encode(NLMSG_ERROR, 0, 99, &0i32.to_ne_bytes(), &[]));
        let mut datagram = link.clone();
        datagram.extend(&addr);
        datagram.extend(&err);
        let msgs = messages(&datagram);
        assert_eq!(msgs.len(), 4);
        assert_eq!(parse_link(msgs[0].1), Some(Link { index: 4, name: "eth0".into(), flags: IFF_UP }));
        let a = parse_address(msgs[1].1).unwrap();
        assert!(a.is_permanent_global());
        assert_eq!(a.flags, 0x280, "IFA_FLAGS wins over the byte");
        assert_eq!(a.describe(), "10.0.0.1/24");
        assert!(a.attr(3).is_none(), "the label is not kept");
        assert_eq!(read_i32(msgs[2].1, 0), Some(-libc::EEXIST));
        // A truncated message ends the walk instead of reading past the datagram.
        assert_eq!(messages(&datagram[..datagram.len() - 3]).len(), 3);
    }
}
