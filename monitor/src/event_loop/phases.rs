//! The monitor's two waits, as lifecycle sees them: the runtime's `create`/`exec`, then the
//! container process. Everything between the loop and the report goes through here.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;
use thiserror::Error;

use super::{Monitor, Phase};
use crate::ctl::{Fifo, LineBuf};
use crate::io::attach::AttachServer;
use crate::io::console::ConsoleSocket;
use crate::io::stdio::MonitorStdio;
use crate::logs::{Logs, Stream};
use crate::oom::OomWatch;
use crate::setup::Config;
use crate::sync_pipe::SyncPipe;

/// Why the runtime did not leave a container to monitor (the words are conmon's).
#[derive(Debug, Error)]
pub enum RuntimeFailure {
    /// The runtime failed: its own stderr, or its exit status when it wrote nothing.
    #[error("{0}")]
    Failed(String),
    #[error("Runtime did not set up terminal")]
    NoTerminal,
    #[error("Failed to read pidfile {}", .0.display())]
    NoPidfile(PathBuf),
}

/// How the container's wait ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    /// The container's exit status (128+signal when killed); `None` if it was never reaped.
    pub status: Option<i32>,
    /// `--timeout` expired first.
    pub timed_out: bool,
    /// The container was OOM-killed (the `oom` files were written).
    pub oom: bool,
}

/// What start-up made for the loop to serve.
pub struct Served {
    pub logs: Logs,
    pub sync: Option<SyncPipe>,
    pub sigfd: SignalFd,
    pub console: Option<ConsoleSocket>,
    pub stdio: MonitorStdio,
    pub attach: Option<AttachServer>,
    pub ctl: Option<Fifo>,
    pub winsz: Option<Fifo>,
    pub notify: Option<crate::notify::Notify>,
    /// Inherited fds held until the container exits.
    pub inherited: Vec<OwnedFd>,
    pub runtime_pid: Pid,
}

impl Monitor {
    /// A monitor for the runtime `runtime_pid` that start-up just forked.
    pub fn new(cfg: Config, s: Served) -> Monitor {
        Monitor {
            cfg,
            logs: s.logs,
            sync: s.sync,
            sigfd: Some(s.sigfd),
            console: s.console,
            stdin: s.stdio.stdin,
            pending_stdin: Vec::new(),
            close_stdin_pending: false,
            stdout: s.stdio.stdout,
            stderr: s.stdio.stderr,
            pty: false,
            pty_retry: None,
            attach: s.attach,
            ctl: s.ctl,
            winsz: s.winsz,
            ctl_lines: LineBuf::default(),
            winsz_lines: LineBuf::default(),
            oom: OomWatch::none(),
            oom_written: false,
            runtime_pid: Some(s.runtime_pid),
            runtime_status: None,
            container_pid: None,
            container_status: None,
            reaped: Vec::new(),
            deadline: None,
            timed_out: false,
            echild: false,
            inherited: s.inherited,
            notify: s.notify,
            out_buf: Vec::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The sync pipe to Podman, while it is open.
    pub fn sync(&self) -> Option<&SyncPipe> {
        self.sync.as_ref()
    }

    /// Serves the loop until the runtime exits; then the container's pid (from the pidfile), or
    /// why there is no container to wait for.
    pub fn wait_runtime(&mut self) -> Result<Pid, RuntimeFailure> {
        self.run(Phase::Runtime);
        let st = self.runtime_status.unwrap_or(-1);
        // For exec a non-zero runtime status may be the command's own (conmon HEAD): only a
        // missing pidfile says that the runtime failed, reported with the runtime's words.
        if st != 0 && !(self.cfg.opts.exec && self.cfg.pidfile.exists()) {
            let mut msg = self.read_runtime_stderr();
            if msg.is_empty() {
                msg = format!("runtime {} failed with exit status {st}", self.cfg.runtime);
            }
            return Err(RuntimeFailure::Failed(msg));
        }
        self.drain_console();
        if self.cfg.opts.terminal && !self.pty {
            return Err(RuntimeFailure::NoTerminal);
        }
        let pid = match std::fs::read_to_string(&self.cfg.pidfile).map(|s| s.trim().parse::<i32>()) {
            Ok(Ok(pid)) if pid > 0 => Pid::from_raw(pid),
            _ => return Err(RuntimeFailure::NoPidfile(self.cfg.pidfile.clone())),
        };
        self.container_pid = Some(pid);
        if let Some(i) = self.reaped.iter().position(|(p, _)| *p == pid) {
            self.container_status = Some(self.reaped.remove(i).1);
        }
        Ok(pid)
    }

    /// Takes the pty if the runtime sent it just before exiting (the console socket is
    /// progressed a few more times, as conmon does).
    fn drain_console(&mut self) {
        for _ in 0..4 {
            if self.console.is_none() || self.pty {
                break;
            }
            self.on_console();
        }
    }

    fn read_runtime_stderr(&self) -> String {
        let mut buf = [0u8; 8191];
        let Some(fd) = self.stderr.as_ref() else { return String::new() };
        match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(_) => String::new(),
        }
    }

    /// Watches the container (OOM, `--timeout`) and serves the loop until it exits or times
    /// out; then reads what output is left (not after a timeout: the caller kills it).
    pub fn wait_container(&mut self) -> Exit {
        if let Some(pid) = self.container_pid {
            self.oom = OomWatch::setup(pid.as_raw());
        }
        if self.cfg.opts.timeout > 0 {
            self.deadline = Some(Instant::now() + Duration::from_secs(self.cfg.opts.timeout as u64));
        }
        self.run(Phase::Container);
        if !self.timed_out {
            if self.oom.final_check(self.container_status) {
                self.write_oom();
            }
            while self.read_stream(Stream::Stdout) > 0 {}
            while self.read_stream(Stream::Stderr) > 0 {}
        }
        Exit { status: self.container_status, timed_out: self.timed_out, oom: self.oom_written }
    }

    /// Ends logging and lets go of the signalfd, the inherited fds and the attach clients.
    pub fn close_streams(&mut self) {
        self.logs.finish();
        self.sigfd = None;
        self.inherited.clear();
        if let Some(a) = self.attach.as_mut() {
            a.close_all();
        }
    }

    /// Removes the attach socket.
    pub fn remove_attach_socket(&self) {
        if let Some(a) = &self.attach {
            a.unlink();
        }
    }

    /// Closes the sync pipe (Podman reads EOF).
    pub fn close_sync(&mut self) {
        drop(self.sync.take());
    }
}
