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

/// Runs every hook of one kind, even after one fails, and returns the failures: poststart and
/// poststop failures are warnings, and the runtime-spec says the remaining hooks and the
/// lifecycle go on.
pub fn run_each(kind: &'static str, hooks: &[Hook], state_json: &str) -> Vec<HookError> {
    hooks.iter().filter_map(|h| run_one(kind, h, state_json).err()).collect()
}

fn run_one(kind: &'static str, hook: &Hook, state_json: &str) -> Result<(), HookError> {
    let fail = |message: String| HookError::Failed { kind, path: hook.path.clone(), message };
    let mut cmd = Command::new(&hook.path);
    if let Some((arg0, rest)) = hook.args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear()
        .envs(hook.env.iter().filter_map(|e| e.split_once('=')))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
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

/// Waits for the child, polling its pidfd so the deadline costs no busy loop. None on timeout.
fn wait_with_deadline(child: &mut std::process::Child, deadline: Option<Instant>) -> Option<std::process::ExitStatus> {
    if let Some(deadline) = deadline {
        let pidfd = oxsys::pidfd_open(child.id() as i32).ok()?;
        let left = deadline.saturating_duration_since(Instant::now());
        crate::process::wait_pidfd_exit(pidfd.as_fd(), left).ok()?;
    }
    child.wait().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(script: &str, timeout: Option<i64>) -> Hook {
        Hook { path: "/bin/sh".into(), args: vec!["sh".into(), "-c".into(), script.into()], env: vec!["X=1".into()], timeout }
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
