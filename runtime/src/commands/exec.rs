//! `exec`: runc's flags, or a runtime-spec Process JSON with `--process` (what conmon passes).
use super::run::wait_forwarding;
use crate::cgroups::{CgroupError, Layout};
use crate::cli::ExecArgs;
use crate::error::Error;
use crate::logging;
use crate::plan;
use crate::process::exec::{self, ExecRequest};
use crate::spec::{Process, Spec};
use crate::state::CgroupDirs;
use crate::state::{self, StateDir, Status};
use std::path::{Component, Path, PathBuf};

use super::tty;

/// Runs the process; returns its exit code (0 when detached).
pub fn exec(root: &Path, a: &ExecArgs) -> Result<i32, Error> {
    let dir = StateDir::open(root, &a.id)?;
    let st = dir.load()?;
    match state::status(&dir, &st) {
        Status::Stopped => return Err(Error::WrongState { op: "exec in", status: Status::Stopped }),
        Status::Paused if !a.ignore_paused => return Err(Error::WrongState { op: "exec in", status: Status::Paused }),
        _ => {}
    }
    // The lock is released before anything waits on the container: a process exec'd into a
    // paused container stays frozen until `resume`, which needs the lock.
    drop(dir);
    if a.process.is_none() && a.command.is_empty() {
        return Err(Error::Usage("exec needs a command (or --process)".into()));
    }
    let spec = Spec::load(&st.bundle)?;
    let process = build_process(&spec, a)?;
    if process.terminal && a.console_socket.is_none() && a.detach {
        return Err(Error::Usage("a detached terminal (-t or process.terminal) needs --console-socket".into()));
    }
    if !process.terminal && a.console_socket.is_some() {
        return Err(Error::Usage("--console-socket needs a terminal (-t or process.terminal)".into()));
    }
    // The exec'd process gets the container's seccomp filter as create applied it (runc keeps it
    // in its state too); containers made before that was saved fall back to config.json.
    let seccomp = match state::saved_seccomp(root, &a.id)? {
        Some(saved) => saved,
        None => spec.linux.as_ref().and_then(|l| l.seccomp.clone()),
    };
    let lsms = crate::lsm::HostLsms::detect();
    let (process_plan, warnings) = plan::exec_process(&process, &spec.linux(), seccomp.as_ref(), lsms)?;
    drop(spec);
    for w in warnings {
        logging::warn(&w);
    }
    // A foreground terminal without a console socket is relayed through our own stdio.
    let (console, relay_end) = match &a.console_socket {
        Some(p) => (Some(crate::process::console::connect_socket(p)?), None),
        None if process_plan.terminal => {
            let (theirs, ours) = tty::socket_pair()?;
            (Some(theirs), Some(ours))
        }
        None => (None, None),
    };
    if !a.detach {
        nix::sys::prctl::set_child_subreaper(true).map_err(|e| Error::sys("set child subreaper", e))?;
    }
    let mask = super::run::forwarded_signals();
    let cgroup = sub_cgroups(&st.cgroup, &a.cgroup)?;
    // The exec'd process's notify fd goes to the same listener as init's, as runc sends it.
    let seccomp_listener = match process_plan.seccomp.as_ref().and_then(|p| p.listener_path.as_ref()) {
        Some(path) => Some(crate::process::console::connect_socket(Path::new(path))?),
        None => None,
    };
    let pid = exec::spawn(ExecRequest {
        init_pid: st.pid,
        process: &process_plan,
        cgroup: &cgroup,
        console,
        preserve_fds: a.preserve_fds,
        seccomp_listener,
        id: &a.id,
        bundle: &st.bundle,
    })?;
    if let Some(pid_file) = &a.pid_file {
        state::write_atomic(pid_file, pid.to_string().as_bytes(), 0o644)?;
    }
    if a.detach {
        return Ok(0);
    }
    let master = relay_end.as_ref().map(tty::receive_master).transpose()?;
    mask.thread_block().map_err(|e| Error::sys("block signals", e))?;
    let relay = master.map(tty::start).transpose()?;
    let code = wait_forwarding(pid, &mask, relay.as_ref());
    if let Some(r) = relay {
        r.finish();
    }
    code
}

/// The Process to run: `--process FILE` as given, or the container's own process with runc's
/// command-line overrides.
fn build_process(spec: &Spec, a: &ExecArgs) -> Result<Process, Error> {
    if let Some(file) = &a.process {
        let bytes = std::fs::read(file).map_err(|e| Error::sys(format!("read process {}", file.display()), e))?;
        let p: Process = serde_json::from_slice(&bytes)
            .map_err(|e| plan::PlanError::invalid(format!("process {}", file.display()), e.to_string()))?;
        plan::check_args_and_cwd(&p)?;
        return Ok(p);
    }
    let mut p = spec.process.clone().unwrap_or_default();
    p.args = a.command.clone();
    // --env overrides what process.env sets (in place, as runc's last-wins environment does).
    for var in &a.env {
        let key = var.split_once('=').map_or(var.as_str(), |(k, _)| k);
        p.env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        p.env.push(var.clone());
    }
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

/// The container's cgroup directories with runc's `--cgroup [controller[,controller]:]path`
/// applied: the process joins `<dir>/<path>` (which must exist) in the hierarchies named, or in
/// every hierarchy when no controller is given.
fn sub_cgroups(dirs: &CgroupDirs, flags: &[String]) -> Result<CgroupDirs, Error> {
    if flags.is_empty() {
        return Ok(dirs.clone());
    }
    let subs = parse_sub_cgroups(flags)?;
    let layout = Layout::detect()?;
    let mut out = dirs.clone();
    for dir in &mut out.dirs {
        // The hierarchy is the mount with the longest prefix of the directory.
        let h =
            layout.hierarchies.iter().filter(|h| dir.starts_with(&h.mount)).max_by_key(|h| h.mount.as_os_str().len());
        let controllers: &[String] = h.map_or(&[], |h| &h.controllers);
        let sub = subs
            .iter()
            .find(|(c, _)| c.as_deref().is_some_and(|c| controllers.iter().any(|k| k == c)))
            .or_else(|| subs.iter().find(|(c, _)| c.is_none()));
        if let Some((_, path)) = sub {
            let joined = dir.join(path);
            if !joined.is_dir() {
                return Err(CgroupError::NoSubCgroup(joined).into());
            }
            *dir = joined;
        }
    }
    Ok(out)
}

/// `[ctrl[,ctrl]:]path` values as (controller, relative path) pairs; a path may not leave the
/// container's cgroup.
fn parse_sub_cgroups(flags: &[String]) -> Result<Vec<(Option<String>, PathBuf)>, Error> {
    let mut out = Vec::new();
    for f in flags {
        let (ctrls, path) = match f.split_once(':') {
            Some((c, p)) => (Some(c), p),
            None => (None, f.as_str()),
        };
        let rel = PathBuf::from(path.trim_start_matches('/'));
        if rel.as_os_str().is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(Error::Usage(format!("invalid --cgroup {f:?}: expected [controller:]relative/path")));
        }
        match ctrls {
            Some(c) => out.extend(c.split(',').map(|c| (Some(c.to_string()), rel.clone()))),
            None => out.push((None, rel)),
        }
    }
    Ok(out)
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

    #[test]
    fn sub_cgroup_flags_parse_and_stay_inside() {
        let v = parse_sub_cgroups(&["sub".into(), "cpu,cpuacct:a/b".into()]).unwrap();
        assert_eq!(v[0], (None, PathBuf::from("sub")));
        assert_eq!(v[1], (Some("cpu".into()), PathBuf::from("a/b")));
        assert_eq!(v[2], (Some("cpuacct".into()), PathBuf::from("a/b")));
        assert!(parse_sub_cgroups(&["../escape".into()]).is_err());
        assert!(parse_sub_cgroups(&["memory:".into()]).is_err());
    }
}
