//! The `ctl` and `winsz` FIFOs: `"TYPE H W\n"` control lines and `"H W\n"` resize lines.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use thiserror::Error;

/// Errors of FIFO set-up.
#[derive(Debug, Error)]
pub enum CtlError {
    #[error("failed to {op} fifo {path}: {source}")]
    Fifo { op: &'static str, path: PathBuf, source: Errno },
}

/// A parsed control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtlMsg {
    Resize { rows: u16, cols: u16 },
    ReopenLogs,
}

/// Longest line kept while waiting for its newline (conmon's buffer is 200 bytes).
const MAX_LINE: usize = 200;

/// Accumulates bytes and yields complete lines; handles several lines per read.
#[derive(Default)]
pub struct LineBuf {
    buf: Vec<u8>,
}

impl LineBuf {
    pub fn feed(&mut self, data: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            lines.push(String::from_utf8_lossy(&line[..i]).into_owned());
        }
        if self.buf.len() > MAX_LINE {
            self.buf.clear();
        }
        lines
    }
}

fn ints<const N: usize>(line: &str) -> Option<[i64; N]> {
    let mut out = [0i64; N];
    let mut it = line.split_ascii_whitespace();
    for slot in out.iter_mut() {
        *slot = it.next()?.parse().ok()?;
    }
    Some(out)
}

/// Parses a `ctl` line: `1 H W` resize, `2 x y` reopen logs.
pub fn parse_ctl_line(line: &str) -> Option<CtlMsg> {
    let [kind, h, w] = ints::<3>(line)?;
    match kind {
        1 => Some(CtlMsg::Resize { rows: u16::try_from(h).ok()?, cols: u16::try_from(w).ok()? }),
        2 => Some(CtlMsg::ReopenLogs),
        _ => None,
    }
}

/// Parses a `winsz` line `H W`.
pub fn parse_winsz_line(line: &str) -> Option<(u16, u16)> {
    let [h, w] = ints::<2>(line)?;
    Some((u16::try_from(h).ok()?, u16::try_from(w).ok()?))
}

/// A FIFO that oxmon reads, with a dummy write end held open so readers never see EOF.
pub struct Fifo {
    pub read: OwnedFd,
    pub write: OwnedFd,
    pub path: PathBuf,
}

impl Fifo {
    /// (Re)creates `path` as a FIFO (mode 0660) and opens both ends.
    pub fn create(path: &Path) -> Result<Self, CtlError> {
        let err = |op, source| CtlError::Fifo { op, path: path.to_path_buf(), source };
        match nix::unistd::unlink(path) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(err("remove", e)),
        }
        nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o660)).map_err(|e| err("create", e))?;
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let read = open(path, flags, Mode::empty()).map_err(|e| err("open", e))?;
        let wflags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let write = open(path, wflags, Mode::empty()).map_err(|e| err("open", e))?;
        let read = crate::sys::adopt_fd(read).ok_or_else(|| err("adopt", Errno::EBADF))?;
        let write = crate::sys::adopt_fd(write).ok_or_else(|| err("adopt", Errno::EBADF))?;
        Ok(Fifo { read, write, path: path.to_path_buf() })
    }

    /// Reads what is available (non-blocking).
    pub fn read_available(&self, buf: &mut [u8]) -> usize {
        nix::unistd::read(self.read.as_raw_fd(), buf).unwrap_or_default()
    }

    /// Writes to our own write end (used to queue resizes through `winsz`).
    pub fn write_line(&self, line: &str) {
        let _ = nix::unistd::write(self.write.as_fd(), line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_lines_in_one_read() {
        let mut lb = LineBuf::default();
        assert_eq!(lb.feed(b"1 30 90\n1 40"), vec!["1 30 90"]);
        assert_eq!(lb.feed(b" 100\n2 0 0\n"), vec!["1 40 100", "2 0 0"]);
        let msgs: Vec<_> = ["1 30 90", "1 40 100", "2 0 0"].iter().map(|l| parse_ctl_line(l)).collect();
        assert_eq!(
            msgs,
            vec![
                Some(CtlMsg::Resize { rows: 30, cols: 90 }),
                Some(CtlMsg::Resize { rows: 40, cols: 100 }),
                Some(CtlMsg::ReopenLogs)
            ]
        );
    }

    #[test]
    fn bad_lines() {
        assert_eq!(parse_ctl_line("1 x 3"), None);
        assert_eq!(parse_ctl_line("7 1 1"), None);
        assert_eq!(parse_ctl_line("1 -1 1"), None);
        assert_eq!(parse_winsz_line("24 80"), Some((24, 80)));
        let mut lb = LineBuf::default();
        assert!(lb.feed(&[b'x'; 300]).is_empty());
        assert_eq!(lb.feed(b"2 0 0\n"), vec!["2 0 0"]);
    }

    #[test]
    fn fifo_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let f = Fifo::create(&dir.path().join("ctl")).unwrap();
        f.write_line("1 2 3\n");
        let mut buf = [0u8; 64];
        let n = f.read_available(&mut buf);
        assert_eq!(&buf[..n], b"1 2 3\n");
        assert_eq!(f.read_available(&mut buf), 0);
    }
}
