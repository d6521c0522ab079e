//! Process attributes the runtime-spec 1.1–1.3 added: I/O priority, scheduling attributes,
//! execution domain and NUMA memory policy. Each applies to the calling thread (the runtime's
//! processes are single-threaded) and is inherited across fork and kept across execve.
use std::io;

/// IOPRIO_WHO_PROCESS from linux/ioprio.h.
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
/// Where the class sits in an ioprio value (IOPRIO_CLASS_SHIFT).
const IOPRIO_CLASS_SHIFT: u32 = 13;

/// ioprio_set(2) on the calling process: `class` (IOPRIO_CLASS_RT 1, BE 2, IDLE 3) and `level`
/// (0 highest .. 7 lowest).
pub fn set_io_priority(class: u32, level: u32) -> io::Result<()> {
    let value = (class << IOPRIO_CLASS_SHIFT) | level;
    // SAFETY: ioprio_set takes three integers (which, who, ioprio) and touches no memory of ours.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value as libc::c_int) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// struct sched_attr of sched_setattr(2), in its second layout (SCHED_ATTR_SIZE_VER1, with the
/// utilization clamps), so the UTIL_CLAMP flags have fields to read.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

/// sched_setattr(2) on the calling thread; `size` is filled in here.
pub fn set_sched_attr(attr: &SchedAttr) -> io::Result<()> {
    let attr = SchedAttr { size: std::mem::size_of::<SchedAttr>() as u32, ..*attr };
    // SAFETY: the pointer is to a fully initialised repr(C) sched_attr whose `size` field is its
    // real size; the kernel only reads that many bytes. pid 0 is the calling thread.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0 as libc::c_uint) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// personality(2): sets the calling process's execution domain and flags.
pub fn set_personality(persona: u64) -> io::Result<()> {
    // SAFETY: personality takes one integer and touches no memory of ours. Its return value is
    // the previous persona; -1 with errno set is the only failure.
    let ret = unsafe { libc::personality(persona as libc::c_ulong) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// set_mempolicy(2): `mode` ORed with its MPOL_F_* flags, and a node bitmask (bit n of word
/// n/64 is node n; empty for modes that take no nodes).
pub fn set_memory_policy(mode: i32, nodes: &[u64]) -> io::Result<()> {
    let (ptr, maxnode) = if nodes.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // The kernel reads maxnode - 1 bits, so one more than the mask holds.
        (nodes.as_ptr(), nodes.len() as libc::c_ulong * 64 + 1)
    };
    // SAFETY: `ptr` is null with maxnode 0, or points at `nodes`, whose nodes.len() words cover
    // the maxnode - 1 bits the kernel reads; the kernel only reads them.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
