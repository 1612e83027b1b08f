//! eBPF instructions, encoded as the kernel reads them (Documentation/bpf/standardization/
//! instruction-set.rst), and a small assembler with labels for the programs rein
//! generates.
//!
//! An instruction is 8 bytes: opcode, a byte of destination (low nibble) and source (high
//! nibble) registers, a signed 16-bit offset and a signed 32-bit immediate. Only what
//! rein's programs use is here; each constructor is named after the operation it
//! encodes. Jumps are relative to the next instruction, counted in instructions.

/// A register, r0..=r10. r0 holds the return value, r1 the context pointer at entry,
/// r10 the read-only frame pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg(pub u8);

/// r0: the return value.
pub const R0: Reg = Reg(0);
/// r1: the context (`struct bpf_cgroup_dev_ctx *`, `struct __sk_buff *`, ...) at entry.
pub const R1: Reg = Reg(1);
/// r2.
pub const R2: Reg = Reg(2);
/// r3.
pub const R3: Reg = Reg(3);
/// r4.
pub const R4: Reg = Reg(4);
/// r5.
pub const R5: Reg = Reg(5);
/// r6 (callee-saved across helper calls).
pub const R6: Reg = Reg(6);
/// r7 (callee-saved).
pub const R7: Reg = Reg(7);
/// r8 (callee-saved).
pub const R8: Reg = Reg(8);
/// r9 (callee-saved).
pub const R9: Reg = Reg(9);
/// r10: the frame pointer (read-only).
pub const R10: Reg = Reg(10);

// Instruction classes (the low 3 bits of the opcode).
pub(crate) const CLASS_LD: u8 = 0x00;
pub(crate) const CLASS_LDX: u8 = 0x01;
pub(crate) const CLASS_ST: u8 = 0x02;
pub(crate) const CLASS_STX: u8 = 0x03;
pub(crate) const CLASS_ALU: u8 = 0x04;
pub(crate) const CLASS_JMP: u8 = 0x05;
pub(crate) const CLASS_JMP32: u8 = 0x06;
pub(crate) const CLASS_ALU64: u8 = 0x07;

// Source of the second operand (bit 3): the immediate or the source register.
pub(crate) const SRC_K: u8 = 0x00;
pub(crate) const SRC_X: u8 = 0x08;

// Sizes of loads and stores (bits 3-4) and the mode (bits 5-7).
pub(crate) const SIZE_W: u8 = 0x00;
pub(crate) const SIZE_H: u8 = 0x08;
pub(crate) const SIZE_B: u8 = 0x10;
pub(crate) const SIZE_DW: u8 = 0x18;
pub(crate) const MODE_IMM: u8 = 0x00;
pub(crate) const MODE_MEM: u8 = 0x60;

/// ALU operations (bits 4-7 of an ALU or ALU64 opcode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Alu {
    /// dst += src
    Add = 0x00,
    /// dst -= src
    Sub = 0x10,
    /// dst *= src
    Mul = 0x20,
    /// dst /= src (unsigned; division by zero gives 0)
    Div = 0x30,
    /// dst |= src
    Or = 0x40,
    /// dst &= src
    And = 0x50,
    /// dst <<= src
    Lsh = 0x60,
    /// dst >>= src (logical)
    Rsh = 0x70,
    /// dst = -dst
    Neg = 0x80,
    /// dst %= src (unsigned)
    Mod = 0x90,
    /// dst ^= src
    Xor = 0xa0,
    /// dst = src
    Mov = 0xb0,
    /// dst >>= src (arithmetic)
    Arsh = 0xc0,
}

/// Jump conditions (bits 4-7 of a JMP opcode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Jmp {
    /// always
    Ja = 0x00,
    /// dst == src
    Jeq = 0x10,
    /// dst > src (unsigned)
    Jgt = 0x20,
    /// dst >= src (unsigned)
    Jge = 0x30,
    /// dst & src != 0
    Jset = 0x40,
    /// dst != src
    Jne = 0x50,
    /// dst < src (unsigned)
    Jlt = 0xa0,
    /// dst <= src (unsigned)
    Jle = 0xb0,
}

const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;

/// One eBPF instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// The opcode.
    pub code: u8,
    /// Destination register (low nibble of the second byte).
    pub dst: u8,
    /// Source register (high nibble of the second byte).
    pub src: u8,
    /// Signed offset: of a jump (in instructions), or of a memory access (in bytes).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// The 8 bytes the kernel reads (little-endian host).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.dst & 0x0f) | (self.src << 4);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// Decodes 8 bytes as the kernel writes them (e.g. the translated instructions of a
    /// loaded program).
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// The instruction class (low 3 bits of the opcode).
    pub fn class(self) -> u8 {
        self.code & 0x07
    }

    /// `dst = *(u32 *)(src + off)`.
    pub fn ldx_w(dst: Reg, src: Reg, off: i16) -> Insn {
        Insn { code: CLASS_LDX | MODE_MEM | SIZE_W, dst: dst.0, src: src.0, off, imm: 0 }
    }

    /// `dst = *(u16 *)(src + off)`.
    pub fn ldx_h(dst: Reg, src: Reg, off: i16) -> Insn {
        Insn { code: CLASS_LDX | MODE_MEM | SIZE_H, dst: dst.0, src: src.0, off, imm: 0 }
    }

    /// `dst = *(u8 *)(src + off)`.
    pub fn ldx_b(dst: Reg, src: Reg, off: i16) -> Insn {
        Insn { code: CLASS_LDX | MODE_MEM | SIZE_B, dst: dst.0, src: src.0, off, imm: 0 }
    }

    /// `dst = *(u64 *)(src + off)`.
    pub fn ldx_dw(dst: Reg, src: Reg, off: i16) -> Insn {
        Insn { code: CLASS_LDX | MODE_MEM | SIZE_DW, dst: dst.0, src: src.0, off, imm: 0 }
    }

    /// `*(u32 *)(dst + off) = src`.
    pub fn stx_w(dst: Reg, off: i16, src: Reg) -> Insn {
        Insn { code: CLASS_STX | MODE_MEM | SIZE_W, dst: dst.0, src: src.0, off, imm: 0 }
    }

    /// `*(u64 *)(dst + off) = src`.
    pub fn stx_dw(dst: Reg, off: i16, src: Reg) -> Insn {
        Insn { code: CLASS_STX | MODE_MEM | SIZE_DW, dst: dst.0, src: src.0, off, imm: 0 }
    }

    /// `*(u32 *)(dst + off) = imm`.
    pub fn st_w(dst: Reg, off: i16, imm: i32) -> Insn {
        Insn { code: CLASS_ST | MODE_MEM | SIZE_W, dst: dst.0, src: 0, off, imm }
    }

    /// 32-bit ALU with an immediate: `dst = (u32)(dst OP imm)`, upper half zeroed.
    pub fn alu32_imm(op: Alu, dst: Reg, imm: i32) -> Insn {
        Insn { code: CLASS_ALU | SRC_K | op as u8, dst: dst.0, src: 0, off: 0, imm }
    }

    /// 32-bit ALU with a register: `dst = (u32)(dst OP src)`, upper half zeroed.
    pub fn alu32_reg(op: Alu, dst: Reg, src: Reg) -> Insn {
        Insn { code: CLASS_ALU | SRC_X | op as u8, dst: dst.0, src: src.0, off: 0, imm: 0 }
    }

    /// 64-bit ALU with an immediate (sign-extended to 64 bits).
    pub fn alu64_imm(op: Alu, dst: Reg, imm: i32) -> Insn {
        Insn { code: CLASS_ALU64 | SRC_K | op as u8, dst: dst.0, src: 0, off: 0, imm }
    }

    /// 64-bit ALU with a register.
    pub fn alu64_reg(op: Alu, dst: Reg, src: Reg) -> Insn {
        Insn { code: CLASS_ALU64 | SRC_X | op as u8, dst: dst.0, src: src.0, off: 0, imm: 0 }
    }

    /// `dst = (u32)imm`.
    pub fn mov32_imm(dst: Reg, imm: i32) -> Insn {
        Insn::alu32_imm(Alu::Mov, dst, imm)
    }

    /// `dst = (u32)src`.
    pub fn mov32_reg(dst: Reg, src: Reg) -> Insn {
        Insn::alu32_reg(Alu::Mov, dst, src)
    }

    /// `dst = src` (64 bits).
    pub fn mov64_reg(dst: Reg, src: Reg) -> Insn {
        Insn::alu64_reg(Alu::Mov, dst, src)
    }

    /// `if (dst OP imm) goto +off` (64-bit compare, the immediate sign-extended).
    pub fn jmp_imm(op: Jmp, dst: Reg, imm: i32, off: i16) -> Insn {
        Insn { code: CLASS_JMP | SRC_K | op as u8, dst: dst.0, src: 0, off, imm }
    }

    /// `if (dst OP src) goto +off` (64-bit compare).
    pub fn jmp_reg(op: Jmp, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn { code: CLASS_JMP | SRC_X | op as u8, dst: dst.0, src: src.0, off, imm: 0 }
    }

    /// `goto +off`.
    pub fn ja(off: i16) -> Insn {
        Insn { code: CLASS_JMP | Jmp::Ja as u8, dst: 0, src: 0, off, imm: 0 }
    }

    /// Calls kernel helper number `helper` (arguments in r1..r5, result in r0).
    pub fn call(helper: i32) -> Insn {
        Insn { code: CLASS_JMP | OP_CALL, dst: 0, src: 0, off: 0, imm: helper }
    }

    /// Returns r0.
    pub fn exit() -> Insn {
        Insn { code: CLASS_JMP | OP_EXIT, dst: 0, src: 0, off: 0, imm: 0 }
    }

    /// `dst = imm64`: two instruction slots (the second carries the upper 32 bits).
    pub fn ld_imm64(dst: Reg, imm: u64) -> [Insn; 2] {
        [
            Insn { code: CLASS_LD | MODE_IMM | SIZE_DW, dst: dst.0, src: 0, off: 0, imm: imm as u32 as i32 },
            Insn { code: 0, dst: 0, src: 0, off: 0, imm: (imm >> 32) as u32 as i32 },
        ]
    }

    /// `dst = map` for the map whose fd is `fd` (BPF_PSEUDO_MAP_FD): the kernel replaces
    /// the fd with the map's address when it loads the program.
    pub fn ld_map_fd(dst: Reg, fd: i32) -> [Insn; 2] {
        const PSEUDO_MAP_FD: u8 = 1;
        [
            Insn { code: CLASS_LD | MODE_IMM | SIZE_DW, dst: dst.0, src: PSEUDO_MAP_FD, off: 0, imm: fd },
            Insn { code: 0, dst: 0, src: 0, off: 0, imm: 0 },
        ]
    }

    /// `lock *(u64 *)(dst + off) += src`: an atomic add (BPF_ATOMIC, BPF_ADD), for
    /// counters several CPUs bump at once.
    pub fn atomic_add_dw(dst: Reg, off: i16, src: Reg) -> Insn {
        const MODE_ATOMIC: u8 = 0xc0;
        Insn { code: CLASS_STX | SIZE_DW | MODE_ATOMIC, dst: dst.0, src: src.0, off, imm: 0 }
    }

    /// True for `exit`.
    pub fn is_exit(self) -> bool {
        self.code == CLASS_JMP | OP_EXIT
    }

    /// True for `call`.
    pub fn is_call(self) -> bool {
        self.code == CLASS_JMP | OP_CALL
    }
}

/// A forward-jump target of an [`Asm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

/// An assembler: instructions in order, with jumps to labels that are placed later.
#[derive(Debug, Default)]
pub struct Asm {
    insns: Vec<Insn>,
    /// Where each label was placed (an instruction index), once placed.
    labels: Vec<Option<usize>>,
    /// Jumps waiting for their label: (instruction index, label).
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    /// An empty program.
    pub fn new() -> Asm {
        Asm::default()
    }

    /// Appends an instruction.
    pub fn push(&mut self, insn: Insn) -> &mut Asm {
        self.insns.push(insn);
        self
    }

    /// Appends several instructions.
    pub fn extend(&mut self, insns: impl IntoIterator<Item = Insn>) -> &mut Asm {
        self.insns.extend(insns);
        self
    }

    /// A new label, to be placed with [`Asm::place`].
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Places `label` at the next instruction.
    pub fn place(&mut self, label: Label) {
        self.labels[label.0] = Some(self.insns.len());
    }

    /// Appends a conditional jump (immediate operand) to `label`.
    pub fn jmp_imm(&mut self, op: Jmp, dst: Reg, imm: i32, label: Label) -> &mut Asm {
        self.fixups.push((self.insns.len(), label));
        self.push(Insn::jmp_imm(op, dst, imm, 0))
    }

    /// Appends a conditional jump (register operand) to `label`.
    pub fn jmp_reg(&mut self, op: Jmp, dst: Reg, src: Reg, label: Label) -> &mut Asm {
        self.fixups.push((self.insns.len(), label));
        self.push(Insn::jmp_reg(op, dst, src, 0))
    }

    /// Appends an unconditional jump to `label`.
    pub fn ja(&mut self, label: Label) -> &mut Asm {
        self.fixups.push((self.insns.len(), label));
        self.push(Insn::ja(0))
    }

    /// The instructions, with every jump resolved. Errors name a label never placed or a
    /// jump too far for 16 bits (a program of more than 32,767 instructions).
    pub fn finish(mut self) -> Result<Vec<Insn>, String> {
        for (at, label) in std::mem::take(&mut self.fixups) {
            let target = self.labels[label.0].ok_or_else(|| format!("label {} used but never placed", label.0))?;
            let off = target as i64 - at as i64 - 1;
            self.insns[at].off = i16::try_from(off).map_err(|_| format!("jump of {off} instructions is too far"))?;
        }
        Ok(self.insns)
    }

    /// How many instructions so far.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// True when no instruction was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }
}

/// The instructions as the bytes bpf(2) takes.
pub fn to_bytes(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

/// Bytes from the kernel (a whole number of instructions) back to instructions.
pub fn from_bytes(bytes: &[u8]) -> Vec<Insn> {
    bytes.chunks_exact(8).map(|c| Insn::from_bytes(c.try_into().expect("8 bytes"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_kernels() {
        // Encodings as the kernel's include/linux/filter.h macros produce them.
        assert_eq!(Insn::ldx_w(R2, R1, 4).to_bytes(), [0x61, 0x12, 4, 0, 0, 0, 0, 0]);
        assert_eq!(Insn::alu32_imm(Alu::And, R2, 0xffff).to_bytes(), [0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0]);
        assert_eq!(Insn::alu32_imm(Alu::Rsh, R3, 16).to_bytes(), [0x74, 0x03, 0, 0, 16, 0, 0, 0]);
        assert_eq!(Insn::mov32_imm(R0, 1).to_bytes(), [0xb4, 0x00, 0, 0, 1, 0, 0, 0]);
        assert_eq!(Insn::mov32_reg(R1, R3).to_bytes(), [0xbc, 0x31, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Insn::jmp_imm(Jmp::Jne, R2, 2, 5).to_bytes(), [0x55, 0x02, 5, 0, 2, 0, 0, 0]);
        assert_eq!(Insn::jmp_reg(Jmp::Jne, R1, R3, -1).to_bytes(), [0x5d, 0x31, 0xff, 0xff, 0, 0, 0, 0]);
        assert_eq!(Insn::exit().to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Insn::call(1).to_bytes(), [0x85, 0, 0, 0, 1, 0, 0, 0]);
        let [a, b] = Insn::ld_imm64(R1, 0x1_0000_0002);
        assert_eq!((a.to_bytes(), b.to_bytes()), ([0x18, 0x01, 0, 0, 2, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0, 0]));
        for i in [Insn::jmp_reg(Jmp::Jne, R1, R3, -7), Insn::ldx_w(R5, R1, 8), Insn::st_w(R10, -4, -1)] {
            assert_eq!(Insn::from_bytes(i.to_bytes()), i);
        }
    }

    #[test]
    fn labels_resolve_to_relative_offsets() {
        let mut a = Asm::new();
        let out = a.label();
        a.jmp_imm(Jmp::Jne, R2, 1, out); // 0
        a.push(Insn::mov32_imm(R0, 1)); // 1
        a.ja(out); // 2
        a.place(out);
        a.push(Insn::exit()); // 3
        let insns = a.finish().unwrap();
        assert_eq!(insns[0].off, 2);
        assert_eq!(insns[2].off, 0);
        let mut b = Asm::new();
        let never = b.label();
        b.ja(never);
        assert!(b.finish().unwrap_err().contains("never placed"));
    }
}
