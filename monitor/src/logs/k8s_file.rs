//! The k8s-file log driver: `<ts> <stream> <P|F> <content>\n` records, conmon 2.1 size cap.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use thiserror::Error;

use super::Stream;

/// Errors of the k8s-file driver.
#[derive(Debug, Error)]
pub enum K8sError {
    #[error("failed to {op} log file {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
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
        match rest.iter().position(|&b| b == b'\n') {
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

/// One k8s-file log.
pub struct K8sFile {
    path: PathBuf,
    file: File,
    written: i64,
    max: i64,
    sync: bool,
}

fn open_append(path: &PathBuf) -> Result<File, K8sError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| K8sError::Io { op: "open", path: path.clone(), source })
}

impl K8sFile {
    pub fn open(path: PathBuf, max: i64, sync: bool) -> Result<Self, K8sError> {
        let file = open_append(&path)?;
        Ok(K8sFile { path, file, written: 0, max, sync })
    }

    /// Writes the records of one chunk (all with timestamp `ts`).
    pub fn write_chunk(&mut self, ts: &str, stream: Stream, buf: &[u8]) -> Result<(), K8sError> {
        let mut out = Vec::with_capacity(buf.len() + 64);
        for (line, partial) in split_lines(buf) {
            let size = record_size(line.len(), partial);
            if self.max > 0 && self.written + size > self.max {
                self.flush(&mut out)?;
                self.reopen()?;
            }
            format_record(&mut out, ts, stream, line, partial);
            self.written += size;
        }
        self.flush(&mut out)
    }

    fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), K8sError> {
        if out.is_empty() {
            return Ok(());
        }
        let res = self.file.write_all(out);
        out.clear();
        res.map_err(|source| K8sError::Io { op: "write", path: self.path.clone(), source })
    }

    /// fsyncs (unless `--no-sync-log`).
    pub fn sync(&mut self) {
        if self.sync {
            let _ = self.file.sync_all();
        }
    }

    /// conmon 2.1 "reopen": fsync, then replace the file by an empty `PATH.tmp` renamed over it.
    pub fn reopen(&mut self) -> Result<(), K8sError> {
        self.sync();
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|source| K8sError::Io { op: "create", path: tmp.clone(), source })?;
        std::fs::rename(&tmp, &self.path)
            .map_err(|source| K8sError::Io { op: "rename", path: tmp.clone(), source })?;
        drop(file);
        self.file = open_append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        let v: Vec<_> = split_lines(b"a\nbc\nd").collect();
        assert_eq!(v, vec![(&b"a\n"[..], false), (&b"bc\n"[..], false), (&b"d"[..], true)]);
        assert_eq!(split_lines(b"").count(), 0);
        assert_eq!(split_lines(b"\n\n").count(), 2);
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
        let mut f = K8sFile::open(path.clone(), 120, true).unwrap();
        f.write_chunk(ts, Stream::Stdout, b"one\ntwo\n").unwrap(); // 49 + 49 = 98
        assert_eq!(std::fs::read(&path).unwrap().len(), 98);
        f.write_chunk(ts, Stream::Stdout, b"three\n").unwrap(); // 98 + 51 > 120: truncate
        let content = std::fs::read_to_string(&path).unwrap();
        assert_eq!(content, format!("{ts} stdout F three\n"));
        f.reopen().unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 0);
    }
}
