//! One mount's mountinfo line without reading the whole table: statx(STATX_MNT_ID_UNIQUE) gives
//! the mount a file is on, statmount(2) (Linux 6.8; mount options from 6.11) describes that mount.
//! /proc/self/mountinfo is generated for every mount in the namespace on each read, which costs
//! tens of milliseconds on a host with thousands of mounts.
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

const STATX_MNT_ID_UNIQUE: u32 = 0x4000;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64"))]
const SYS_STATMOUNT: libc::c_long = 457;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64"))]
const SYS_LISTMOUNT: libc::c_long = 458;

/// The STATMOUNT_* request bits used here (linux/mount.h).
pub mod mask {
    pub const SB_BASIC: u64 = 0x01;
    pub const MNT_ROOT: u64 = 0x08;
    pub const MNT_POINT: u64 = 0x10;
    pub const FS_TYPE: u64 = 0x20;
    pub const MNT_OPTS: u64 = 0x80;
}

/// The unique mount id (never reused while the system runs) of the mount `fd` is on.
pub fn mount_id(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: statx fills the zeroed struct we pass; the empty path with AT_EMPTY_PATH names `fd`.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the path is a NUL-terminated empty string.
    let ret = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_STATX_SYNC_AS_STAT,
            STATX_MNT_ID_UNIQUE,
            &mut st,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    if st.stx_mask & STATX_MNT_ID_UNIQUE == 0 {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    Ok(st.stx_mnt_id)
}

/// What statmount(2) answered; a string the kernel did not fill is None.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u64,
    pub fs_type: Option<String>,
    /// The mount's root inside its filesystem (mountinfo's field 4).
    pub root: Option<String>,
    /// Where it is mounted, relative to the caller's root (mountinfo's field 5), unescaped.
    pub point: Option<String>,
    /// The filesystem's own options, comma separated, without the generic rw/ro.
    pub opts: Option<String>,
}

#[repr(C)]
struct MntIdReq {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
}

// Offsets in struct statmount (linux/mount.h): the fixed header is 512 bytes, strings follow,
// each named by its offset from the start of the string area.
const OFF_MASK: usize = 8;
const OFF_FS_TYPE: usize = 36;
const OFF_MNT_ROOT: usize = 104;
const OFF_MNT_POINT: usize = 108;
const OFF_MNT_OPTS: usize = 4;
const HEADER: usize = 512;

/// statmount(2) of mount `id` in the caller's mount namespace, asking for `want` (mask bits).
pub fn statmount(id: u64, want: u64) -> io::Result<MountInfo> {
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64")))]
    {
        let _ = (id, want);
        Err(io::Error::from_raw_os_error(libc::ENOSYS))
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64"))]
    {
        let req = MntIdReq { size: std::mem::size_of::<MntIdReq>() as u32, spare: 0, mnt_id: id, param: want };
        let mut len = 4096usize;
        loop {
            let mut buf = vec![0u64; len / 8];
            // SAFETY: `req` is a valid mnt_id_req of the size it states; `buf` is writable for
            // `len` bytes and 8-byte aligned, as struct statmount needs.
            let ret = unsafe {
                libc::syscall(SYS_STATMOUNT, &req as *const MntIdReq, buf.as_mut_ptr(), len, 0 as libc::c_uint)
            };
            if ret == -1 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EOVERFLOW) && len < 1 << 20 {
                    len *= 4;
                    continue;
                }
                return Err(e);
            }
            // SAFETY: plain bytes of the buffer we own, `len` long.
            let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr() as *const u8, len) };
            return Ok(decode(id, bytes));
        }
    }
}

/// listmount(2) of every mount in the caller's namespace: unique ids in mountinfo's order, with
/// no text generated (the ids are 8 bytes each, fetched 512 at a time).
pub fn list_all() -> io::Result<Vec<u64>> {
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64")))]
    {
        Err(io::Error::from_raw_os_error(libc::ENOSYS))
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64"))]
    {
        const LSMT_ROOT: u64 = u64::MAX;
        let mut all = Vec::new();
        let mut batch = [0u64; 512];
        loop {
            let req = MntIdReq {
                size: std::mem::size_of::<MntIdReq>() as u32,
                spare: 0,
                mnt_id: LSMT_ROOT,
                param: all.last().copied().unwrap_or(0),
            };
            // SAFETY: `req` is a valid mnt_id_req of the size it states; `batch` has room for
            // the number of ids passed.
            let n = unsafe {
                libc::syscall(
                    SYS_LISTMOUNT,
                    &req as *const MntIdReq,
                    batch.as_mut_ptr(),
                    batch.len(),
                    0 as libc::c_uint,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            all.extend_from_slice(&batch[..n as usize]);
            if (n as usize) < batch.len() {
                return Ok(all);
            }
        }
    }
}

/// The filesystem magic (statfs f_type) of mount `id`: statmount(STATMOUNT_SB_BASIC), no strings.
pub fn sb_magic(id: u64) -> io::Result<u64> {
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64")))]
    {
        let _ = id;
        Err(io::Error::from_raw_os_error(libc::ENOSYS))
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "riscv64"))]
    {
        const OFF_SB_MAGIC: usize = 24;
        let req =
            MntIdReq { size: std::mem::size_of::<MntIdReq>() as u32, spare: 0, mnt_id: id, param: mask::SB_BASIC };
        let mut buf = [0u64; 128];
        // SAFETY: `req` is a valid mnt_id_req; `buf` is writable, 8-byte aligned and as long as
        // the size passed (1 KiB, more than the fixed struct statmount).
        let ret = unsafe {
            libc::syscall(
                SYS_STATMOUNT,
                &req as *const MntIdReq,
                buf.as_mut_ptr(),
                std::mem::size_of_val(&buf),
                0 as libc::c_uint,
            )
        };
        if ret == -1 {
            return Err(io::Error::last_os_error());
        }
        if buf[OFF_MASK / 8] & mask::SB_BASIC == 0 {
            return Err(io::Error::from_raw_os_error(libc::ENOSYS));
        }
        Ok(buf[OFF_SB_MAGIC / 8])
    }
}

fn decode(id: u64, b: &[u8]) -> MountInfo {
    let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let got = u64::from_ne_bytes(b[OFF_MASK..OFF_MASK + 8].try_into().expect("8 bytes"));
    let size = (u32_at(0) as usize).min(b.len());
    let string = |bit: u64, off: usize| -> Option<String> {
        if got & bit == 0 {
            return None;
        }
        let start = HEADER + u32_at(off) as usize;
        let rest = b.get(start..size)?;
        let end = rest.iter().position(|&c| c == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    MountInfo {
        id,
        fs_type: string(mask::FS_TYPE, OFF_FS_TYPE),
        root: string(mask::MNT_ROOT, OFF_MNT_ROOT),
        point: string(mask::MNT_POINT, OFF_MNT_POINT),
        opts: string(mask::MNT_OPTS, OFF_MNT_OPTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// The root of this process's namespace, described as mountinfo describes it (skipped on a
    /// kernel without statmount).
    #[test]
    fn statmount_of_root_matches_mountinfo() {
        let root = std::fs::File::open("/").unwrap();
        let id = match mount_id(root.as_fd()) {
            Ok(id) => id,
            Err(e) => return eprintln!("SKIP statmount_of_root_matches_mountinfo: statx: {e}"),
        };
        let m = match statmount(id, mask::FS_TYPE | mask::MNT_POINT | mask::MNT_ROOT) {
            Ok(m) => m,
            Err(e) => return eprintln!("SKIP statmount_of_root_matches_mountinfo: statmount: {e}"),
        };
        assert_eq!(m.point.as_deref(), Some("/"));
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = info.lines().rfind(|l| l.split(' ').nth(4) == Some("/")).expect("a mount on /");
        let (left, right) = line.split_once(" - ").unwrap();
        assert_eq!(m.fs_type.as_deref(), right.split(' ').next());
        assert_eq!(m.root.as_deref(), left.split(' ').nth(3));
        let all = list_all().unwrap();
        assert_eq!(all.len(), info.lines().count(), "listmount lists what mountinfo lists");
        assert!(all.contains(&id));
        let fs = nix::sys::statfs::fstatfs(&root).unwrap();
        assert_eq!(sb_magic(id).unwrap(), fs.filesystem_type().0 as u64);
    }
}
