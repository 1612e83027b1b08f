//! A userspace eBPF interpreter for the instructions rein generates, so that unit tests
//! run a generated program over a table of inputs without root or a kernel (youki tests
//! its device programs the same way, with rbpf).
//!
//! It covers the ALU, ALU64, JMP and JMP32 classes, loads and stores of 1, 2, 4 and 8 bytes
//! to the context, a 512-byte stack and a data region (map values), atomic adds,
//! `ld_imm64` (a map fd loads as the number), and helper calls through a callback.
//! The kernel's verifier is stricter than this: the kernel tiers load every kind of
//! program rein generates for real.

use super::insn::{CLASS_ALU, CLASS_ALU64, CLASS_JMP, CLASS_JMP32, CLASS_LD, CLASS_LDX, CLASS_ST, CLASS_STX, Insn};

/// Where the context is mapped (r1 at entry).
const CTX_BASE: u64 = 0x1000_0000;
/// The top of the stack (r10); the stack is the 512 bytes below it.
const STACK_TOP: u64 = 0x2000_0000;
const STACK_SIZE: usize = 512;
/// The most instructions one run may execute (programs without loops end far sooner).
const STEP_LIMIT: usize = 1_000_000;

/// Where [`run_with_data`]'s data region is mapped (what a map lookup points into).
pub const DATA_BASE: u64 = 0x3000_0000;
/// The address of the stack's lowest byte (what [`DataHelper`] is given starts there).
pub const STACK_BASE: u64 = STACK_TOP - STACK_SIZE as u64;

/// A helper call: `(helper number, r1..=r5) -> r0`, or an error for an unknown helper.
pub type Helper<'a> = dyn FnMut(i32, [u64; 5]) -> Result<u64, String> + 'a;

/// A helper call that also reads the stack (from [`STACK_BASE`] up), where programs
/// put the keys they pass by pointer.
pub type DataHelper<'a> = dyn FnMut(i32, [u64; 5], &[u8]) -> Result<u64, String> + 'a;

/// Runs `prog` with r1 pointing at `ctx` (which the program may also write), returning r0.
pub fn run(prog: &[Insn], ctx: &mut [u8]) -> Result<u64, String> {
    run_with(prog, ctx, &mut |h, _| Err(format!("helper {h} is not available in the interpreter")))
}

/// [`run`] with helper calls answered by `helper`.
pub fn run_with(prog: &[Insn], ctx: &mut [u8], helper: &mut Helper<'_>) -> Result<u64, String> {
    run_with_data(prog, ctx, &mut [], &mut |h, args, _| helper(h, args))
}

/// [`run_with`] with a data region at [`DATA_BASE`] the program may read and write (a
/// map's values: the helper answers a lookup with an address in it), `ld_imm64` of a
/// map fd loading the fd itself, and atomic adds.
pub fn run_with_data(
    prog: &[Insn],
    ctx: &mut [u8],
    data: &mut [u8],
    helper: &mut DataHelper<'_>,
) -> Result<u64, String> {
    let mut reg = [0u64; 11];
    let mut stack = [0u8; STACK_SIZE];
    reg[1] = CTX_BASE;
    reg[10] = STACK_TOP;
    let mut pc = 0usize;
    for _ in 0..STEP_LIMIT {
        let i = *prog.get(pc).ok_or_else(|| format!("ran off the end of the program at instruction {pc}"))?;
        let (dst, src) = (usize::from(i.dst), usize::from(i.src));
        if dst > 10 || src > 10 {
            return Err(format!("bad register in instruction {pc}"));
        }
        pc += 1;
        match i.class() {
            CLASS_ALU | CLASS_ALU64 => {
                let wide = i.class() == CLASS_ALU64;
                let operand = if i.code & 0x08 != 0 { reg[src] } else { i.imm as i64 as u64 };
                let op = i.code & 0xf0;
                let (a, b) = if wide { (reg[dst], operand) } else { (reg[dst] & 0xffff_ffff, operand & 0xffff_ffff) };
                let shift_mask = if wide { 63 } else { 31 };
                let v = match op {
                    0x00 => a.wrapping_add(b),
                    0x10 => a.wrapping_sub(b),
                    0x20 => a.wrapping_mul(b),
                    0x30 => a.checked_div(b).unwrap_or(0),
                    0x40 => a | b,
                    0x50 => a & b,
                    0x60 => a << (b & shift_mask),
                    0x70 => a >> (b & shift_mask),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(b).unwrap_or(a),
                    0xa0 => a ^ b,
                    0xb0 => b,
                    0xc0 if wide => ((a as i64) >> (b & shift_mask)) as u64,
                    0xc0 => (((a as u32) as i32) >> (b & shift_mask)) as u32 as u64,
                    _ => return Err(format!("unsupported ALU operation {:#x} at {}", i.code, pc - 1)),
                };
                reg[dst] = if wide { v } else { v & 0xffff_ffff };
            }
            CLASS_JMP | CLASS_JMP32 => {
                if i.is_exit() {
                    return Ok(reg[0]);
                }
                if i.is_call() {
                    reg[0] = helper(i.imm, [reg[1], reg[2], reg[3], reg[4], reg[5]], &stack)?;
                    continue;
                }
                let wide = i.class() == CLASS_JMP;
                let operand = if i.code & 0x08 != 0 { reg[src] } else { i.imm as i64 as u64 };
                let (a, b) = if wide { (reg[dst], operand) } else { (reg[dst] & 0xffff_ffff, operand & 0xffff_ffff) };
                let (sa, sb) =
                    if wide { (a as i64, b as i64) } else { (i64::from(a as u32 as i32), i64::from(b as u32 as i32)) };
                let taken = match i.code & 0xf0 {
                    0x00 => true,
                    0x10 => a == b,
                    0x20 => a > b,
                    0x30 => a >= b,
                    0x40 => a & b != 0,
                    0x50 => a != b,
                    0x60 => sa > sb,
                    0x70 => sa >= sb,
                    0xa0 => a < b,
                    0xb0 => a <= b,
                    0xc0 => sa < sb,
                    0xd0 => sa <= sb,
                    _ => return Err(format!("unsupported jump {:#x} at {}", i.code, pc - 1)),
                };
                if taken {
                    let target = pc as i64 + i64::from(i.off);
                    pc = usize::try_from(target).map_err(|_| format!("jump before the start at {}", pc - 1))?;
                }
            }
            CLASS_LD => {
                // ld_imm64: the next slot carries the upper half.
                let next = *prog.get(pc).ok_or("ld_imm64 without its second slot")?;
                if i.src > 1 {
                    return Err(format!("ld_imm64 with pseudo source {} is not interpreted", i.src));
                }
                reg[dst] = u64::from(i.imm as u32) | (u64::from(next.imm as u32) << 32);
                pc += 1;
            }
            CLASS_LDX => {
                let n = size(i.code);
                let addr = reg[src].wrapping_add(i.off as i64 as u64);
                let bytes = memory(addr, n, ctx, &mut stack, data)?;
                let mut v = [0u8; 8];
                v[..n].copy_from_slice(bytes);
                reg[dst] = u64::from_le_bytes(v);
            }
            CLASS_ST | CLASS_STX => {
                let n = size(i.code);
                let addr = reg[dst].wrapping_add(i.off as i64 as u64);
                let mut value = if i.class() == CLASS_STX { reg[src] } else { i.imm as i64 as u64 };
                let cell = memory(addr, n, ctx, &mut stack, data)?;
                if i.code & 0xe0 == 0xc0 {
                    // Atomic: only the plain add (imm 0) is generated.
                    if i.imm != 0 || n < 4 {
                        return Err(format!("unsupported atomic operation {:#x} at {}", i.imm, pc - 1));
                    }
                    let mut old = [0u8; 8];
                    old[..n].copy_from_slice(cell);
                    value = value.wrapping_add(u64::from_le_bytes(old));
                }
                cell.copy_from_slice(&value.to_le_bytes()[..n]);
            }
            _ => return Err(format!("unsupported instruction class {:#x} at {}", i.code, pc - 1)),
        }
    }
    Err(format!("no exit after {STEP_LIMIT} instructions"))
}

fn size(code: u8) -> usize {
    match code & 0x18 {
        0x00 => 4,
        0x08 => 2,
        0x10 => 1,
        _ => 8,
    }
}

/// The `n` bytes at `addr`, in the context, the stack or the data region.
fn memory<'m>(
    addr: u64,
    n: usize,
    ctx: &'m mut [u8],
    stack: &'m mut [u8; STACK_SIZE],
    data: &'m mut [u8],
) -> Result<&'m mut [u8], String> {
    let in_region = |base: u64, len: usize| addr >= base && addr + n as u64 <= base + len as u64;
    if in_region(CTX_BASE, ctx.len()) {
        let at = (addr - CTX_BASE) as usize;
        return Ok(&mut ctx[at..at + n]);
    }
    if in_region(DATA_BASE, data.len()) {
        let at = (addr - DATA_BASE) as usize;
        return Ok(&mut data[at..at + n]);
    }
    let stack_base = STACK_TOP - STACK_SIZE as u64;
    if in_region(stack_base, STACK_SIZE) {
        let at = (addr - stack_base) as usize;
        return Ok(&mut stack[at..at + n]);
    }
    Err(format!("access of {n} bytes at {addr:#x} is outside the context and the stack"))
}

#[cfg(test)]
mod tests {
    use super::super::insn::*;
    use super::*;

    #[test]
    fn runs_arithmetic_jumps_and_memory() {
        let prog = [
            Insn::ldx_w(R2, R1, 4),             // r2 = ctx[4..8]
            Insn::alu32_imm(Alu::Add, R2, 3),   // r2 += 3
            Insn::stx_w(R10, -4, R2),           // stack[-4] = r2
            Insn::ldx_w(R0, R10, -4),           // r0 = stack[-4]
            Insn::jmp_imm(Jmp::Jne, R0, 10, 1), // if r0 != 10 skip
            Insn::mov32_imm(R0, 99),
            Insn::exit(),
        ];
        let mut ctx = [0u8; 12];
        ctx[4..8].copy_from_slice(&7u32.to_le_bytes());
        assert_eq!(run(&prog, &mut ctx), Ok(99));
        ctx[4..8].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(run(&prog, &mut ctx), Ok(11));
        // 32-bit operations wrap and zero the upper half.
        let wrap = [Insn::mov32_imm(R0, -1), Insn::alu32_imm(Alu::Add, R0, 2), Insn::exit()];
        assert_eq!(run(&wrap, &mut []), Ok(1));
    }

    #[test]
    fn refuses_what_the_kernel_would() {
        assert!(run(&[Insn::mov32_imm(R0, 1)], &mut []).unwrap_err().contains("ran off the end"));
        assert!(run(&[Insn::ldx_w(R0, R1, 16), Insn::exit()], &mut [0u8; 12]).unwrap_err().contains("outside"));
        assert!(run(&[Insn::call(5), Insn::exit()], &mut []).unwrap_err().contains("helper 5"));
        assert!(run(&[Insn::ja(-1)], &mut []).unwrap_err().contains("no exit"));
    }
}
