//! cgroup BPF programs: the mechanism behind device access control and network control
//! on cgroup v2, where the devices and net_cls/net_prio controllers of v1 do not exist.
//!
//! # Why hand-assembled programs over raw bpf(2)
//!
//! rein's programs are generated from the user's rules at run time (a device rule list
//! becomes a chain of compares), they are small (tens to a few hundred instructions), and
//! they use no maps or helpers that need BTF or CO-RE relocation. So the library
//! assembles instructions itself ([`insn::Asm`]) and talks to the kernel with the bpf(2)
//! system call directly ([`sys`]), through libc, like crun (`src/libcrun/ebpf.c`) and
//! runc do. What that buys:
//! - `cargo build` stays plain Rust on a fresh machine: no clang, no libbpf, no
//!   kernel headers, no build script (libbpf-rs needs clang and libelf to build its
//!   skeletons; aya needs a BPF target toolchain for programs written in Rust);
//! - the programs are data the unit tests can run: [`interp`] is an interpreter for the
//!   instructions rein emits, so every rule table is tested without root;
//! - the only `unsafe` is the system call itself, in [`sys`].
//!
//! # Rules every user of this module keeps
//!
//! - rein owns only programs it loaded, recognised by their name (`rein_...`); programs of
//!   other owners (systemd's `sd_devices`, a container runtime's) are never replaced or
//!   detached.
//! - An update *replaces* rein's program in one step ([`sys::BPF_F_REPLACE`], kernel 5.6)
//!   or, on older kernels, attaches the new one before detaching the old (for a moment
//!   both run, and a cgroup's programs must all allow an access: stricter, never looser).
//!   Programs are never appended on each update: the kernel refuses the 65th (E2BIG),
//!   which runc users met (runc#2366).
//! - Programs attached with BPF_PROG_ATTACH stay until detached or until the cgroup is
//!   removed; nothing needs to be pinned for the cgroupfs driver.

pub mod device_program;
pub mod insn;
pub mod interp;
pub mod net_program;
// The bpf(2) system call, which neither rustix nor libc wraps; see sys's SAFETY notes.
#[allow(unsafe_code)]
pub mod sys;

use std::os::fd::{AsFd, BorrowedFd};

use crate::error::{Error, Result};
use insn::Insn;
use sys::{AttachType, ProgInfo};

/// The programs named `name` attached to `cgroup` itself at `at` (rein's own, when the
/// name is rein's), with their fds, in the order they run.
pub fn find(cgroup: BorrowedFd<'_>, at: AttachType, name: &str) -> Result<Vec<(std::os::fd::OwnedFd, ProgInfo)>> {
    let ids = sys::prog_query(cgroup, at).map_err(|e| bpf_io("list the BPF programs of a cgroup", e))?;
    let mut out = Vec::new();
    for id in ids {
        // A program detached between the query and here is simply gone.
        let Ok(fd) = sys::prog_fd_by_id(id) else { continue };
        let info = sys::prog_info(fd.as_fd()).map_err(|e| bpf_io(format!("read BPF program {id}"), e))?;
        if info.name == name {
            out.push((fd, info));
        }
    }
    Ok(out)
}

/// Loads `insns` as program `name` and makes it the one program of that name attached to
/// `cgroup` at `at`: it replaces an earlier one in one step where the kernel can
/// (BPF_F_REPLACE), else it is attached first and the earlier ones detached after.
/// Programs with other names are left alone.
pub fn install(cgroup: BorrowedFd<'_>, at: AttachType, name: &str, insns: &[Insn]) -> Result<()> {
    let old = find(cgroup, at, name)?;
    let new = sys::prog_load(at.prog_type(), Some(at), insns, name)?;
    let attach_err = |e| bpf_io(format!("attach the {name} BPF program"), e);
    let mut rest: &[(std::os::fd::OwnedFd, ProgInfo)] = &old;
    match old.first() {
        Some((first, _)) => match sys::prog_attach(cgroup, new.as_fd(), at, Some(first.as_fd())) {
            Ok(()) => rest = &old[1..],
            // Before 5.6 there is no BPF_F_REPLACE: attach, then detach every old one.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                sys::prog_attach(cgroup, new.as_fd(), at, None).map_err(attach_err)?;
            }
            Err(e) => return Err(attach_err(e)),
        },
        None => sys::prog_attach(cgroup, new.as_fd(), at, None).map_err(attach_err)?,
    }
    for (fd, info) in rest {
        match sys::prog_detach(cgroup, fd.as_fd(), at) {
            Ok(()) => {}
            // Detached by someone else meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(bpf_io(format!("detach the earlier {name} BPF program (id {})", info.id), e)),
        }
    }
    Ok(())
}

/// Detaches every program named `name` from `cgroup` at `at`; true if there was one.
pub fn remove(cgroup: BorrowedFd<'_>, at: AttachType, name: &str) -> Result<bool> {
    let old = find(cgroup, at, name)?;
    for (fd, info) in &old {
        match sys::prog_detach(cgroup, fd.as_fd(), at) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(bpf_io(format!("detach the {name} BPF program (id {})", info.id), e)),
        }
    }
    Ok(!old.is_empty())
}

fn bpf_io(op: impl Into<String>, cause: std::io::Error) -> Error {
    sys::bpf_error(op, cause)
}
