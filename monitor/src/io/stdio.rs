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
/// wakeups of both and larger reads. 1 MiB is the default /proc/sys/fs/pipe-max-size, the most
/// a process without CAP_SYS_RESOURCE may ask for. Pipe pages exist only while they hold unread
/// output (a writer ahead of oxmon), charged to the writer's memory cgroup.
pub const OUTPUT_PIPE_SIZE: usize = 1024 * 1024;

/// What an unprivileged oxmon (rootless Podman) asks for, and the fallback when a host lowered
/// pipe-max-size: the kernel charges an unprivileged user's pipes against
/// /proc/sys/fs/pipe-user-pages-soft (64 MiB), and once over it every new pipe of that user
/// gets two pages; 256 KiB per stream keeps that limit over a hundred containers away.
pub const UNPRIVILEGED_PIPE_SIZE: usize = 256 * 1024;

/// The pipe sizes to try, largest first. The per-user limits do not apply to a process with
/// CAP_SYS_ADMIN or CAP_SYS_RESOURCE in the initial user namespace (`pipe_is_unprivileged_user`),
/// as a rootful monitor runs; rootless Podman's monitor is uid 0 only in its own user namespace.
fn pipe_sizes() -> &'static [usize] {
    let uid_map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if is_initial_uid_map(&uid_map) && has_pipe_privilege(&status) {
        &[OUTPUT_PIPE_SIZE, UNPRIVILEGED_PIPE_SIZE]
    } else {
        &[UNPRIVILEGED_PIPE_SIZE]
    }
}

/// Whether /proc/self/uid_map is the initial user namespace's (`0 0 4294967295`).
fn is_initial_uid_map(uid_map: &str) -> bool {
    let fields: Vec<&str> = uid_map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

/// Whether the `CapEff:` line of /proc/self/status holds CAP_SYS_ADMIN (21) or
/// CAP_SYS_RESOURCE (24).
fn has_pipe_privilege(status: &str) -> bool {
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    caps & (1 << 21 | 1 << 24) != 0
}

/// Grows an output pipe to the first of `sizes` the kernel grants; a refusal of all leaves it as
/// it is.
fn grow(fd: &OwnedFd, sizes: &[usize]) {
    use nix::fcntl::{fcntl, FcntlArg};
    use std::os::fd::AsRawFd;
    for &size in sizes {
        if fcntl(fd.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(size as libc::c_int)).is_ok() {
            return;
        }
    }
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
    let sizes = pipe_sizes();
    if !terminal {
        if stdin {
            let (r, w) = pipe("stdin", false)?;
            child.stdin = Some(r);
            mon.stdin = Some(w);
        }
        let (r, w) = pipe("stdout", true)?;
        grow(&r, sizes);
        child.stdout = Some(w);
        mon.stdout = Some(r);
    }
    let (r, w) = pipe("stderr", true)?;
    grow(&r, sizes);
    child.stderr = Some(w);
    mon.stderr = Some(r);
    Ok((child, mon))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{fcntl, FcntlArg};
    use std::os::fd::AsRawFd;

    /// The output pipes are grown (as root to 1 MiB, /proc/sys/fs/pipe-max-size by default, or
    /// to 256 KiB where a host lowered that; unprivileged to 256 KiB); stdin keeps the default size.
    #[test]
    fn output_pipes_are_grown() {
        let (child, mon) = create(false, true).unwrap();
        let max: usize = std::fs::read_to_string("/proc/sys/fs/pipe-max-size").unwrap().trim().parse().unwrap();
        let want = *pipe_sizes().iter().find(|&&s| s <= max).expect("pipe-max-size below 256 KiB");
        if nix::unistd::geteuid().is_root() && max >= OUTPUT_PIPE_SIZE && pipe_sizes().len() == 2 {
            assert_eq!(want, OUTPUT_PIPE_SIZE);
        }
        for fd in [&mon.stdout, &mon.stderr, &child.stdout, &child.stderr] {
            let size = fcntl(fd.as_ref().unwrap().as_raw_fd(), FcntlArg::F_GETPIPE_SZ).unwrap();
            assert_eq!(size as usize, want);
        }
        let size = fcntl(mon.stdin.as_ref().unwrap().as_raw_fd(), FcntlArg::F_GETPIPE_SZ).unwrap();
        assert_eq!(size, 65536);
    }

    #[test]
    fn privilege_for_large_pipes() {
        assert!(is_initial_uid_map("         0          0 4294967295\n"));
        assert!(!is_initial_uid_map("         0       1000          1\n         1     100000      65536\n"));
        assert!(!is_initial_uid_map(""));
        let status = |eff: &str| format!("Name:\toxmon\nCapPrm:\t000001ffffffffff\nCapEff:\t{eff}\n");
        assert!(has_pipe_privilege(&status("000001ffffffffff")));
        assert!(has_pipe_privilege(&status("0000000000200000")), "CAP_SYS_ADMIN alone");
        assert!(has_pipe_privilege(&status("0000000001000000")), "CAP_SYS_RESOURCE alone");
        assert!(!has_pipe_privilege(&status("00000000a80425fb")), "Podman's default set");
        assert!(!has_pipe_privilege("Name:\toxmon\n"));
    }
}
