//! `--sdnotify-socket`: a DGRAM proxy at `<bundle>/notify/notify.sock` that forwards only
//! `READY=1` / `WATCHDOG=1` to the host's notify socket (conmon 2.1.6 behaviour).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{bind, sendto, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use oxsys::SysError;
use thiserror::Error;

/// Errors of the notify proxy.
#[derive(Debug, Error)]
pub enum NotifyError {
    #[error("failed to {0}")]
    Socket(SysError<Errno>),
}

/// Which message (if any) to forward for one datagram from the container.
pub fn pick_message(data: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(data);
    let has = |m: &str| text.lines().any(|l| l.trim_end_matches('\0') == m);
    if has("READY=1") {
        Some("READY=1")
    } else if has("WATCHDOG=1") {
        Some("WATCHDOG=1")
    } else {
        None
    }
}

/// The proxy socket.
pub struct Notify {
    sock: OwnedFd,
    host: String,
}

impl Notify {
    /// Binds `<bundle>/notify/notify.sock` (mode 0777), creating the directory if needed.
    pub fn setup(bundle: &Path, host: &str) -> Result<Self, NotifyError> {
        let dir = bundle.join("notify");
        let path = dir.join("notify.sock");
        let err = |op: &'static str, source| NotifyError::Socket(SysError::at(op, &path, source));
        let _ = std::fs::create_dir_all(&dir);
        let dirfd = crate::os_error::open(&dir, false, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| err("open directory of notify socket", e))?;
        let proc_path = format!("/proc/self/fd/{}/notify.sock", dirfd.as_raw_fd());
        let _ = std::fs::remove_file(&proc_path);
        let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
        let sock =
            socket(AddressFamily::Unix, SockType::Datagram, flags, None).map_err(|e| err("create notify socket", e))?;
        let addr = UnixAddr::new(proc_path.as_str()).map_err(|e| err("address notify socket", e))?;
        bind(sock.as_raw_fd(), &addr).map_err(|e| err("bind notify socket", e))?;
        let _ = std::fs::set_permissions(&proc_path, std::fs::Permissions::from_mode(0o777));
        Ok(Notify { sock, host: host.to_string() })
    }

    pub fn poll_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Reads one datagram and forwards the recognised message.
    pub fn on_ready(&self) {
        let mut buf = [0u8; 4096];
        let Ok(n) = nix::unistd::read(self.sock.as_raw_fd(), &mut buf) else { return };
        let Some(msg) = pick_message(&buf[..n]) else { return };
        let Ok(addr) = UnixAddr::new(self.host.as_str()) else { return };
        if let Err(e) = sendto(self.sock.as_raw_fd(), msg.as_bytes(), &addr, MsgFlags::empty()) {
            crate::diag::warn(&format!("failed to forward {msg} to {}: {e}", self.host));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtering() {
        assert_eq!(pick_message(b"STATUS=x\nREADY=1\nMAINPID=5\n"), Some("READY=1"));
        assert_eq!(pick_message(b"WATCHDOG=1\nREADY=1\n"), Some("READY=1"));
        assert_eq!(pick_message(b"WATCHDOG=1"), Some("WATCHDOG=1"));
        assert_eq!(pick_message(b"STATUS=starting"), None);
        assert_eq!(pick_message(b"READY=10"), None);
    }
}
