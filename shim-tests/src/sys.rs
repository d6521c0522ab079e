//! The only unsafe code of the test harness: installing inherited fds in the spawned monitor.
#![allow(unsafe_code)]

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Arranges for `fds[i].0` to appear as fd `fds[i].1` in the child (without CLOEXEC).
/// Every source must be ≥ 64 and every target < 64, so no dup2 clobbers a later source.
pub fn install_fds(cmd: &mut Command, fds: Vec<(RawFd, RawFd)>) {
    assert!(fds.iter().all(|(src, dst)| *src >= 64 && *dst < 64));
    // SAFETY: the closure runs in the forked child before exec and only calls dup2, which is
    // async-signal-safe; it does not allocate (the Vec was built before the fork and is only
    // read) and touches no locks.
    unsafe {
        cmd.pre_exec(move || {
            for (src, dst) in &fds {
                if libc::dup2(*src, *dst) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Takes ownership of a descriptor just returned by the kernel (F_DUPFD_CLOEXEC).
pub fn adopt(fd: RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    assert!(fd >= 0);
    // SAFETY: `fd` was just created by fcntl(F_DUPFD_CLOEXEC) in this thread and nothing else
    // owns it, so transferring ownership to an OwnedFd cannot cause a double close.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}
