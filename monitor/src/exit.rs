//! Exit status files and the exit command.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oxsys::SysError;
use thiserror::Error;

/// Errors writing exit files.
#[derive(Debug, Error)]
pub enum ExitError {
    #[error("failed to {0}")]
    Write(SysError),
}

/// conmon's `get_exit_status`: exit code, 128+signal, or -1.
pub fn status_from_wait(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Writes `content` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, content: &str) -> Result<(), ExitError> {
    let err = |source| ExitError::Write(SysError::at("write", path, source));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, content).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}

/// Runs the exit command with its args after `delay` seconds, in a forked child, and waits for
/// every child until ECHILD. Returns the exit command's status when it failed.
pub fn run_exit_command(cmd: &str, args: &[String], delay: i64) -> Option<i32> {
    let mut argv: Vec<CString> = Vec::with_capacity(args.len() + 1);
    for a in std::iter::once(cmd).chain(args.iter().map(String::as_str)) {
        argv.push(CString::new(a).ok()?);
    }
    let _ = nix::sys::prctl::set_child_subreaper(false);
    oxsys::monitor_io::default_signal(libc::SIGCHLD);
    let child = match oxsys::fork() {
        Ok(oxsys::Forked::Child) => {
            let _ = nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&nix::sys::signal::SigSet::empty()),
                None,
            );
            if delay > 0 {
                std::thread::sleep(std::time::Duration::from_secs(delay as u64));
            }
            let _ = std::fs::write("/proc/self/oom_score_adj", "0");
            let _ = nix::unistd::execv(&argv[0], &argv);
            oxsys::exit_now(127)
        }
        Ok(oxsys::Forked::Parent(child)) => Pid::from_raw(child),
        Err(e) => {
            crate::diag::error(&format!("failed to fork exit command {cmd}: {}", crate::os_error::errno(e)));
            return None;
        }
    };
    let mut result = None;
    loop {
        match waitpid(None, None) {
            Ok(ws) if ws.pid() == Some(child) => {
                result = status_from_wait(ws).filter(|&s| s != 0);
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_names_the_file() {
        let err = write_atomic(Path::new("/nonexistent-oxmon-dir/exit"), "0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to write /nonexistent-oxmon-dir/exit: No such file or directory (os error 2)"
        );
    }
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn statuses() {
        let p = Pid::from_raw(1);
        assert_eq!(status_from_wait(WaitStatus::Exited(p, 3)), Some(3));
        assert_eq!(status_from_wait(WaitStatus::Signaled(p, Signal::SIGKILL, false)), Some(137));
        assert_eq!(status_from_wait(WaitStatus::StillAlive), None);
    }

    #[test]
    fn atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cid");
        write_atomic(&p, "137").unwrap();
        write_atomic(&p, "0").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "0");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
