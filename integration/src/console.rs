//! The receiving end of `--console-socket`: a unix SOCK_STREAM listener that
//! gets the pty master over SCM_RIGHTS.

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A listening console socket.
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

/// A received pty master (closed on drop).
pub struct PtyMaster {
    fd: RawFd,
    /// The payload that accompanied the fd (runc sends the pty name).
    pub payload: Vec<u8>,
    /// How many fds arrived in the message.
    pub nfds: usize,
}

impl ConsoleSocket {
    /// Binds `<dir>/console.sock`.
    pub fn bind(dir: &Path) -> ConsoleSocket {
        let path = dir.join(format!("{}.sock", crate::util::unique("console")));
        let listener = UnixListener::bind(&path).expect("bind console socket");
        listener.set_nonblocking(true).expect("nonblocking listener");
        ConsoleSocket { path, listener }
    }

    /// The socket path to pass as `--console-socket`.
    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Accepts one connection and receives the message carrying the master.
    pub fn receive(&self, timeout: Duration) -> Result<PtyMaster, String> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err("no connection on the console socket".into());
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(format!("accept: {e}")),
            }
        };
        stream.set_nonblocking(false).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 8]);
        let msg = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
            .map_err(|e| format!("recvmsg: {e}"))?;
        let mut fds = Vec::new();
        for c in msg.cmsgs().map_err(|e| e.to_string())? {
            if let ControlMessageOwned::ScmRights(v) = c {
                fds.extend(v);
            }
        }
        let n = msg.bytes;
        let payload = buf[..n].to_vec();
        let Some(&fd) = fds.first() else {
            return Err("message carried no fd".into());
        };
        for extra in &fds[1..] {
            let _ = nix::unistd::close(*extra);
        }
        Ok(PtyMaster { fd, payload, nfds: fds.len() })
    }
}

impl PtyMaster {
    /// Reads everything the container writes until the slave side is closed
    /// (EIO) or `timeout` passes.
    pub fn read_all(&self, timeout: Duration) -> String {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let _ = fcntl(self.fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match nix::unistd::read(self.fd, &mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(nix::errno::Errno::EAGAIN) => {
                    if Instant::now() >= deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => break, // EIO: every slave fd closed
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for PtyMaster {
    fn drop(&mut self) {
        let _ = nix::unistd::close(self.fd);
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
