//! Start-up: validating options, adopting inherited fds, the start handshake, daemonizing.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use oxsys::monitor_io::InheritedFds;
use oxsys::Forked;
use oxsys::SysError;
use thiserror::Error;

use crate::cli::{validate_log_level, Options};
use crate::logs::{parse_drivers, Driver, LogError};

/// Start-up errors (printed as one `[conmon:e]:` line).
#[derive(Debug, Error)]
pub enum SetupError {
    #[error("Container ID not provided. Use --cid")]
    NoCid,
    #[error("Container UUID not provided. Use --cuuid")]
    NoCuuid,
    #[error("Runtime path not provided. Use --runtime")]
    NoRuntime,
    #[error("Runtime path {0} is not valid: {1}")]
    BadRuntime(String, Errno),
    #[error("Exec process spec path not provided. Use --exec-process-spec")]
    NoExecSpec,
    #[error("--attach specified but _OCI_ATTACHPIPE was not")]
    NoAttachPipe,
    #[error("Attach can only be specified with exec")]
    AttachWithoutExec,
    #[error("Attach can only be specified for a non-legacy exec session")]
    AttachLegacyExec,
    #[error("No such log level {0}")]
    BadLogLevel(String),
    #[error("Failed to get working directory: {0}")]
    Cwd(std::io::Error),
    #[error("cannot use a tty with passthrough logging mode to prevent attacks via TIOCSTI")]
    PassthroughTty,
    #[error("invalid fd in {var}: {value:?}")]
    BadEnvFd { var: &'static str, value: String },
    #[error("failed to {0}")]
    Sys(SysError<Errno>),
    #[error("failed to write conmon pidfile {path}: {source}")]
    Pidfile { path: String, source: crate::exit::ExitError },
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Options with conmon's defaults applied.
pub struct Config {
    pub opts: Options,
    pub cid: String,
    pub runtime: String,
    pub bundle: PathBuf,
    pub pidfile: PathBuf,
    pub drivers: Vec<Driver>,
    pub passthrough: bool,
}

/// Validates options like conmon's `process_cli`.
pub fn validate(opts: Options) -> Result<Config, SetupError> {
    crate::logs::check_max_files(&opts)?;
    let cid = opts.cid.clone().ok_or(SetupError::NoCid)?;
    if opts.exec_attach && !opts.exec {
        return Err(SetupError::AttachWithoutExec);
    }
    if opts.exec_attach && opts.api_version < 1 {
        return Err(SetupError::AttachLegacyExec);
    }
    if opts.cuuid.is_none() && (!opts.exec || opts.api_version >= 1) {
        return Err(SetupError::NoCuuid);
    }
    let runtime = opts.runtime.clone().ok_or(SetupError::NoRuntime)?;
    nix::unistd::access(runtime.as_str(), nix::unistd::AccessFlags::X_OK)
        .map_err(|e| SetupError::BadRuntime(runtime.clone(), e))?;
    if opts.exec && opts.exec_process_spec.is_none() {
        return Err(SetupError::NoExecSpec);
    }
    if let Some(level) = &opts.log_level {
        validate_log_level(level).ok_or_else(|| SetupError::BadLogLevel(level.clone()))?;
    }
    let cwd = std::env::current_dir().map_err(SetupError::Cwd)?;
    let bundle = opts.bundle.as_ref().map(PathBuf::from).unwrap_or_else(|| cwd.clone());
    let pidfile =
        opts.container_pidfile.as_ref().map(PathBuf::from).unwrap_or_else(|| cwd.join(format!("pidfile-{cid}")));
    let drivers = parse_drivers(&opts)?;
    let passthrough = drivers.contains(&Driver::Passthrough);
    if opts.no_container_partial_message && !drivers.contains(&Driver::Journald) {
        crate::diag::warn("--no-container-partial-message has no effect without journald log driver");
    }
    if passthrough && [0, 1, 2].iter().any(|&fd| nix::unistd::isatty(fd).unwrap_or(false)) {
        return Err(SetupError::PassthroughTty);
    }
    Ok(Config { opts, cid, runtime, bundle, pidfile, drivers, passthrough })
}

/// Parses an `_OCI_*PIPE` variable as a strict decimal fd number (0 or unset: none).
pub fn env_fd_number(var: &'static str) -> Result<Option<RawFd>, SetupError> {
    let Ok(value) = std::env::var(var) else { return Ok(None) };
    match value.parse::<RawFd>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        Ok(_) => Ok(None),
        Err(_) => Err(SetupError::BadEnvFd { var, value }),
    }
}

/// Takes the inherited env fd `n` and makes it close-on-exec.
pub fn adopt_env_fd(
    inherited: &mut InheritedFds,
    var: &'static str,
    n: Option<RawFd>,
) -> Result<Option<OwnedFd>, SetupError> {
    let Some(n) = n else { return Ok(None) };
    let fd = inherited.take(n).ok_or_else(|| SetupError::BadEnvFd { var, value: n.to_string() })?;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map_err(|e| SetupError::Sys(SysError::new("set FD_CLOEXEC", e)))?;
    Ok(Some(fd))
}

/// Blocks until Podman writes to the start pipe (content ignored, EOF is fine).
pub fn wait_start(start: &OwnedFd) {
    let mut buf = [0u8; 8192];
    while let Err(Errno::EINTR) = nix::unistd::read(start.as_raw_fd(), &mut buf) {}
}

/// Forks unless `--sync`: the parent writes `--conmon-pidfile` and exits 0.
/// The child becomes a session leader and child subreaper with /dev/null as stdio (except
/// passthrough).
pub fn daemonize(cfg: &Config, devnull: &OwnedFd) -> Result<(), SetupError> {
    if !cfg.opts.sync {
        let forked = oxsys::fork().map_err(|e| SetupError::Sys(SysError::new("fork", crate::os_error::errno(e))))?;
        match forked {
            Forked::Parent(child) => {
                if let Some(path) = &cfg.opts.conmon_pidfile {
                    if let Err(source) = crate::exit::write_atomic(path.as_ref(), &child.to_string()) {
                        let e = SetupError::Pidfile { path: path.clone(), source };
                        crate::diag::error(&e.to_string());
                        oxsys::exit_now(1);
                    }
                }
                oxsys::exit_now(0);
            }
            Forked::Child => {}
        }
    }
    // With --sync nobody forks, and (like conmon) no conmon pidfile is written.
    if !cfg.passthrough {
        redirect_stdio(devnull);
    }
    let _ = nix::unistd::setsid();
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| SetupError::Sys(SysError::new("set child subreaper", e)))
}

/// Puts /dev/null on 0/1/2.
pub fn redirect_stdio(devnull: &OwnedFd) {
    for target in 0..3 {
        let _ = nix::unistd::dup2(devnull.as_raw_fd(), target);
    }
}

/// Opens /dev/null read-write, close-on-exec.
pub fn open_devnull() -> Result<OwnedFd, SetupError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| SetupError::Sys(SysError::new("open /dev/null", Errno::from_raw(e.raw_os_error().unwrap_or(0)))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors() {
        let o = crate::cli::parse(["-u", "x", "-r", "/bin/true"]).unwrap();
        assert!(matches!(validate(o), Err(SetupError::NoCid)));
        let o = crate::cli::parse(["-c", "x", "-r", "/bin/true"]).unwrap();
        assert!(matches!(validate(o), Err(SetupError::NoCuuid)));
        let o = crate::cli::parse(["-c", "x", "-u", "x", "-r", "/nonexistent"]).unwrap();
        assert!(matches!(validate(o), Err(SetupError::BadRuntime(..))));
        let o = crate::cli::parse(["-c", "x", "-u", "x", "-r", "/bin/true", "-e"]).unwrap();
        assert!(matches!(validate(o), Err(SetupError::NoExecSpec)));
        let o = crate::cli::parse(["-c", "x", "-u", "x", "-r", "/bin/true", "-l", "none", "--log-level", "x"]).unwrap();
        assert!(matches!(validate(o), Err(SetupError::BadLogLevel(_))));
        let o = crate::cli::parse(["-c", "x", "-u", "x", "-r", "/bin/true"]).unwrap();
        assert!(matches!(validate(o), Err(SetupError::Log(LogError::NoDriver))));
        let o = crate::cli::parse(["-c", "x", "-u", "x", "-r", "/bin/true", "-l", "none"]).unwrap();
        let cfg = validate(o).unwrap();
        assert!(cfg.pidfile.ends_with("pidfile-x"));
    }
}
