//! The k8s-file log driver: `<ts> <stream> <P|F> <content>\n` records; at `--log-size-max`
//! either conmon 2.1 truncation or (`--log-rotate`) conmon 2.2 rotation to `PATH.1`..`PATH.N`.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use thiserror::Error;

use super::Stream;

/// Errors of the k8s-file driver.
#[derive(Debug, Error)]
pub enum K8sError {
    #[error("Failed to open log file {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("failed to {op} log file {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("log {path} reached --log-global-size-max {max}: dropping further output")]
    GlobalLimit { path: PathBuf, max: i64 },
}

/// Length of `<ts> <stream> ` as conmon's TSBUFLEN - 1 (43) plus `P `/`F ` (2).
const RECORD_OVERHEAD: i64 = 45;

/// Size conmon 2.1 accounts for one record: line length (including its `\n`) + 45, +1 for the
/// newline added to a partial record. This is exactly the number of bytes written.
pub fn record_size(line_len: usize, partial: bool) -> i64 {
    line_len as i64 + RECORD_OVERHEAD + i64::from(partial)
}

/// Splits one read chunk into lines; each item is `(line, partial)`. A complete line keeps its
/// `\n`; a trailing fragment without one is partial.
pub fn split_lines(buf: &[u8]) -> impl Iterator<Item = (&[u8], bool)> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match oxsys::monitor_io::memchr(b'\n', rest) {
            Some(i) => {
                let (line, tail) = rest.split_at(i + 1);
                rest = tail;
                Some((line, false))
            }
            None => {
                let line = rest;
                rest = &[];
                Some((line, true))
            }
        }
    })
}

/// The most line bytes one record carries: conmon's read size (STDIO_BUF_SIZE), so a record
/// is never longer than one conmon would write, whatever size oxmon reads.
pub const MAX_RECORD_CONTENT: usize = 8192;

/// The next record at the start of `buf` (non-empty): `(length, partial)`. A line ending within
/// [`MAX_RECORD_CONTENT`] bytes (its `\n` included) is complete; otherwise the record takes
/// that many bytes (or the rest of the chunk) and is partial, as conmon's would at the end of
/// an 8192-byte read.
pub fn next_record(buf: &[u8]) -> (usize, bool) {
    let window = buf.len().min(MAX_RECORD_CONTENT);
    match oxsys::monitor_io::memchr(b'\n', &buf[..window]) {
        Some(i) => (i + 1, false),
        None => (window, true),
    }
}

/// iovecs per writev (the kernel's IOV_MAX).
const MAX_IOV: usize = 1024;

/// Appends one record to `out`.
pub fn format_record(out: &mut Vec<u8>, ts: &str, stream: Stream, line: &[u8], partial: bool) {
    out.extend_from_slice(ts.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.name().as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(line);
    if partial {
        out.push(b'\n');
    }
}

/// Mode of a newly created log file (conmon 2.2; conmon 2.1 used 0600).
pub const LOG_MODE: u32 = 0o640;

/// Size policy of one k8s-file log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `--log-size-max` (≤ 0: unlimited).
    pub max: i64,
    /// `--log-rotate` with `--log-max-files N`: keep `PATH.1`..`PATH.N`. `None`: conmon 2.1
    /// truncation when `max` is reached.
    pub keep: Option<u32>,
    /// `--log-global-size-max` (≤ 0: unlimited): total record bytes this monitor writes to the
    /// log, over all rotations; once the next record would exceed it, output is dropped.
    pub global_max: i64,
    /// fsync before rotating/reopening and at exit (not with `--no-sync-log`).
    pub sync: bool,
    /// Open with `O_NOFOLLOW` (the path was resolved against `--log-allowlist-dir`).
    pub nofollow: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max: -1, keep: None, global_max: -1, sync: true, nofollow: false }
    }
}

/// One k8s-file log.
pub struct K8sFile {
    path: PathBuf,
    file: File,
    /// Bytes in the current file as far as the size cap is concerned.
    written: i64,
    /// Record bytes written since start-up (for the global cap).
    total: i64,
    exhausted: bool,
    limits: Limits,
    /// Record bytes lost to write errors since the last report.
    dropped: u64,
}

fn open_append(path: &PathBuf, nofollow: bool) -> Result<File, K8sError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_MODE)
        .custom_flags(if nofollow { libc::O_NOFOLLOW } else { 0 })
        .open(path)
        .map_err(|source| K8sError::Open { path: path.clone(), source })
}

/// `PATH.n`, the n-th rotated file.
pub fn backup_path(path: &std::path::Path, n: u32) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{n}"));
    PathBuf::from(p)
}

impl K8sFile {
    pub fn open(path: PathBuf, limits: Limits) -> Result<Self, K8sError> {
        let file = open_append(&path, limits.nofollow)?;
        // conmon 2.1 starts counting at 0 whatever the file holds; with rotation the existing
        // size counts, so restarts never grow a file past the limit (conmon PR #468).
        let written = match limits.keep {
            Some(_) => file.metadata().map(|m| m.len() as i64).unwrap_or(0),
            None => 0,
        };
        Ok(K8sFile { path, file, written, total: 0, exhausted: false, limits, dropped: 0 })
    }

    /// Writes the records of one chunk (all with timestamp `ts`). Rotation or truncation
    /// happens between records, never inside one. The records go out with one writev per
    /// chunk (per 1024 iovecs): the prefix from a stack buffer, the line from `buf` itself.
    pub fn write_chunk<T: AsRef<[u8]> + ?Sized>(&mut self, ts: &T, stream: Stream, buf: &[u8]) -> Result<(), K8sError> {
        if self.exhausted {
            return Ok(());
        }
        let ts = ts.as_ref();
        let name = stream.name().as_bytes();
        let mut full = [0u8; 64];
        let mut part = [0u8; 64];
        let ts = &ts[..ts.len().min(64 - name.len() - 4)];
        let plen = ts.len() + name.len() + 4;
        for (p, flag) in [(&mut full, b'F'), (&mut part, b'P')] {
            p[..ts.len()].copy_from_slice(ts);
            p[ts.len()] = b' ';
            p[ts.len() + 1..ts.len() + 1 + name.len()].copy_from_slice(name);
            p[plen - 3..plen].copy_from_slice(&[b' ', flag, b' ']);
        }
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let mut n = 0;
        let mut rest = buf;
        while !rest.is_empty() {
            let (len, partial) = next_record(rest);
            let (line, tail) = rest.split_at(len);
            rest = tail;
            let size = record_size(line.len(), partial);
            let g = self.limits.global_max;
            if g > 0 && self.total + size > g {
                self.exhausted = true;
                self.write_iov(&mut iov[..n]);
                return Err(K8sError::GlobalLimit { path: self.path.clone(), max: g });
            }
            // conmon 2.1 truncates even an empty file; rotating one would only add an empty backup.
            let nonempty = self.written > 0 || self.limits.keep.is_none();
            if self.limits.max > 0 && nonempty && self.written + size > self.limits.max {
                self.write_iov(&mut iov[..n]);
                n = 0;
                match self.limits.keep {
                    Some(keep) => self.rotate(keep)?,
                    None => self.reopen()?,
                }
            }
            if n + 3 > MAX_IOV {
                self.write_iov(&mut iov[..n]);
                n = 0;
            }
            iov[n] = IoSlice::new(if partial { &part[..plen] } else { &full[..plen] });
            iov[n + 1] = IoSlice::new(line);
            n += 2;
            if partial {
                iov[n] = IoSlice::new(b"\n");
                n += 1;
            }
            self.written += size;
            self.total += size;
        }
        self.write_iov(&mut iov[..n]);
        Ok(())
    }

    /// Writes all of `bufs` (writev, continuing after short writes). When the write fails part
    /// way (a full disk), what this batch already wrote is cut off again, so the file never ends
    /// in half a record that the next record would continue. A failed batch is dropped, not an
    /// error for the caller: the records after it are still tried (space may return at any time),
    /// and the lost bytes are counted and reported when the failures start, when writing works
    /// again, and at exit if it never did.
    fn write_iov(&mut self, mut bufs: &mut [IoSlice<'_>]) {
        let batch: u64 = bufs.iter().map(|b| b.len() as u64).sum();
        IoSlice::advance_slices(&mut bufs, 0);
        let mut done = 0u64;
        while !bufs.is_empty() {
            let source = match self.file.write_vectored(bufs) {
                Ok(0) => std::io::Error::from(std::io::ErrorKind::WriteZero),
                Ok(k) => {
                    done += k as u64;
                    IoSlice::advance_slices(&mut bufs, k);
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            if done > 0 {
                if let Ok(m) = self.file.metadata() {
                    let _ = self.file.set_len(m.len().saturating_sub(done));
                }
            }
            if self.dropped == 0 {
                crate::diag::warn(&format!(
                    "log {}: write failed: {source}; dropping records until the log can be written again",
                    self.path.display()
                ));
            }
            self.dropped += batch;
            return;
        }
        if self.dropped > 0 && batch > 0 {
            crate::diag::warn(&format!(
                "log {}: {} bytes of records were dropped while the log could not be written",
                self.path.display(),
                self.dropped
            ));
            self.dropped = 0;
        }
    }

    /// Record bytes dropped since the last report (0 when the log is being written).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// At exit: reports records still counted as dropped (the log never became writable again).
    pub fn report_dropped_at_exit(&mut self) {
        if self.dropped > 0 {
            crate::diag::warn(&format!(
                "log {}: {} bytes of records were dropped; the log could not be written again before the container exited",
                self.path.display(),
                self.dropped
            ));
            self.dropped = 0;
        }
    }

    /// fsyncs (unless `--no-sync-log`).
    pub fn sync(&mut self) {
        if self.limits.sync {
            let _ = self.file.sync_all();
        }
    }

    /// `PATH.(keep-1)` → `PATH.keep` (dropping the oldest), …, `PATH` → `PATH.1`, then a fresh
    /// `PATH`.
    fn rotate(&mut self, keep: u32) -> Result<(), K8sError> {
        self.sync();
        let rename = |from: &PathBuf, to: &PathBuf| match std::fs::rename(from, to) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(K8sError::Io { op: "rotate", path: from.clone(), source: e })
            }
            _ => Ok(()),
        };
        // Shift only the backups that exist (a huge --log-max-files costs nothing).
        let mut top = 0;
        while top + 1 < keep && backup_path(&self.path, top + 1).exists() {
            top += 1;
        }
        for n in (1..=top).rev() {
            rename(&backup_path(&self.path, n), &backup_path(&self.path, n + 1))?;
        }
        rename(&self.path, &backup_path(&self.path, 1))?;
        self.file = open_append(&self.path, self.limits.nofollow)?;
        self.written = 0;
        Ok(())
    }

    /// A `ctl` reopen request. conmon 2.1 semantics (fsync, then replace the file by an empty
    /// `PATH.tmp` renamed over it) unless rotating: then, as in conmon HEAD, the log is rotated
    /// (`PATH` becomes `PATH.1`, nothing is lost).
    pub fn reopen(&mut self) -> Result<(), K8sError> {
        self.sync();
        if let Some(keep) = self.limits.keep {
            // conmon HEAD: with --log-rotate a reopen request rotates the log.
            return self.rotate(keep);
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(LOG_MODE)
            .open(&tmp)
            .map_err(|source| K8sError::Io { op: "create", path: tmp.clone(), source })?;
        std::fs::rename(&tmp, &self.path).map_err(|source| K8sError::Io { op: "rename", path: tmp.clone(), source })?;
        drop(file);
        self.file = open_append(&self.path, self.limits.nofollow)?;
        self.written = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /dev/full fails every write with ENOSPC: each record of every chunk is counted as dropped,
    /// including the records after the first failed batch of a chunk.
    #[test]
    fn records_that_cannot_be_written_are_counted() {
        let mut f = K8sFile::open(PathBuf::from("/dev/full"), Limits::default()).unwrap();
        let ts = "2026-11-29T19:00:00.000000000+00:00";
        let mut many = Vec::new();
        for i in 0..2000 {
            many.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        f.write_chunk(ts, Stream::Stdout, &many).unwrap();
        f.write_chunk(ts, Stream::Stderr, b"half").unwrap();
        let want: i64 = split_lines(&many).map(|(l, p)| record_size(l.len(), p)).sum::<i64>() + record_size(4, true);
        assert!(many.len() / 2 > MAX_IOV, "the chunk needs several writev batches");
        assert_eq!(f.dropped() as i64, want);
        f.report_dropped_at_exit();
        assert_eq!(f.dropped(), 0, "reported once");
    }

    #[test]
    fn splitting() {
        let v: Vec<_> = split_lines(b"a\nbc\nd").collect();
        assert_eq!(v, vec![(&b"a\n"[..], false), (&b"bc\n"[..], false), (&b"d"[..], true)]);
        assert_eq!(split_lines(b"").count(), 0);
        assert_eq!(split_lines(b"\n\n").count(), 2);
    }

    #[test]
    fn records_are_at_most_8192_bytes() {
        assert_eq!(next_record(b"ab\ncd"), (3, false));
        assert_eq!(next_record(b"cd"), (2, true));
        let long = vec![b'a'; 20_000];
        assert_eq!(next_record(&long), (8192, true));
        let mut exact = vec![b'a'; 8191];
        exact.push(b'\n');
        exact.push(b'b');
        assert_eq!(next_record(&exact), (8192, false));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let ts = "2023-02-06T10:53:37.123456789+00:00";
        let mut f = K8sFile::open(path.clone(), Limits::default()).unwrap();
        let mut chunk = b"x\n".repeat(3000);
        chunk.extend_from_slice(&long);
        chunk.extend_from_slice(b"\nend");
        f.write_chunk(ts, Stream::Stderr, &chunk).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut joined = String::new();
        let mut flags = String::new();
        for l in text.lines() {
            let mut it = l.splitn(4, ' ');
            assert_eq!(it.next(), Some(ts));
            assert_eq!(it.next(), Some("stderr"));
            let flag = it.next().unwrap();
            let content = it.next().unwrap_or("");
            assert!(content.len() + usize::from(flag == "F") <= 8192);
            flags.push_str(flag);
            joined.push_str(content);
            if flag == "F" {
                joined.push('\n');
            }
        }
        assert_eq!(joined.as_bytes(), &chunk[..]);
        assert_eq!(flags, format!("{}PPFP", "F".repeat(3000)));
    }

    #[test]
    fn record_format_and_size() {
        let ts = "2023-02-06T10:53:37.123456789-05:00";
        let mut out = Vec::new();
        format_record(&mut out, ts, Stream::Stdout, b"hi\n", false);
        format_record(&mut out, ts, Stream::Stderr, b"part", true);
        let s = String::from_utf8(out).unwrap();
        let mut lines = s.lines();
        let first = lines.next().unwrap();
        assert_eq!(first, format!("{ts} stdout F hi"));
        assert_eq!(first.len() as i64 + 1, record_size(3, false));
        let second = lines.next().unwrap();
        assert_eq!(second, format!("{ts} stderr P part"));
        assert_eq!(second.len() as i64 + 1, record_size(4, true));
    }

    #[test]
    fn size_cap_truncates_whole_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let ts = "2023-02-06T10:53:37.123456789+00:00";
        let mut f = K8sFile::open(path.clone(), Limits { max: 120, ..Limits::default() }).unwrap();
        f.write_chunk(ts, Stream::Stdout, b"one\ntwo\n").unwrap(); // 49 + 49 = 98
        assert_eq!(std::fs::read(&path).unwrap().len(), 98);
        f.write_chunk(ts, Stream::Stdout, b"three\n").unwrap(); // 98 + 51 > 120: truncate
        let content = std::fs::read_to_string(&path).unwrap();
        assert_eq!(content, format!("{ts} stdout F three\n"));
        f.reopen().unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 0);
    }

    fn read_nums(path: &std::path::Path) -> Vec<u32> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn rotation_keeps_n_files_at_record_boundaries() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        let ts = "2023-02-06T10:53:37.123456789+00:00";
        let limits = Limits { max: 200, keep: Some(2), ..Limits::default() };
        let mut f = K8sFile::open(path.clone(), limits).unwrap();
        for i in 0..20 {
            f.write_chunk(ts, Stream::Stdout, format!("{i}\n").as_bytes()).unwrap();
        }
        // Records are 47 or 48 bytes: four fit in 200.
        assert_eq!(read_nums(&backup_path(&path, 2)), vec![8, 9, 10, 11]);
        assert_eq!(read_nums(&backup_path(&path, 1)), vec![12, 13, 14, 15]);
        assert_eq!(read_nums(&path), vec![16, 17, 18, 19]);
        assert!(!backup_path(&path, 3).exists());
        for p in [path.clone(), backup_path(&path, 1)] {
            assert!(std::fs::metadata(&p).unwrap().len() <= 200);
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o7, 0, "0640 minus umask");
        }
        // A restart counts what the file already holds.
        drop(f);
        let mut f = K8sFile::open(path.clone(), limits).unwrap();
        f.write_chunk(ts, Stream::Stdout, b"20\n").unwrap();
        assert_eq!(read_nums(&path), vec![20]);
        assert_eq!(read_nums(&backup_path(&path, 1)), vec![16, 17, 18, 19]);
        // A huge --log-max-files only shifts what exists.
        drop(f);
        let many = Limits { keep: Some(u32::MAX), ..limits };
        let mut f = K8sFile::open(path.clone(), many).unwrap();
        f.write_chunk(ts, Stream::Stdout, b"21\n22\n23\n24\n").unwrap();
        assert_eq!(read_nums(&backup_path(&path, 3)), vec![12, 13, 14, 15]);
        assert_eq!(read_nums(&backup_path(&path, 2)), vec![16, 17, 18, 19]);
        assert_eq!(read_nums(&backup_path(&path, 1)), vec![20, 21, 22, 23]);
        assert_eq!(read_nums(&path), vec![24]);
        // With rotation on, a reopen request rotates (conmon HEAD).
        f.reopen().unwrap();
        assert_eq!(read_nums(&backup_path(&path, 2)), vec![20, 21, 22, 23]);
        assert_eq!(read_nums(&backup_path(&path, 1)), vec![24]);
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn global_cap_stops_at_a_record_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        let ts = "2023-02-06T10:53:37.123456789+00:00";
        let limits = Limits { max: 100, keep: Some(10), global_max: 150, ..Limits::default() };
        let mut f = K8sFile::open(path.clone(), limits).unwrap();
        f.write_chunk(ts, Stream::Stdout, b"1\n2\n").unwrap();
        assert!(matches!(f.write_chunk(ts, Stream::Stdout, b"3\n4\n"), Err(K8sError::GlobalLimit { .. })));
        f.write_chunk(ts, Stream::Stdout, b"5\n").unwrap();
        assert_eq!(read_nums(&backup_path(&path, 1)), vec![1, 2]);
        assert_eq!(read_nums(&path), vec![3]);
    }
}
