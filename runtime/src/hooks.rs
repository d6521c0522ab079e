//! OCI hooks: each gets the container's state JSON on stdin and may have a timeout.
use crate::spec::Hook;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {path}: {message}")]
    Failed { kind: &'static str, path: String, message: String },
}

/// Runs `hooks` of one kind in order; the first failure stops the rest.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &str) -> Result<(), HookError> {
    hooks.iter().try_for_each(|h| run_one(kind, h, state_json))
}

/// As `run_all`, for hooks that container init runs after loading the user's seccomp filter
/// (startContainer): each hook is started with fork(2), which uses the clone syscall, not with
/// posix_spawn, which glibc starts with clone3 and does not retry with clone when clone3 fails
/// with EPERM (the runtime-tools and older Docker profiles deny clone3 that way and allow clone;
/// runc's Go forks with clone). Only for a single-threaded caller (init).
pub fn run_all_forked(kind: &'static str, hooks: &[Hook], state_json: &str) -> Result<(), HookError> {
    hooks.iter().try_for_each(|h| run_one_forked(kind, h, state_json))
}

/// Runs every hook of one kind, even after one fails, and returns the failures: poststop
/// failures are warnings, and the runtime-spec says the remaining hooks and the lifecycle go on.
pub fn run_each(kind: &'static str, hooks: &[Hook], state_json: &str) -> Vec<HookError> {
    hooks.iter().filter_map(|h| run_one(kind, h, state_json).err()).collect()
}

/// The hook's command: its args (args[0] as argv[0]) and only its own environment.
fn command(hook: &Hook) -> Command {
    let mut cmd = Command::new(&hook.path);
    if let Some((arg0, rest)) = hook.args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear().envs(hook.env.iter().filter_map(|e| e.split_once('=')));
    cmd
}

fn run_one(kind: &'static str, hook: &Hook, state_json: &str) -> Result<(), HookError> {
    let fail = |message: String| HookError::Failed { kind, path: hook.path.clone(), message };
    let mut cmd = command(hook);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(format!("start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not fail the write: ignore EPIPE.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = hook.timeout.filter(|t| *t > 0).map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = match wait_with_deadline(&mut child, deadline) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("timed out after {}s", hook.timeout.unwrap_or(0))));
        }
    };
    if !status.success() {
        let mut out = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut out);
        }
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        let out = out.trim().replace('\n', " ");
        return Err(fail(format!("{status}{}{out}", if out.is_empty() { "" } else { ": " })));
    }
    Ok(())
}

fn run_one_forked(kind: &'static str, hook: &Hook, state_json: &str) -> Result<(), HookError> {
    use nix::fcntl::OFlag;
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let fail = |message: String| HookError::Failed { kind, path: hook.path.clone(), message };
    let (stdin_r, stdin_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| fail(format!("pipe: {e}")))?;
    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| fail(format!("pipe: {e}")))?;
    let out_w2 = out_w.try_clone().map_err(|e| fail(format!("dup: {e}")))?;
    let mut cmd = command(hook);
    cmd.stdin(Stdio::from(stdin_r)).stdout(Stdio::from(out_w)).stderr(Stdio::from(out_w2));
    let pid = match oxsys::fork().map_err(|e| fail(format!("start: fork: {e}")))? {
        oxsys::Forked::Child => {
            let e = cmd.exec();
            eprintln!("oxrun: {kind} hook {}: start: {e}", hook.path);
            oxsys::exit_now(127)
        }
        oxsys::Forked::Parent(pid) => nix::unistd::Pid::from_raw(pid),
    };
    // Closes our copies of the child's ends, so reading its output sees EOF at its exit.
    drop(cmd);
    let mut stdin = std::fs::File::from(stdin_w);
    // A hook that does not read its stdin must not fail the write: ignore EPIPE.
    let _ = stdin.write_all(state_json.as_bytes());
    drop(stdin);
    // Polled with WNOHANG rather than a pidfd: pidfd_open may be denied by the filter too.
    let deadline = hook.timeout.filter(|t| *t > 0).map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        let flags = if deadline.is_some() { Some(WaitPidFlag::WNOHANG) } else { None };
        match waitpid(pid, flags) {
            Ok(WaitStatus::Exited(_, code)) => break code << 8,
            Ok(WaitStatus::Signaled(_, sig, _)) => break sig as i32,
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(fail(format!("wait: {e}"))),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return Err(fail(format!("timed out after {}s", hook.timeout.unwrap_or(0))));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let status = <std::process::ExitStatus as std::os::unix::process::ExitStatusExt>::from_raw(status);
    if !status.success() {
        let mut out = String::new();
        let _ = std::fs::File::from(out_r).read_to_string(&mut out);
        let out = out.trim().replace('\n', " ");
        return Err(fail(format!("{status}{}{out}", if out.is_empty() { "" } else { ": " })));
    }
    Ok(())
}

/// Waits for the child, polling its pidfd so the deadline costs no busy loop. None on timeout.
fn wait_with_deadline(child: &mut std::process::Child, deadline: Option<Instant>) -> Option<std::process::ExitStatus> {
    if let Some(deadline) = deadline {
        let pidfd = oxsys::pidfd_open(child.id() as i32).ok()?;
        let left = deadline.saturating_duration_since(Instant::now());
        if !oxsys::wait_pidfd_exit(pidfd.as_fd(), left) {
            return None;
        }
    }
    child.wait().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(script: &str, timeout: Option<i64>) -> Hook {
        Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["X=1".into()],
            timeout,
        }
    }

    #[test]
    fn hooks_get_state_on_stdin_and_their_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!("read s; echo \"$s $X\" > {}", out.display());
        run_all("prestart", &[hook(&script, None)], "{\"id\":\"c\"}\n").unwrap();
        assert_eq!(std::fs::read_to_string(out).unwrap(), "{\"id\":\"c\"} 1\n");
    }

    #[test]
    fn failing_and_slow_hooks_are_errors() {
        let err = run_all("prestart", &[hook("echo oops >&2; exit 3", None)], "{}").unwrap_err();
        assert!(err.to_string().contains("oops"), "{err}");
        let start = Instant::now();
        let err = run_all("poststart", &[hook("sleep 5", Some(1))], "{}").unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(4));
    }
}
