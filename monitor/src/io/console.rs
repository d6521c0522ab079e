//! The `--console-socket` listener that receives the container's pty master.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
use nix::sys::termios::{tcgetattr, tcsetattr, OutputFlags, SetArg};
use thiserror::Error;

/// Errors of the console socket.
#[derive(Debug, Error)]
pub enum ConsoleError {
    #[error("failed to {op} console socket {path}: {source}")]
    Socket { op: &'static str, path: PathBuf, source: Errno },
    #[error("console socket {0}: expected exactly one fd in SCM_RIGHTS, got {1}")]
    BadFdCount(PathBuf, usize),
    #[error("failed to set ONLCR on the pty master: {0}")]
    Termios(Errno),
}

/// The listener (until a runtime connects), then the accepted connection.
pub struct ConsoleSocket {
    listener: Option<OwnedFd>,
    conn: Option<OwnedFd>,
    pub path: PathBuf,
}

fn unique_path() -> PathBuf {
    let dir = std::env::var_os("TMPDIR").filter(|d| !d.is_empty()).unwrap_or_else(|| "/tmp".into());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut x = now.subsec_nanos() as u64 ^ ((std::process::id() as u64) << 20) ^ now.as_secs();
    let mut suffix = String::new();
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for _ in 0..6 {
        suffix.push(CHARS[(x % CHARS.len() as u64) as usize] as char);
        x = x / CHARS.len() as u64 + 7_919 * x.rotate_left(17);
    }
    PathBuf::from(dir).join(format!("conmon-term.{suffix}"))
}

impl ConsoleSocket {
    /// Binds a SOCK_STREAM listener at `$TMPDIR/conmon-term.XXXXXX`.
    pub fn create() -> Result<Self, ConsoleError> {
        let mut last = Errno::EEXIST;
        for _ in 0..64 {
            let path = unique_path();
            let err = |op, source| ConsoleError::Socket { op, path: path.clone(), source };
            let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
            let fd = socket(AddressFamily::Unix, SockType::Stream, flags, None).map_err(|e| err("create", e))?;
            let addr = UnixAddr::new(&path).map_err(|e| err("address", e))?;
            match bind(fd.as_raw_fd(), &addr) {
                Ok(()) => {}
                Err(Errno::EADDRINUSE) => {
                    last = Errno::EADDRINUSE;
                    continue;
                }
                Err(e) => return Err(err("bind", e)),
            }
            listen(&fd, Backlog::new(128).unwrap_or(Backlog::MAXCONN)).map_err(|e| err("listen", e))?;
            return Ok(ConsoleSocket { listener: Some(fd), conn: None, path });
        }
        Err(ConsoleError::Socket { op: "bind", path: unique_path(), source: last })
    }

    /// The fd to poll for readability, if the socket is still waiting.
    pub fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        self.conn.as_ref().or(self.listener.as_ref()).map(|f| f.as_fd())
    }

    fn remove_listener(&mut self) {
        if self.listener.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Progresses when `poll_fd` is readable: accepts the one connection, then receives the pty.
    /// Returns the pty master once it arrived.
    pub fn on_ready(&mut self) -> Result<Option<OwnedFd>, ConsoleError> {
        if let Some(conn) = self.conn.take() {
            return self.receive(conn);
        }
        let Some(listener) = self.listener.as_ref() else { return Ok(None) };
        match oxsys::monitor_io::accept(listener.as_fd()).map_err(crate::os_error::errno) {
            Ok(fd) => {
                self.conn = Some(fd);
                self.remove_listener();
                Ok(None)
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => Ok(None),
            Err(source) => Err(ConsoleError::Socket { op: "accept", path: self.path.clone(), source }),
        }
    }

    fn receive(&mut self, conn: OwnedFd) -> Result<Option<OwnedFd>, ConsoleError> {
        let mut name = [0u8; 4096];
        let (_, mut fds) = oxsys::monitor_io::recv_with_fds(conn.as_fd(), &mut name).map_err(|e| {
            ConsoleError::Socket { op: "receive from", path: self.path.clone(), source: crate::os_error::errno(e) }
        })?;
        if fds.len() != 1 {
            return Err(ConsoleError::BadFdCount(self.path.clone(), fds.len()));
        }
        let master = fds.remove(0);
        let mut t = tcgetattr(&master).map_err(ConsoleError::Termios)?;
        t.output_flags |= OutputFlags::ONLCR;
        tcsetattr(&master, SetArg::TCSANOW, &t).map_err(ConsoleError::Termios)?;
        Ok(Some(master))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        self.remove_listener();
    }
}
