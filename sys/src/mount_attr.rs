//! mount_setattr(2) with AT_RECURSIVE: mount attributes (ro, nosuid, atime mode, …) changed on a
//! mount and on every mount below it, which a remount with mount(2) cannot do (it changes one
//! mount only).
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The MOUNT_ATTR_* bits of `attr_set` / `attr_clr` (linux/mount.h).
pub mod attr {
    pub const RDONLY: u64 = 0x0000_0001;
    pub const NOSUID: u64 = 0x0000_0002;
    pub const NODEV: u64 = 0x0000_0004;
    pub const NOEXEC: u64 = 0x0000_0008;
    /// The atime mode is an enum of these three values inside this mask, not independent bits:
    /// setting one needs the whole mask in `attr_clr`.
    pub const ATIME_MASK: u64 = 0x0000_0070;
    pub const RELATIME: u64 = 0x0000_0000;
    pub const NOATIME: u64 = 0x0000_0010;
    pub const STRICTATIME: u64 = 0x0000_0020;
    pub const NODIRATIME: u64 = 0x0000_0080;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// struct mount_attr of linux/mount.h (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Sets the `set` attributes and clears the `clear` ones on the mount whose root `target` is
/// (an O_PATH fd opened on the mount point after mounting) and on every mount below it.
pub fn mount_setattr_recursive(target: BorrowedFd<'_>, set: u64, clear: u64) -> io::Result<()> {
    let attr = MountAttr { attr_set: set, attr_clr: clear, propagation: 0, userns_fd: 0 };
    let flags = (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint;
    // SAFETY: `attr` is a valid, initialised mount_attr that lives across the call and its size is
    // the one passed; the empty NUL-terminated path with AT_EMPTY_PATH names `target` itself, a
    // borrowed fd that stays open for the call. The kernel only reads both buffers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            target.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
