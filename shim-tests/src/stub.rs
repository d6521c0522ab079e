//! Datagram sockets bound where a daemon would listen (journald's native socket, syslog's
//! /dev/log): no such daemon runs on the test hosts, so a test binds the path itself and reads
//! what the monitor sent. A path that already exists is never hijacked.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockType, UnixAddr};

pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// A bound datagram socket; the path (and a directory made for it) is removed on drop.
pub struct Stub {
    fd: OwnedFd,
    path: &'static str,
    created_dir: Option<&'static Path>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path);
        if let Some(d) = self.created_dir {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Binds `path`, or returns None (saying why) when something already exists there.
pub fn bind_stub(path: &'static str) -> Option<Stub> {
    if Path::new(path).exists() {
        eprintln!(
            "NOTE: {path} exists (a real daemon?), not hijacking it; skipping the assertions on what was sent there"
        );
        return None;
    }
    let dir = Path::new(path).parent().expect("socket path has a directory");
    let created_dir = (!dir.exists()).then_some(dir);
    std::fs::create_dir_all(dir).unwrap();
    let fd = socket(AddressFamily::Unix, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None).unwrap();
    bind(fd.as_raw_fd(), &UnixAddr::new(path).unwrap()).expect("bind stub");
    Some(Stub { fd, path, created_dir })
}

impl Stub {
    /// Every datagram received until none arrives for 300 ms.
    pub fn drain(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let mut pfd = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            if poll(&mut pfd, PollTimeout::from(300u16)).unwrap() == 0 {
                return out;
            }
            let n = nix::unistd::read(self.fd.as_raw_fd(), &mut buf).unwrap();
            out.push(buf[..n].to_vec());
        }
    }

    /// Reads in a background thread until [`Collector::stop`], so a sender that writes many
    /// messages never blocks on a full socket queue (glibc's syslog(3) blocks then).
    pub fn collect_in_background(self) -> Collector {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut out = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                out.extend(self.drain());
            }
            out.extend(self.drain());
            out
        });
        Collector { stop, thread }
    }

    /// The datagrams as text (syslog lines such as `<12>conmon: ...`).
    pub fn drain_text(&self) -> Vec<String> {
        self.drain().iter().map(|d| String::from_utf8_lossy(d).into_owned()).collect()
    }
}

/// Decodes one native-journal datagram (`K=V\n` or `K\n<u64 le len><bytes>\n`); a field sent
/// twice is a protocol error.
pub fn decode_journal(mut d: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut fields = HashMap::new();
    while !d.is_empty() {
        let end = d.iter().position(|&b| b == b'=' || b == b'\n').expect("field name terminator");
        let key = String::from_utf8(d[..end].to_vec()).unwrap();
        let rest = &d[end + 1..];
        if d[end] == b'=' {
            let nl = rest.iter().position(|&b| b == b'\n').expect("value newline");
            assert!(fields.insert(key, rest[..nl].to_vec()).is_none(), "repeated field");
            d = &rest[nl + 1..];
        } else {
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            assert!(fields.insert(key, rest[8..8 + len].to_vec()).is_none(), "repeated field");
            assert_eq!(rest[8 + len], b'\n', "binary field must end with a newline");
            d = &rest[9 + len..];
        }
    }
    fields
}

/// A [`Stub`] being read by a background thread.
pub struct Collector {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Vec<u8>>>,
}

impl Collector {
    /// Everything received, as text; the stub is closed and its path removed.
    pub fn stop(self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let got = self.thread.join().expect("stub reader");
        got.iter().map(|d| String::from_utf8_lossy(d).into_owned()).collect()
    }
}
