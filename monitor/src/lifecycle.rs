//! The monitor's life: set-up, runtime, container wait, exit reporting.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use oxsys::monitor_io::InheritedFds;
use oxsys::SysError;
use thiserror::Error;

use crate::cli::Options;
use crate::ctl::{CtlError, Fifo};
use crate::event_loop::{Exit, Monitor, Served};
use crate::io::attach::{symlink_path, AttachError, AttachServer};
use crate::io::console::{ConsoleError, ConsoleSocket};
use crate::io::stdio::{self, StdioError};
use crate::logs::{LogError, Logs};
use crate::runtime_cmd::{build_argv, RuntimeCall};
use crate::setup::{self, Config, SetupError};
use crate::sync_pipe::{message_key, SyncPipe};

/// Errors that end the monitor before the container runs.
#[derive(Debug, Error)]
pub enum MonError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Stdio(#[from] StdioError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    Attach(#[from] AttachError),
    #[error(transparent)]
    Ctl(#[from] CtlError),
    #[error(transparent)]
    Child(#[from] crate::child::ChildError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    #[error(transparent)]
    Sync(#[from] crate::sync_pipe::SyncError),
    #[error("failed to {0}")]
    Path(SysError),
    #[error("failed to {0}")]
    Sys(SysError<Errno>),
}

/// Runs the monitor; returns the process exit code.
pub fn main(opts: Options) -> Result<i32, MonError> {
    // First, before oxmon opens a descriptor of its own: own what Podman passed.
    let mut inherited = InheritedFds::take_all().unwrap_or_default();
    let key = message_key(opts.api_version, opts.exec);
    let cfg = match setup::validate(opts) {
        Ok(cfg) => cfg,
        Err(e) => {
            report_invalid(&mut inherited, key, &e);
            return Err(e.into());
        }
    };
    let nums = [
        setup::env_fd_number("_OCI_SYNCPIPE")?,
        setup::env_fd_number("_OCI_STARTPIPE")?,
        setup::env_fd_number("_OCI_ATTACHPIPE")?,
    ];
    if cfg.opts.exec_attach && nums[2].is_none() {
        return Err(SetupError::NoAttachPipe.into());
    }
    let sync_fd = setup::adopt_env_fd(&mut inherited, "_OCI_SYNCPIPE", nums[0])?;
    let start_fd = setup::adopt_env_fd(&mut inherited, "_OCI_STARTPIPE", nums[1])?;
    let attach_fd = setup::adopt_env_fd(&mut inherited, "_OCI_ATTACHPIPE", nums[2])?;
    let inherited = inherited.into_rest();
    let _ = std::fs::write("/proc/self/oom_score_adj", "-1000");
    oxsys::monitor_io::ignore_signal(libc::SIGPIPE);
    if let Some(s) = &start_fd {
        setup::wait_start(s);
    }
    let start_fd = start_fd.filter(|_| cfg.opts.exec_attach);
    let key = message_key(cfg.opts.api_version, cfg.opts.exec);
    let sync = sync_fd.map(|fd| SyncPipe::new(fd, key, "sync pipe"));
    let attach_pipe = attach_fd.map(|fd| SyncPipe::new(fd, "data", "attach pipe"));
    let devnull = setup::open_devnull()?;
    let logs = Logs::open(&cfg.opts, &cfg.drivers, &cfg.cid)?;
    setup::daemonize(&cfg, &devnull)?;
    let err_pipe = sync.as_ref().and_then(SyncPipe::try_clone);
    let parts = Parts { logs, sync, attach_pipe, start_fd, devnull, inherited };
    let mut m = match start_container(cfg, parts) {
        Ok(m) => m,
        Err(e) => {
            if let Some(s) = err_pipe {
                let _ = s.send(-1, Some(&e.to_string()));
            }
            return Err(e);
        }
    };
    drop(err_pipe);
    let pid = match m.wait_runtime() {
        Ok(pid) => pid,
        Err(e) => {
            fail(&m, &e.to_string());
            return Ok(exit_command(&m.config().opts).unwrap_or(1));
        }
    };
    if let Some(s) = m.sync() {
        if let Err(e) = s.send(i64::from(pid.as_raw()), None) {
            crate::diag::warn(&e.to_string());
        }
    }
    let exit = m.wait_container();
    if exit.timed_out {
        kill_timed_out(pid);
    }
    Ok(finish(m, exit))
}

/// Tells Podman why the options were refused (conmon 2.1 only exits): once Podman has written
/// the start pipe it reads the sync pipe, so the message reaches the user instead of "unexpected
/// end of JSON input". Nothing else has been set up at this point.
fn report_invalid(inherited: &mut InheritedFds, key: &'static str, e: &SetupError) {
    let mut adopt =
        |var| setup::env_fd_number(var).ok().and_then(|n| setup::adopt_env_fd(inherited, var, n).ok()).flatten();
    let sync = adopt("_OCI_SYNCPIPE");
    if let Some(start) = adopt("_OCI_STARTPIPE") {
        setup::wait_start(&start);
    }
    if let Some(fd) = sync {
        let _ = SyncPipe::new(fd, key, "sync pipe").send(-1, Some(&e.to_string()));
    }
}

/// Resources acquired during start-up.
struct Parts {
    logs: Logs,
    sync: Option<SyncPipe>,
    attach_pipe: Option<SyncPipe>,
    start_fd: Option<OwnedFd>,
    devnull: OwnedFd,
    inherited: Vec<OwnedFd>,
}

fn attach_dir(cfg: &Config) -> Result<std::path::PathBuf, MonError> {
    if cfg.opts.full_attach {
        return Ok(cfg.bundle.clone());
    }
    let base = cfg.opts.socket_dir_path.as_deref().unwrap_or("/var/run/crio");
    let err = |op: &'static str, source| MonError::Path(SysError::at(op, base, source));
    std::fs::create_dir_all(base).map_err(|e| err("create socket directory", e))?;
    let link = symlink_path(base, cfg.opts.cuuid.as_deref().unwrap_or(&cfg.cid));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&cfg.bundle, &link).map_err(|e| err("create attach symlink in", e))?;
    Ok(link)
}

type Endpoints = (Option<AttachServer>, Option<Fifo>, Option<Fifo>);

/// The attach socket and the ctl/winsz FIFOs (none in passthrough mode).
fn endpoints(cfg: &Config) -> Result<Endpoints, MonError> {
    if cfg.passthrough {
        return Ok((None, None, None));
    }
    let attach = AttachServer::create(&attach_dir(cfg)?)?;
    let ctl = Fifo::create(&cfg.bundle.join("ctl"))?;
    let winsz = Fifo::create(&cfg.bundle.join("winsz"))?;
    Ok((Some(attach), Some(ctl), Some(winsz)))
}

/// Blocks SIGCHLD/SIGUSR1/SIGTERM/SIGINT/SIGQUIT and returns a signalfd for them.
fn signal_fd() -> Result<SignalFd, MonError> {
    let mut mask = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGUSR1, Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT] {
        mask.add(s);
    }
    mask.thread_block().map_err(|e| MonError::Sys(SysError::new("block signals", e)))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| MonError::Sys(SysError::new("create signalfd", e)))
}

/// Creates stdio, sockets and FIFOs and forks the runtime.
fn start_container(cfg: Config, p: Parts) -> Result<Monitor, MonError> {
    let (child_stdio, mon_stdio) = stdio::create(cfg.opts.terminal, cfg.opts.stdin)?;
    let console = if cfg.opts.terminal { Some(ConsoleSocket::create()?) } else { None };
    let cs_path = console.as_ref().map(|c| c.path.to_string_lossy().into_owned());
    let call = RuntimeCall {
        runtime: &cfg.runtime,
        cid: &cfg.cid,
        bundle: &cfg.bundle.to_string_lossy(),
        pidfile: &cfg.pidfile.to_string_lossy(),
        console_socket: cs_path.as_deref(),
    };
    let argv = build_argv(&cfg.opts, &call);
    let (attach, ctl, winsz) = endpoints(&cfg)?;
    let notify = match &cfg.opts.sdnotify_socket {
        Some(host) => Some(crate::notify::Notify::setup(&cfg.bundle, host)?),
        None => None,
    };
    if let (true, Some(ap)) = (cfg.opts.exec_attach, p.attach_pipe.as_ref()) {
        ap.send(0, None)?;
    }
    let sigfd = signal_fd()?;
    let spawn = crate::child::Spawn {
        argv: &argv,
        stdio: child_stdio,
        devnull: &p.devnull,
        passthrough: cfg.passthrough,
        start_pipe: p.start_fd.as_ref(),
        replace_listen_pid: cfg.opts.replace_listen_pid,
    };
    let runtime_pid = crate::child::spawn_runtime(spawn)?;
    if cfg.passthrough {
        setup::redirect_stdio(&p.devnull);
    }
    drop(p.start_fd);
    let served = Served {
        logs: p.logs,
        sync: p.sync,
        sigfd,
        console,
        stdio: mon_stdio,
        attach,
        ctl,
        winsz,
        notify,
        inherited: p.inherited,
        runtime_pid,
    };
    Ok(Monitor::new(cfg, served))
}

/// Reports why there is no container: on stderr, and to Podman on the sync pipe.
fn fail(m: &Monitor, msg: &str) {
    crate::diag::error(msg.trim_end());
    if let Some(s) = m.sync() {
        let _ = s.send(-1, Some(msg));
    }
}

fn kill_timed_out(pid: Pid) {
    match nix::unistd::getpgid(Some(pid)) {
        Ok(pgid) if pgid.as_raw() > 1 => {
            let _ = kill(Pid::from_raw(-pgid.as_raw()), Signal::SIGKILL);
        }
        _ => {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// After the container exited (or timed out and was killed): exit files, exit command.
fn finish(mut m: Monitor, exit: Exit) -> i32 {
    m.close_streams();
    let status = if exit.timed_out { -1 } else { exit.status.unwrap_or(-1) };
    let opts = &m.config().opts;
    let mut code = status;
    let text = status.to_string();
    let mut files = Vec::new();
    if let Some(d) = &opts.persist_dir {
        files.push(Path::new(d).join("exit"));
    }
    if let Some(d) = &opts.exit_dir {
        files.push(Path::new(d).join(&m.config().cid));
    }
    for f in files {
        if let Err(e) = crate::exit::write_atomic(&f, &text) {
            crate::diag::error(&e.to_string());
            code = 1;
        }
    }
    if let (true, Some(s)) = (opts.exec, m.sync()) {
        let res = if exit.timed_out { s.send(-1, Some("command timed out")) } else { s.send(i64::from(status), None) };
        if let Err(e) = res {
            crate::diag::warn(&e.to_string());
        }
    }
    m.remove_attach_socket();
    m.close_sync();
    if let Some(c) = exit_command(&m.config().opts) {
        return c;
    }
    m.reap();
    code
}

fn exit_command(opts: &Options) -> Option<i32> {
    let cmd = opts.exit_command.as_ref()?;
    crate::exit::run_exit_command(cmd, &opts.exit_command_args, opts.exit_delay)
}
