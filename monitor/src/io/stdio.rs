//! Pipes between oxmon and the runtime/container.

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use thiserror::Error;

/// Errors creating stdio.
#[derive(Debug, Error)]
pub enum StdioError {
    #[error("failed to create {what} pipe: {source}")]
    Pipe { what: &'static str, source: Errno },
}

/// The runtime's ends; `None` means /dev/null.
#[derive(Default)]
pub struct ChildStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// oxmon's ends: stdin write end (non-blocking), stdout/stderr read ends (non-blocking).
#[derive(Default)]
pub struct MonitorStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Capacity asked for the container's stdout/stderr pipes (F_SETPIPE_SZ; the default is 64 KiB):
/// a writer faster than oxmon fills a whole pipe between two reads, so a larger pipe means fewer
/// wakeups of both and larger reads. 256 KiB stays well below /proc/sys/fs/pipe-max-size (1 MiB)
/// and keeps the pipe pages a writer may have pinned (charged to its memory cgroup) small. When
/// the kernel refuses (per-user pipe limits), the pipe keeps its default size.
pub const OUTPUT_PIPE_SIZE: usize = 256 * 1024;

/// Grows an output pipe to [`OUTPUT_PIPE_SIZE`]; a refusal leaves it as it is.
fn grow(fd: &OwnedFd) {
    use nix::fcntl::{fcntl, FcntlArg};
    use std::os::fd::AsRawFd;
    let _ = fcntl(fd.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(OUTPUT_PIPE_SIZE as libc::c_int));
}

fn pipe(what: &'static str, nonblock_read: bool) -> Result<(OwnedFd, OwnedFd), StdioError> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(|source| StdioError::Pipe { what, source })?;
    let fd = if nonblock_read { &r } else { &w };
    set_nonblock(fd).map_err(|source| StdioError::Pipe { what, source })?;
    Ok((r, w))
}

/// Makes `fd` non-blocking.
pub fn set_nonblock(fd: &OwnedFd) -> Result<(), Errno> {
    use nix::fcntl::{fcntl, FcntlArg};
    use std::os::fd::AsRawFd;
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

/// Creates the pipes conmon creates: with a terminal only stderr (the pty replaces the rest).
pub fn create(terminal: bool, stdin: bool) -> Result<(ChildStdio, MonitorStdio), StdioError> {
    let mut child = ChildStdio::default();
    let mut mon = MonitorStdio::default();
    if !terminal {
        if stdin {
            let (r, w) = pipe("stdin", false)?;
            child.stdin = Some(r);
            mon.stdin = Some(w);
        }
        let (r, w) = pipe("stdout", true)?;
        grow(&r);
        child.stdout = Some(w);
        mon.stdout = Some(r);
    }
    let (r, w) = pipe("stderr", true)?;
    grow(&r);
    child.stderr = Some(w);
    mon.stderr = Some(r);
    Ok((child, mon))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{fcntl, FcntlArg};
    use std::os::fd::AsRawFd;

    /// The output pipes are grown (to at most /proc/sys/fs/pipe-max-size, 1 MiB by default, any
    /// user may; the per-user pipe-user-pages limits do not apply to root); stdin keeps the
    /// default size.
    #[test]
    fn output_pipes_are_grown() {
        let (child, mon) = create(false, true).unwrap();
        for fd in [&mon.stdout, &mon.stderr, &child.stdout, &child.stderr] {
            let size = fcntl(fd.as_ref().unwrap().as_raw_fd(), FcntlArg::F_GETPIPE_SZ).unwrap();
            assert_eq!(size as usize, OUTPUT_PIPE_SIZE);
        }
        let size = fcntl(mon.stdin.as_ref().unwrap().as_raw_fd(), FcntlArg::F_GETPIPE_SZ).unwrap();
        assert_eq!(size, 65536);
    }
}
