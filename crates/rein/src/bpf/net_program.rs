//! Network control of a group on cgroup v2: two `BPF_PROG_TYPE_CGROUP_SKB` programs
//! (egress and ingress) that see every packet of the group's sockets, and one array map
//! per group they share.
//!
//! # What the programs do
//!
//! - **Count** bytes and packets each way (atomic adds: several CPUs send at once).
//! - **Police** each direction to a rate with a virtual clock (GCRA, the token bucket
//!   written as time): a packet of `len` bytes costs `len x 8 / rate` seconds; the clock
//!   `tat` runs ahead of now by what was sent beyond the rate. A packet that finds the
//!   clock more than `burst` ahead is over the limit.
//!   - Egress: over the limit, the packet is dropped *with congestion notification*
//!     (return 2), and past half the burst it passes with one (return 3): TCP's sender
//!     then reduces its window at once (tcp_enter_cwr) without waiting for a loss, the
//!     way the kernel's Host Bandwidth Manager sample (samples/bpf/hbm_kern.h) does. UDP
//!     cannot be told: its excess is dropped. This works on every device, loopback
//!     included, with no qdisc (pacing with fq and skb->tstamp, as Cilium's EDT manager
//!     does, needs fq on the egress device, which rein never installs on its own).
//!   - Ingress: a cgroup program can only pass or drop what has arrived; TCP's sender
//!     sees the drops as loss and slows down. The bucket holds 250 ms of the rate, what
//!     a sender that lost the tail of a flight would otherwise lose in its minimum
//!     retransmission timeout (200 ms).
//!   - A small packet (at most 120 bytes: every TCP segment without
//!     payload, the ACKs above all) is not dropped at the burst: it passes, charged to
//!     the clock, until the clock is twice the burst plus one 64 KiB packet ahead (the
//!     HBM sample's split between small and large packets). When both ends of a
//!     connection are in the group, the receiver's ACKs leave right after each data
//!     packet has moved the clock ahead; dropped, they stall the sender on its
//!     retransmission timer. Both directions do this.
//!   - The clocks are read and written without a lock (counters use atomic adds): two
//!     CPUs sending at the same instant may both pass on one reading, so the group can
//!     go over by a packet per collision. The kernel tests measure the result.
//! - **Mark** egress packets with a priority (`skb->priority`): what net_prio did, and
//!   with a class id (`MAJ:MIN` as `MAJ << 16 | MIN`) what net_cls did: HTB and PRIO
//!   qdiscs put a packet whose priority equals one of their class ids into that class.
//!
//! # The map
//!
//! Index 0 is the configuration rein writes ([`NetConfig`]): a live change (`rein set`)
//! rewrites it and the attached programs, which read it on every packet, follow at
//! once; the programs themselves never change. Index 1 is the state the programs keep
//! ([`NetCounters`] and the two clocks). Both are read back from the kernel (`rein show`,
//! `rein stat`) through the program attached to the group: program -> map id -> map.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::insn::{Alu, Asm, Insn, Jmp, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10};
use super::sys::{self, AttachType};
use crate::error::Result;

/// The name of rein's egress program (the name identifies rein's own programs).
pub const EGRESS_NAME: &str = "rein_net_out";
/// The name of rein's ingress program.
pub const INGRESS_NAME: &str = "rein_net_in";
/// The name of rein's TCP program (sock_ops), which paces the group's TCP senders.
pub const TCP_NAME: &str = "rein_net_tcp";
/// The name of the map the programs share.
pub const MAP_NAME: &str = "rein_net";

/// Size of each of the map's two values.
const VALUE_SIZE: usize = 64;
/// Fixed-point shift of the per-byte cost: `cost_ns = len * k >> SHIFT`.
const SHIFT: u32 = 20;
/// The largest packet the policer treats as small (not dropped at the burst, see the
/// module's notes): a TCP segment without payload is at most 100 bytes (IPv6's
/// 40-byte header, TCP's 20 and 40 of options); the kernel's Host Bandwidth Manager
/// sample (samples/bpf/hbm_kern.h, `LARGE_PKT_THRESH`) draws the line at 120 too.
const SMALL_PACKET: u32 = 120;

// Offsets in the configuration value.
const C_EG_K: i16 = 0;
const C_EG_BURST: i16 = 8;
const C_IN_K: i16 = 16;
const C_IN_BURST: i16 = 24;
const C_PRIO: i16 = 32;
const C_PRIO_IFINDEX: i16 = 36;
const C_EG_RATE: usize = 40;
const C_IN_RATE: usize = 48;
const C_FLAGS: usize = 56;
const FLAG_CLASSID: u32 = 1;
const FLAG_ACCOUNT: u32 = 2;

// Offsets in the state value.
const S_TX_BYTES: i16 = 0;
const S_TX_PACKETS: i16 = 8;
const S_RX_BYTES: i16 = 16;
const S_RX_PACKETS: i16 = 24;
const S_TX_DROPPED: i16 = 32;
const S_RX_DROPPED: i16 = 40;
const S_EG_TAT: i16 = 48;
const S_IN_TAT: i16 = 56;

// struct __sk_buff offsets (include/uapi/linux/bpf.h).
const SKB_LEN: i16 = 0;
const SKB_PRIORITY: i16 = 32;
const SKB_IFINDEX: i16 = 40;

// Helpers.
const MAP_LOOKUP_ELEM: i32 = 1;
const KTIME_GET_NS: i32 = 5;
const SETSOCKOPT: i32 = 49;
const SOCK_OPS_CB_FLAGS_SET: i32 = 59;

// sock_ops: the callbacks rein acts on, and its flag for RTT callbacks.
const OPS_ACTIVE_ESTABLISHED: i32 = 4;
const OPS_PASSIVE_ESTABLISHED: i32 = 5;
const OPS_RTT: i32 = 12;
const OPS_RTT_FLAG: i32 = 8;
const SOL_SOCKET: i32 = 1;
const SO_MAX_PACING_RATE: i32 = 47;

/// What mark the group's egress packets carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A socket priority (net_prio's), on every interface or on one (by ifindex).
    Priority {
        /// The priority.
        priority: u32,
        /// Only packets leaving through this interface; 0 for all.
        ifindex: u32,
    },
    /// A tc class id `MAJ:MIN` (net_cls's), as the packet's priority.
    Class {
        /// The major number (the qdisc's handle).
        major: u16,
        /// The minor number (the class).
        minor: u16,
    },
}

/// The settings the programs follow: the map's index 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetConfig {
    /// Egress rate in bits per second; `None`: not limited.
    pub egress_bps: Option<u64>,
    /// Ingress rate in bits per second; `None`: not limited.
    pub ingress_bps: Option<u64>,
    /// The mark of egress packets; `None`: left as the socket set it.
    pub mark: Option<Mark>,
}

/// What the programs counted: the map's index 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetCounters {
    /// Bytes sent by the group's sockets and let through (IP packets, headers included;
    /// a GSO packet, not yet cut into segments, has one set of headers).
    pub tx_bytes: u64,
    /// Packets sent (a GSO packet counts once).
    pub tx_packets: u64,
    /// Bytes received and let through.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets dropped on the way out for being over the egress rate.
    pub tx_dropped: u64,
    /// Packets dropped on the way in for being over the ingress rate.
    pub rx_dropped: u64,
}

/// The burst a rate allows: 5 ms of the rate, at least 64 KiB (one GSO packet of full
/// size, what TCP hands down at once on loopback), at most 4 MiB.
fn burst_ns(bps: u64) -> u64 {
    let bytes = (bps / 8 / 200).clamp(64 << 10, 4 << 20);
    bytes.saturating_mul(8_000_000_000) / bps.max(1)
}

/// The ingress burst: 250 ms of the rate, at least 64 KiB (one GSO/GRO packet of full
/// size: what arrives is already aggregated). A policer can only drop what arrives, and
/// a TCP sender that loses its last packets waits for its retransmission timeout (at
/// least 200 ms) before it sends again; a bucket that holds what the rate brings in that
/// time lets the sender make up for the pause, so the average holds the rate.
fn ingress_burst_ns(bps: u64) -> u64 {
    let bytes = (bps / 8 / 4).clamp(64 << 10, 64 << 20);
    bytes.saturating_mul(8_000_000_000) / bps.max(1)
}

/// The per-byte cost in ns, shifted by [`SHIFT`].
fn cost_k(bps: u64) -> u64 {
    ((8_000_000_000u128 << SHIFT) / u128::from(bps.max(1))).min(u128::from(u64::MAX)) as u64
}

impl NetConfig {
    /// The map value.
    pub fn to_bytes(&self) -> [u8; VALUE_SIZE] {
        let mut b = [0u8; VALUE_SIZE];
        let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        if let Some(bps) = self.egress_bps {
            put(C_EG_K as usize, cost_k(bps));
            put(C_EG_BURST as usize, burst_ns(bps));
            put(C_EG_RATE, bps);
        }
        if let Some(bps) = self.ingress_bps {
            put(C_IN_K as usize, cost_k(bps));
            put(C_IN_BURST as usize, ingress_burst_ns(bps));
            put(C_IN_RATE, bps);
        }
        let (prio, ifindex, flags) = match self.mark {
            None => (0, 0, 0),
            Some(Mark::Priority { priority, ifindex }) => (priority, ifindex, 0),
            Some(Mark::Class { major, minor }) => ((u32::from(major) << 16) | u32::from(minor), 0, FLAG_CLASSID),
        };
        b[C_PRIO as usize..C_PRIO as usize + 4].copy_from_slice(&prio.to_ne_bytes());
        b[C_PRIO_IFINDEX as usize..C_PRIO_IFINDEX as usize + 4].copy_from_slice(&ifindex.to_ne_bytes());
        b[C_FLAGS..C_FLAGS + 4].copy_from_slice(&(flags | FLAG_ACCOUNT).to_ne_bytes());
        b
    }

    /// Back from the map value.
    pub fn from_bytes(b: &[u8]) -> NetConfig {
        let u64_at = |off: usize| b.get(off..off + 8).map_or(0, |s| u64::from_ne_bytes(s.try_into().expect("8")));
        let u32_at = |off: usize| b.get(off..off + 4).map_or(0, |s| u32::from_ne_bytes(s.try_into().expect("4")));
        let rate = |k: i16, bps: usize| (u64_at(k as usize) != 0).then(|| u64_at(bps));
        let prio = u32_at(C_PRIO as usize);
        let mark = match (prio, u32_at(C_FLAGS) & FLAG_CLASSID != 0) {
            (0, _) => None,
            (p, true) => Some(Mark::Class { major: (p >> 16) as u16, minor: p as u16 }),
            (p, false) => Some(Mark::Priority { priority: p, ifindex: u32_at(C_PRIO_IFINDEX as usize) }),
        };
        NetConfig { egress_bps: rate(C_EG_K, C_EG_RATE), ingress_bps: rate(C_IN_K, C_IN_RATE), mark }
    }
}

impl std::fmt::Display for NetConfig {
    /// `egress 10mbit, ingress max, class 1:10` (dry runs and diffs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = |b: Option<u64>| b.map(|b| crate::units::Rate(b).to_string()).unwrap_or_else(|| "max".into());
        write!(f, "egress {}, ingress {}", rate(self.egress_bps), rate(self.ingress_bps))?;
        match self.mark {
            Some(Mark::Priority { priority, ifindex: 0 }) => write!(f, ", priority {priority}"),
            Some(Mark::Priority { priority, ifindex }) => write!(f, ", priority {priority} on interface {ifindex}"),
            Some(Mark::Class { major, minor }) => write!(f, ", class {major:x}:{minor:x}"),
            None => Ok(()),
        }
    }
}

impl NetCounters {
    fn from_bytes(b: &[u8]) -> NetCounters {
        let at = |off: i16| u64::from_ne_bytes(b[off as usize..off as usize + 8].try_into().expect("8"));
        NetCounters {
            tx_bytes: at(S_TX_BYTES),
            tx_packets: at(S_TX_PACKETS),
            rx_bytes: at(S_RX_BYTES),
            rx_packets: at(S_RX_PACKETS),
            tx_dropped: at(S_TX_DROPPED),
            rx_dropped: at(S_RX_DROPPED),
        }
    }
}

/// Looks up index `key` of the map whose fd is `map` into `dst` (r0..r5 clobbered);
/// jumps to `missing` when the lookup fails.
fn lookup(a: &mut Asm, map: i32, key: i32, dst: super::insn::Reg, missing: super::insn::Label) {
    a.push(Insn::st_w(R10, -4, key));
    a.extend(Insn::ld_map_fd(R1, map));
    a.push(Insn::mov64_reg(R2, R10));
    a.push(Insn::alu64_imm(Alu::Add, R2, -4));
    a.push(Insn::call(MAP_LOOKUP_ELEM));
    a.jmp_imm(Jmp::Jeq, R0, 0, missing);
    a.push(Insn::mov64_reg(dst, R0));
}

/// The program for one direction, using the map whose fd is `map`.
pub fn program(map: i32, egress: bool) -> Vec<Insn> {
    let (bytes, packets, dropped, k, burst, tat) = if egress {
        (S_TX_BYTES, S_TX_PACKETS, S_TX_DROPPED, C_EG_K, C_EG_BURST, S_EG_TAT)
    } else {
        (S_RX_BYTES, S_RX_PACKETS, S_RX_DROPPED, C_IN_K, C_IN_BURST, S_IN_TAT)
    };
    let mut a = Asm::new();
    let early = a.label();
    let pass = a.label();
    let pass_cn = a.label();
    let over = a.label();
    let rate = a.label();
    let set_prio = a.label();
    let busy = a.label();
    let beyond = a.label();
    a.push(Insn::mov64_reg(R6, R1));
    lookup(&mut a, map, 0, R7, early);
    lookup(&mut a, map, 1, R8, early);
    a.push(Insn::ldx_w(R9, R6, SKB_LEN));
    // Mark (egress).
    if egress {
        a.push(Insn::ldx_w(R1, R7, C_PRIO));
        a.jmp_imm(Jmp::Jeq, R1, 0, rate);
        a.push(Insn::ldx_w(R2, R7, C_PRIO_IFINDEX));
        a.jmp_imm(Jmp::Jeq, R2, 0, set_prio);
        a.push(Insn::ldx_w(R3, R6, SKB_IFINDEX));
        a.jmp_reg(Jmp::Jne, R3, R2, rate);
        a.place(set_prio);
        a.push(Insn::stx_w(R6, SKB_PRIORITY, R1));
    }
    a.place(rate);
    // Police. The cost (len x k >> SHIFT) goes to the stack across the clock's call.
    a.push(Insn::ldx_dw(R1, R7, k));
    a.jmp_imm(Jmp::Jeq, R1, 0, pass);
    a.push(Insn::alu64_reg(Alu::Mul, R1, R9));
    a.push(Insn::alu64_imm(Alu::Rsh, R1, SHIFT as i32));
    a.push(Insn::stx_dw(R10, -16, R1));
    a.push(Insn::call(KTIME_GET_NS));
    // r1 = the clock, at least now.
    a.push(Insn::ldx_dw(R1, R8, tat));
    a.jmp_reg(Jmp::Jge, R1, R0, busy);
    a.push(Insn::mov64_reg(R1, R0));
    a.place(busy);
    // r2 = how far ahead of now the clock is; r3 = the burst.
    a.push(Insn::mov64_reg(R2, R1));
    a.push(Insn::alu64_reg(Alu::Sub, R2, R0));
    a.push(Insn::ldx_dw(R3, R7, burst));
    a.jmp_reg(Jmp::Jgt, R2, R3, beyond);
    a.push(Insn::ldx_dw(R4, R10, -16));
    a.push(Insn::alu64_reg(Alu::Add, R1, R4));
    a.push(Insn::stx_dw(R8, tat, R1));
    if egress {
        a.push(Insn::alu64_imm(Alu::Rsh, R3, 1));
        a.jmp_reg(Jmp::Jgt, R2, R3, pass_cn);
    }
    a.ja(pass);
    // Beyond the burst: a small packet (a TCP segment without payload: an ACK, SYN, FIN
    // or RST) still passes, and is charged, until the clock is past twice the burst plus
    // one full-size (64 KiB) GSO packet's cost: r3 = 2 x burst + k >> (SHIFT - 16).
    a.place(beyond);
    a.jmp_imm(Jmp::Jgt, R9, SMALL_PACKET as i32, over);
    a.push(Insn::alu64_imm(Alu::Lsh, R3, 1));
    a.push(Insn::ldx_dw(R4, R7, k));
    a.push(Insn::alu64_imm(Alu::Rsh, R4, (SHIFT - 16) as i32));
    a.push(Insn::alu64_reg(Alu::Add, R3, R4));
    a.jmp_reg(Jmp::Jgt, R2, R3, over);
    a.push(Insn::ldx_dw(R4, R10, -16));
    a.push(Insn::alu64_reg(Alu::Add, R1, R4));
    a.push(Insn::stx_dw(R8, tat, R1));
    if egress {
        a.ja(pass_cn);
    }
    // Passed: counted.
    a.place(pass);
    a.push(Insn::atomic_add_dw(R8, bytes, R9));
    a.push(Insn::mov32_imm(R1, 1));
    a.push(Insn::atomic_add_dw(R8, packets, R1));
    a.place(early);
    a.push(Insn::mov32_imm(R0, 1));
    a.push(Insn::exit());
    if egress {
        a.place(pass_cn);
        a.push(Insn::atomic_add_dw(R8, bytes, R9));
        a.push(Insn::mov32_imm(R1, 1));
        a.push(Insn::atomic_add_dw(R8, packets, R1));
        a.push(Insn::mov32_imm(R0, 3));
        a.push(Insn::exit());
    }
    a.place(over);
    a.push(Insn::mov32_imm(R1, 1));
    a.push(Insn::atomic_add_dw(R8, dropped, R1));

    // Egress: drop and notify (2); ingress: drop (0).
    a.push(Insn::mov32_imm(R0, if egress { 2 } else { 0 }));
    a.push(Insn::exit());
    a.finish().expect("the network program's labels are all placed")
}

/// The TCP program: when a connection of the group is established, and on each RTT
/// sample after (so that a live change reaches connections already open), it sets the
/// socket's SO_MAX_PACING_RATE to the group's egress rate (or lifts it). TCP then paces
/// itself (its internal pacing needs no fq qdisc) and a single connection meets the
/// egress policer at the rate, instead of in bursts the policer would have to drop; the
/// policer still holds the group's total when several connections send at once.
pub fn tcp_program(map: i32) -> Vec<Insn> {
    let mut a = Asm::new();
    let out = a.label();
    let set = a.label();
    let limited = a.label();
    let store = a.label();
    a.push(Insn::mov64_reg(R6, R1));
    a.push(Insn::ldx_w(R8, R6, 0));
    for op in [OPS_ACTIVE_ESTABLISHED, OPS_PASSIVE_ESTABLISHED, OPS_RTT] {
        a.jmp_imm(Jmp::Jeq, R8, op, set);
    }
    a.ja(out);
    a.place(set);
    lookup(&mut a, map, 0, R7, out);
    // r1 = the pacing rate in bytes per second, u32 (~0: no limit, what the kernel
    // takes). TCP paces its payload; the policer counts IP packets: 31/32 of the rate
    // keeps a full-size segment's headers (52 of 1500 bytes) under the limit.
    a.push(Insn::ldx_dw(R1, R7, C_EG_RATE as i16));
    a.jmp_imm(Jmp::Jne, R1, 0, limited);
    a.push(Insn::mov32_imm(R1, -1));
    a.ja(store);
    a.place(limited);
    a.push(Insn::alu64_imm(Alu::Mul, R1, 31));
    a.push(Insn::alu64_imm(Alu::Rsh, R1, 8));
    a.extend(Insn::ld_imm64(R2, 0xffff_fffe));
    a.jmp_reg(Jmp::Jle, R1, R2, store);
    a.push(Insn::mov64_reg(R1, R2));
    a.place(store);
    a.push(Insn::stx_w(R10, -8, R1));
    a.push(Insn::mov64_reg(R1, R6));
    a.push(Insn::mov32_imm(R2, SOL_SOCKET));
    a.push(Insn::mov32_imm(R3, SO_MAX_PACING_RATE));
    a.push(Insn::mov64_reg(R4, R10));
    a.push(Insn::alu64_imm(Alu::Add, R4, -8));
    a.push(Insn::mov32_imm(R5, 4));
    a.push(Insn::call(SETSOCKOPT));
    // Established: ask for RTT callbacks from now on.
    a.jmp_imm(Jmp::Jeq, R8, OPS_RTT, out);
    a.push(Insn::mov64_reg(R1, R6));
    a.push(Insn::mov32_imm(R2, OPS_RTT_FLAG));
    a.push(Insn::call(SOCK_OPS_CB_FLAGS_SET));
    a.place(out);
    a.push(Insn::mov32_imm(R0, 1));
    a.push(Insn::exit());
    a.finish().expect("the TCP program's labels are all placed")
}

/// rein's programs and map on a group's cgroup2 directory.
struct Attached {
    map: OwnedFd,
}

/// The map of rein's egress program on `cgroup`, if it has one.
fn attached(cgroup: BorrowedFd<'_>) -> Result<Option<Attached>> {
    for (_, info) in super::find(cgroup, AttachType::InetEgress, EGRESS_NAME)? {
        for id in info.map_ids {
            let Ok(map) = sys::map_fd_by_id(id) else { continue };
            return Ok(Some(Attached { map }));
        }
    }
    Ok(None)
}

/// Makes `config` the group's network settings: writes it into the map of rein's
/// programs on `cgroup`, or, when there are none, creates the map and attaches both
/// programs (ingress first, then egress, which [`read`] finds the map through).
pub fn apply(cgroup: BorrowedFd<'_>, config: &NetConfig) -> Result<()> {
    let io = |op: &str, e| super::bpf_io(op.to_string(), e);
    if let Some(a) = attached(cgroup)? {
        sys::map_update(a.map.as_fd(), 0, &config.to_bytes()).map_err(|e| io("write the network settings", e))?;
        return Ok(());
    }
    let map = sys::array_map_create(VALUE_SIZE as u32, 2, MAP_NAME)?;
    sys::map_update(map.as_fd(), 0, &config.to_bytes()).map_err(|e| io("write the network settings", e))?;
    let fd = map.as_raw_fd();
    let attached = super::install(cgroup, AttachType::SockOps, TCP_NAME, &tcp_program(fd))
        .and_then(|()| super::install(cgroup, AttachType::InetIngress, INGRESS_NAME, &program(fd, false)))
        .and_then(|()| super::install(cgroup, AttachType::InetEgress, EGRESS_NAME, &program(fd, true)));
    if let Err(e) = attached {
        let _ = remove(cgroup);
        return Err(e);
    }
    Ok(())
}

/// The settings and counters of rein's programs on `cgroup`; None when it has none.
pub fn read(cgroup: BorrowedFd<'_>) -> Result<Option<(NetConfig, NetCounters)>> {
    let Some(a) = attached(cgroup)? else { return Ok(None) };
    let mut config = [0u8; VALUE_SIZE];
    let mut state = [0u8; VALUE_SIZE];
    let io = |e| super::bpf_io("read the network map", e);
    sys::map_lookup(a.map.as_fd(), 0, &mut config).map_err(io)?;
    sys::map_lookup(a.map.as_fd(), 1, &mut state).map_err(io)?;
    Ok(Some((NetConfig::from_bytes(&config), NetCounters::from_bytes(&state))))
}

/// Detaches rein's network programs from `cgroup` (the map goes with them); true if
/// there were any.
pub fn remove(cgroup: BorrowedFd<'_>) -> Result<bool> {
    let mut any = super::remove(cgroup, AttachType::InetEgress, EGRESS_NAME)?;
    any |= super::remove(cgroup, AttachType::InetIngress, INGRESS_NAME)?;
    any |= super::remove(cgroup, AttachType::SockOps, TCP_NAME)?;
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_reads_back_as_written() {
        for c in [
            NetConfig::default(),
            NetConfig { egress_bps: Some(10_000_000), ingress_bps: None, mark: None },
            NetConfig {
                egress_bps: Some(1_000),
                ingress_bps: Some(100_000_000_000),
                mark: Some(Mark::Priority { priority: 6, ifindex: 3 }),
            },
            NetConfig { egress_bps: None, ingress_bps: Some(1), mark: Some(Mark::Class { major: 1, minor: 10 }) },
        ] {
            assert_eq!(NetConfig::from_bytes(&c.to_bytes()), c);
        }
    }

    #[test]
    fn costs_and_bursts() {
        // 8 ns per byte at 1 Gbit/s, in 2^20 fixed point; a 1500-byte packet at 10 Mbit/s
        // costs 1.2 ms.
        assert_eq!(cost_k(1_000_000_000), 8 << 20);
        assert_eq!((1500 * cost_k(10_000_000)) >> SHIFT, 1_200_000);
        // 5 ms of 1 Gbit/s is 625 KB; 100 Mbit/s gets the 64 KiB floor (5.2 ms), and
        // 1 Mbit/s too (524 ms).
        assert_eq!(burst_ns(1_000_000_000), 5_000_000);
        assert_eq!(burst_ns(100_000_000), 5_242_880);
        assert_eq!(burst_ns(1_000_000), 524_288_000);
        assert!(burst_ns(1) > 0 && cost_k(1) > 0);
    }

    /// The egress program run in the interpreter: a map of the two values, a clock the
    /// test sets, and a packet of `len` bytes; returns the program's verdict.
    struct Policer {
        prog: Vec<Insn>,
        map: Vec<u8>,
        now: u64,
    }

    impl Policer {
        fn new(config: &NetConfig, egress: bool) -> Policer {
            let mut map = vec![0u8; 2 * VALUE_SIZE];
            map[..VALUE_SIZE].copy_from_slice(&config.to_bytes());
            Policer { prog: program(7, egress), map, now: 1_000_000_000 }
        }

        fn send(&mut self, len: u32) -> u64 {
            use super::super::interp::{DATA_BASE, STACK_BASE, run_with_data};
            let mut skb = [0u8; 192];
            skb[..4].copy_from_slice(&len.to_ne_bytes());
            let now = self.now;
            let mut helper = |h: i32, args: [u64; 5], stack: &[u8]| match h {
                MAP_LOOKUP_ELEM => {
                    assert_eq!(args[0], 7, "the map's fd");
                    let at = (args[1] - STACK_BASE) as usize;
                    let key = u32::from_ne_bytes(stack[at..at + 4].try_into().unwrap());
                    Ok(if key < 2 { DATA_BASE + u64::from(key) * VALUE_SIZE as u64 } else { 0 })
                }
                KTIME_GET_NS => Ok(now),
                _ => Err(format!("helper {h}")),
            };
            run_with_data(&self.prog, &mut skb, &mut self.map, &mut helper).expect("the program runs")
        }

        fn counters(&self) -> NetCounters {
            NetCounters::from_bytes(&self.map[VALUE_SIZE..])
        }
    }

    #[test]
    fn small_packets_pass_beyond_the_burst_and_are_charged() {
        // 10 Mbit/s: the burst is 64 KiB (52.4 ms), a 64 KiB packet costs 52.4 ms, an ACK
        // of 66 bytes 52.8 us.
        let config = NetConfig { egress_bps: Some(10_000_000), ..NetConfig::default() };
        let mut p = Policer::new(&config, true);
        // Two 64 KiB packets at once: the second finds the clock one burst ahead, no more.
        assert_eq!(p.send(65536), 1);
        assert_ne!(p.send(65536) & 1, 0);
        // The clock is now two bursts ahead: a data packet is dropped (with congestion
        // notification), an ACK passes (with one).
        assert_eq!(p.send(1400), 2);
        assert_eq!(p.send(66), 3);
        // ACKs pass until the clock is 2 x burst + 64 KiB ahead (157.3 ms): the 104.9 ms
        // already there plus about 990 ACKs of 52.8 us; then they are dropped too.
        let mut passed = 1;
        while p.send(66) == 3 {
            passed += 1;
            assert!(passed < 2000, "ACKs are never dropped");
        }
        assert!((980..=1000).contains(&passed), "{passed} ACKs passed");
        let c = p.counters();
        assert_eq!((c.tx_packets, c.tx_dropped), (2 + passed, 2));
        assert_eq!(c.tx_bytes, 2 * 65536 + 66 * passed);
        // Everything that passed was charged: data waits until the clock is back within
        // the burst, 157.3 - 52.4 ms from now.
        p.now += 100_000_000;
        assert_eq!(p.send(1400), 2);
        p.now += 5_000_000;
        assert_ne!(p.send(1400) & 1, 0);
        // A packet over 120 bytes gets no margin.
        assert_eq!(p.send(121), 2);
    }

    #[test]
    fn the_rate_holds_whatever_mix_is_offered() {
        // 10 Mbit/s offered 20 Mbit/s of 1400-byte packets and a 66-byte packet after each
        // for 2 s: what passes in any prefix is at most the rate, plus the burst and one
        // packet, plus the small packets' margin (2 x burst + 64 KiB).
        for egress in [true, false] {
            let bps = 10_000_000u64;
            let config = if egress {
                NetConfig { egress_bps: Some(bps), ..NetConfig::default() }
            } else {
                NetConfig { ingress_bps: Some(bps), ..NetConfig::default() }
            };
            let burst = if egress { burst_ns(bps) } else { ingress_burst_ns(bps) };
            let mut p = Policer::new(&config, egress);
            let start = p.now;
            let mut passed = 0u64;
            for _ in 0..3600 {
                for len in [1400, 66] {
                    if p.send(len) & 1 == 1 {
                        passed += u64::from(len);
                    }
                }
                p.now += 560_000;
                let most = (p.now - start + 3 * burst + 2 * (cost_k(bps) >> 4)) as f64 * bps as f64 / 8e9;
                assert!(passed as f64 <= most, "{passed} bytes in {} ns, over {most}", p.now - start);
            }
            // And it comes near the rate: more than 90% of it.
            let rate = passed as f64 * 8e9 / (p.now - start) as f64;
            assert!(rate > 0.9 * bps as f64, "{rate} bit/s");
        }
    }

    #[test]
    fn programs_assemble_for_both_directions() {
        for egress in [true, false] {
            let p = program(3, egress);
            assert!(p.len() < 80, "{}", p.len());
            assert!(p.last().unwrap().is_exit());
        }
        assert!(tcp_program(3).last().unwrap().is_exit());
    }
}
