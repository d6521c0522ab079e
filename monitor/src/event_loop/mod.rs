//! The single poll loop: signals (signalfd), console socket, attach clients, ctl/winsz FIFOs,
//! container stdio and the OOM eventfd.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::ctl::{parse_ctl_line, parse_winsz_line, CtlMsg, Fifo, LineBuf};
use crate::io::attach::{AttachServer, ClientRead};
use crate::io::console::ConsoleSocket;
use crate::logs::{Logs, Stream};
use crate::oom::OomWatch;
use crate::setup::Config;
use crate::sync_pipe::SyncPipe;

mod phases;
pub use phases::{Exit, RuntimeFailure, Served};

/// oxmon's read size for container output: a whole output pipe
/// ([`crate::io::stdio::OUTPUT_PIPE_SIZE`]) per read, so a busy container costs one read per MiB
/// and one writev per 512 records (IOV_MAX iovecs), instead of both per 8 KiB as in conmon. The
/// buffer's pages are touched only as far as reads fill it. Attach frames are still at most
/// STDIO_BUF_SIZE bytes and log records at most that many line bytes.
pub const READ_BUF_SIZE: usize = 1024 * 1024;
/// Reads of one output stream per poll wakeup while each fills the buffer (the writer is ahead):
/// saves the poll between them, and still returns to the loop after at most 2 MiB for signals,
/// attach clients and the other stream.
const READS_PER_WAKEUP: usize = 2;
/// conmon's CONN_SOCK_BUF_SIZE (attach input).
const CONN_SOCK_BUF_SIZE: usize = 32768;
/// Retry interval for a pty master without an open slave.
const PTY_RETRY: Duration = Duration::from_millis(100);

/// Which part of the lifetime the loop is serving.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for `runtime create/exec` to exit (console socket, attach, ctl are served).
    Runtime,
    /// Waiting for the container process to exit.
    Container,
}

#[derive(Clone, Copy)]
enum Token {
    Signal,
    Console,
    AttachListen,
    Client(usize),
    Ctl,
    Winsz,
    Out(Stream),
    StdinOut,
    Oom,
    Notify,
}

/// All state of one monitor; lifecycle drives it through the methods in `phases`.
pub struct Monitor {
    cfg: Config,
    logs: Logs,
    sync: Option<SyncPipe>,
    sigfd: Option<SignalFd>,
    console: Option<ConsoleSocket>,
    stdin: Option<OwnedFd>,
    pending_stdin: Vec<u8>,
    close_stdin_pending: bool,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    pty: bool,
    pty_retry: Option<Instant>,
    attach: Option<AttachServer>,
    ctl: Option<Fifo>,
    winsz: Option<Fifo>,
    ctl_lines: LineBuf,
    winsz_lines: LineBuf,
    oom: OomWatch,
    oom_written: bool,
    runtime_pid: Option<Pid>,
    runtime_status: Option<i32>,
    container_pid: Option<Pid>,
    container_status: Option<i32>,
    reaped: Vec<(Pid, i32)>,
    deadline: Option<Instant>,
    timed_out: bool,
    echild: bool,
    inherited: Vec<OwnedFd>,
    notify: Option<crate::notify::Notify>,
    /// Container output read buffer ([`READ_BUF_SIZE`]), allocated on the first read.
    out_buf: Vec<u8>,
}

impl Monitor {
    fn done(&self, phase: Phase) -> bool {
        match phase {
            Phase::Runtime => self.runtime_status.is_some(),
            Phase::Container => {
                if self.timed_out || self.echild {
                    return true;
                }
                let wait_eof = self.cfg.opts.exec && !self.cfg.opts.terminal;
                self.container_status.is_some() && (!wait_eof || (self.stdout.is_none() && self.stderr.is_none()))
            }
        }
    }

    /// Runs the loop until `phase` is complete.
    fn run(&mut self, phase: Phase) {
        while !self.done(phase) {
            let now = Instant::now();
            if phase == Phase::Container && self.deadline.is_some_and(|d| d <= now) {
                self.timed_out = true;
                break;
            }
            if self.pty_retry.is_some_and(|t| t <= now) {
                self.pty_retry = None;
            }
            let mut wake = [self.pty_retry, if phase == Phase::Container { self.deadline } else { None }];
            wake.sort();
            let timeout = match wake.iter().flatten().next() {
                Some(t) => {
                    let ms = t.saturating_duration_since(now).as_millis().clamp(1, 60_000) as i32;
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
                }
                None => PollTimeout::NONE,
            };
            let ready = self.poll_once(phase, timeout);
            for (tok, revents) in ready {
                self.dispatch(tok, revents);
            }
        }
    }

    fn watches(&self, phase: Phase) -> Vec<(Token, BorrowedFd<'_>, PollFlags)> {
        let rd = PollFlags::POLLIN;
        let mut w = Vec::with_capacity(16);
        if let Some(s) = &self.sigfd {
            w.push((Token::Signal, s.as_fd(), rd));
        }
        if let Some(fd) = self.console.as_ref().and_then(|c| c.poll_fd()) {
            w.push((Token::Console, fd, rd));
        }
        if let Some(a) = &self.attach {
            if let Some(fd) = a.listener_fd() {
                w.push((Token::AttachListen, fd, rd));
            }
            if self.pending_stdin.is_empty() {
                for (i, c) in a.clients.iter().enumerate().filter(|(_, c)| c.reading) {
                    w.push((Token::Client(i), c.fd.as_fd(), rd));
                }
            }
        }
        if let Some(n) = &self.notify {
            w.push((Token::Notify, n.poll_fd(), rd));
        }
        if let Some(c) = &self.ctl {
            w.push((Token::Ctl, c.read.as_fd(), rd));
        }
        if let (Some(f), true) = (&self.winsz, self.pty) {
            w.push((Token::Winsz, f.read.as_fd(), rd));
        }
        if let (Some(fd), false) = (&self.stdin, self.pending_stdin.is_empty()) {
            w.push((Token::StdinOut, fd.as_fd(), PollFlags::POLLOUT));
        }
        if phase == Phase::Container {
            if let Some(fd) = &self.stdout {
                if !(self.pty && self.pty_retry.is_some()) {
                    w.push((Token::Out(Stream::Stdout), fd.as_fd(), rd));
                }
            }
            if let Some(fd) = &self.stderr {
                w.push((Token::Out(Stream::Stderr), fd.as_fd(), rd));
            }
            if let Some(fd) = self.oom.poll_fd() {
                w.push((Token::Oom, fd, rd));
            }
        }
        w
    }

    fn poll_once(&self, phase: Phase, timeout: PollTimeout) -> Vec<(Token, PollFlags)> {
        let watches = self.watches(phase);
        let mut fds: Vec<PollFd<'_>> = watches.iter().map(|(_, fd, ev)| PollFd::new(*fd, *ev)).collect();
        match poll(&mut fds, timeout) {
            Ok(0) | Err(_) => Vec::new(),
            Ok(_) => watches
                .iter()
                .zip(fds.iter())
                .filter_map(|((tok, _, _), p)| {
                    let r = p.revents().unwrap_or(PollFlags::empty());
                    (!r.is_empty()).then_some((*tok, r))
                })
                .collect(),
        }
    }

    fn dispatch(&mut self, tok: Token, revents: PollFlags) {
        match tok {
            Token::Signal => self.on_signals(),
            Token::Console => self.on_console(),
            Token::AttachListen => {
                if let Some(a) = self.attach.as_mut() {
                    a.accept();
                }
            }
            Token::Client(i) => self.on_client(i),
            Token::Ctl => self.on_ctl(),
            Token::Winsz => self.on_winsz(),
            Token::Out(stream) => {
                let eof_only = !revents.contains(PollFlags::POLLIN);
                if self.pty && stream == Stream::Stdout && eof_only {
                    self.pty_retry = Some(Instant::now() + PTY_RETRY);
                } else {
                    for _ in 0..READS_PER_WAKEUP {
                        if self.read_stream(stream) < READ_BUF_SIZE {
                            break;
                        }
                    }
                }
            }
            Token::StdinOut => self.flush_stdin(),
            Token::Notify => {
                if let Some(n) = &self.notify {
                    n.on_ready();
                }
            }
            Token::Oom => {
                if self.oom.on_event() {
                    self.write_oom();
                }
            }
        }
    }

    /// Creates the `oom` files once.
    fn write_oom(&mut self) {
        if self.oom_written {
            return;
        }
        self.oom_written = true;
        let mut dirs = vec![self.cfg.bundle.as_path()];
        if let Some(p) = &self.cfg.opts.persist_dir {
            dirs.push(std::path::Path::new(p));
        }
        crate::oom::write_oom_files(&dirs);
    }

    fn on_signals(&mut self) {
        let mut reap = false;
        while let Some(Ok(Some(info))) = self.sigfd.as_ref().map(|s| s.read_signal()) {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) | Ok(Signal::SIGUSR1) => reap = true,
                Ok(sig) => {
                    if let Some(pid) = self.container_pid.or(self.runtime_pid) {
                        let _ = kill(pid, sig);
                    }
                }
                Err(_) => {}
            }
        }
        if reap {
            self.reap();
        }
    }

    /// Reaps every exited child (WNOHANG), recording the runtime and container statuses.
    pub fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(ws) => {
                    let Some(pid) = ws.pid() else { break };
                    let status = crate::exit::status_from_wait(ws).unwrap_or(-1);
                    self.record_exit(pid, status);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::ECHILD) => {
                    if self.container_pid.is_some() && self.container_status.is_none() {
                        self.echild = true;
                    }
                    break;
                }
                Err(_) => break,
            }
        }
    }

    /// Records an exit; statuses of pids not yet known are kept for later.
    fn record_exit(&mut self, pid: Pid, status: i32) {
        if Some(pid) == self.runtime_pid && self.runtime_status.is_none() {
            self.runtime_status = Some(status);
        } else if Some(pid) == self.container_pid {
            self.container_status = Some(status);
        } else {
            self.reaped.push((pid, status));
        }
    }

    /// Progresses the console socket (accept, then receive the pty).
    fn on_console(&mut self) {
        let Some(cs) = self.console.as_mut() else { return };
        match cs.on_ready() {
            Ok(Some(master)) => {
                self.console = None;
                self.attach_pty(master);
            }
            Ok(None) => {
                if cs.poll_fd().is_none() {
                    self.console = None;
                }
            }
            Err(e) => {
                crate::diag::warn(&e.to_string());
                self.console = None;
            }
        }
    }

    fn attach_pty(&mut self, master: OwnedFd) {
        let _ = crate::io::stdio::set_nonblock(&master);
        match master.try_clone() {
            Ok(out) => self.stdout = Some(out),
            Err(e) => crate::diag::warn(&format!("failed to dup pty master: {e}")),
        }
        self.stdin = Some(master);
        self.pty = true;
        // Apply resizes queued before the pty existed right away, before the process runs on.
        self.on_winsz();
        self.flush_stdin();
    }

    fn on_client(&mut self, idx: usize) {
        let mut buf = vec![0u8; CONN_SOCK_BUF_SIZE];
        let Some(a) = self.attach.as_mut() else { return };
        if idx >= a.clients.len() {
            return;
        }
        match a.read_client(idx, &mut buf) {
            ClientRead::Data(n) => {
                if self.stdin.is_some() || (self.cfg.opts.terminal && !self.pty) {
                    self.pending_stdin.extend_from_slice(&buf[..n]);
                    self.flush_stdin();
                }
            }
            ClientRead::Eof => {
                a.prune();
                if self.cfg.opts.stdin && !self.cfg.opts.leave_stdin_open {
                    self.close_stdin_pending = true;
                    self.flush_stdin();
                }
            }
            ClientRead::Nothing => {}
        }
    }

    /// Writes buffered attach input to the container's stdin (non-blocking).
    fn flush_stdin(&mut self) {
        let Some(fd) = self.stdin.as_ref() else {
            if !self.cfg.opts.terminal || self.pty {
                self.pending_stdin.clear();
            }
            return;
        };
        while !self.pending_stdin.is_empty() {
            match nix::unistd::write(fd.as_fd(), &self.pending_stdin) {
                Ok(n) => {
                    self.pending_stdin.drain(..n);
                }
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => return,
                Err(_) => {
                    self.pending_stdin.clear();
                    self.stdin = None;
                    return;
                }
            }
        }
        if self.close_stdin_pending {
            self.stdin = None;
        }
    }

    fn on_ctl(&mut self) {
        let mut buf = [0u8; 200];
        let Some(ctl) = self.ctl.as_ref() else { return };
        let n = ctl.read_available(&mut buf);
        let lines = self.ctl_lines.feed(&buf[..n]);
        if std::mem::take(&mut self.ctl_lines.overlong) > 0 {
            crate::diag::warn("ctl message longer than 200 bytes, ignored");
        }
        for line in lines {
            match parse_ctl_line(&line) {
                Ok(CtlMsg::Resize { rows, cols }) => match (&self.stdout, &self.winsz) {
                    // With the pty present, resize at once; before it, queue through winsz.
                    (Some(pty), _) if self.pty => self.resize(pty.as_fd(), rows, cols),
                    (_, Some(w)) => w.write_line(&format!("{rows} {cols}\n")),
                    _ => {}
                },
                Ok(CtlMsg::ReopenLogs) => self.logs.reopen(),
                Err(e) => crate::diag::warn(&e.to_string()),
            }
        }
    }

    fn resize(&self, pty: BorrowedFd<'_>, rows: u16, cols: u16) {
        if let Err(e) = oxsys::set_window_size(pty, rows, cols) {
            crate::diag::warn(&format!("failed to set terminal size: {}", crate::os_error::errno(e)));
        }
    }

    /// Applies every queued `winsz` line to the pty.
    fn on_winsz(&mut self) {
        let mut buf = [0u8; 200];
        loop {
            let Some(w) = self.winsz.as_ref() else { return };
            let n = w.read_available(&mut buf);
            if n == 0 {
                return;
            }
            let lines = self.winsz_lines.feed(&buf[..n]);
            if std::mem::take(&mut self.winsz_lines.overlong) > 0 {
                crate::diag::warn("winsz message longer than 200 bytes, ignored");
            }
            for line in lines {
                match (parse_winsz_line(&line), self.stdout.as_ref()) {
                    (Ok((rows, cols)), Some(pty)) => self.resize(pty.as_fd(), rows, cols),
                    (Ok(_), None) => {}
                    (Err(e), _) => crate::diag::warn(&e.to_string()),
                }
            }
        }
    }

    /// Reads one chunk of container output; returns its length (0 when nothing more is available
    /// now).
    fn read_stream(&mut self, stream: Stream) -> usize {
        if self.out_buf.is_empty() {
            self.out_buf = vec![0u8; READ_BUF_SIZE];
        }
        let buf = &mut self.out_buf;
        let slot = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        let Some(fd) = slot.as_ref() else { return 0 };
        match nix::unistd::read(fd.as_raw_fd(), buf) {
            Ok(0) => {
                *slot = None;
                0
            }
            Ok(n) => {
                self.logs.write(stream, &buf[..n]);
                if let Some(a) = self.attach.as_mut() {
                    a.broadcast(stream, &buf[..n]);
                }
                n
            }
            Err(Errno::EIO) if self.pty && stream == Stream::Stdout => {
                self.pty_retry = Some(Instant::now() + PTY_RETRY);
                0
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => 0,
            Err(_) => {
                *slot = None;
                0
            }
        }
    }
}
