//! The attach socket: SEQPACKET, output framed `[stream id][≤8192 bytes]`, input unframed.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, listen, sendmsg, shutdown, socket, AddressFamily, Backlog, MsgFlags, Shutdown, SockFlag, SockType, UnixAddr,
};
use thiserror::Error;

use crate::logs::Stream;

/// Errors of the attach socket.
#[derive(Debug, Error)]
pub enum AttachError {
    #[error("failed to {op} attach socket {path}: {source}")]
    Socket { op: &'static str, path: PathBuf, source: Errno },
}

/// One connected client.
pub struct Client {
    pub fd: OwnedFd,
    /// Still reading input from this client (false after its EOF).
    pub reading: bool,
    /// Output can still be sent (false after a failed write).
    pub writable: bool,
}

/// The listening socket plus its clients.
pub struct AttachServer {
    listener: Option<OwnedFd>,
    pub path: PathBuf,
    pub clients: Vec<Client>,
}

/// What reading a client produced.
pub enum ClientRead {
    Data(usize),
    Eof,
    Nothing,
}

/// Path to use for the `<cuuid>` symlink under `socket_dir`; conmon shortens a name that would
/// make the path exactly 107 characters by one.
pub fn symlink_path(socket_dir: &str, cuuid: &str) -> PathBuf {
    let mut p = format!("{}/{}", socket_dir.trim_end_matches('/'), cuuid);
    if p.len() == 107 {
        p.pop();
    }
    PathBuf::from(p)
}

impl AttachServer {
    /// Creates `<dir>/attach`, binding through `/proc/self/fd/<dirfd>/attach` so that long
    /// directory paths work.
    pub fn create(dir: &Path) -> Result<Self, AttachError> {
        let path = dir.join("attach");
        let err = |op, source| AttachError::Socket { op, path: path.clone(), source };
        let dirfd = crate::os_error::open(dir, false, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| err("open directory of", e))?;
        let proc_path = format!("/proc/self/fd/{}/attach", dirfd.as_raw_fd());
        match std::fs::remove_file(&proc_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err("remove", Errno::from_raw(e.raw_os_error().unwrap_or(0)))),
        }
        let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
        let fd = socket(AddressFamily::Unix, SockType::SeqPacket, flags, None).map_err(|e| err("create", e))?;
        let addr = UnixAddr::new(proc_path.as_str()).map_err(|e| err("address", e))?;
        bind(fd.as_raw_fd(), &addr).map_err(|e| err("bind", e))?;
        let _ = std::fs::set_permissions(&proc_path, std::fs::Permissions::from_mode(0o700));
        listen(&fd, Backlog::new(10).unwrap_or(Backlog::MAXCONN)).map_err(|e| err("listen", e))?;
        Ok(AttachServer { listener: Some(fd), path, clients: Vec::new() })
    }

    pub fn listener_fd(&self) -> Option<BorrowedFd<'_>> {
        self.listener.as_ref().map(|f| f.as_fd())
    }

    /// Accepts one pending client (blocking socket: output writes block like conmon's).
    pub fn accept(&mut self) {
        let Some(l) = self.listener.as_ref() else { return };
        if let Ok(fd) = oxsys::monitor_io::accept(l.as_fd()) {
            self.clients.push(Client { fd, reading: true, writable: true });
        }
    }

    /// Sends `[stream][data]` to every client, one packet per 8192 bytes of `data` (conmon's
    /// frame size), without copying the data (sendmsg with two iovecs).
    pub fn broadcast(&mut self, stream: Stream, data: &[u8]) {
        if self.clients.is_empty() {
            return;
        }
        let id = [stream as u8];
        for piece in data.chunks(super::STDIO_BUF_SIZE) {
            let iov = [IoSlice::new(&id), IoSlice::new(piece)];
            for c in self.clients.iter_mut().filter(|c| c.writable) {
                if sendmsg::<()>(c.fd.as_raw_fd(), &iov, &[], MsgFlags::MSG_NOSIGNAL, None).is_err() {
                    let _ = shutdown(c.fd.as_raw_fd(), Shutdown::Write);
                    c.writable = false;
                }
            }
        }
        self.clients.retain(|c| c.writable || c.reading);
    }

    /// Reads input from client `idx` into `buf`.
    pub fn read_client(&mut self, idx: usize, buf: &mut [u8]) -> ClientRead {
        let c = &mut self.clients[idx];
        match nix::unistd::read(c.fd.as_raw_fd(), buf) {
            Ok(0) | Err(Errno::ECONNRESET) => {
                let _ = shutdown(c.fd.as_raw_fd(), Shutdown::Read);
                c.reading = false;
                ClientRead::Eof
            }
            Ok(n) => ClientRead::Data(n),
            Err(_) => ClientRead::Nothing,
        }
    }

    /// Drops clients that can neither be read nor written.
    pub fn prune(&mut self) {
        self.clients.retain(|c| c.writable || c.reading);
    }

    /// Closes every client and the listener (container exit).
    pub fn close_all(&mut self) {
        self.clients.clear();
        self.listener = None;
    }

    /// Removes the socket file.
    pub fn unlink(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_shortening() {
        let dir = "/".to_string() + &"d".repeat(40);
        let cuuid = "c".repeat(107 - dir.len() - 1);
        assert_eq!(symlink_path(&dir, &cuuid).as_os_str().len(), 106);
        assert_eq!(symlink_path("/var/run/crio/", "x"), PathBuf::from("/var/run/crio/x"));
    }
}
