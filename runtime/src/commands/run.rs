//! `run`: create and start; in the foreground, forward signals to the container, wait for it, and
//! exit with its code (128+N when killed by signal N), then delete it unless `--keep`.
use super::create::{self, CreateRequest};
use super::lifecycle;
use super::tty::{self, Relay};
use crate::error::Error;
use crate::state::StateDir;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::path::Path;

/// Runs the container; returns the exit code for the process.
pub fn run(root: &Path, req: &CreateRequest, detach: bool, keep: bool) -> Result<i32, Error> {
    // Block the signals we forward before init exists is wrong (init would inherit the mask and
    // exec keeps it), so they are blocked only once init is created.
    if !detach {
        nix::sys::prctl::set_child_subreaper(true).map_err(|e| Error::sys("set child subreaper", e))?;
    }
    let created = create::create(root, req)?;
    let pid = created.state.pid;
    let id = req.id.clone();
    drop(created.dir); // release the lock so start (and others) can take it
    let mask = forwarded_signals();
    if !detach {
        mask.thread_block().map_err(|e| Error::sys("block signals", e))?;
    }
    // A terminal without a console socket: init sent the pty master before it became ready.
    let relay = match created
        .relay_end
        .as_ref()
        .map(tty::receive_master)
        .transpose()
        .and_then(|m| m.map(tty::start).transpose())
    {
        Ok(r) => r,
        Err(e) => {
            let _ = cleanup(root, &id);
            return Err(e);
        }
    };
    if let Err(e) = lifecycle::start(root, &id) {
        let _ = cleanup(root, &id);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = wait_forwarding(pid, &mask, relay.as_ref());
    if let Some(r) = relay {
        r.finish();
    }
    let code = code?;
    if !keep {
        cleanup(root, &id)?;
    }
    Ok(code)
}

fn cleanup(root: &Path, id: &str) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let st = dir.load()?;
    if crate::state::init_alive(&st) {
        lifecycle::kill_and_wait(&st)?;
    }
    lifecycle::destroy(dir, &st)
}

pub fn forwarded_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        set.add(s);
    }
    set
}

/// Waits for init through a signalfd; other signals go on to init, except SIGWINCH while we relay
/// a terminal: then the pty takes our terminal's new size.
pub fn wait_forwarding(pid: i32, mask: &SigSet, relay: Option<&Relay>) -> Result<i32, Error> {
    let sfd = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC).map_err(|e| Error::sys("signalfd", e))?;
    loop {
        // Reap first: init may have exited before the signalfd existed.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return Ok(code),
                Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => return Ok(128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(nix::Error::ECHILD) => break,
                Ok(_) => continue,
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(Error::sys("waitpid", e)),
            }
        }
        match sfd.read_signal() {
            Ok(Some(info)) if info.ssi_signo as i32 == libc::SIGWINCH && relay.is_some() => {
                relay.expect("checked").resize();
            }
            Ok(Some(info)) if info.ssi_signo as i32 != libc::SIGCHLD => {
                let _ = oxsys::kill(pid, info.ssi_signo as i32);
            }
            Ok(_) => {}
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(Error::sys("read signalfd", e)),
        }
    }
}
