//! The journald log driver: the native journal protocol over `/run/systemd/journal/socket`.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{sendto, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use thiserror::Error;

use super::Stream;

/// The journal's native socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
const PARTIAL_MAX: usize = 8192;

/// Errors of the journald driver.
#[derive(Debug, Error)]
pub enum JournaldError {
    #[error("failed to {op} journal socket {path}: {source}")]
    Socket { op: &'static str, path: &'static str, source: nix::Error },
}

/// Appends one field in the journal's native format. Values containing `\n` use the
/// binary-safe form `KEY\n<u64 LE length><value>\n`.
pub fn encode_field(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.extend_from_slice(key.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Per-container journald writer.
pub struct Journald {
    sock: OwnedFd,
    /// Fields common to every entry (CONTAINER_ID_FULL, CONTAINER_ID, ...), pre-encoded.
    common: Vec<u8>,
    partial: [Vec<u8>; 2],
    /// Mark partial entries with `CONTAINER_PARTIAL_MESSAGE=true` (off with
    /// `--no-container-partial-message`).
    mark_partial: bool,
}

/// Builds the fields every entry carries. Labels (`--log-label KEY=VALUE`, checked by
/// [`super::check_label`]) become fields named exactly KEY, after the standard ones.
pub fn common_fields(cid: &str, name: Option<&str>, tag: Option<&str>, labels: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    let short: String = cid.chars().take(12).collect();
    encode_field(&mut out, "CONTAINER_ID_FULL", cid.as_bytes());
    encode_field(&mut out, "CONTAINER_ID", short.as_bytes());
    if let Some(tag) = tag {
        encode_field(&mut out, "CONTAINER_TAG", tag.as_bytes());
    }
    if let Some(name) = name {
        encode_field(&mut out, "CONTAINER_NAME", name.as_bytes());
    }
    let ident = tag.or(name).unwrap_or(&short);
    encode_field(&mut out, "SYSLOG_IDENTIFIER", ident.as_bytes());
    for label in labels {
        if let Ok((k, v)) = super::check_label(label) {
            encode_field(&mut out, k, v.as_bytes());
        }
    }
    out
}

/// Builds a complete datagram for one message.
/// `partial` adds `CONTAINER_PARTIAL_MESSAGE=true`.
pub fn entry(common: &[u8], stream: Stream, message: &[u8], partial: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(common.len() + message.len() + 64);
    encode_field(&mut out, "MESSAGE", message);
    out.extend_from_slice(common);
    let prio: &[u8] = if stream == Stream::Stdout { b"6" } else { b"3" };
    encode_field(&mut out, "PRIORITY", prio);
    if partial {
        encode_field(&mut out, "CONTAINER_PARTIAL_MESSAGE", b"true");
    }
    out
}

impl Journald {
    pub fn new(common: Vec<u8>, mark_partial: bool) -> Result<Self, JournaldError> {
        let sock = socket(AddressFamily::Unix, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|source| JournaldError::Socket { op: "create", path: JOURNAL_SOCKET, source })?;
        Ok(Journald { sock, common, partial: [Vec::new(), Vec::new()], mark_partial })
    }

    fn send(&self, stream: Stream, message: &[u8], partial: bool) -> Result<(), JournaldError> {
        let dgram = entry(&self.common, stream, message, partial && self.mark_partial);
        let addr = UnixAddr::new(JOURNAL_SOCKET).map_err(|source| JournaldError::Socket {
            op: "address",
            path: JOURNAL_SOCKET,
            source,
        })?;
        sendto(self.sock.as_raw_fd(), &dgram, &addr, MsgFlags::empty()).map_err(|source| JournaldError::Socket {
            op: "send to",
            path: JOURNAL_SOCKET,
            source,
        })?;
        Ok(())
    }

    /// Logs one chunk: one entry per line; a trailing fragment is buffered (up to 8192 bytes).
    pub fn write_chunk(&mut self, stream: Stream, buf: &[u8]) -> Result<(), JournaldError> {
        let idx = stream.index();
        for (line, partial) in super::k8s_file::split_lines(buf) {
            if partial && self.partial[idx].len() + line.len() < PARTIAL_MAX {
                self.partial[idx].extend_from_slice(line);
                continue;
            }
            let mut msg = std::mem::take(&mut self.partial[idx]);
            msg.extend_from_slice(line);
            self.send(stream, &msg, partial)?;
        }
        Ok(())
    }

    /// Flushes buffered partial lines (at exit).
    pub fn flush(&mut self) -> Result<(), JournaldError> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let msg = std::mem::take(&mut self.partial[stream.index()]);
            if !msg.is_empty() {
                self.send(stream, &msg, true)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_encoding() {
        let mut out = Vec::new();
        encode_field(&mut out, "A", b"x");
        encode_field(&mut out, "MESSAGE", b"hi\n");
        let mut want = b"A=x\nMESSAGE\n".to_vec();
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"hi\n\n");
        assert_eq!(out, want);
    }

    #[test]
    fn common_and_entry() {
        let c = common_fields("0123456789abcdef", Some("web"), None, &["K=V".to_string(), "bad=x".to_string()]);
        let s = String::from_utf8(c.clone()).unwrap();
        assert!(s.contains("CONTAINER_ID=0123456789ab\n"));
        assert!(s.contains("CONTAINER_NAME=web\n"));
        assert!(s.contains("SYSLOG_IDENTIFIER=web\n"));
        assert!(s.contains("K=V\n") && !s.contains("bad"));
        let e = entry(&c, Stream::Stderr, b"part", true);
        let s = String::from_utf8(e).unwrap();
        assert!(s.starts_with("MESSAGE=part\n"));
        assert!(s.contains("PRIORITY=3\n") && s.ends_with("CONTAINER_PARTIAL_MESSAGE=true\n"));
        let t = common_fields("0123456789abcdef", Some("web"), Some("tg"), &[]);
        assert!(String::from_utf8(t).unwrap().contains("SYSLOG_IDENTIFIER=tg\n"));
    }
}
