//! Messages to Podman on the sync/attach SEQPACKET sockets (`{"data": N}\n`).

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use oxsys::SysError;
use thiserror::Error;

/// Errors from writing a sync message.
#[derive(Debug, Error)]
pub enum SyncError {
    #[error("failed to {0}")]
    Write(SysError<Errno>),
}

/// JSON-escapes `msg` the way conmon 2.1.6 does (`\\`, `\"`, `\n`, `\t`, other controls as `\u00XX`).
pub fn escape_json(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len() + 8);
    for c in msg.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Formats one message; `key` is `data` for api ≥ 1.
pub fn format_message(key: &str, data: i64, message: Option<&str>) -> String {
    match message {
        Some(m) => format!("{{\"{key}\": {data}, \"message\": \"{}\"}}\n", escape_json(m)),
        None => format!("{{\"{key}\": {data}}}\n"),
    }
}

/// The key conmon uses for a message, depending on api version and mode.
pub fn message_key(api_version: i32, exec: bool) -> &'static str {
    match (api_version >= 1, exec) {
        (true, _) => "data",
        (false, true) => "exit_code",
        (false, false) => "pid",
    }
}

/// A sync socket inherited from Podman.
pub struct SyncPipe {
    fd: OwnedFd,
    key: &'static str,
    what: &'static str,
}

impl SyncPipe {
    pub fn new(fd: OwnedFd, key: &'static str, what: &'static str) -> Self {
        SyncPipe { fd, key, what }
    }

    /// Sends one message as a single packet. EPIPE (Podman stopped listening) is ignored.
    pub fn send(&self, data: i64, message: Option<&str>) -> Result<(), SyncError> {
        let text = format_message(self.key, data, message);
        match nix::unistd::write(self.fd.as_fd(), text.as_bytes()) {
            Ok(_) | Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => Ok(()),
            Err(e) => Err(SyncError::Write(SysError::new(format!("write to sync pipe {}", self.what), e))),
        }
    }

    /// A second handle on the same socket (for error reporting).
    pub fn try_clone(&self) -> Option<Self> {
        let fd = self.fd.try_clone().ok()?;
        Some(SyncPipe { fd, key: self.key, what: self.what })
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_reads_as_conmons() {
        let e = SyncError::Write(SysError::new("write to sync pipe sync", Errno::EIO));
        assert_eq!(e.to_string(), "failed to write to sync pipe sync: EIO: I/O error");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_json("a\"b\\c\nd\te\u{1}\u{7f}"), "a\\\"b\\\\c\\nd\\te\\u0001\\u007f");
        let m = format_message("data", -1, Some("exec: \"x\": not found\n"));
        assert_eq!(m, "{\"data\": -1, \"message\": \"exec: \\\"x\\\": not found\\n\"}\n");
        let v: serde_json::Value = serde_json::from_str(m.trim_end()).unwrap();
        assert_eq!(v["message"], "exec: \"x\": not found\n");
    }

    #[test]
    fn plain_and_keys() {
        assert_eq!(format_message("data", 1234, None), "{\"data\": 1234}\n");
        assert_eq!(message_key(1, true), "data");
        assert_eq!(message_key(0, true), "exit_code");
        assert_eq!(message_key(0, false), "pid");
    }
}
