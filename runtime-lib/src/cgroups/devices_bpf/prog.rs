//! The `BPF_PROG_TYPE_CGROUP_DEVICE` program for a [`DeviceFilter`], as raw
//! eBPF instructions (no compiler, no assembler library).
//!
//! The kernel runs the program for every device access with a pointer to
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! in R1, where `access_type` is `(BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*`,
//! and allows the access when it returns 1. The shape is runc's (itself from
//! crun):
//!
//! ```text
//!   r2 = type   (access_type & 0xffff)      r3 = access (access_type >> 16)
//!   r4 = major                              r5 = minor
//! block i (one per exception):
//!   if r2 != type  goto block i+1
//!   [if access is not rwm]  r1 = r3; r1 &= access; if r1 != r3 goto block i+1
//!   [if major is not *]     if r4 != major goto block i+1
//!   [if minor is not *]     if r5 != minor goto block i+1
//!   r0 = !default; exit
//! last block:
//!   r0 = default; exit
//! ```
//!
//! Every exception has the same action, so the first hit decides.

use std::fmt;

use super::rules::{Access, DeviceFilter};

/// eBPF registers used here.
pub const R0: u8 = 0;
/// The context pointer on entry; scratch afterwards.
pub const R1: u8 = 1;
/// Device type.
pub const R2: u8 = 2;
/// Requested access.
pub const R3: u8 = 3;
/// Major.
pub const R4: u8 = 4;
/// Minor.
pub const R5: u8 = 5;

// Instruction classes, operations and sources (include/uapi/linux/bpf.h).
const BPF_LDX: u8 = 0x01;
const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
const BPF_JMP32: u8 = 0x06;
const BPF_W: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_MOV: u8 = 0xb0;
const BPF_JNE: u8 = 0x50;
const BPF_EXIT: u8 = 0x90;

/// `dst = *(u32 *)(src + off)`.
pub const LDX_W: u8 = BPF_LDX | BPF_MEM | BPF_W;
/// `dst &= imm` (32-bit).
pub const AND32_IMM: u8 = BPF_ALU | BPF_AND | BPF_K;
/// `dst >>= imm` (32-bit).
pub const RSH32_IMM: u8 = BPF_ALU | BPF_RSH | BPF_K;
/// `dst = src` (32-bit).
pub const MOV32_REG: u8 = BPF_ALU | BPF_MOV | BPF_X;
/// `dst = imm` (32-bit).
pub const MOV32_IMM: u8 = BPF_ALU | BPF_MOV | BPF_K;
/// `if dst != imm goto +off` (64-bit compare, imm sign-extended).
pub const JNE_IMM: u8 = BPF_JMP | BPF_JNE | BPF_K;
/// `if (u32)dst != (u32)imm goto +off` (Linux 5.1+; only for numbers above
/// `i32::MAX`, which a 64-bit compare with a sign-extended imm never hits).
pub const JNE32_IMM: u8 = BPF_JMP32 | BPF_JNE | BPF_K;
/// `if dst != src goto +off`.
pub const JNE_REG: u8 = BPF_JMP | BPF_JNE | BPF_X;
/// `return r0`.
pub const EXIT: u8 = BPF_JMP | BPF_EXIT;

/// One `struct bpf_insn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// Destination register.
    pub dst: u8,
    /// Source register.
    pub src: u8,
    /// Offset: memory offset or jump distance (in instructions, from the
    /// next one).
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

impl Insn {
    /// Size of one encoded instruction.
    pub const SIZE: usize = 8;

    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    fn is_jump(&self) -> bool {
        matches!(self.code, JNE_IMM | JNE32_IMM | JNE_REG)
    }

    /// The kernel's in-memory form: code, regs (`dst_reg:4, src_reg:4`
    /// bitfields, so the nibble order follows the byte order), off, imm in
    /// native byte order.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let regs = if cfg!(target_endian = "little") {
            (self.src << 4) | (self.dst & 0x0f)
        } else {
            (self.dst << 4) | (self.src & 0x0f)
        };
        let mut b = [0u8; Self::SIZE];
        b[0] = self.code;
        b[1] = regs;
        b[2..4].copy_from_slice(&self.off.to_ne_bytes());
        b[4..8].copy_from_slice(&self.imm.to_ne_bytes());
        b
    }
}

impl fmt::Display for Insn {
    /// The verifier log's notation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (d, s, off, imm) = (self.dst, self.src, self.off, self.imm);
        match self.code {
            LDX_W => write!(f, "r{d} = *(u32 *)(r{s} {off:+})"),
            AND32_IMM => write!(f, "w{d} &= {imm:#x}"),
            RSH32_IMM => write!(f, "w{d} >>= {imm}"),
            MOV32_REG => write!(f, "w{d} = w{s}"),
            MOV32_IMM => write!(f, "w{d} = {imm}"),
            JNE_IMM => write!(f, "if r{d} != {imm} goto {off:+}"),
            JNE32_IMM => write!(f, "if w{d} != {imm} goto {off:+}"),
            JNE_REG => write!(f, "if r{d} != r{s} goto {off:+}"),
            EXIT => write!(f, "exit"),
            c => write!(f, "(op {c:#04x}) r{d} r{s} {off} {imm}"),
        }
    }
}

/// A compare of `reg` with a 32-bit device number, jump offset filled later.
fn jne_number(reg: u8, n: u32) -> Insn {
    match i32::try_from(n) {
        Ok(imm) => Insn::new(JNE_IMM, reg, 0, 0, imm),
        // Same bits on purpose: the 32-bit compare reads them unsigned.
        #[allow(clippy::cast_possible_wrap)]
        Err(_) => Insn::new(JNE32_IMM, reg, 0, 0, n as i32),
    }
}

/// The fixed prologue: context fields into R2..R5.
fn prologue() -> [Insn; 6] {
    [
        Insn::new(LDX_W, R2, R1, 0, 0),
        Insn::new(AND32_IMM, R2, 0, 0, 0xffff),
        Insn::new(LDX_W, R3, R1, 0, 0),
        Insn::new(RSH32_IMM, R3, 0, 0, 16),
        Insn::new(LDX_W, R4, R1, 4, 0),
        Insn::new(LDX_W, R5, R1, 8, 0),
    ]
}

fn ret(allow: bool) -> [Insn; 2] {
    [
        Insn::new(MOV32_IMM, R0, 0, 0, i32::from(allow)),
        Insn::new(EXIT, 0, 0, 0, 0),
    ]
}

/// The program enforcing `filter`.
pub fn program(filter: &DeviceFilter) -> Vec<Insn> {
    let mut out = prologue().to_vec();
    let hit = !filter.default_allow();
    for (m, access) in filter.exceptions() {
        let mut block = Vec::with_capacity(8);
        block.push(jne_number(R2, m.kind.bpf_type()));
        if access != Access::ALL {
            block.push(Insn::new(MOV32_REG, R1, R3, 0, 0));
            block.push(Insn::new(AND32_IMM, R1, 0, 0, i32::from(access.bits())));
            block.push(Insn::new(JNE_REG, R1, R3, 0, 0));
        }
        if let Some(major) = m.major {
            block.push(jne_number(R4, major));
        }
        if let Some(minor) = m.minor {
            block.push(jne_number(R5, minor));
        }
        block.extend(ret(hit));
        // Every jump goes to the first instruction after this block.
        let len = block.len();
        for (k, insn) in block.iter_mut().enumerate() {
            if insn.is_jump() {
                // A block has at most 8 instructions.
                insn.off = i16::try_from(len - k - 1).unwrap_or(i16::MAX);
            }
        }
        out.extend(block);
    }
    out.extend(ret(filter.default_allow()));
    out
}

/// The program as the bytes `BPF_PROG_LOAD` takes.
pub fn encode(prog: &[Insn]) -> Vec<u8> {
    prog.iter().flat_map(Insn::encode).collect()
}

/// The program as text, one numbered instruction a line (for logs).
pub fn disassemble(prog: &[Insn]) -> String {
    prog.iter()
        .enumerate()
        .map(|(i, insn)| format!("{i:4}: {insn}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::rules::{DevKind, DeviceFilter};
    use super::*;
    use crate::cgroups::plan::default_allow_rules;
    use oci_spec::runtime::LinuxDeviceCgroup;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("bad fixture {json}: {e}"))
    }

    fn prog(rules: &[LinuxDeviceCgroup]) -> (DeviceFilter, Vec<Insn>) {
        let f = DeviceFilter::from_rules(rules).unwrap_or_else(|e| panic!("{e}"));
        let p = program(&f);
        (f, p)
    }

    /// The default spec: deny all, then runc's allow list.
    fn default_rules() -> Vec<LinuxDeviceCgroup> {
        let mut r = rules(r#"[{"allow":false,"access":"rwm"}]"#);
        r.extend(default_allow_rules());
        r
    }

    /// A tiny interpreter for exactly the instructions `program` emits, to
    /// check the generated code against [`DeviceFilter::allows`].
    fn run(prog: &[Insn], access_type: u32, major: u32, minor: u32) -> u64 {
        let ctx = [access_type, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        for _ in 0..10_000 {
            let i = prog[pc];
            let (d, s) = (usize::from(i.dst), usize::from(i.src));
            let target = |pc: usize| (pc as isize + 1 + isize::from(i.off)) as usize;
            pc = match i.code {
                LDX_W => {
                    assert_eq!(s, 1, "loads only from the context");
                    r[d] = u64::from(ctx[usize::try_from(i.off).unwrap_or(0) / 4]);
                    pc + 1
                }
                AND32_IMM => {
                    r[d] = u64::from((r[d] as u32) & (i.imm as u32));
                    pc + 1
                }
                RSH32_IMM => {
                    r[d] = u64::from((r[d] as u32) >> i.imm);
                    pc + 1
                }
                MOV32_REG => {
                    r[d] = u64::from(r[s] as u32);
                    pc + 1
                }
                MOV32_IMM => {
                    r[d] = u64::from(i.imm as u32);
                    pc + 1
                }
                JNE_IMM if r[d] != i64::from(i.imm) as u64 => target(pc),
                JNE32_IMM if r[d] as u32 != i.imm as u32 => target(pc),
                JNE_REG if r[d] != r[s] => target(pc),
                JNE_IMM | JNE32_IMM | JNE_REG => pc + 1,
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            };
        }
        panic!("program does not terminate")
    }

    /// Every combination of a few devices and access modes gives the same
    /// answer from the program and from the filter.
    fn agrees(rules: &[LinuxDeviceCgroup]) {
        let (f, p) = prog(rules);
        let numbers = [0u32, 1, 3, 5, 8, 9, 10, 136, 200, 4000, u32::MAX];
        for kind in [DevKind::Block, DevKind::Char] {
            for &major in &numbers {
                for &minor in &numbers {
                    for bits in 1u8..=7 {
                        let access = Access::parse(
                            &[(2, 'r'), (4, 'w'), (1, 'm')]
                                .iter()
                                .filter(|(b, _)| bits & b != 0)
                                .map(|(_, c)| *c)
                                .collect::<String>(),
                        )
                        .unwrap_or_default();
                        let at = (u32::from(access.bits()) << 16) | kind.bpf_type();
                        let want = f.allows(kind, major, minor, access);
                        let got = run(&p, at, major, minor) == 1;
                        assert_eq!(
                            got,
                            want,
                            "{kind:?} {major}:{minor} {access}\n{}",
                            disassemble(&p)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn no_rules_is_deny_all_in_eight_instructions() {
        let (_, p) = prog(&[]);
        assert_eq!(p.len(), 8);
        assert_eq!(
            disassemble(&p),
            "   0: r2 = *(u32 *)(r1 +0)\n   1: w2 &= 0xffff\n   2: r3 = *(u32 *)(r1 +0)\n\
             \x20  3: w3 >>= 16\n   4: r4 = *(u32 *)(r1 +4)\n   5: r5 = *(u32 *)(r1 +8)\n\
             \x20  6: w0 = 0\n   7: exit\n"
        );
    }

    #[test]
    fn default_spec_has_runc_shape() {
        let (f, p) = prog(&default_rules());
        // Same length and layout as runc's TestDeviceFilter_BuiltInAllowList:
        // 6 prologue, 2 x 6 for the "m" wildcards, 8 x 5 for exact rwm
        // devices, 4 for c 136:*, 2 for the default.
        assert_eq!(p.len(), 64);
        assert_eq!(f.exceptions().count(), 11);
        // First block: b *:* m.
        assert_eq!(p[6], Insn::new(JNE_IMM, R2, 0, 5, 1));
        assert_eq!(p[7], Insn::new(MOV32_REG, R1, R3, 0, 0));
        assert_eq!(p[8], Insn::new(AND32_IMM, R1, 0, 0, 1));
        assert_eq!(p[9], Insn::new(JNE_REG, R1, R3, 2, 0));
        assert_eq!(p[10], Insn::new(MOV32_IMM, R0, 0, 0, 1));
        assert_eq!(p[11], Insn::new(EXIT, 0, 0, 0, 0));
        // c 1:3 rwm: no access check.
        assert_eq!(
            &p[18..23],
            &[
                Insn::new(JNE_IMM, R2, 0, 4, 2),
                Insn::new(JNE_IMM, R4, 0, 3, 1),
                Insn::new(JNE_IMM, R5, 0, 2, 3),
                Insn::new(MOV32_IMM, R0, 0, 0, 1),
                Insn::new(EXIT, 0, 0, 0, 0),
            ]
        );
        // c 136:* rwm: no minor check, then the default deny.
        assert_eq!(p[58], Insn::new(JNE_IMM, R2, 0, 3, 2));
        assert_eq!(p[59], Insn::new(JNE_IMM, R4, 0, 2, 136));
        assert_eq!(p[62], Insn::new(MOV32_IMM, R0, 0, 0, 0));
        assert_eq!(p[63].code, EXIT);
        agrees(&default_rules());
    }

    #[test]
    fn allow_all_except_one_block_device() {
        let r = rules(
            r#"[{"allow":true,"access":"rwm"},
                {"allow":false,"type":"b","major":8,"minor":0,"access":"rwm"}]"#,
        );
        let (_, p) = prog(&r);
        assert_eq!(p.len(), 13);
        assert_eq!(p[6], Insn::new(JNE_IMM, R2, 0, 4, 1));
        assert_eq!(p[9], Insn::new(MOV32_IMM, R0, 0, 0, 0));
        assert_eq!(p[11], Insn::new(MOV32_IMM, R0, 0, 0, 1));
        agrees(&r);
        let (f, p) = prog(&rules(r#"[{"allow":true,"access":"rwm"}]"#));
        assert!(f.is_allow_all());
        assert_eq!(p.len(), 8);
        assert_eq!(p[6], Insn::new(MOV32_IMM, R0, 0, 0, 1));
    }

    #[test]
    fn mixed_rules_agree_with_the_filter() {
        let mut r = default_rules();
        r.extend(rules(
            r#"[{"allow":true,"type":"c","major":1,"minor":11,"access":"w"},
                {"allow":true,"type":"b","major":8,"access":"r"},
                {"allow":false,"type":"c","major":1,"minor":3,"access":"w"},
                {"allow":true,"type":"c","major":4000,"minor":4294967295,"access":"rm"}]"#,
        ));
        agrees(&r);
        let (_, p) = prog(&r);
        // The largest minor needs the 32-bit compare.
        assert!(p
            .iter()
            .any(|i| i.code == JNE32_IMM && i.dst == R5 && i.imm == -1));
        agrees(&rules(
            r#"[{"allow":true,"access":"rwm"},
                {"allow":false,"type":"c","access":"w"},
                {"allow":false,"type":"b","major":7,"minor":0,"access":"rwm"}]"#,
        ));
    }

    #[test]
    fn encoding_is_the_kernel_layout() {
        let b = Insn::new(JNE_IMM, R4, 0, 3, 136).encode();
        if cfg!(target_endian = "little") {
            assert_eq!(b, [0x55, 0x04, 3, 0, 136, 0, 0, 0]);
        }
        let b = Insn::new(JNE_REG, R1, R3, -2, 0).encode();
        if cfg!(target_endian = "little") {
            assert_eq!(b, [0x5d, 0x31, 0xfe, 0xff, 0, 0, 0, 0]);
        }
        let (_, p) = prog(&default_rules());
        assert_eq!(encode(&p).len(), 64 * Insn::SIZE);
    }
}
