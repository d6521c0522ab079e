//! start, state, kill, delete: commands on an existing container.
use crate::cgroups;
use crate::error::Error;
use crate::logging;
use crate::state::{self, State, StateDir, StateError, Status};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

/// `start`: releases init from the start barrier, then runs poststart hooks; the first that fails
/// stops the container and fails `start`.
pub fn start(root: &Path, id: &str) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let st = dir.load()?;
    match state::status(&dir, &st) {
        Status::Created => {}
        status => return Err(Error::WrongState { op: "start", status }),
    }
    let fifo = dir.file(state::EXEC_FIFO);
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap_or_default();
    let fd = oxsys::open(&c, libc::O_WRONLY | libc::O_NONBLOCK, 0).map_err(|e| match e.raw_os_error() {
        // No reader: init died between our status check and now.
        Some(libc::ENXIO) => Error::WrongState { op: "start", status: Status::Stopped },
        _ => Error::sys("open exec fifo", e),
    })?;
    // Watch init take the byte and go: init's last writer on the fifo is close-on-exec, so it is
    // gone at exec or at init's death. The kernel reports that hang-up only to a reader opened
    // before some writer: open ours, then open and close one more writer.
    let watch = oxsys::open(&c, libc::O_RDONLY | libc::O_NONBLOCK, 0).map_err(|e| Error::sys("open exec fifo", e))?;
    drop(oxsys::open(&c, libc::O_WRONLY | libc::O_NONBLOCK, 0).map_err(|e| Error::sys("open exec fifo", e))?);
    nix::unistd::write(fd.as_fd(), b"0").map_err(|e| Error::sys("write exec fifo", e))?;
    drop(fd);
    std::fs::remove_file(&fifo).map_err(|e| Error::sys("remove exec fifo", e))?;
    wait_init_released(watch.as_fd())?;
    logging::debug(&format!("container {id}: started"));
    if let Some(hooks) = st.hooks.as_ref().filter(|h| !h.poststart.is_empty()) {
        let json = hook_state(&st, Status::Running);
        if let Err(e) = crate::hooks::run_all("poststart", &hooks.poststart, &json) {
            stop_after_failed_poststart(&st);
            return Err(e.into());
        }
    }
    Ok(())
}

/// runtime.md (1.3.0) lifecycle step 9: "If any `poststart` hook fails, the runtime MUST generate
/// an error, stop the container, and continue the lifecycle at step 12." Up to runtime-spec 1.2.1
/// the text said to log a warning and go on; runtime-tools' poststart_fail still checks that.
/// The container is left stopped, as after a failing startContainer hook, and `delete` destroys
/// it and runs the poststop hooks (steps 12 and 13). runc 1.1.5 runs poststart hooks during
/// `create` and a failing one fails `create` and leaves no container.
fn stop_after_failed_poststart(st: &State) {
    if let Err(e) = kill_and_wait(st) {
        logging::warn(&format!("stop the container after a failed poststart hook: {e}"));
    }
}

/// Waits until init has no writer left on the exec fifo, then reads what it left there: nothing
/// when it exec'd the program; its error when it failed after taking the start byte (a
/// startContainer hook, the exec itself); our own byte when it died before taking it.
fn wait_init_released(watch: std::os::fd::BorrowedFd<'_>) -> Result<(), Error> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let mut fds = [PollFd::new(watch, PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) if fds[0].revents().is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)) => break,
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(Error::sys("wait for the container process to start", e)),
        }
    }
    let mut buf = [0u8; 4096];
    let n = match nix::unistd::read(watch.as_raw_fd(), &mut buf) {
        Ok(n) => n,
        Err(nix::Error::EAGAIN) => 0,
        Err(e) => return Err(Error::sys("read exec fifo", e)),
    };
    match &buf[..n] {
        [] => Ok(()),
        b"0" => Err(Error::StartFailed("it exited before taking the start signal".into())),
        msg => Err(Error::StartFailed(String::from_utf8_lossy(msg).trim_end().to_string())),
    }
}

fn hook_state(st: &State, status: Status) -> String {
    serde_json::to_string(&st.view(status, String::new())).expect("state serializes")
}

/// `state`: runtime-spec JSON, indented like runc's, without a trailing newline.
pub fn print_state(root: &Path, id: &str) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let st = dir.load()?;
    let status = state::status(&dir, &st);
    let json = serde_json::to_string_pretty(&st.view(status, String::new())).expect("state serializes");
    crate::error::print_stdout(&json)
}

/// A pidfd of init, opened only if the pid still is our init (start time checked after opening,
/// so a reused pid is never signalled).
fn init_pidfd(st: &State) -> Option<OwnedFd> {
    let fd = oxsys::pidfd_open(st.pid).ok()?;
    state::init_alive(st).then_some(fd)
}

/// `kill`: signals init, or with `--all` every process in the container's cgroup.
pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let st = dir.load()?;
    let status = state::status(&dir, &st);
    if status == Status::Stopped {
        if all {
            // runc: --all turns "not running" into success (Podman's cleanup relies on it).
            signal_cgroup(&st, signal);
            return Ok(());
        }
        return Err(Error::NotRunning);
    }
    if all {
        signal_cgroup(&st, signal);
    } else {
        let fd = init_pidfd(&st).ok_or(Error::NotRunning)?;
        oxsys::pidfd_send_signal(fd.as_fd(), signal)
            .map_err(|e| Error::sys(format!("signal {signal} to pid {}", st.pid), e))?;
    }
    // A frozen task handles no signal until thawed; SIGKILL of a paused container must take effect.
    if status == Status::Paused && signal == libc::SIGKILL {
        cgroups::thaw(&st.cgroup).map_err(Error::Cgroup)?;
    }
    Ok(())
}

fn signal_cgroup(st: &State, signal: i32) {
    for pid in cgroups::pids(&st.cgroup) {
        let _ = oxsys::kill(pid, signal);
    }
}

/// `delete`: removes a stopped container; `--force` kills a live one first. A missing container
/// is not an error with `--force` (Podman deletes what may never have been created).
///
/// Without `--force` a `created` container is refused like a running one: runtime.md#delete says
/// "Attempting to delete a container that is not stopped MUST generate an error", and `created`
/// is not stopped. runc 1.1.5 and crun kill and delete it instead. No engine relies on that:
/// Podman calls `delete --force`, and containerd's client refuses to delete a created task until
/// it was killed (task.Delete with WithProcessKill), so its shim's plain `delete` finds it
/// stopped.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), Error> {
    let dir = match StateDir::open(root, id) {
        Ok(d) => d,
        Err(StateError::NotFound) if force => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let st = match dir.load() {
        Ok(st) => st,
        // A create that died before writing state.json: kill and remove what its record names.
        Err(StateError::NotFound) => return delete_unfinished(dir),
        Err(e) => return Err(e.into()),
    };
    match state::status(&dir, &st) {
        Status::Stopped => {}
        status @ (Status::Created | Status::Running | Status::Paused | Status::Creating) => {
            if !force {
                return Err(Error::WrongState { op: "delete", status });
            }
            kill_and_wait(&st)?;
        }
    }
    destroy(dir, &st)
}

/// Cleans up after a `create` that was killed before writing state.json (we hold the lock, so
/// it is not running any more): init, if it is still the process recorded, every process in the
/// recorded cgroups, the cgroups and the directory. Without a record only the directory remains.
fn delete_unfinished(dir: StateDir) -> Result<(), Error> {
    let st = match dir.load_creating() {
        Ok(st) => st,
        Err(StateError::NotFound) => return Ok(dir.remove()?),
        Err(e) => {
            logging::warn(&format!("unreadable record of an unfinished create: {e}"));
            return Ok(dir.remove()?);
        }
    };
    logging::debug(&format!("container {}: removing an unfinished create (init pid {})", st.id, st.pid));
    if st.pid > 0 {
        kill_and_wait(&State { own_pid_ns: false, ..st.clone() })?;
    }
    destroy(dir, &st)
}

/// SIGKILLs init (every process of the cgroup when the container shares the host pid namespace)
/// and waits until init is gone.
pub fn kill_and_wait(st: &State) -> Result<(), Error> {
    let fd = init_pidfd(st);
    if !st.own_pid_ns {
        signal_cgroup(st, libc::SIGKILL);
    }
    if let Some(fd) = &fd {
        let _ = oxsys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
    }
    if cgroups::is_frozen(&st.cgroup) {
        cgroups::thaw(&st.cgroup)?;
    }
    if let Some(fd) = fd {
        if !oxsys::wait_pidfd_exit(fd.as_fd(), Duration::from_secs(10)) {
            return Err(Error::Unkillable { pid: st.pid });
        }
    }
    Ok(())
}

/// Removes the cgroups (killing stragglers: both removals start with `cgroups::kill_all`, which
/// thaws, kills and waits until the cgroups are empty), runs poststop hooks, removes the state
/// directory.
pub fn destroy(dir: StateDir, st: &State) -> Result<(), Error> {
    let removed =
        if st.systemd_cgroup { cgroups::remove_systemd(&st.cgroup) } else { cgroups::remove(&st.cgroup, None) };
    unmount_host_mounts(st);
    if let Some(hooks) = st.hooks.as_ref().filter(|h| !h.poststop.is_empty()) {
        let json = hook_state(st, Status::Stopped);
        for e in crate::hooks::run_each("poststop", &hooks.poststop, &json) {
            logging::warn(&e.to_string());
        }
    }
    dir.remove()?;
    logging::debug(&format!("container {}: deleted", st.id));
    removed.map_err(Error::Cgroup)
}

/// runtime.md#delete: "Deleting a container MUST delete the resources that were created during
/// the `create` step." Without a mount namespace those include the container's mounts, made in
/// the runtime's mount table under the rootfs: every mount point there that was not there before
/// create is unmounted, the last mounted first. runc 1.1.5 leaves them mounted.
fn unmount_host_mounts(st: &State) {
    let Some(before) = &st.host_mounts_before else { return };
    let now = state::mounts_at_or_under(&st.rootfs);
    // Per mount point, how many mounts create stacked there (each unmount takes the top one).
    let mut extra: std::collections::HashMap<&Path, usize> = std::collections::HashMap::new();
    for m in &now {
        *extra.entry(m.as_path()).or_default() += 1;
    }
    for m in before {
        if let Some(n) = extra.get_mut(m.as_path()) {
            *n = n.saturating_sub(1);
        }
    }
    for m in now.iter().rev() {
        let Some(n) = extra.get_mut(m.as_path()).filter(|n| **n > 0) else { continue };
        *n -= 1;
        if let Err(e) = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH) {
            logging::warn(&format!("unmount {}: {e}", m.display()));
        }
    }
}
