//! The `ctl` and `winsz` FIFOs: `"TYPE H W\n"` control lines and `"H W\n"` resize lines.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::Mode;
use oxsys::SysError;
use thiserror::Error;

/// Errors of FIFO set-up.
#[derive(Debug, Error)]
pub enum CtlError {
    #[error("failed to {0}")]
    Fifo(SysError<Errno>),
}

/// A parsed control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtlMsg {
    Resize { rows: u16, cols: u16 },
    ReopenLogs,
}

/// Longest line kept while waiting for its newline (conmon's buffer is 200 bytes).
const MAX_LINE: usize = 200;

/// Largest accepted terminal dimension: conmon HEAD refuses more than 1000 rows or columns
/// (an application may allocate a screen buffer of that size).
pub const MAX_DIMENSION: i64 = 1000;

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

/// Why a `ctl`/`winsz` line was refused (a warning; the line is ignored). conmon HEAD's words.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CtlReject {
    #[error("Invalid control message format")]
    Malformed,
    #[error("Failed to parse window size")]
    MalformedWinsz,
    #[error("Invalid control message type: {0}")]
    UnknownType(i64),
    #[error("Invalid window size: {0}x{1} (must be between 0 and {MAX_DIMENSION})")]
    BadSize(i64, i64),
}

/// The first `N` integers of `line` read as `sscanf("%d %d ...")` reads them (what conmon
/// does): each after optional whitespace, an optional sign and at least one decimal digit
/// (`0x10` reads as 0, then fails at `x`); anything after the last one is ignored. A value
/// that does not fit an `int` is refused instead of wrapping.
fn scan_ints<const N: usize>(line: &str) -> Option<[i64; N]> {
    let mut out = [0i64; N];
    let mut rest = line.as_bytes();
    for slot in out.iter_mut() {
        rest = rest.trim_ascii_start();
        let sign_len = usize::from(matches!(rest.first(), Some(b'+' | b'-')));
        let digits = rest[sign_len..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let text = std::str::from_utf8(&rest[..sign_len + digits]).ok()?;
        *slot = i64::from(text.parse::<i32>().ok()?);
        rest = &rest[sign_len + digits..];
    }
    Some(out)
}

fn size(rows: i64, cols: i64) -> Result<(u16, u16), CtlReject> {
    let ok = |v: i64| (0..=MAX_DIMENSION).contains(&v);
    match (u16::try_from(rows), u16::try_from(cols)) {
        (Ok(r), Ok(c)) if ok(rows) && ok(cols) => Ok((r, c)),
        _ => Err(CtlReject::BadSize(rows, cols)),
    }
}

/// Parses a `ctl` line as conmon HEAD does: `1 H W` resize, `2 H W` reopen logs; for both,
/// H and W must be 0..=1000, and anything after W is ignored.
pub fn parse_ctl_line(line: &str) -> Result<CtlMsg, CtlReject> {
    let [kind, h, w] = scan_ints::<3>(line).ok_or(CtlReject::Malformed)?;
    if kind != 1 && kind != 2 {
        return Err(CtlReject::UnknownType(kind));
    }
    let (rows, cols) = size(h, w)?;
    Ok(if kind == 1 { CtlMsg::Resize { rows, cols } } else { CtlMsg::ReopenLogs })
}

/// Parses a `winsz` line `H W` (same limits as a ctl resize).
pub fn parse_winsz_line(line: &str) -> Result<(u16, u16), CtlReject> {
    let [h, w] = scan_ints::<2>(line).ok_or(CtlReject::MalformedWinsz)?;
    size(h, w)
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
        let err = |op: &'static str, source| CtlError::Fifo(SysError::at(op, path, source));
        match nix::unistd::unlink(path) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(err("remove fifo", e)),
        }
        nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o660)).map_err(|e| err("create fifo", e))?;
        let read = crate::os_error::open(path, false, libc::O_NONBLOCK).map_err(|e| err("open fifo", e))?;
        let write = crate::os_error::open(path, true, libc::O_NONBLOCK).map_err(|e| err("open fifo", e))?;
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
    fn a_fifo_error_names_the_step_and_the_path() {
        let e = CtlError::Fifo(SysError::at("open fifo", "/b/ctl", Errno::ENOENT));
        assert_eq!(e.to_string(), "failed to open fifo /b/ctl: ENOENT: No such file or directory");
        let err = Fifo::create(Path::new("/nonexistent-oxmon-dir/ctl")).err().unwrap();
        assert!(err.to_string().starts_with("failed to create fifo /nonexistent-oxmon-dir/ctl: ENOENT"), "{err}");
    }

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
        let bad_size = |l: &str| matches!(parse_ctl_line(l), Err(CtlReject::BadSize(..)));
        for l in ["1 -1 1", "1 1001 80", "1 24 1001", "1 65535 65535", "1 100000 100000", "2 -1 5", "2 1 1001"] {
            assert!(bad_size(l), "{l}");
        }
        assert_eq!(parse_ctl_line("1 1000 1000"), Ok(CtlMsg::Resize { rows: 1000, cols: 1000 }));
        assert_eq!(parse_ctl_line("1 0 0"), Ok(CtlMsg::Resize { rows: 0, cols: 0 }));
        assert_eq!(parse_ctl_line("1 0010 0020"), Ok(CtlMsg::Resize { rows: 10, cols: 20 }));
        assert_eq!(parse_ctl_line("1 2 2 3"), Ok(CtlMsg::Resize { rows: 2, cols: 2 }));
        assert_eq!(parse_ctl_line(" 1  +2 3"), Ok(CtlMsg::Resize { rows: 2, cols: 3 }));
        for l in ["1 x 3", "1 24", "1", "", "foo", "999", "1 99999999999999999999 1", "1 10.5 20.3", "1 0x10 0x20"] {
            assert_eq!(parse_ctl_line(l), Err(CtlReject::Malformed), "{l}");
        }
        assert_eq!(parse_ctl_line("999 2 2"), Err(CtlReject::UnknownType(999)));
        assert_eq!(parse_ctl_line("-1 1 1"), Err(CtlReject::UnknownType(-1)));
        assert_eq!(parse_ctl_line("2 1 1"), Ok(CtlMsg::ReopenLogs));
        assert_eq!(parse_winsz_line("24 80"), Ok((24, 80)));
        assert_eq!(parse_winsz_line("24 80 1"), Ok((24, 80)));
        assert_eq!(parse_winsz_line("24"), Err(CtlReject::MalformedWinsz));
        assert_eq!(parse_winsz_line("24 1001"), Err(CtlReject::BadSize(24, 1001)));
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
