//! The container's init process: forked by `create`, it builds the container around itself, tells
//! the runtime it is ready, waits for `start`, and execs the user's program.
use crate::ipc::{InitEnd, InitError};
use crate::plan::{NsKind, Plan, ProcessPlan};
use crate::rootfs::{self, CgroupMount};
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

type Result<T> = std::result::Result<T, InitError>;

/// Why init did not exec the program once released: written to the exec fifo, where `start` reads
/// it as its own failure.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("wait for start: {0}")]
    Wait(nix::Error),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// execve failed.
#[derive(Debug, thiserror::Error)]
#[error("exec {path:?}: {source}")]
pub struct ExecError {
    pub path: CString,
    pub source: nix::Error,
}

/// Everything init holds besides the plan.
pub struct InitContext<'a> {
    pub plan: &'a Plan,
    pub channel: InitEnd,
    /// The exec fifo's read end (and a write end, so poll never sees a hang-up).
    pub fifo: (OwnedFd, OwnedFd),
    /// Connected console socket, when the process has a terminal.
    pub console: Option<OwnedFd>,
    pub cgroup: CgroupMount,
    /// fds 3.. that pass to the program (LISTEN_FDS plus --preserve-fds).
    pub preserved_fds: u32,
    /// Extra environment (LISTEN_FDS/LISTEN_PID).
    pub extra_env: Vec<String>,
    /// Connected socket at linux.seccomp.listenerPath, when the filter notifies.
    pub seccomp_listener: Option<OwnedFd>,
    /// Our pid as the host sees it (filled in by init itself, for the listener state).
    pub host_pid: i32,
    /// Per entry of plan.mounts: a detached, idmapped tree made by the runtime, or None.
    pub idmapped: Vec<Option<OwnedFd>>,
    /// The v1 cgroups init moves itself into, first thing (the runtime joins it to the rest).
    pub self_joins: Vec<crate::cgroups::clone_into::SelfJoin>,
}

/// Runs init to the end: never returns. Any failure is sent to the runtime before exiting.
pub fn run(mut ctx: InitContext<'_>) -> ! {
    let channel_err = match setup(&mut ctx) {
        Ok(exec) => {
            // The runtime is gone once we are released; failures now can only go to stderr.
            match wait_and_exec(&ctx, exec) {
                Ok(never) => match never {},
                Err(e) => {
                    // `start` waits on the fifo and reports this as its own failure; only if
                    // the fifo cannot take it is it written to the container's stderr.
                    if nix::unistd::write(ctx.fifo.1.as_fd(), e.to_string().as_bytes()).is_err() {
                        eprintln!("oxrun: container {}: {e}", ctx.plan.id);
                    }
                    oxsys::exit_now(127);
                }
            }
        }
        Err(e) => e,
    };
    let _ = ctx.channel.send_failed(channel_err);
    oxsys::exit_now(1)
}

/// The resolved program and environment to exec after `start`.
pub struct Exec {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

fn setup(ctx: &mut InitContext<'_>) -> Result<Exec> {
    let plan = ctx.plan;
    crate::cgroups::clone_into::join_self(std::mem::take(&mut ctx.self_joins))
        .map_err(|(dir, e)| InitError::sys(format!("join cgroup {}", dir.display()), e))?;
    ctx.channel.wait_continue()?;
    // Until exec, nothing in the container may ptrace us or open our /proc files (fds, exe).
    nix::sys::prctl::set_dumpable(false).map_err(|e| InitError::sys("set non-dumpable", e))?;
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    // The host's /proc is still mounted: /proc/self names us in the host pid namespace.
    ctx.host_pid = std::fs::read_link("/proc/self").ok().and_then(|p| p.to_str()?.parse().ok()).unwrap_or(0);
    // Also in a joined user namespace, where our host ids are unmapped (mounts fail with
    // EOVERFLOW).
    if plan.namespaces.has(NsKind::User) {
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .map_err(|e| InitError::sys("become root in user namespace", e))?;
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .map_err(|e| InitError::sys("become root in user namespace", e))?;
    }
    for (kind, path) in plan.namespaces.init_joins() {
        let fd = rootfs::open_host(path, libc::O_RDONLY)
            .map_err(|e| InitError::sys(format!("open namespace {}", path.display()), e))?;
        setns(fd.as_fd(), CloneFlags::from_bits_retain(kind.clone_flag() as i32))
            .map_err(|e| InitError::sys(format!("join {} namespace {}", kind.proc_name(), path.display()), e))?;
    }
    // The cgroup namespace is made only after the runtime moved us into our cgroup, so that
    // cgroup becomes the namespace's root. Without one, the mounts below overlap with the move.
    let new_cgroupns = plan.namespaces.is_new(NsKind::Cgroup);
    if new_cgroupns {
        ctx.channel.wait_cgroups_joined()?;
        unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|e| InitError::sys("create cgroup namespace", e))?;
    }
    nix::unistd::setsid().map_err(|e| InitError::sys("setsid", e))?;
    if let Some(h) = &plan.hostname {
        nix::unistd::sethostname(h).map_err(|e| InitError::sys("set hostname", e))?;
    }
    if let Some(d) = &plan.domainname {
        oxsys::set_domainname(d).map_err(|e| InitError::sys("set domainname", e))?;
    }
    if let Some(adj) = plan.process.oom_score_adj {
        // /proc is still the host's here (before pivot_root): write through a checked procfs root
        // so that no overmount, ours or propagated, can redirect the write (CVE-2025-52881).
        crate::procfs::ProcRoot::open(Path::new("/proc"))
            .and_then(|proc| proc.write_self("oom_score_adj", adj.to_string().as_bytes()))
            .map_err(|e| rootfs::procfs_error("write oom_score_adj", e))?;
    }
    if !plan.options.no_new_keyring {
        // A keyring of our own; failures (e.g. a user namespace's quota) are not fatal, as in runc.
        let name = CString::new(format!("_ses.{}", plan.id)).unwrap_or_default();
        let _ = oxsys::join_session_keyring(&name);
    }
    let root = rootfs::prepare(plan)?;
    rootfs::mount_all(plan, root.as_fd(), &ctx.cgroup, &ctx.idmapped)?;
    // mknod needs CAP_MKNOD in the initial user namespace: inside any user namespace (our own, a
    // joined one, or the one rootless Podman runs us in) devices are bind-mounted instead.
    let in_userns = plan.namespaces.has(NsKind::User) || crate::state::in_user_namespace();
    rootfs::create_devices(root.as_fd(), &plan.devices, in_userns)?;
    rootfs::create_dev_symlinks(root.as_fd())?;
    // runc creates a missing cwd (owned by root) before the process starts.
    rootfs::resolve_in_root(root.as_fd(), &plan.process.cwd, rootfs::Create::Dir, 0)
        .map_err(|e| InitError::sys(format!("create cwd {}", plan.process.cwd), e))?;
    // Nothing is started (hooks, the program) before we are in our cgroups.
    if !new_cgroupns {
        ctx.channel.wait_cgroups_joined()?;
    }
    // prestart and createRuntime hooks run in the runtime's namespaces, by the runtime.
    if !plan.hooks.prestart.is_empty() || !plan.hooks.create_runtime.is_empty() {
        ctx.channel.run_create_hooks()?;
    }
    if !plan.hooks.create_container.is_empty() {
        let state = hook_state(plan, HOOK_STATUS_CREATE, ctx.host_pid);
        crate::hooks::run_all("createContainer", &plan.hooks.create_container, &state)
            .map_err(|e| InitError::msg("createContainer hook", e.to_string()))?;
    }
    rootfs::switch_root(plan, root)?;
    rootfs::write_sysctls(&plan.sysctl)?;
    if let Some(console) = &ctx.console {
        super::console::setup(console.as_fd(), plan.process.console_size, true)?;
    }
    rootfs::finish(plan)?;
    let exec = resolve_exec(&plan.process, &ctx.extra_env)?;
    super::attrs::apply(&plan.process.attrs)?;
    // While we are still root with every capability (runc's order): the labels take effect at
    // execve.
    crate::lsm::apply(&plan.process.labels).map_err(|e| rootfs::procfs_error("apply LSM labels", e))?;
    mark_fds_cloexec(ctx.preserved_fds)?;
    keep_preserved_fds(ctx.preserved_fds);
    let listener = apply_process(&plan.process)?;
    if let (Some(fd), Some(socket), Some(prog)) = (&listener, &ctx.seccomp_listener, &plan.process.seccomp) {
        let state = crate::seccomp::listener_state(prog, &plan.id, ctx.host_pid, &plan.bundle);
        send_seccomp_listener(socket, fd, &state)?;
    }
    drop(listener);
    ctx.channel.send_ready()?;
    Ok(exec)
}

/// The status in the state that prestart, createRuntime, createContainer and startContainer
/// hooks get. state.md: `creating` is step 2 of the lifecycle (building the environment);
/// `created` is "after step 2 in the lifecycle" while the container process "has neither exited
/// nor executed the user-specified program", which is when these hooks run (steps 3-5 and 7).
/// runc 1.1.5 sends `creating` to the first three; crun sends `created` (and `starting`, not a
/// spec status, to startContainer).
pub const HOOK_STATUS_CREATE: &str = "created";

/// The state JSON hooks get: the runtime-spec's keys, annotations included. `pid` is init's pid
/// as the runtime's pid namespace sees it.
pub fn hook_state(plan: &Plan, status: &str, pid: i32) -> String {
    let mut state = serde_json::json!({
        "ociVersion": crate::spec::OCI_VERSION,
        "id": plan.id,
        "status": status,
        "pid": pid,
        "bundle": plan.bundle,
    });
    if !plan.annotations.is_empty() {
        state["annotations"] = serde_json::json!(plan.annotations);
    }
    state.to_string()
}

/// rlimits, user and groups, capabilities, no_new_privs, umask, cwd — in the order the kernel's
/// rules need: bounding set drop first, ids with KEEPCAPS, then the final sets.
/// Returns the seccomp notify fd when the filter has a listener.
///
/// The user's seccomp filter is loaded last: a profile may deny any syscall (getcwd, close_range,
/// clone3, ...), and nothing we do after the load may depend on one it denies. Without
/// no_new_privs loading needs CAP_SYS_ADMIN, so when the process does not keep it we hold it
/// through the load and drop it with one capset after (runc loads such a filter before all of
/// this, its cwd check included).
pub fn apply_process(p: &ProcessPlan) -> Result<Option<OwnedFd>> {
    oxsys::reset_signals().map_err(|e| InitError::sys("reset signal dispositions and mask", e))?;
    for r in &p.rlimits {
        oxsys::set_rlimit(r.resource, r.soft, r.hard)
            .map_err(|e| InitError::sys(format!("set rlimit {}", r.resource), e))?;
    }
    let supported = caps::runtime::thread_all_supported();
    for cap in supported.iter().filter(|c| !p.caps.bounding.contains(c)) {
        caps::drop(None, caps::CapSet::Bounding, *cap)
            .map_err(|e| InitError::msg("drop bounding capability", e.to_string()))?;
    }
    nix::sys::prctl::set_keepcaps(true).map_err(|e| InitError::sys("set keepcaps", e))?;
    let groups: Vec<Gid> = p.additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
    if let Err(e) = setgroups(&groups) {
        // In a user namespace whose setgroups is "deny" an empty list is the only choice anyway.
        if !(groups.is_empty() && e == nix::Error::EPERM) {
            return Err(InitError::sys("setgroups", e));
        }
    }
    setresgid(Gid::from_raw(p.gid), Gid::from_raw(p.gid), Gid::from_raw(p.gid))
        .map_err(|e| InitError::sys(format!("setgid {}", p.gid), e))?;
    setresuid(Uid::from_raw(p.uid), Uid::from_raw(p.uid), Uid::from_raw(p.uid))
        .map_err(|e| InitError::sys(format!("setuid {}", p.uid), e))?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| InitError::sys("clear keepcaps", e))?;
    let final_sets = cap_sets(&p.caps, false);
    let hold_admin =
        p.seccomp.is_some() && !p.no_new_privileges && !p.caps.effective.contains(&caps::Capability::CAP_SYS_ADMIN);
    oxsys::capset(if hold_admin { cap_sets(&p.caps, true) } else { final_sets })
        .map_err(|e| InitError::sys("set capabilities", e))?;
    caps::clear(None, caps::CapSet::Ambient)
        .map_err(|e| InitError::msg("clear ambient capabilities", e.to_string()))?;
    // The kernel allows an ambient capability only if it is permitted and inheritable; runc
    // skips the others silently (its default spec lists ambient caps without inheritable ones).
    for cap in p.caps.ambient.iter().filter(|c| p.caps.inheritable.contains(c) && p.caps.permitted.contains(c)) {
        caps::raise(None, caps::CapSet::Ambient, *cap)
            .map_err(|e| InitError::msg(format!("raise ambient {cap}"), e.to_string()))?;
    }
    if p.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(|e| InitError::sys("set no_new_privs", e))?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(p.umask.unwrap_or(0o022)));
    nix::unistd::chdir(p.cwd.as_str()).map_err(|e| InitError::sys(format!("chdir to cwd {:?}", p.cwd), e))?;
    // A cwd reached through a leaked fd would be outside the root: getcwd then fails
    // (CVE-2024-21626).
    match nix::unistd::getcwd() {
        Ok(cwd) if cwd.starts_with("/") => {}
        _ => {
            return Err(InitError::msg(
                "check cwd",
                format!("current working directory {:?} is outside the container", p.cwd),
            ))
        }
    }
    let listener = load_seccomp(p)?;
    if hold_admin {
        oxsys::capset(final_sets)
            .map_err(|e| InitError::sys("drop CAP_SYS_ADMIN after loading the seccomp filter", e))?;
    }
    Ok(listener)
}

/// The capability sets of the process; `with_admin` adds CAP_SYS_ADMIN to effective and
/// permitted (to load a seccomp filter without no_new_privs).
fn cap_sets(c: &crate::plan::CapPlan, with_admin: bool) -> oxsys::CapSets {
    let mask = |set: &caps::CapsHashSet| set.iter().fold(0u64, |m, c| m | (1u64 << c.index()));
    let admin = if with_admin { 1u64 << caps::Capability::CAP_SYS_ADMIN.index() } else { 0 };
    oxsys::CapSets {
        effective: mask(&c.effective) | admin,
        permitted: mask(&c.permitted) | admin,
        inheritable: mask(&c.inheritable),
    }
}

fn load_seccomp(p: &ProcessPlan) -> Result<Option<OwnedFd>> {
    match &p.seccomp {
        Some(prog) => {
            oxsys::seccomp_set_filter(&prog.bpf, prog.flags).map_err(|e| InitError::sys("load seccomp filter", e))
        }
        None => Ok(None),
    }
}

/// Sends the seccomp notify fd with the container process state to the listener socket
/// (connected by the runtime before the fork, since listenerPath is a host path).
pub(crate) fn send_seccomp_listener(socket: &OwnedFd, fd: &OwnedFd, state: &str) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let fds = [fd.as_raw_fd()];
    let iov = [std::io::IoSlice::new(state.as_bytes())];
    sendmsg::<UnixAddr>(socket.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::MSG_NOSIGNAL, None)
        .map_err(|e| InitError::sys("send seccomp notify fd to listenerPath", e))?;
    Ok(())
}

/// Finds the program like runc: a name with '/' is taken as is, otherwise PATH is searched.
pub fn resolve_exec(p: &ProcessPlan, extra_env: &[String]) -> Result<Exec> {
    let mut env = p.env.clone();
    env.extend(extra_env.iter().cloned());
    if crate::plan::process::env_get(&env, "HOME").is_none() {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let home = crate::plan::process::home_from_passwd(&passwd, p.uid).unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    let name = &p.args[0];
    let path = if name.contains('/') {
        let full = if name.starts_with('/') { name.clone() } else { format!("{}/{name}", p.cwd.trim_end_matches('/')) };
        match std::fs::metadata(&full) {
            Err(e) => {
                return Err(InitError {
                    step: "unable to start container process".into(),
                    message: format!("exec: {name:?}: stat {name}: {}", strip_os_suffix(&e)),
                    errno: e.raw_os_error(),
                });
            }
            // Like runc (Go's exec.LookPath): a directory or a file without any x bit is refused at
            // create, so the caller sees "permission denied" (Podman: exit 126), not a failed execve.
            Ok(_) if !is_executable(Path::new(&full)) => {
                return Err(InitError {
                    step: "unable to start container process".into(),
                    message: format!("exec: {name:?}: permission denied"),
                    errno: Some(libc::EACCES),
                });
            }
            Ok(_) => {}
        }
        name.clone()
    } else {
        crate::plan::process::search_path(&env)
            .iter()
            .map(|d| format!("{}/{name}", d.trim_end_matches('/')))
            .find(|cand| is_executable(Path::new(cand)))
            .ok_or_else(|| InitError {
                step: "unable to start container process".into(),
                message: format!("exec: {name:?}: executable file not found in $PATH"),
                errno: Some(libc::ENOENT),
            })?
    };
    let c = |s: &str| CString::new(s).map_err(|_| InitError::msg("exec", format!("{s:?} contains a NUL byte")));
    Ok(Exec {
        path: c(&path)?,
        argv: p.args.iter().map(|a| c(a)).collect::<Result<_>>()?,
        envp: env.iter().map(|e| c(e)).collect::<Result<_>>()?,
    })
}

fn strip_os_suffix(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s,
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Blocks until `start` writes the exec fifo, runs startContainer hooks and execs (the fds the
/// program must not get were marked close-on-exec before the seccomp filter was loaded).
fn wait_and_exec(ctx: &InitContext<'_>, exec: Exec) -> std::result::Result<std::convert::Infallible, StartError> {
    let (read, _write) = &ctx.fifo;
    let mut byte = [0u8; 1];
    loop {
        let mut fds = [nix::poll::PollFd::new(read.as_fd(), nix::poll::PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(StartError::Wait(e)),
        }
        match nix::unistd::read(read.as_raw_fd(), &mut byte) {
            Ok(1) => break,
            Ok(_) | Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(StartError::Wait(e)),
        }
    }
    if !ctx.plan.hooks.start_container.is_empty() {
        let state = hook_state(ctx.plan, HOOK_STATUS_CREATE, ctx.host_pid);
        crate::hooks::run_all_forked("startContainer", &ctx.plan.hooks.start_container, &state)?;
    }
    Ok(exec_now(&exec)?)
}

/// Clears close-on-exec on the preserved fds 3..3+n, which belong to the program, not to us.
/// Done before the seccomp filter is loaded (fcntl may be denied).
pub fn keep_preserved_fds(n: u32) {
    for fd in 3..3 + n as i32 {
        let _ = oxsys::keep_inherited_across_exec(fd);
    }
}

/// Marks every fd from 3+preserved close-on-exec. Done before the user's seccomp filter is
/// loaded: a profile may deny close_range (EPERM or ENOSYS, as older Docker, Podman and
/// runtime-tools profiles do), and nothing after the load may depend on it. Every fd opened later
/// (the notify listener, hook pipes) is close-on-exec already.
pub fn mark_fds_cloexec(preserved_fds: u32) -> Result<()> {
    oxsys::mark_cloexec_from(3 + preserved_fds).map_err(|e| InitError::sys("mark fds close-on-exec", e))
}

/// Execs; returns only on failure. The fds the program must not get were marked close-on-exec by
/// `mark_fds_cloexec` before the seccomp filter was loaded.
pub fn exec_now(exec: &Exec) -> std::result::Result<std::convert::Infallible, ExecError> {
    let source = nix::unistd::execve(&exec.path, &exec.argv, &exec.envp).unwrap_err();
    Err(ExecError { path: exec.path.clone(), source })
}
