//! What a cgroup's TCP sockets still have to send, from the kernel's socket diagnostics
//! (NETLINK_SOCK_DIAG, inet_diag: what `ss` reads).
//!
//! Why: rein's network programs count a group's packets as they pass (see
//! [`crate::bpf::net_program`]). A command that writes a few megabytes into a TCP socket
//! and exits at once leaves the socket to the kernel (an orphan) with its send queue
//! full; the queue drains afterwards, through the group's programs, under the group's
//! limit, long after the command is gone. Counters read at the command's exit miss all
//! of it. [`queued`] tells how much is left, so that a caller can wait for it first
//! (`crate::drain`).
//!
//! How: one `SOCK_DIAG_BY_FAMILY` dump of TCP sockets per address family (AF_INET,
//! AF_INET6), in the states that can hold data to send. Every reply carries the socket's
//! cgroup v2 id (`INET_DIAG_CGROUP_ID`, Linux 5.8, on kernels built with
//! CONFIG_SOCK_CGROUP_DATA, which cgroup BPF needs anyway): the id of the cgroup2
//! directory the socket's creator was in, which on 64-bit kernels is that directory's
//! inode number. And `idiag_wqueue`, for TCP `write_seq - snd_una`: the bytes written
//! and not yet acknowledged by the peer, sent or not.
//!
//! What it cannot see: sockets in another network namespace than the caller's (a dump
//! lists its own namespace's sockets only); sockets made while net_cls or net_prio is
//! active on a v1 hierarchy (the kernel then gives them the root's id, 1, and rein's
//! network programs do not see them as the group's either); and a kernel without inet_diag (the
//! `inet_diag` and `tcp_diag` modules, loaded on demand where modprobe works) answers
//! ENOENT, which [`queued`] returns as an error.
//!
//! The parser ([`parse`]) is pure and tested on dumps captured from a real kernel
//! (`testdata/sockdiag/`).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h): the request and reply message type.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// linux/netlink.h message types and flags.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
/// NLM_F_ROOT | NLM_F_MATCH: every socket the request's states match.
const NLM_F_DUMP: u16 = 0x300;
/// `struct nlmsghdr`: len u32, type u16, flags u16, seq u32, pid u32.
const NLMSG_HDR: usize = 16;
/// `struct inet_diag_req_v2`: family, protocol, ext, pad (u8 each), states u32, then
/// `struct inet_diag_sockid` (48 bytes).
const REQ_LEN: usize = 56;
/// `struct inet_diag_msg`: family, state, timer, retrans (u8), the sockid (48), expires,
/// rqueue, wqueue, uid, inode (u32 each).
const MSG_LEN: usize = 72;
const MSG_WQUEUE: usize = 60;
const MSG_INODE: usize = 68;
/// linux/inet_diag.h attribute: the socket's cgroup v2 id, u64.
const INET_DIAG_CGROUP_ID: u16 = 21;
/// nlattr type bits that are flags, not the type (NLA_F_NESTED, NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// TCP states (include/net/tcp_states.h).
pub mod state {
    /// Connected.
    pub const ESTABLISHED: u8 = 1;
    /// Connecting; the SYN is one sequence number of `write_seq`.
    pub const SYN_SENT: u8 = 2;
    /// A full socket answering a SYN (Fast Open).
    pub const SYN_RECV: u8 = 3;
    /// Closed by its owner (or orphaned), FIN sent or queued, not yet acknowledged.
    pub const FIN_WAIT1: u8 = 4;
    /// Our FIN acknowledged.
    pub const FIN_WAIT2: u8 = 5;
    /// The peer closed first; we may still send.
    pub const CLOSE_WAIT: u8 = 8;
    /// The peer closed, then we did: our FIN not yet acknowledged.
    pub const LAST_ACK: u8 = 9;
    /// Both closed at once.
    pub const CLOSING: u8 = 11;
}

/// The states whose sockets can hold data to send: not LISTEN (its wqueue is the accept
/// backlog), TIME_WAIT and NEW_SYN_RECV (mini sockets, no queue, no cgroup), CLOSE (a
/// reset or unconnected socket sends nothing more) and FIN_WAIT2 (all acknowledged).
const STATES: u32 = (1 << state::ESTABLISHED)
    | (1 << state::SYN_SENT)
    | (1 << state::SYN_RECV)
    | (1 << state::FIN_WAIT1)
    | (1 << state::CLOSE_WAIT)
    | (1 << state::LAST_ACK)
    | (1 << state::CLOSING);

/// One TCP socket of a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSocket {
    /// AF_INET or AF_INET6.
    pub family: u8,
    /// The TCP state ([`state`]).
    pub state: u8,
    /// `idiag_wqueue`: `write_seq - snd_una`, the SYN and FIN sequence numbers included.
    pub wqueue: u32,
    /// The socket's inode (0 for an orphan: its owner closed it).
    pub inode: u32,
    /// The cgroup v2 id of its creator's group; None when the kernel does not say.
    pub cgroup_id: Option<u64>,
}

impl TcpSocket {
    /// The data bytes still to be sent or acknowledged: the wqueue without the SYN
    /// (SYN_SENT, SYN_RECV) or FIN (FIN_WAIT1, LAST_ACK, CLOSING) sequence number it counts.
    pub fn queued(&self) -> u64 {
        let seq_flags = match self.state {
            state::SYN_SENT | state::SYN_RECV | state::FIN_WAIT1 | state::LAST_ACK | state::CLOSING => 1,
            _ => 0,
        };
        u64::from(self.wqueue.saturating_sub(seq_flags))
    }
}

/// What a group's sockets still hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Queue {
    /// Sockets of the group with data to send.
    pub sockets: u64,
    /// Their data bytes not yet acknowledged by the peers ([`TcpSocket::queued`]).
    pub bytes: u64,
}

/// The dump request for TCP sockets of `family` (AF_INET or AF_INET6) in the states
/// that can hold data to send, with sequence number `seq`.
pub fn request(family: u8, seq: u32) -> Vec<u8> {
    let len = NLMSG_HDR + REQ_LEN;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 0, 0]);
    m.extend_from_slice(&STATES.to_ne_bytes());
    m.resize(len, 0);
    m
}

/// Why a reply could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The kernel answered with an error (a positive errno).
    Kernel(i32),
    /// A message or attribute runs past the buffer or is shorter than its header.
    Malformed(String),
}

/// Reads the netlink messages of one received datagram into `out`. Returns true once
/// the dump's end (NLMSG_DONE) is in it. Messages of another type are skipped.
pub fn parse(buf: &[u8], out: &mut Vec<TcpSocket>) -> Result<bool, ParseError> {
    let u16_at = |b: &[u8], i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut at = 0;
    while buf.len().saturating_sub(at) >= NLMSG_HDR {
        let len = u32_at(buf, at) as usize;
        let kind = u16_at(buf, at + 4);
        if len < NLMSG_HDR || len > buf.len() - at {
            return Err(ParseError::Malformed(format!("a netlink message of {len} bytes at {at} of {}", buf.len())));
        }
        let body = &buf[at + NLMSG_HDR..at + len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                // struct nlmsgerr: a negative errno (0 is an acknowledgement), then the request.
                if body.len() < 4 {
                    return Err(ParseError::Malformed("a netlink error shorter than its errno".into()));
                }
                let errno = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                if errno != 0 {
                    return Err(ParseError::Kernel(-errno));
                }
            }
            SOCK_DIAG_BY_FAMILY => out.push(socket(body)?),
            _ => {}
        }
        // Messages are aligned to 4 bytes (NLMSG_ALIGN).
        at += (len + 3) & !3;
    }
    Ok(false)
}

/// One `struct inet_diag_msg` and its attributes.
fn socket(body: &[u8]) -> Result<TcpSocket, ParseError> {
    if body.len() < MSG_LEN {
        return Err(ParseError::Malformed(format!(
            "an inet_diag message of {} bytes (at least {MSG_LEN})",
            body.len()
        )));
    }
    let u32_at = |i: usize| u32::from_ne_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
    let mut s = TcpSocket {
        family: body[0],
        state: body[1],
        wqueue: u32_at(MSG_WQUEUE),
        inode: u32_at(MSG_INODE),
        cgroup_id: None,
    };
    let mut at = MSG_LEN;
    while body.len().saturating_sub(at) >= 4 {
        let len = u16::from_ne_bytes([body[at], body[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([body[at + 2], body[at + 3]]) & NLA_TYPE_MASK;
        if len < 4 || len > body.len() - at {
            return Err(ParseError::Malformed(format!("an attribute of {len} bytes at {at} of {}", body.len())));
        }
        if kind == INET_DIAG_CGROUP_ID && len == 12 {
            let d = &body[at + 4..at + 12];
            s.cgroup_id = Some(u64::from_ne_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]));
        }
        at += (len + 3) & !3;
    }
    Ok(s)
}

/// A NETLINK_SOCK_DIAG socket.
fn open() -> io::Result<OwnedFd> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )?;
    Ok(fd)
}

/// Every TCP socket of this network namespace that can hold data to send (IPv4 and IPv6).
pub fn tcp_sockets() -> io::Result<Vec<TcpSocket>> {
    let fd = open()?;
    let mut out = Vec::new();
    // 32 KiB is what the kernel puts in one dump datagram at most (netlink_dump's
    // allocation, for a reader offering at least that); a larger buffer costs nothing.
    let mut buf = vec![0u8; 64 << 10];
    for (seq, family) in [(1, libc::AF_INET as u8), (2, libc::AF_INET6 as u8)] {
        rustix::net::sendto(fd.as_fd(), &request(family, seq), SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;
        loop {
            let (n, full) = rustix::net::recv(fd.as_fd(), &mut buf[..], RecvFlags::empty())?;
            if full > n {
                return Err(io::Error::other(format!("a sock_diag reply of {full} bytes, more than {n}")));
            }
            match parse(&buf[..n], &mut out) {
                Ok(true) => break,
                Ok(false) => {}
                Err(ParseError::Kernel(errno)) => return Err(io::Error::from_raw_os_error(errno)),
                Err(ParseError::Malformed(m)) => return Err(io::Error::new(io::ErrorKind::InvalidData, m)),
            }
        }
    }
    Ok(out)
}

/// What the sockets of the cgroups `ids` (cgroup v2 ids: a group's directory and those
/// beneath it) still have to send.
pub fn queue_of(sockets: &[TcpSocket], ids: &[u64]) -> Queue {
    let mut q = Queue::default();
    for s in sockets.iter().filter(|s| s.cgroup_id.is_some_and(|id| ids.contains(&id))) {
        let n = s.queued();
        if n > 0 {
            q.sockets += 1;
            q.bytes += n;
        }
    }
    q
}

/// [`queue_of`] the sockets of this network namespace now.
pub fn queued(ids: &[u64]) -> io::Result<Queue> {
    Ok(queue_of(&tcp_sockets()?, ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(state: u8, wqueue: u32, cgroup_id: u64) -> TcpSocket {
        TcpSocket { family: libc::AF_INET as u8, state, wqueue, inode: 1, cgroup_id: Some(cgroup_id) }
    }

    #[test]
    fn the_request_is_an_inet_diag_req_v2_dump() {
        let r = request(libc::AF_INET6 as u8, 7);
        assert_eq!(r.len(), 72);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 72);
        assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 20);
        assert_eq!(u16::from_ne_bytes(r[6..8].try_into().unwrap()), 0x301);
        assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 7);
        assert_eq!((r[16], r[17]), (10, 6));
        // ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, CLOSE_WAIT, LAST_ACK, CLOSING: no
        // LISTEN (bit 10), TIME_WAIT (6), CLOSE (7), FIN_WAIT2 (5), NEW_SYN_RECV (12).
        assert_eq!(u32::from_ne_bytes(r[20..24].try_into().unwrap()), 0b1011_0001_1110);
        assert!(r[24..].iter().all(|b| *b == 0));
    }

    #[test]
    fn queued_bytes_leave_out_the_syn_and_fin() {
        assert_eq!(sock(state::ESTABLISHED, 1000, 1).queued(), 1000);
        assert_eq!(sock(state::CLOSE_WAIT, 1000, 1).queued(), 1000);
        for s in [state::FIN_WAIT1, state::LAST_ACK, state::CLOSING, state::SYN_SENT, state::SYN_RECV] {
            assert_eq!(sock(s, 1001, 1).queued(), 1000, "state {s}");
            assert_eq!(sock(s, 1, 1).queued(), 0, "state {s}");
            assert_eq!(sock(s, 0, 1).queued(), 0, "state {s}");
        }
        let q = queue_of(
            &[
                sock(state::ESTABLISHED, 10, 5),
                sock(state::FIN_WAIT1, 21, 6),
                sock(state::FIN_WAIT1, 1, 5),
                sock(state::ESTABLISHED, 99, 7),
                TcpSocket { cgroup_id: None, ..sock(state::ESTABLISHED, 50, 5) },
            ],
            &[5, 6],
        );
        assert_eq!(q, Queue { sockets: 2, bytes: 30 });
    }

    /// The figures capture.py wrote beside the dumps: `name value` lines.
    fn expected(name: &str) -> u64 {
        let text = include_str!("../testdata/sockdiag/expected.txt");
        let line = text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')));
        line.and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| panic!("no {name} in expected.txt"))
    }

    #[test]
    fn dumps_captured_from_a_kernel() {
        // capture.py (kernel 6.18): in a namespace of its own, clients with data queued
        // toward peers that never read, made from a cgroup2 directory whose inode is
        // `cgroup_id`; their peers' sockets were made outside it (the root's id, 1).
        let group = expected("cgroup_id");
        let (a, b, c) = (expected("outq_a"), expected("outq_b"), expected("outq_c"));
        let mut v4 = Vec::new();
        assert_eq!(parse(include_bytes!("../testdata/sockdiag/inet4.bin"), &mut v4), Ok(true));
        let mut v6 = Vec::new();
        assert_eq!(parse(include_bytes!("../testdata/sockdiag/inet6.bin"), &mut v6), Ok(true));
        assert_eq!(v4.len(), 4, "{v4:?}");
        assert_eq!(v6.len(), 2, "{v6:?}");
        assert!(v4.iter().chain(&v6).all(|s| s.cgroup_id.is_some()), "every reply has INET_DIAG_CGROUP_ID");
        let mine: Vec<&TcpSocket> = v4.iter().filter(|s| s.cgroup_id == Some(group)).collect();
        assert_eq!(mine.len(), 2, "{v4:?}");
        // The open client: ESTABLISHED, its wqueue what SIOCOUTQ said.
        let open = mine.iter().find(|s| s.state == state::ESTABLISHED).expect("the open client");
        assert_eq!((u64::from(open.wqueue), open.family), (a, libc::AF_INET as u8));
        assert_ne!(open.inode, 0);
        // The closed one: an orphan (inode 0) in FIN_WAIT1, its FIN one more in the queue.
        let orphan = mine.iter().find(|s| s.state == state::FIN_WAIT1).expect("the orphan");
        assert_eq!((u64::from(orphan.wqueue), orphan.inode, orphan.queued()), (b + 1, 0, b));
        // The peers: outside the group, nothing to send.
        assert!(v4.iter().filter(|s| s.cgroup_id != Some(group)).all(|s| s.cgroup_id == Some(1) && s.wqueue == 0));
        let six = v6.iter().find(|s| s.cgroup_id == Some(group)).expect("the IPv6 client");
        assert_eq!((u64::from(six.wqueue), six.family), (c, libc::AF_INET6 as u8));
        let all: Vec<TcpSocket> = v4.iter().chain(&v6).copied().collect();
        assert_eq!(queue_of(&all, &[group]), Queue { sockets: 3, bytes: a + b + c });
        assert_eq!(queue_of(&all, &[group + 1]), Queue::default());
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        let mut out = Vec::new();
        // A length past the buffer, a length shorter than the header.
        let mut m = request(2, 1);
        m[0] = 200;
        assert!(matches!(parse(&m, &mut out), Err(ParseError::Malformed(_))));
        m[0] = 4;
        assert!(matches!(parse(&m, &mut out), Err(ParseError::Malformed(_))));
        // A reply whose body is shorter than an inet_diag_msg.
        let mut m = request(2, 1);
        m[4..6].copy_from_slice(&20u16.to_ne_bytes());
        m[0..4].copy_from_slice(&(16u32 + 40).to_ne_bytes());
        m.truncate(56);
        assert!(matches!(parse(&m, &mut out), Err(ParseError::Malformed(_))));
        // An error message: -ENOENT (no inet_diag in this kernel).
        let mut e = Vec::new();
        e.extend_from_slice(&36u32.to_ne_bytes());
        e.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        e.extend_from_slice(&[0; 10]);
        e.extend_from_slice(&(-libc::ENOENT).to_ne_bytes());
        e.extend_from_slice(&[0; 16]);
        assert_eq!(parse(&e, &mut out), Err(ParseError::Kernel(libc::ENOENT)));
        assert!(out.is_empty());
        // Truncated garbage after a whole message is left alone (less than a header).
        assert_eq!(parse(&[1, 2, 3], &mut out), Ok(false));
        // A last message whose length is not a multiple of 4 ends the buffer: the aligned
        // step goes past the end (found by the fuzzer).
        let mut odd = Vec::new();
        odd.extend_from_slice(&17u32.to_ne_bytes());
        odd.extend_from_slice(&[0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse(&odd, &mut out), Ok(false));
        let mut reply = request(2, 1);
        reply[4..6].copy_from_slice(&20u16.to_ne_bytes());
        reply.resize(16 + 72 + 5, 0);
        reply[0..4].copy_from_slice(&(16u32 + 72 + 5).to_ne_bytes());
        reply[16 + 72..16 + 72 + 2].copy_from_slice(&5u16.to_ne_bytes());
        assert_eq!(parse(&reply, &mut out), Ok(false));
        assert_eq!(out.len(), 1);
        out.clear();
    }
}
