//! `exec`: runc's flags, or a runtime-spec Process JSON with `--process` (what conmon passes).
use super::run::wait_forwarding;
use crate::cli::ExecArgs;
use crate::error::Error;
use crate::logging;
use crate::plan;
use crate::process::exec::{self, ExecRequest};
use crate::spec::{Process, Spec};
use crate::state::{self, StateDir, Status};
use std::path::Path;

/// Runs the process; returns its exit code (0 when detached).
pub fn exec(root: &Path, a: &ExecArgs) -> Result<i32, Error> {
    let dir = StateDir::open(root, &a.id)?;
    let st = dir.load()?;
    match state::status(&dir, &st) {
        Status::Stopped => return Err(Error::WrongState { op: "exec in", status: Status::Stopped }),
        Status::Paused if !a.ignore_paused => return Err(Error::WrongState { op: "exec in", status: Status::Paused }),
        _ => {}
    }
    let process = build_process(&st.bundle, a)?;
    if process.terminal && a.console_socket.is_none() {
        return Err(Error::Usage("a terminal (-t or process.terminal) needs --console-socket".into()));
    }
    if !process.terminal && a.console_socket.is_some() {
        return Err(Error::Usage("--console-socket needs a terminal (-t or process.terminal)".into()));
    }
    let (process_plan, warnings) = plan::process_plan(&process).map_err(Error::Config)?;
    for w in warnings {
        logging::warn(&w);
    }
    let console = match &a.console_socket {
        Some(p) => Some(crate::process::create::connect_console(p)?),
        None => None,
    };
    if !a.detach {
        nix::sys::prctl::set_child_subreaper(true).map_err(|e| Error::sys("set child subreaper", e))?;
    }
    let mask = super::run::forwarded_signals();
    let pid = exec::spawn(ExecRequest { init_pid: st.pid, process: &process_plan, cgroup: &st.cgroup, console, preserve_fds: a.preserve_fds })?;
    if let Some(pid_file) = &a.pid_file {
        state::write_atomic(pid_file, pid.to_string().as_bytes(), 0o644)?;
    }
    // Other commands on this container must not wait for our process to end.
    drop(dir);
    if a.detach {
        return Ok(0);
    }
    mask.thread_block().map_err(|e| Error::sys("block signals", e))?;
    wait_forwarding(pid, &mask)
}

/// The Process to run: `--process FILE` as given, or the container's own process with runc's
/// command-line overrides.
fn build_process(bundle: &Path, a: &ExecArgs) -> Result<Process, Error> {
    if let Some(file) = &a.process {
        let bytes = std::fs::read(file).map_err(|e| Error::sys(format!("read process {}", file.display()), e))?;
        let p: Process = serde_json::from_slice(&bytes).map_err(|e| Error::Config(format!("process {}: {e}", file.display())))?;
        if p.args.is_empty() {
            return Err(Error::Config("process args must not be empty".into()));
        }
        if !p.cwd.starts_with('/') {
            return Err(Error::Config(format!("process cwd {:?} must be an absolute path", p.cwd)));
        }
        return Ok(p);
    }
    if a.command.is_empty() {
        return Err(Error::Usage("exec needs a command (or --process)".into()));
    }
    let spec = Spec::load(bundle)?;
    let mut p = spec.process.unwrap_or_default();
    p.args = a.command.clone();
    p.env.extend(a.env.iter().cloned());
    if let Some(cwd) = &a.cwd {
        p.cwd = cwd.clone();
    }
    if p.cwd.is_empty() {
        p.cwd = "/".into();
    }
    p.terminal = a.tty;
    if let Some(user) = &a.user {
        let (uid, gid) = parse_user(user)?;
        p.user.uid = uid;
        p.user.gid = gid.unwrap_or(p.user.gid);
    }
    if !a.additional_gids.is_empty() {
        p.user.additional_gids = a.additional_gids.clone();
    }
    if a.no_new_privs {
        p.no_new_privileges = true;
    }
    if let Some(profile) = &a.apparmor {
        p.apparmor_profile = Some(profile.clone());
    }
    if let Some(label) = &a.process_label {
        p.selinux_label = Some(label.clone());
    }
    if !a.cap.is_empty() {
        // runc adds --cap to bounding, effective and permitted only: never inheritable or
        // ambient (CVE-2022-29162).
        let caps = p.capabilities.get_or_insert_with(Default::default);
        for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
            let list = set.get_or_insert_with(Vec::new);
            for c in &a.cap {
                if !list.contains(c) {
                    list.push(c.clone());
                }
            }
        }
    }
    Ok(p)
}

/// `uid[:gid]`, numeric as runc requires without a passwd lookup.
pub fn parse_user(s: &str) -> Result<(u32, Option<u32>), Error> {
    let bad = || Error::Usage(format!("invalid user {s:?}: expected uid[:gid]"));
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u.parse().map_err(|_| bad())?;
    let gid = g.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_parse_as_uid_and_optional_gid() {
        assert_eq!(parse_user("1000").unwrap(), (1000, None));
        assert_eq!(parse_user("1000:5").unwrap(), (1000, Some(5)));
        assert!(parse_user("root").is_err());
        assert!(parse_user("1:x").is_err());
    }
}
