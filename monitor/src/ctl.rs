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

/// Largest accepted terminal dimension (`struct winsize` fields are 16-bit).
pub const MAX_DIMENSION: i64 = 65535;

/// Accumulates bytes and yields complete lines; handles several lines per read. A line longer
/// than [`MAX_LINE`] is discarded up to its newline and counted in `overlong`.
#[derive(Default)]
pub struct LineBuf {
    buf: Vec<u8>,
    skipping: bool,
    pub overlong: usize,
}

impl LineBuf {
    pub fn feed(&mut self, data: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            lines.push(String::from_utf8_lossy(&line[..i]).into_owned());
        }
        if self.buf.len() > MAX_LINE {
            self.buf.clear();
            if !self.skipping {
                self.overlong += 1;
            }
            self.skipping = true;
        }
        lines
    }
}

/// Why a `ctl`/`winsz` line was refused (logged; the line is ignored).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CtlReject {
    #[error("malformed {fifo} message {line:?} (want {want}), ignored")]
    Malformed { fifo: &'static str, line: String, want: &'static str },
    #[error("invalid terminal size {rows} {cols} in {fifo} message {line:?}: rows and columns must be 1..=65535, ignored")]
    BadSize { fifo: &'static str, line: String, rows: i64, cols: i64 },
    #[error("unknown ctl message type {kind} in {line:?}, ignored")]
    UnknownType { line: String, kind: i64 },
}

/// Exactly `N` whitespace-separated decimal integers (an optional sign, no overflow).
fn ints<const N: usize>(line: &str) -> Option<[i64; N]> {
    let mut out = [0i64; N];
    let mut it = line.split_ascii_whitespace();
    for slot in out.iter_mut() {
        *slot = it.next()?.parse().ok()?;
    }
    it.next().is_none().then_some(out)
}

fn size(fifo: &'static str, line: &str, rows: i64, cols: i64) -> Result<(u16, u16), CtlReject> {
    let ok = |v: i64| (1..=MAX_DIMENSION).contains(&v);
    match (u16::try_from(rows), u16::try_from(cols)) {
        (Ok(r), Ok(c)) if ok(rows) && ok(cols) => Ok((r, c)),
        _ => Err(CtlReject::BadSize { fifo, line: line.to_string(), rows, cols }),
    }
}

/// Parses a `ctl` line: `1 H W` resize, `2 x y` reopen logs. Sizes must be 1..=65535 (conmon
/// 2.1 casts whatever `%d` gives to `unsigned short`, so `-1` became 65535).
pub fn parse_ctl_line(line: &str) -> Result<CtlMsg, CtlReject> {
    let malformed = || CtlReject::Malformed { fifo: "ctl", line: line.to_string(), want: "\"TYPE HEIGHT WIDTH\"" };
    let [kind, h, w] = ints::<3>(line).ok_or_else(malformed)?;
    match kind {
        1 => size("ctl", line, h, w).map(|(rows, cols)| CtlMsg::Resize { rows, cols }),
        2 => Ok(CtlMsg::ReopenLogs),
        _ => Err(CtlReject::UnknownType { line: line.to_string(), kind }),
    }
}

/// Parses a `winsz` line `H W` (same limits as a ctl resize).
pub fn parse_winsz_line(line: &str) -> Result<(u16, u16), CtlReject> {
    let malformed = || CtlReject::Malformed { fifo: "winsz", line: line.to_string(), want: "\"HEIGHT WIDTH\"" };
    let [h, w] = ints::<2>(line).ok_or_else(malformed)?;
    size("winsz", line, h, w)
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
                Ok(CtlMsg::Resize { rows: 30, cols: 90 }),
                Ok(CtlMsg::Resize { rows: 40, cols: 100 }),
                Ok(CtlMsg::ReopenLogs)
            ]
        );
    }

    #[test]
    fn bad_lines() {
        let bad_size = |l: &str| matches!(parse_ctl_line(l), Err(CtlReject::BadSize { .. }));
        for l in ["1 -1 1", "1 0 80", "1 24 0", "1 65536 80", "1 24 70000", "1 -65535 80"] {
            assert!(bad_size(l), "{l}");
        }
        assert_eq!(parse_ctl_line("1 65535 65535"), Ok(CtlMsg::Resize { rows: 65535, cols: 65535 }));
        for l in ["1 x 3", "1 24", "1 24 80 7", "", "1 99999999999999999999 1", "1 2.5 3"] {
            assert!(matches!(parse_ctl_line(l), Err(CtlReject::Malformed { .. })), "{l}");
        }
        assert!(matches!(parse_ctl_line("7 1 1"), Err(CtlReject::UnknownType { kind: 7, .. })));
        assert!(matches!(parse_ctl_line("-1 1 1"), Err(CtlReject::UnknownType { kind: -1, .. })));
        assert_eq!(parse_ctl_line("2 -1 99999"), Ok(CtlMsg::ReopenLogs));
        assert_eq!(parse_winsz_line("24 80"), Ok((24, 80)));
        assert!(parse_winsz_line("0 80").is_err() && parse_winsz_line("24 80 1").is_err());
        let mut lb = LineBuf::default();
        assert!(lb.feed(&[b'x'; 300]).is_empty());
        assert_eq!(lb.feed(b"tail of the long line\n2 0 0\n"), vec!["2 0 0"]);
        assert_eq!(lb.overlong, 1);
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
