//! The bpf(2) system call for what rein does with cgroup programs: load a program (with
//! the verifier's log when the kernel refuses it), attach it to a cgroup directory
//! (atomically replacing an earlier one), detach it, list what is attached, and read a
//! loaded program back (its name and translated instructions).
//!
//! `union bpf_attr` is filled field by field at the offsets of include/uapi/linux/bpf.h
//! into a zeroed buffer: the kernel accepts a larger attr than it knows only when the
//! extra bytes are zero, so one buffer size serves every kernel since 4.15.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::insn::{self, Insn};
use crate::error::{Error, Result};

// bpf(2) commands.
const BPF_MAP_CREATE: u32 = 0;
const BPF_MAP_LOOKUP_ELEM: u32 = 1;
const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_PROG_LOAD: u32 = 5;
const BPF_PROG_ATTACH: u32 = 8;
const BPF_PROG_DETACH: u32 = 9;
const BPF_PROG_GET_FD_BY_ID: u32 = 13;
const BPF_MAP_GET_FD_BY_ID: u32 = 14;
const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
const BPF_PROG_QUERY: u32 = 16;

/// Attach flag: several programs on one cgroup, all of them run (kernel 4.15).
pub const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
/// Attach flag: replace the program given as `replace_bpf_fd` in place (kernel 5.6).
pub const BPF_F_REPLACE: u32 = 1 << 2;

/// Program and attach types rein uses (enum bpf_prog_type, enum bpf_attach_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgType {
    /// BPF_PROG_TYPE_CGROUP_DEVICE: decides each device access of the group's tasks.
    CgroupDevice,
    /// BPF_PROG_TYPE_CGROUP_SKB: sees each packet of the group's sockets.
    CgroupSkb,
    /// BPF_PROG_TYPE_SOCK_OPS: called on TCP events of the group's sockets.
    SockOps,
}

impl ProgType {
    fn raw(self) -> u32 {
        match self {
            ProgType::CgroupSkb => 8,
            ProgType::SockOps => 13,
            ProgType::CgroupDevice => 15,
        }
    }
}

/// Where on a cgroup a program is attached (enum bpf_attach_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachType {
    /// BPF_CGROUP_INET_INGRESS.
    InetIngress,
    /// BPF_CGROUP_INET_EGRESS.
    InetEgress,
    /// BPF_CGROUP_DEVICE.
    Device,
    /// BPF_CGROUP_SOCK_OPS.
    SockOps,
}

impl AttachType {
    fn raw(self) -> u32 {
        match self {
            AttachType::InetIngress => 0,
            AttachType::InetEgress => 1,
            AttachType::Device => 6,
            AttachType::SockOps => 3,
        }
    }

    /// The program type that attaches here.
    pub fn prog_type(self) -> ProgType {
        match self {
            AttachType::InetIngress | AttachType::InetEgress => ProgType::CgroupSkb,
            AttachType::Device => ProgType::CgroupDevice,
            AttachType::SockOps => ProgType::SockOps,
        }
    }
}

/// `union bpf_attr`, zeroed, 8-byte aligned; 128 bytes holds every field rein sets.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Attr {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Attr {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().expect("4 bytes"))
    }
}

/// bpf(cmd, attr, sizeof attr). Returns the syscall's non-negative result.
fn bpf(cmd: u32, attr: &mut Attr) -> std::io::Result<i32> {
    loop {
        // SAFETY: attr is a live, writable, 8-byte aligned buffer of the size passed; the
        // pointers stored in it (instructions, log, id and info buffers) are owned by the
        // caller's frame and outlive this call, and the kernel writes no more than the
        // lengths stored beside them.
        let r = unsafe {
            libc::syscall(libc::SYS_bpf, cmd as libc::c_long, attr.0.as_mut_ptr(), std::mem::size_of::<Attr>())
        };
        if r >= 0 {
            return Ok(r as i32);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// An [`Error::Bpf`] with a hint for the errors whose cause is clear.
pub(crate) fn bpf_error(op: impl Into<String>, cause: std::io::Error) -> Error {
    let hint = match cause.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            Some("cgroup BPF programs need root (CAP_BPF and CAP_NET_ADMIN or CAP_SYS_ADMIN)".to_string())
        }
        Some(libc::ENOSYS) => Some("this kernel has no bpf(2) (CONFIG_BPF_SYSCALL is not set)".to_string()),
        Some(libc::EINVAL) => Some(
            "the kernel does not know this program or attach type (cgroup device programs need 4.15, \
             BPF_F_REPLACE 5.6), or CONFIG_CGROUP_BPF is not set"
                .to_string(),
        ),
        Some(libc::E2BIG) => Some("a cgroup holds at most 64 programs of one attach type".to_string()),
        Some(libc::EBADF) | Some(libc::ENOTDIR) => Some("BPF programs attach to cgroup v2 directories".into()),
        _ => None,
    };
    Error::Bpf { op: op.into(), cause, log: None, hint }
}

/// Loads a program; `name` (at most 15 bytes kept) identifies it in `bpftool prog` and in
/// [`prog_info`]. When the verifier refuses the program, it is loaded once more with a
/// log, and the log is part of the error.
pub fn prog_load(kind: ProgType, expected: Option<AttachType>, insns: &[Insn], name: &str) -> Result<OwnedFd> {
    let bytes = insn::to_bytes(insns);
    let license = CString::new("GPL").expect("no NUL");
    let mut name_bytes = [0u8; 16];
    for (d, s) in name_bytes.iter_mut().zip(name.bytes().filter(|b| b.is_ascii_alphanumeric() || *b == b'_').take(15)) {
        *d = s;
    }
    let load = |log: Option<&mut Vec<u8>>| {
        let mut a = Attr::new();
        a.u32(0, kind.raw()).u32(4, insns.len() as u32).u64(8, bytes.as_ptr() as u64).u64(16, license.as_ptr() as u64);
        if let Some(log) = log {
            a.u32(24, 1).u32(28, log.len() as u32).u64(32, log.as_mut_ptr() as u64);
        }
        a.0[48..64].copy_from_slice(&name_bytes);
        if let Some(t) = expected {
            a.u32(68, t.raw());
        }
        bpf(BPF_PROG_LOAD, &mut a)
    };
    let mut first = load(None);
    if matches!(&first, Err(e) if e.raw_os_error() == Some(libc::EPERM)) && raise_memlock() {
        // Kernels before 5.11 charge programs to RLIMIT_MEMLOCK (often 64 KiB).
        first = load(None);
    }
    match first {
        Ok(fd) => Ok(owned(fd)),
        Err(cause) if cause.raw_os_error() == Some(libc::EACCES) || cause.raw_os_error() == Some(libc::EINVAL) => {
            // The verifier said no: ask again with its log.
            let mut log = vec![0u8; 256 * 1024];
            let _ = load(Some(&mut log));
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
            let mut e = bpf_error(format!("load the {name} BPF program"), cause);
            if let Error::Bpf { log: l, hint, .. } = &mut e {
                if !text.is_empty() {
                    *l = Some(text);
                    *hint = Some("the kernel's verifier refused the program; its log follows".into());
                }
            }
            Err(e)
        }
        Err(cause) => Err(bpf_error(format!("load the {name} BPF program"), cause)),
    }
}

/// Raises RLIMIT_MEMLOCK to infinity for this process; false if that was not possible
/// or already so.
fn raise_memlock() -> bool {
    let mut cur = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid, owned struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut cur) != 0 || cur.rlim_cur == libc::RLIM_INFINITY {
            return false;
        }
        let inf = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
        libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) == 0
    }
}

/// Attaches `prog` to the cgroup directory `cgroup` with BPF_F_ALLOW_MULTI, in place of
/// `replace` when given (BPF_F_REPLACE: one atomic step, no moment with neither or both).
pub fn prog_attach(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    at: AttachType,
    replace: Option<BorrowedFd<'_>>,
) -> std::io::Result<()> {
    let mut a = Attr::new();
    let mut flags = BPF_F_ALLOW_MULTI;
    a.u32(0, cgroup.as_raw_fd() as u32).u32(4, prog.as_raw_fd() as u32).u32(8, at.raw());
    if let Some(old) = replace {
        flags |= BPF_F_REPLACE;
        a.u32(16, old.as_raw_fd() as u32);
    }
    a.u32(12, flags);
    bpf(BPF_PROG_ATTACH, &mut a).map(|_| ())
}

/// Detaches `prog` from the cgroup directory `cgroup`.
pub fn prog_detach(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>, at: AttachType) -> std::io::Result<()> {
    let mut a = Attr::new();
    a.u32(0, cgroup.as_raw_fd() as u32).u32(4, prog.as_raw_fd() as u32).u32(8, at.raw());
    bpf(BPF_PROG_DETACH, &mut a).map(|_| ())
}

/// The ids of the programs attached to `cgroup` itself at `at` (not inherited ones), in
/// the order they run.
pub fn prog_query(cgroup: BorrowedFd<'_>, at: AttachType) -> std::io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    loop {
        let mut a = Attr::new();
        a.u32(0, cgroup.as_raw_fd() as u32).u32(4, at.raw()).u64(16, ids.as_mut_ptr() as u64).u32(24, ids.len() as u32);
        match bpf(BPF_PROG_QUERY, &mut a) {
            Ok(_) => {
                let n = a.get_u32(24) as usize;
                ids.truncate(n);
                return Ok(ids);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                let n = a.get_u32(24) as usize;
                ids = vec![0u32; n.max(ids.len() * 2)];
            }
            Err(e) => return Err(e),
        }
    }
}

/// An fd of the loaded program with id `id`.
pub fn prog_fd_by_id(id: u32) -> std::io::Result<OwnedFd> {
    let mut a = Attr::new();
    a.u32(0, id);
    bpf(BPF_PROG_GET_FD_BY_ID, &mut a).map(owned)
}

/// What the kernel says of a loaded program.
#[derive(Debug, Clone)]
pub struct ProgInfo {
    /// Its id (`bpftool prog show id N`).
    pub id: u32,
    /// Its name as loaded.
    pub name: String,
    /// Its instructions as the verifier left them (xlated), empty when the kernel does
    /// not hand them out to this process.
    pub insns: Vec<Insn>,
    /// The ids of the maps it uses.
    pub map_ids: Vec<u32>,
}

/// Reads a loaded program's id, name and translated instructions.
pub fn prog_info(prog: BorrowedFd<'_>) -> std::io::Result<ProgInfo> {
    // struct bpf_prog_info: id at 4, xlated_prog_len at 20, xlated_prog_insns at 32,
    // nr_map_ids at 52, map_ids at 56, name at 64 (16 bytes). 96 bytes cover them; the
    // kernel fills at most info_len.
    const INFO_LEN: usize = 96;
    let query = |buf: &mut [u8; INFO_LEN]| {
        let mut a = Attr::new();
        a.u32(0, prog.as_raw_fd() as u32).u32(4, INFO_LEN as u32).u64(8, buf.as_mut_ptr() as u64);
        bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a)
    };
    let mut info = [0u8; INFO_LEN];
    query(&mut info)?;
    let get = |b: &[u8; INFO_LEN], off: usize| u32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"));
    let xlated_len = get(&info, 20) as usize;
    let nr_maps = get(&info, 52) as usize;
    let mut xlated = vec![0u8; xlated_len];
    let mut map_ids = vec![0u32; nr_maps];
    if xlated_len > 0 || nr_maps > 0 {
        let mut again = [0u8; INFO_LEN];
        again[20..24].copy_from_slice(&(xlated_len as u32).to_ne_bytes());
        again[32..40].copy_from_slice(&(xlated.as_mut_ptr() as u64).to_ne_bytes());
        again[52..56].copy_from_slice(&(nr_maps as u32).to_ne_bytes());
        again[56..64].copy_from_slice(&(map_ids.as_mut_ptr() as u64).to_ne_bytes());
        query(&mut again)?;
        // Some kernels hand out no instructions (kernel.kptr_restrict, no CAP_SYS_ADMIN).
        if get(&again, 20) as usize != xlated_len || again[32..40] == [0; 8] {
            xlated.clear();
        }
        map_ids.truncate((get(&again, 52) as usize).min(nr_maps));
    }
    let name_end = info[64..80].iter().position(|b| *b == 0).unwrap_or(16);
    Ok(ProgInfo {
        id: get(&info, 4),
        name: String::from_utf8_lossy(&info[64..64 + name_end]).into_owned(),
        insns: insn::from_bytes(&xlated),
        map_ids,
    })
}

/// Creates an array map of `entries` values of `value_size` bytes (keys are u32 indexes),
/// named `name` (at most 15 bytes kept).
pub fn array_map_create(value_size: u32, entries: u32, name: &str) -> Result<OwnedFd> {
    const BPF_MAP_TYPE_ARRAY: u32 = 2;
    let mut a = Attr::new();
    a.u32(0, BPF_MAP_TYPE_ARRAY).u32(4, 4).u32(8, value_size).u32(12, entries);
    for (d, s) in a.0[28..44].iter_mut().zip(name.bytes().filter(|b| b.is_ascii_alphanumeric() || *b == b'_').take(15))
    {
        *d = s;
    }
    let mut r = bpf(BPF_MAP_CREATE, &mut a);
    if matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EPERM)) && raise_memlock() {
        r = bpf(BPF_MAP_CREATE, &mut a);
    }
    r.map(owned).map_err(|e| bpf_error(format!("create the {name} BPF map"), e))
}

/// Reads the value at index `key` of an array map into `value` (its whole size).
pub fn map_lookup(map: BorrowedFd<'_>, key: u32, value: &mut [u8]) -> std::io::Result<()> {
    let mut a = Attr::new();
    let k = key.to_ne_bytes();
    a.u32(0, map.as_raw_fd() as u32).u64(8, k.as_ptr() as u64).u64(16, value.as_mut_ptr() as u64);
    bpf(BPF_MAP_LOOKUP_ELEM, &mut a).map(|_| ())
}

/// Writes `value` (the map's whole value size) at index `key` of an array map.
pub fn map_update(map: BorrowedFd<'_>, key: u32, value: &[u8]) -> std::io::Result<()> {
    let mut a = Attr::new();
    let k = key.to_ne_bytes();
    a.u32(0, map.as_raw_fd() as u32).u64(8, k.as_ptr() as u64).u64(16, value.as_ptr() as u64);
    bpf(BPF_MAP_UPDATE_ELEM, &mut a).map(|_| ())
}

/// An fd of the map with id `id`.
pub fn map_fd_by_id(id: u32) -> std::io::Result<OwnedFd> {
    let mut a = Attr::new();
    a.u32(0, id);
    bpf(BPF_MAP_GET_FD_BY_ID, &mut a).map(owned)
}
