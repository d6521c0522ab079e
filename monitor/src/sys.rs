//! The only module of oxmon that uses `unsafe`: thin wrappers around calls that nix does not
//! expose safely (fork, taking ownership of raw fds, TIOCSWINSZ, localtime_r).
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::ForkResult;

/// Forks the process.
pub fn fork() -> nix::Result<ForkResult> {
    // SAFETY: oxmon never starts a thread (no async runtime, no thread spawns: one poll loop), so
    // the child of this fork is a full copy of a single-threaded process and may run any code,
    // including allocation, before it execs or exits.
    unsafe { nix::unistd::fork() }
}

/// Takes ownership of an fd number that the caller got from the kernel or inherited from its
/// parent. Returns `None` if `fd` is not an open descriptor.
pub fn adopt_fd(fd: RawFd) -> Option<OwnedFd> {
    if fd < 0 || nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_err() {
        return None;
    }
    // SAFETY: F_GETFD just proved `fd` is open. Callers pass only descriptors nothing else in
    // this process owns (fresh results of accept4/recvmsg, or fds inherited via the
    // environment / at exec time that are adopted exactly once at start-up).
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets the window size of a terminal (pty master).
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: `fd` is a live borrowed descriptor and `ws` is a valid, initialised winsize that
    // outlives the call; TIOCSWINSZ only reads from the pointer.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws as *const libc::winsize) };
    Errno::result(rc).map(drop)
}

/// Reads `TZ`/`/etc/localtime` (glibc `tzset`). Call once at start-up.
pub fn init_timezone() {
    extern "C" {
        fn tzset();
    }
    // SAFETY: tzset takes no arguments and only initialises libc's timezone globals; oxmon is
    // single-threaded, so nothing reads them concurrently.
    unsafe { tzset() }
}

/// UTC offset in seconds of local time at the Unix time `secs` (like `tm_gmtoff`).
pub fn local_gmtoff(secs: i64) -> i64 {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct (the pointer field
    // tm_zone may be null); localtime_r overwrites it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call and localtime_r is the
    // reentrant variant that writes only into `tm`.
    let res = unsafe { libc::localtime_r(&t, &mut tm) };
    if res.is_null() {
        0
    } else {
        tm.tm_gmtoff as i64
    }
}

/// Index of the first `needle` in `hay` (glibc's vectorised memchr).
pub fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    if hay.is_empty() {
        return None;
    }
    // SAFETY: the pointer and length describe the live slice `hay`; memchr reads at most
    // `hay.len()` bytes from it and returns null or a pointer into it.
    let p = unsafe { libc::memchr(hay.as_ptr().cast(), libc::c_int::from(needle), hay.len()) };
    if p.is_null() {
        None
    } else {
        Some(p as usize - hay.as_ptr() as usize)
    }
}

/// Ignores SIGPIPE (writes to closed sockets then fail with EPIPE instead).
pub fn ignore_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: installing SIG_IGN runs no handler code, so no async-signal-safety concerns.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
}

/// Restores the default disposition of `sig` (in a child before exec).
pub fn default_signal(sig: nix::sys::signal::Signal) {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: installing SIG_DFL runs no handler code, so no async-signal-safety concerns.
    let _ = unsafe { signal(sig, SigHandler::SigDfl) };
}

/// Terminates the calling process immediately, without running atexit handlers or destructors
/// (used in forked children whose parent owns every resource).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always safe to call; it never returns.
    unsafe { libc::_exit(code) }
}
