//! The new mount API's fsopen(2), fsconfig(2) and fsmount(2): a filesystem mounted nowhere,
//! reachable only through the returned fd (nix wraps none of them).
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A new detached mount of `fstype` with string `options` and MOUNT_ATTR_* `attrs`
/// (fsopen, fsconfig, fsmount).
pub fn detached_mount(fstype: &CStr, options: &[(&CStr, &CStr)], attrs: libc::c_uint) -> io::Result<OwnedFd> {
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    // SAFETY: fsopen takes a NUL-terminated fs name and flags; returns a new fd or -1.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just created this fd for us.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    for (key, value) in options {
        // SAFETY: key and value are NUL-terminated strings valid for the call.
        if unsafe {
            libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), FSCONFIG_SET_STRING, key.as_ptr(), value.as_ptr(), 0)
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: CMD_CREATE takes no key or value.
    if unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fsmount takes the fs context fd and flag words; returns a new mount fd or -1.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), libc::FSMOUNT_CLOEXEC, attrs) };
    if mnt < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as i32) })
}
