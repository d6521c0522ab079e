//! A terminal in the foreground without `--console-socket` (`run` of a terminal container,
//! `exec -t`): as runc does, the runtime receives the pty master itself and relays it to its own
//! stdio, with stdin in raw mode when it is a terminal (the process's terminal then does the line
//! editing and echo), and the pty follows the size of our terminal (SIGWINCH).
use crate::error::Error;
pub use crate::process::console::socket_pair;
use nix::sys::termios::{self, SetArg, Termios};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

/// The pty master the process sent (before it exec'd, so it is already queued).
pub fn receive_master(ours: &OwnedFd) -> Result<OwnedFd, Error> {
    let mut buf = [0u8; 256];
    let (_, fds) = oxsys::monitor_io::recv_with_fds(ours.as_fd(), &mut buf)
        .map_err(|e| Error::sys("receive pty master", nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
    let no_master =
        || crate::ipc::ProtocolError { peer: "the container process", expected: vec!["a pty master"], got: "no fd" };
    fds.into_iter().next().ok_or_else(|| no_master().into())
}

/// The running relay; [`Relay::finish`] drains the output and restores the terminal.
pub struct Relay {
    output: oxsys::threads::Counted<()>,
    saved: Option<Termios>,
    master: OwnedFd,
}

/// Starts copying stdin to the master and the master to stdout. Call with the forwarded signals
/// already blocked: the threads inherit the mask and must not take them.
pub fn start(master: OwnedFd) -> Result<Relay, Error> {
    let for_resize = master.try_clone().map_err(|e| Error::sys("dup pty master", e))?;
    let master = File::from(master);
    let mut input = master.try_clone().map_err(|e| Error::sys("dup pty master", e))?;
    let saved = raw_stdin();
    // Not joined: it may block in a read of stdin forever. At EOF the master stays open, so the
    // process is not hung up because our input ended. (Never joined, it keeps oxsys's fork
    // functions refusing from here on: nothing forks after the relay starts.)
    oxsys::threads::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut input);
    });
    let output = oxsys::threads::spawn(move || copy_output(master));
    let relay = Relay { output, saved, master: for_resize };
    relay.resize();
    Ok(relay)
}

impl Relay {
    /// Gives the pty the size of our stdin's terminal (at start and on SIGWINCH); the kernel
    /// then signals the process's foreground group itself. Nothing to do when stdin is no
    /// terminal.
    pub fn resize(&self) {
        if let Ok((rows, cols)) = oxsys::window_size(std::io::stdin().as_fd()) {
            let _ = oxsys::set_window_size(self.master.as_fd(), rows, cols);
        }
    }

    /// Waits until every holder of the slave closed it (EIO on the master), then restores stdin.
    pub fn finish(self) {
        let _ = self.output.join();
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, t);
        }
    }
}

fn copy_output(mut master: File) {
    let mut out = std::io::stdout();
    let mut buf = [0u8; 8192];
    // EIO once the last slave fd is closed ends the loop like EOF.
    while let Ok(n @ 1..) = master.read(&mut buf) {
        if out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
            break;
        }
    }
}

/// Puts stdin in raw mode when it is a terminal; returns the settings to restore.
fn raw_stdin() -> Option<Termios> {
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(&stdin).ok()?;
    let mut raw = saved.clone();
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
    Some(saved)
}
