//! The processes of the create sequence and how they talk.
pub mod attrs;
pub mod console;
pub mod create;
pub mod exec;
pub mod init;
pub mod ipc;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

/// Waits until the process behind `pidfd` exits (the pidfd becomes readable); Err on timeout.
pub fn wait_pidfd_exit(pidfd: BorrowedFd<'_>, timeout: Duration) -> Result<(), ()> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(());
        }
        let mut fds = [PollFd::new(pidfd, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(left.as_millis().min(10_000) as u16)) {
            Ok(n) if n > 0 => return Ok(()),
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(_) => return Err(()),
        }
    }
}
