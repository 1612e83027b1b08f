//! The `BPF_PROG_TYPE_CGROUP_DEVICE` program for a device access state, and the way back
//! from a loaded program to the state it enforces (`rein show` reads the rules of a v2
//! group from the program attached to it: v2 has no devices.list).
//!
//! The kernel runs the program on each device open and mknod of the group's tasks with a
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, `access_type`
//! being `(BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*`; a return of 1 allows, 0 denies (the
//! task sees EPERM). The program has a fixed shape, which is what makes it readable back:
//!
//! ```text
//!   r2 = ctx.access_type & 0xffff      device type: 1 block, 2 char
//!   r3 = ctx.access_type >> 16         access: 1 mknod, 2 read, 4 write
//!   r4 = ctx.major
//!   r5 = ctx.minor
//!   for each exception:
//!     if r2 != TYPE goto next
//!     if r4 != MAJOR goto next                 (left out for *)
//!     if r5 != MINOR goto next                 (left out for *)
//!     r1 = r3; r1 &= MASK; if r1 COND 0 goto next   (left out when it cannot fail)
//!     r0 = !default; exit
//!   next: ...
//!   r0 = default; exit
//! ```
//!
//! With a denying default an exception must allow the whole request (MASK = the access
//! it lacks, next if any of it is asked: `!= 0`); with an allowing default any overlap
//! denies (MASK = its access, next if none of it is asked: `== 0`): v1's two matching
//! rules (security/device_cgroup.c, match_exception and match_exception_partial).

use super::insn::{Alu, Asm, Insn, Jmp, R0, R1, R2, R3, R4, R5};
use crate::devices::{Access, DeviceType, Effective, Exception};

/// The name rein's device programs are loaded with, by which rein knows its own.
pub const NAME: &str = "rein_devices";

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The program enforcing `state`.
pub fn program(state: &Effective) -> Vec<Insn> {
    let mut a = Asm::new();
    a.extend([
        Insn::ldx_w(R2, R1, 0),
        Insn::alu32_imm(Alu::And, R2, 0xffff),
        Insn::ldx_w(R3, R1, 0),
        Insn::alu32_imm(Alu::Rsh, R3, 16),
        Insn::ldx_w(R4, R1, 4),
        Insn::ldx_w(R5, R1, 8),
    ]);
    for e in &state.exceptions {
        let next = a.label();
        let kind = if e.kind == DeviceType::Block { DEV_BLOCK } else { DEV_CHAR };
        a.jmp_imm(Jmp::Jne, R2, kind, next);
        if let Some(m) = e.major {
            a.jmp_imm(Jmp::Jne, R4, m as i32, next);
        }
        if let Some(m) = e.minor {
            a.jmp_imm(Jmp::Jne, R5, m as i32, next);
        }
        if state.default_allow {
            // Deny when the request touches the exception's access. A request always asks
            // for something, so an exception of every access needs no test.
            if e.access != Access::ALL {
                a.push(Insn::mov32_reg(R1, R3));
                a.push(Insn::alu32_imm(Alu::And, R1, i32::from(e.access.bits())));
                a.jmp_imm(Jmp::Jeq, R1, 0, next);
            }
        } else if e.access != Access::ALL {
            // Allow only when the exception covers the whole request.
            a.push(Insn::mov32_reg(R1, R3));
            a.push(Insn::alu32_imm(Alu::And, R1, i32::from(!e.access.bits() & 7)));
            a.jmp_imm(Jmp::Jne, R1, 0, next);
        }
        a.push(Insn::mov32_imm(R0, i32::from(!state.default_allow)));
        a.push(Insn::exit());
        a.place(next);
    }
    a.push(Insn::mov32_imm(R0, i32::from(state.default_allow)));
    a.push(Insn::exit());
    a.finish().expect("every label is placed")
}

/// The state a program made by [`program`] enforces, read from its instructions; `None`
/// when they are not of that shape (not rein's program, or a kernel that rewrote them).
pub fn decode(insns: &[Insn]) -> Option<Effective> {
    let prologue = program(&Effective { default_allow: false, exceptions: Vec::new() });
    let body = insns.strip_prefix(&prologue[..6])?;
    let mut exceptions = Vec::new();
    let mut i = 0;
    let at = |i: usize| body.get(i).copied();
    let mov_r0 = |x: Insn| x == Insn::mov32_imm(R0, 0) || x == Insn::mov32_imm(R0, 1);
    loop {
        let x = at(i)?;
        if mov_r0(x) && at(i + 1)? == Insn::exit() && i + 2 == body.len() {
            let default_allow = x.imm == 1;
            // Every exception must return the opposite of the default.
            return exceptions
                .iter()
                .all(|(_, ret)| *ret != default_allow)
                .then(|| Effective { default_allow, exceptions: exceptions.into_iter().map(|(e, _)| e).collect() });
        }
        // if r2 != TYPE goto next
        if x.code != Insn::jmp_imm(Jmp::Jne, R2, 0, 0).code || x.dst != 2 {
            return None;
        }
        let next = i + 1 + x.off as usize;
        let kind = match x.imm {
            DEV_BLOCK => DeviceType::Block,
            DEV_CHAR => DeviceType::Char,
            _ => return None,
        };
        i += 1;
        let mut major = None;
        let mut minor = None;
        let is_jne_imm = |x: Insn, reg: u8| x.code == Insn::jmp_imm(Jmp::Jne, R2, 0, 0).code && x.dst == reg;
        if is_jne_imm(at(i)?, 4) {
            major = Some(at(i)?.imm as u32);
            i += 1;
        }
        if is_jne_imm(at(i)?, 5) {
            minor = Some(at(i)?.imm as u32);
            i += 1;
        }
        let mut access = Access::ALL;
        let mut test = None;
        if at(i)? == Insn::mov32_reg(R1, R3) {
            let and = at(i + 1)?;
            let jump = at(i + 2)?;
            if and.code != Insn::alu32_imm(Alu::And, R1, 0).code || and.dst != 1 || jump.dst != 1 || jump.imm != 0 {
                return None;
            }
            test = Some((and.imm as u8 & 7, jump.code == Insn::jmp_imm(Jmp::Jeq, R1, 0, 0).code));
            i += 3;
        }
        let ret = at(i)?;
        if !mov_r0(ret) || at(i + 1)? != Insn::exit() || i + 2 != next {
            return None;
        }
        let returns_allow = ret.imm == 1;
        if let Some((mask, jeq)) = test {
            // Deny lists test overlap (jeq), allow lists test what is missing (jne).
            access = match (returns_allow, jeq) {
                (false, true) => Access::from_bits(mask),
                (true, false) => Access::from_bits(!mask & 7),
                _ => return None,
            };
        }
        exceptions.push((Exception { kind, major, minor, access }, returns_allow));
        i += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::interp;
    use crate::devices::tests::acc;
    use crate::testing::{DEVICE_TABLE as TABLE, device_access as access};

    fn ask(prog: &[Insn], kind: DeviceType, major: u32, minor: u32, access: Access) -> bool {
        let dev = if kind == DeviceType::Block { 1u32 } else { 2 };
        let mut ctx = [0u8; 12];
        ctx[0..4].copy_from_slice(&((u32::from(access.bits()) << 16) | dev).to_le_bytes());
        ctx[4..8].copy_from_slice(&major.to_le_bytes());
        ctx[8..12].copy_from_slice(&minor.to_le_bytes());
        match interp::run(prog, &mut ctx).unwrap() {
            0 => false,
            1 => true,
            other => panic!("the program returned {other}"),
        }
    }

    #[test]
    fn the_program_decides_as_the_v1_kernel_does() {
        for (policy, rules, (kind, major, minor), a, want) in TABLE {
            let e = access(*policy, rules).effective(&[136]);
            let prog = program(&e);
            assert_eq!(
                ask(&prog, *kind, *major, *minor, acc(a)),
                *want,
                "{policy:?} {rules:?} {kind:?} {major}:{minor} {a}"
            );
        }
    }

    #[test]
    fn the_program_agrees_with_the_model_everywhere() {
        // Every access to a spread of devices, for every state of the table.
        for (policy, rules, ..) in TABLE {
            let e = access(*policy, rules).effective(&[136, 137]);
            let prog = program(&e);
            for kind in [DeviceType::Block, DeviceType::Char] {
                for (major, minor) in
                    [(1, 3), (1, 5), (1, 200), (5, 2), (7, 0), (8, 0), (60, 3), (136, 4), (137, 0), (42, 7)]
                {
                    for bits in 1..=7 {
                        let a = Access::from_bits(bits);
                        assert_eq!(
                            ask(&prog, kind, major, minor, a),
                            e.allows(kind, major, minor, a),
                            "{e:?} {kind:?} {major}:{minor} {a}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_program_reads_back_as_its_state() {
        for (policy, rules, ..) in TABLE {
            let e = access(*policy, rules).effective(&[136]);
            assert_eq!(decode(&program(&e)), Some(e.clone()), "{policy:?} {rules:?}");
        }
        // Anything else is not rein's.
        assert_eq!(decode(&[Insn::mov32_imm(R0, 1), Insn::exit()]), None);
        let mut p = program(&access(Some(crate::devices::DevicePolicy::Strict), &["allow c 1:3 r"]).effective(&[]));
        p[7].imm = 99;
        assert_eq!(decode(&p).unwrap().exceptions[0].major, Some(99));
        p[6].imm = 3; // no such device type
        assert_eq!(decode(&p), None);
        p[6].imm = 2;
        p.pop(); // no final exit
        assert_eq!(decode(&p), None);
    }
}
