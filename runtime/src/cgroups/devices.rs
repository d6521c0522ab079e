//! Device rules: v1 devices.allow/deny lines, and the cgroup v2 equivalent, a
//! BPF_PROG_TYPE_CGROUP_DEVICE program generated here as plain instructions (pure; loading and
//! attaching is `oxsys::bpf`).
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }` in r1,
//! where access_type = access << 16 | type, and returns 1 to allow, 0 to deny.
use super::resource_error::{invalid, ResourceError};
use crate::spec::DeviceRule;

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The kernel's 8-byte layout (dst in the low nibble of byte 1), in host byte order.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_ne_bytes());
        b[4..8].copy_from_slice(&self.imm.to_ne_bytes());
        b
    }
}

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// BPF_DEVCG_DEV_* and BPF_DEVCG_ACC_*.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, dst, src, off, imm }
}

/// A rule in checked form: `kind` None matches both block and char devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    allow: bool,
    kind: Option<i32>,
    major: Option<u32>,
    minor: Option<u32>,
    access: i32,
}

fn parse(rule: &DeviceRule) -> Result<Option<Rule>, ResourceError> {
    let kind = match rule.kind.as_deref().unwrap_or("a") {
        "" | "a" => None,
        "c" | "u" => Some(DEV_CHAR),
        "b" => Some(DEV_BLOCK),
        // FIFOs are not subject to the device cgroup.
        "p" => return Ok(None),
        other => return Err(invalid("devices.type", format!("{other:?} is not one of a, b, c, u, p"))),
    };
    let mut access = 0;
    for ch in rule.access.as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm").chars() {
        access |= match ch {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return Err(invalid("devices.access", format!("{:?} has {ch:?}, not one of r, w, m", rule.access))),
        };
    }
    let num = |n: Option<i64>, what: &'static str| -> Result<Option<u32>, ResourceError> {
        match n {
            None | Some(-1) => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| invalid(what, format!("{n} is not a device number"))),
        }
    };
    Ok(Some(Rule {
        allow: rule.allow,
        kind,
        major: num(rule.major, "devices.major")?,
        minor: num(rule.minor, "devices.minor")?,
        access,
    }))
}

/// A v1 devices.allow/deny line: `type major:minor access`, `*` for wildcards.
pub fn rule_text(rule: &DeviceRule) -> Result<String, ResourceError> {
    parse(rule)?;
    let kind = rule.kind.as_deref().filter(|k| !k.is_empty()).unwrap_or("a");
    let access = rule.access.as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm");
    if kind == "a" && rule.major.is_none() && rule.minor.is_none() {
        return Ok(format!("a *:* {access}"));
    }
    let num = |n: Option<i64>| n.filter(|n| *n >= 0).map_or("*".to_string(), |n| n.to_string());
    Ok(format!("{kind} {}:{} {access}", num(rule.major), num(rule.minor)))
}

/// The rules in effect, as v1 would see them: a full wildcard rule ("a *:* rwm") resets the
/// list and sets the default; later rules refine it, the last match winning.
fn effective(rules: &[DeviceRule]) -> Result<(bool, Vec<Rule>), ResourceError> {
    // A fresh cgroup inherits an allow-all parent, so without a wildcard deny we allow by default.
    let mut default_allow = true;
    let mut list = Vec::new();
    for r in rules {
        let Some(rule) = parse(r)? else { continue };
        if rule.kind.is_none() && rule.major.is_none() && rule.minor.is_none() && rule.access == ACC_ALL {
            default_allow = rule.allow;
            list.clear();
        } else {
            list.push(rule);
        }
    }
    Ok((default_allow, list))
}

/// Compiles device rules to a cgroup device program. Every rule is one block that jumps to the
/// next block on mismatch; blocks run last rule first, so the last matching rule decides.
pub fn program(rules: &[DeviceRule]) -> Result<Vec<Insn>, ResourceError> {
    let (default_allow, list) = effective(rules)?;
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),        // r2 = ctx->access_type
        insn(ALU32_AND_K, 2, 0, 0, 0xffff), // r2 &= 0xffff: the device type
        insn(LDX_MEM_W, 3, 1, 0, 0),        // r3 = ctx->access_type
        insn(ALU32_RSH_K, 3, 0, 0, 16),     // r3 >>= 16: the requested access
        insn(LDX_MEM_W, 4, 1, 4, 0),        // r4 = ctx->major
        insn(LDX_MEM_W, 5, 1, 8, 0),        // r5 = ctx->minor
    ];
    for rule in list.iter().rev() {
        prog.extend(block(rule));
    }
    prog.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(default_allow)));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    Ok(prog)
}

/// One rule's checks, each jumping past the block's end on mismatch.
fn block(rule: &Rule) -> Vec<Insn> {
    // Jump offsets are filled in once the block's length is known (usize::MAX marks them).
    let mut checks: Vec<Insn> = Vec::new();
    if let Some(kind) = rule.kind {
        checks.push(insn(JNE_K, 2, 0, 0, kind));
    }
    if rule.access != ACC_ALL {
        checks.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
        checks.push(insn(ALU32_AND_K, 1, 0, 0, rule.access));
        if rule.allow {
            // An allow rule covers a request only if it grants every requested bit.
            checks.push(insn(JNE_X, 1, 3, 0, 0));
        } else {
            // A deny rule hits a request that asks for any of its bits.
            checks.push(insn(JEQ_K, 1, 0, 0, 0));
        }
    }
    if let Some(major) = rule.major {
        checks.push(insn(JNE_K, 4, 0, 0, major as i32));
    }
    if let Some(minor) = rule.minor {
        checks.push(insn(JNE_K, 5, 0, 0, minor as i32));
    }
    checks.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(rule.allow)));
    checks.push(insn(EXIT, 0, 0, 0, 0));
    let len = checks.len();
    for (i, c) in checks.iter_mut().enumerate() {
        if matches!(c.code, JNE_K | JNE_X | JEQ_K) {
            c.off = (len - 1 - i) as i16;
        }
    }
    checks
}

/// Runs a program on one request, as the kernel would (tests and diagnostics; straight-line
/// code with forward jumps only, so it always ends).
pub fn evaluate(prog: &[Insn], kind: char, major: u32, minor: u32, access: &str) -> Option<bool> {
    let dev = if kind == 'b' { DEV_BLOCK } else { DEV_CHAR };
    let acc = access.chars().fold(0, |a, c| {
        a | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => ACC_MKNOD,
        }
    });
    let ctx = [((acc << 16) | dev) as u32, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    while let Some(i) = prog.get(pc) {
        let (d, s) = (usize::from(i.dst), usize::from(i.src));
        let imm = i.imm as u32 as u64;
        let jump = |cond: bool| if cond { i.off as usize } else { 0 };
        pc += 1 + match i.code {
            LDX_MEM_W => {
                r[d] = u64::from(*ctx.get(i.off as usize / 4)?);
                0
            }
            ALU32_AND_K => {
                r[d] = (r[d] as u32 as u64) & imm;
                0
            }
            ALU32_RSH_K => {
                r[d] = (r[d] as u32 >> i.imm) as u64;
                0
            }
            ALU32_MOV_X => {
                r[d] = r[s] as u32 as u64;
                0
            }
            ALU64_MOV_K => {
                r[d] = i.imm as i64 as u64;
                0
            }
            JNE_K => jump(r[d] != imm),
            JNE_X => jump(r[d] != r[s]),
            JEQ_K => jump(r[d] == imm),
            EXIT => return Some(r[0] != 0),
            _ => return None,
        };
    }
    None
}

#[cfg(test)]
#[path = "devices_tests.rs"]
mod tests;
