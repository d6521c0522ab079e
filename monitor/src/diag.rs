//! Diagnostics: `[conmon:e]:`/`[conmon:w]:` lines on stderr, and to syslog with `--syslog`.

use std::sync::atomic::{AtomicBool, Ordering};

static SYSLOG: AtomicBool = AtomicBool::new(false);
static DEBUG: AtomicBool = AtomicBool::new(false);

fn diag(level: char, prio: u8, msg: &str) {
    eprintln!("[conmon:{level}]: {msg}");
    if SYSLOG.load(Ordering::Relaxed) {
        use nix::sys::socket::{sendto, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
        use std::os::fd::AsRawFd;
        if let (Ok(s), Ok(addr)) =
            (socket(AddressFamily::Unix, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None), UnixAddr::new("/dev/log"))
        {
            let line = format!("<{prio}>conmon: {msg}");
            // Never block the monitor on a syslog daemon that does not read (a full queue).
            let _ = sendto(s.as_raw_fd(), line.as_bytes(), &addr, MsgFlags::MSG_DONTWAIT);
        }
    }
}

/// Prints an error diagnostic (`[conmon:e]: ...`), also to syslog with `--syslog`.
pub fn error(msg: &str) {
    diag('e', 11, msg);
}

/// Prints a warning diagnostic (`[conmon:w]: ...`).
pub fn warn(msg: &str) {
    diag('w', 12, msg);
}

/// Prints a debug diagnostic (`[conmon:d]: ...`, syslog priority info) when `--log-level` is
/// debug or trace, as conmon's `ndebug` does.
pub fn debug(msg: &str) {
    if DEBUG.load(Ordering::Relaxed) {
        diag('d', 14, msg);
    }
}

/// Enables [`debug`] diagnostics (`--log-level` debug or trace).
pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

/// Sends diagnostics to syslog as well (`--syslog`).
pub fn set_syslog(on: bool) {
    SYSLOG.store(on, Ordering::Relaxed);
}
