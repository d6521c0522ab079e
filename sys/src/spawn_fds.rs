//! Descriptors handed to a spawned program at fixed numbers (as Podman hands conmon its sync,
//! start and attach fds): the test harness of the monitor spawns oxmon and conmon this way.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// A close-on-exec duplicate of `fd` numbered `min` or above (F_DUPFD_CLOEXEC).
pub fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a borrowed, open descriptor only creates a new one.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `n` was just created by the kernel for this call and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// Arranges for each `(source, number)` to appear in the child as fd `number`, without
/// close-on-exec. Every source must be numbered 64 or above and every target below 64, so no
/// dup2 in the child clobbers a later source (`dup_at_least(fd, 64)` makes such sources). The
/// sources stay owned by the caller, who keeps them open until the spawn.
pub fn install_fds(cmd: &mut Command, fds: Vec<(BorrowedFd<'_>, RawFd)>) {
    let pairs: Vec<(RawFd, RawFd)> = fds.iter().map(|(src, dst)| (src.as_raw_fd(), *dst)).collect();
    assert!(pairs.iter().all(|(src, dst)| *src >= 64 && *dst < 64), "sources >= 64, targets < 64: {pairs:?}");
    // SAFETY: the closure runs in the forked child before exec and only calls dup2, which is
    // async-signal-safe; it does not allocate (the Vec was built before the fork and is only
    // read) and takes no locks.
    unsafe {
        cmd.pre_exec(move || {
            for (src, dst) in &pairs {
                if libc::dup2(*src, *dst) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}
