//! Forking and exec'ing the OCI runtime.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;
use oxsys::{Forked, SysError};
use thiserror::Error;

use crate::io::stdio::ChildStdio;

/// Errors starting the runtime.
#[derive(Debug, Error)]
pub enum ChildError {
    #[error("runtime argument contains a NUL byte: {0:?}")]
    Nul(String),
    #[error("failed to {0}")]
    Fork(SysError<Errno>),
}

/// What the runtime child needs besides its argv.
pub struct Spawn<'a> {
    pub argv: &'a [String],
    pub stdio: ChildStdio,
    pub devnull: &'a OwnedFd,
    /// Keep conmon's own 0/1/2 (passthrough logging).
    pub passthrough: bool,
    /// `--exec-attach`: block on a second start-pipe read before exec'ing.
    pub start_pipe: Option<&'a OwnedFd>,
    pub replace_listen_pid: bool,
}

/// Forks the runtime; returns its pid.
pub fn spawn_runtime(sp: Spawn<'_>) -> Result<Pid, ChildError> {
    let argv = sp
        .argv
        .iter()
        .map(|a| CString::new(a.as_str()).map_err(|_| ChildError::Nul(a.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let parent_pid = nix::unistd::getpid();
    match oxsys::fork() {
        Ok(Forked::Parent(child)) => Ok(Pid::from_raw(child)),
        Ok(Forked::Child) => child_main(&sp, &argv, parent_pid),
        Err(e) => Err(ChildError::Fork(SysError::at("fork runtime", &sp.argv[0], crate::os_error::errno(e)))),
    }
}

fn install(fd: Option<&OwnedFd>, devnull: &OwnedFd, target: i32) {
    let src = fd.unwrap_or(devnull);
    if fd.is_some() {
        let _ = nix::sys::stat::fchmod(src.as_raw_fd(), nix::sys::stat::Mode::from_bits_truncate(0o777));
    }
    let _ = nix::unistd::dup2(src.as_raw_fd(), target);
}

fn child_main(sp: &Spawn<'_>, argv: &[CString], parent_pid: Pid) -> ! {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    oxsys::monitor_io::default_signal(Signal::SIGPIPE as i32);
    if !sp.passthrough {
        install(sp.stdio.stdin.as_ref(), sp.devnull, 0);
        install(sp.stdio.stdout.as_ref(), sp.devnull, 1);
        install(sp.stdio.stderr.as_ref(), sp.devnull, 2);
    }
    let listen_pid = std::env::var("LISTEN_PID").ok();
    if sp.replace_listen_pid || listen_pid.as_deref() == Some(parent_pid.to_string().as_str()) {
        std::env::set_var("LISTEN_PID", nix::unistd::getpid().to_string());
    }
    if let Some(start) = sp.start_pipe {
        let mut buf = [0u8; 8192];
        while let Err(Errno::EINTR) = nix::unistd::read(start.as_raw_fd(), &mut buf) {}
    }
    let _ = std::fs::write("/proc/self/oom_score_adj", "0");
    let _ = nix::unistd::execv(&argv[0], argv);
    oxsys::exit_now(127)
}
