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

/// Waits until the process behind `pidfd` exits (the pidfd becomes readable): whether it did
/// within `timeout` (false on timeout or a failed poll).
pub fn wait_pidfd_exit(pidfd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fds = [PollFd::new(pidfd, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(left.as_millis().min(10_000) as u16)) {
            Ok(n) if n > 0 => return true,
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(_) => return false,
        }
    }
}
