//! Calls the monitor (oxmon) needs that neither nix nor std offers safely: accepting and
//! receiving fds as `OwnedFd`, signal dispositions, local time, a fast memchr, and the one-time
//! adoption of the descriptors the process inherited at exec.

use std::collections::BTreeMap;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// accept4(2) with SOCK_CLOEXEC: the next pending connection on `listener`.
pub fn accept(listener: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers are allowed (the peer address is not wanted); the other
    // arguments are integers.
    let fd =
        unsafe { libc::accept4(listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just created this descriptor for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// recvmsg(2) with MSG_CMSG_CLOEXEC on `sock`: the bytes read into `buf` and the descriptors
/// passed along (SCM_RIGHTS, at most 4).
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(io::Error::from)?;
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            // SAFETY: SCM_RIGHTS descriptors are installed fresh into this process by this very
            // recvmsg call; nothing else knows their numbers, so each gets exactly one owner.
            fds.extend(raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    Ok((msg.bytes, fds))
}

/// Ignores `signal` (SIG_IGN), e.g. SIGPIPE so writes to closed sockets fail with EPIPE.
pub fn ignore_signal(signal: i32) {
    // SAFETY: SIG_IGN installs no handler, so no code of ours ever runs in signal context.
    unsafe { libc::signal(signal, libc::SIG_IGN) };
}

/// Restores the default action of `signal` (SIG_DFL), e.g. in a child before exec.
pub fn default_signal(signal: i32) {
    // SAFETY: SIG_DFL installs no handler, so no code of ours ever runs in signal context.
    unsafe { libc::signal(signal, libc::SIG_DFL) };
}

/// UTC offset in seconds of local time at the Unix time `secs` (`tm_gmtoff`); 0 if unknown.
pub fn local_gmtoff(secs: i64) -> i64 {
    // time_t is i64 on x86_64 (glibc and musl; libc names the musl alias deprecated).
    let t: i64 = secs;
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

static INHERITED_TAKEN: AtomicBool = AtomicBool::new(false);

/// The descriptors above stdio that the process inherited at exec, owned once.
#[derive(Debug, Default)]
pub struct InheritedFds {
    fds: BTreeMap<RawFd, OwnedFd>,
}

impl InheritedFds {
    /// Takes ownership of every descriptor ≥ 3 open right now. Returns `None` after the first
    /// call, so no number is ever given two owners by this function.
    ///
    /// This is where the program's one promise about inherited fds is made: the first call
    /// happens at start-up, before the program opens any descriptor of its own, so every open
    /// number above 2 is one the parent passed across exec (Podman's `_OCI_*PIPE`s, preserved
    /// fds) and nothing in this process owns it yet. oxmon calls it first thing in its `main`.
    pub fn take_all() -> Option<InheritedFds> {
        if INHERITED_TAKEN.swap(true, Ordering::SeqCst) {
            return None;
        }
        let nums: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
            Ok(dir) => dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).filter(|n| *n > 2).collect(),
            Err(_) => Vec::new(),
        };
        // The directory's own fd is closed by now; F_GETFD leaves it (and any other number
        // that is no longer open) out.
        let mut fds = BTreeMap::new();
        for n in nums {
            // SAFETY: F_GETFD only queries the descriptor table.
            if unsafe { libc::fcntl(n, libc::F_GETFD) } == -1 {
                continue;
            }
            // SAFETY: `n` is open and was inherited at exec (the documented start-up call,
            // guarded to happen once), so nothing else in the process owns it.
            fds.insert(n, unsafe { OwnedFd::from_raw_fd(n) });
        }
        Some(InheritedFds { fds })
    }

    /// Hands out inherited fd `n`; `None` if it was not open at start-up or was taken already.
    pub fn take(&mut self, n: RawFd) -> Option<OwnedFd> {
        self.fds.remove(&n)
    }

    /// Every inherited fd not taken by number.
    pub fn into_rest(self) -> Vec<OwnedFd> {
        self.fds.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memchr_finds_the_first_match() {
        assert_eq!(memchr(b'\n', b"ab\ncd\n"), Some(2));
        assert_eq!(memchr(b'\n', b"abc"), None);
        assert_eq!(memchr(b'\n', b""), None);
    }

    #[test]
    fn inherited_fds_are_taken_only_once() {
        let first = InheritedFds::take_all();
        let second = InheritedFds::take_all();
        // The harness (and tests running alongside) own these numbers: never close them here.
        std::mem::forget(first);
        assert!(second.is_none(), "a second take_all would give inherited fds a second owner");
    }

    #[test]
    fn fds_passed_over_a_socket_arrive_owned() {
        use nix::sys::socket::{sendmsg, socketpair, AddressFamily, ControlMessage, SockFlag, SockType};
        use std::os::fd::AsFd;
        let (a, b) = socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC).unwrap();
        let (r, _w) = nix::unistd::pipe().unwrap();
        let fds = [r.as_raw_fd()];
        let iov = [std::io::IoSlice::new(b"x")];
        sendmsg::<()>(a.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None).unwrap();
        let mut buf = [0u8; 8];
        let (n, got) = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!((n, got.len()), (1, 1));
        assert_ne!(got[0].as_raw_fd(), r.as_raw_fd());
    }
}
