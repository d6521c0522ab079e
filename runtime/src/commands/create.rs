//! `create`: state dir, cgroups, exec fifo, the fork of init, id maps, hooks, and state.json once
//! init reports it is ready. Any failure undoes everything done so far ([`Cleanup`]).
use crate::cgroups::{self, scope::PendingScope, Layout, Manager};
use crate::error::Error;
use crate::ipc::{self, ChannelError, RuntimeEnd};
use crate::logging;
use crate::netdev::MovedDevices;
use crate::plan::{self, CreateOptions, NsKind, Plan};
use crate::process::init::{self, InitContext};
use crate::process::{console, idmap, spawn};
use crate::rootfs::CgroupMount;
use crate::spec::Spec;
use crate::state::{self, CgroupDirs, State, StateDir};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// What `create` needs besides config.json.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub options: CreateOptions,
}

/// A container that reached `created`.
pub struct Created {
    pub dir: StateDir,
    pub state: State,
    /// Foreground `run` of a terminal container without a console socket: our end of the pair
    /// standing in for one, holding the pty master init sent.
    pub relay_end: Option<OwnedFd>,
}

/// Undoes a partial create when dropped without `disarm`.
struct Cleanup {
    dir: Option<StateDir>,
    cgroups: Option<CgroupDirs>,
    /// The systemd scope being created (--systemd-cgroup), stopped if create fails.
    scope: Option<PendingScope>,
    child: Option<i32>,
}

impl Cleanup {
    fn disarm(mut self) -> StateDir {
        self.cgroups = None;
        self.scope = None;
        self.child = None;
        self.dir.take().expect("state dir present until disarmed")
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = self.child.take() {
            let _ = oxsys::kill(pid, libc::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        if let Some(dirs) = self.cgroups.take() {
            for pid in cgroups::pids(&dirs) {
                let _ = oxsys::kill(pid, libc::SIGKILL);
            }
            if let Err(e) = cgroups::remove(&dirs, self.scope.as_mut()) {
                logging::warn(&format!("cleanup after failed create: {e}"));
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}

/// Runs the create sequence. Returns once init waits at the start barrier.
pub fn create(root: &Path, req: &CreateRequest) -> Result<Created, Error> {
    let (bundle, plan, host) = prepare(req)?;
    let dir = StateDir::create(root, &req.id)?;
    crate::fault::point("after-state-dir");
    let mut cleanup = Cleanup { dir: Some(dir), cgroups: None, scope: None, child: None };
    let layout = host.cgroups;
    let (dirs, scope) = make_cgroups(&layout, &plan)?;
    cleanup.scope = scope;
    cleanup.cgroups = Some(dirs.clone());
    let dir = cleanup.dir.as_ref().expect("state dir");
    // What `delete --force` needs if we die before state.json: the cgroups now, init's pid below.
    let mut record = creating_record(&plan, req, bundle, &dirs);
    dir.save_creating(&record)?;
    crate::fault::point("after-cgroups");
    let fifo_path = state::make_exec_fifo(dir)?;
    let fifo = open_fifo(&fifo_path)?;
    crate::fault::point("after-exec-fifo");
    let (console, relay_end) = console_ends(req, &plan)?;
    let (listen_fds, extra_env) = listen_fds();
    let seccomp_listener = match plan.process.seccomp.as_ref().and_then(|p| p.listener_path.as_ref()) {
        Some(path) => Some(console::connect_socket(Path::new(path))?),
        None => None,
    };
    // Without cgroups of its own the container is shown the cgroup it runs in: ours.
    let shown_path = if dirs.dirs.is_empty() { String::new() } else { plan.cgroups.path.clone() };
    let cgroup_mount = CgroupMount { layout, path: shown_path, own_ns: plan.namespaces.has(NsKind::Cgroup) };
    let (mut runtime, init_end) = ipc::create_channel(plan.namespaces.needs_intermediate())?;
    // A systemd scope being started is joined by systemd (see cgroups::join).
    let self_joins = match cleanup.scope {
        None => cgroups::clone_into::open_self_joins(&dirs, None),
        Some(_) => Vec::new(),
    };
    let joined_by_itself: Vec<PathBuf> = self_joins.iter().map(|j| j.dir.clone()).collect();
    let ctx = InitContext {
        plan: &plan,
        channel: init_end,
        fifo,
        console,
        cgroup: cgroup_mount,
        preserved_fds: listen_fds + req.options.preserve_fds,
        extra_env,
        seccomp_listener,
        host_pid: 0,
        idmapped: idmap::prepare_idmapped_mounts(&plan)?,
        self_joins,
    };
    let cgroup2 = cgroups::clone_into::cgroup2_dir(&dirs);
    let (pid, entered) = spawn::spawn_init(ctx, &mut runtime, dir.lock_fd(), cgroup2.as_ref())?;
    logging::debug(&format!(
        "container {}: init is pid {pid} (clone flags {:#x})",
        req.id,
        plan.namespaces.clone_flags()
    ));
    cleanup.child = Some(pid);
    record.pid = pid;
    record.init_start_time = state::proc_stat(pid).map(|s| s.start_time).unwrap_or(0);
    dir.save_creating(&record)?;
    crate::fault::point("after-spawn");
    let joining = Joining { dirs: &dirs, entered, by_itself: &joined_by_itself };
    let net_devices = handshake(&mut runtime, &plan, req, &joining, pid, cleanup.scope.as_mut())?;
    let state = save_created(dir, &plan, req, record)?;
    if let Some(moved) = net_devices {
        moved.keep()
    }
    Ok(Created { dir: cleanup.disarm(), state, relay_end })
}

/// The bundle's absolute path, the plan for this host (seccomp compiled, LSM labels and cgroups
/// planned, warnings logged, the rootfs checked) and the host it was made for. The config is
/// read here only: everything after works from the plan.
fn prepare(req: &CreateRequest) -> Result<(PathBuf, Plan, plan::Host), Error> {
    let bundle =
        std::fs::canonicalize(&req.bundle).map_err(|e| Error::sys(format!("bundle {}", req.bundle.display()), e))?;
    let spec = Spec::load(&bundle)?;
    let host = plan::Host::detect(req.options.systemd_cgroup)?;
    let (plan, warnings) = plan::build(&spec, &bundle, &req.id, req.options.clone(), &host)?;
    for w in &warnings {
        logging::warn(w);
    }
    match std::fs::metadata(&plan.rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            let sentence = format!("rootfs {} is not a directory", plan.rootfs.display());
            return Err(plan::PlanError::rule("root.path", sentence).into());
        }
        Err(e) => return Err(Error::sys(format!("rootfs {}", plan.rootfs.display()), e)),
    }
    Ok((bundle, plan, host))
}

/// The container's cgroups (none with `--cgroup-manager disabled`, or rootless without a
/// delegated cgroup), with the systemd scope being created when there is one.
fn make_cgroups(layout: &Layout, plan: &Plan) -> Result<(CgroupDirs, Option<PendingScope>), Error> {
    let cg = &plan.cgroups;
    let created = match &cg.manager {
        Manager::Disabled => Ok((CgroupDirs::default(), None)),
        Manager::Systemd(scope) => cgroups::scope::prepare(layout, cg, scope).map(|(dirs, s)| (dirs, Some(s))),
        Manager::Cgroupfs => cgroups::create(layout, &cg.path, &cg.resources).map(|dirs| (dirs, None)),
    };
    let (dirs, scope) = match created {
        Ok(made) => made,
        // Rootless without a delegated cgroup: run without one, as runc and crun do.
        Err(e) if cg.optional && is_permission_error(&e) => {
            if !cg.resources.writes.is_empty() {
                logging::warn(&format!("rootless: no writable cgroup ({e}); resource limits are not applied"));
            }
            (CgroupDirs::default(), None)
        }
        Err(e) => return Err(e.into()),
    };
    logging::debug(&format!(
        "container {}: cgroup {} in {} hierarchies, {} resource writes",
        plan.id,
        cg.path,
        dirs.dirs.len(),
        cg.resources.writes.len()
    ));
    Ok((dirs, scope))
}

/// The state saved while creating (init's pid is filled in once it exists).
fn creating_record(plan: &Plan, req: &CreateRequest, bundle: PathBuf, dirs: &CgroupDirs) -> State {
    State {
        oci_version: plan.record.oci_version.clone(),
        id: req.id.clone(),
        pid: 0,
        init_start_time: 0,
        bundle,
        rootfs: plan.rootfs.clone(),
        created: logging::rfc3339(std::time::SystemTime::now()),
        annotations: plan.annotations.clone(),
        owner: nix::unistd::geteuid().as_raw(),
        systemd_cgroup: req.options.systemd_cgroup,
        cgroup: dirs.clone(),
        hooks: None,
        own_pid_ns: plan.namespaces.has(NsKind::Pid),
        uid_mappings: plan.namespaces.uid_mappings.clone(),
        host_mounts_before: (!plan.namespaces.has(NsKind::Mount)).then(|| state::mounts_at_or_under(&plan.rootfs)),
    }
}

/// The console init gets (the caller's console socket, connected) and, for a foreground `run`
/// of a terminal container without one, our end of the pair standing in for it.
fn console_ends(req: &CreateRequest, plan: &Plan) -> Result<(Option<OwnedFd>, Option<OwnedFd>), Error> {
    Ok(match &req.console_socket {
        Some(p) => (Some(console::connect_socket(p)?), None),
        // The plan allows this only for a foreground `run`, which relays the pty itself.
        None if plan.process.terminal => {
            let (theirs, ours) = console::socket_pair()?;
            (Some(theirs), Some(ours))
        }
        None => (None, None),
    })
}

/// The container's cgroup directories and which of them init is already in: the cgroup2 one it
/// was born in, and the v1 ones it moves itself into.
struct Joining<'a> {
    dirs: &'a CgroupDirs,
    entered: Option<&'a Path>,
    by_itself: &'a [PathBuf],
}

/// From init's birth to its ready report: id maps, network devices, the cgroup join, and the
/// create hooks when init asks for them. Returns the moved network devices.
fn handshake(
    runtime: &mut RuntimeEnd,
    plan: &Plan,
    req: &CreateRequest,
    joining: &Joining<'_>,
    pid: i32,
    scope: Option<&mut PendingScope>,
) -> Result<Option<MovedDevices>, Error> {
    if plan.namespaces.is_new(NsKind::User) {
        idmap::write_id_maps(pid, plan)?;
    }
    crate::fault::point("after-id-maps");
    let net_devices = crate::netdev::move_devices(plan.net_devices.as_ref(), &req.id, pid)?;
    // Init sets up its mounts while we move it into the cgroups it did not join itself (a
    // cgroup.procs write may wait for an RCU grace period: see clone_into::SelfJoin).
    let joined = (|| -> Result<(), Error> {
        runtime.send_continue()?;
        crate::fault::point("after-continue");
        cgroups::join(joining.dirs, pid, joining.entered, joining.by_itself, scope)?;
        crate::fault::point("after-cgroup-join");
        runtime.send_cgroups_joined()?;
        Ok(())
    })();
    // A mount that fails while we join makes init report and exit: our next write then meets a
    // closed channel (or a gone pid) and init's own error is the one to show.
    joined.map_err(|e| runtime.take_failure().map_or(e, Error::from))?;
    let ready = runtime.wait_ready(|| {
        let state = init::hook_state(plan, init::HOOK_STATUS_CREATE, pid);
        crate::hooks::run_all("prestart", &plan.hooks.prestart, &state)?;
        crate::hooks::run_all("createRuntime", &plan.hooks.create_runtime, &state)?;
        Ok(())
    });
    match ready {
        Err(Error::Channel(ChannelError::Closed)) => return Err(Error::InitDied(how_init_ended(pid))),
        other => other?,
    }
    crate::fault::point("after-ready");
    Ok(net_devices)
}

/// How init ended, when it closed the channel without reporting an error.
fn how_init_ended(pid: i32) -> String {
    match waitpid(Pid::from_raw(pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => format!("exit code {code}"),
        Ok(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        _ => "channel closed".into(),
    }
}

/// Saves state.json (the container is `created`) and the pid file.
fn save_created(dir: &StateDir, plan: &Plan, req: &CreateRequest, record: State) -> Result<State, Error> {
    let pid = record.pid;
    let start_time =
        state::proc_stat(pid).map(|s| s.start_time).ok_or_else(|| Error::InitDied("vanished after ready".into()))?;
    let state = State {
        init_start_time: start_time,
        created: logging::rfc3339(std::time::SystemTime::now()),
        hooks: plan.record.hooks.clone(),
        ..record
    };
    dir.save_seccomp(plan.record.seccomp.as_ref())?;
    dir.save(&state)?;
    dir.remove_creating();
    crate::fault::point("after-state-json");
    logging::debug(&format!("container {}: created", req.id));
    if let Some(pid_file) = &req.pid_file {
        let abs = if pid_file.is_absolute() {
            pid_file.clone()
        } else {
            std::env::current_dir().unwrap_or_default().join(pid_file)
        };
        state::write_atomic(&abs, pid.to_string().as_bytes(), 0o644)?;
    }
    crate::fault::point("after-pid-file");
    Ok(state)
}

/// Opens both ends of the exec fifo for init: the read end it waits on, and a write end that keeps
/// poll from reporting a hang-up when `start` closes its end.
fn open_fifo(path: &Path) -> Result<(OwnedFd, OwnedFd), Error> {
    let c = std::ffi::CString::new(path.to_string_lossy().as_bytes())
        .map_err(|e| oxsys::SysError::at("open exec fifo", path, e))?;
    let read = oxsys::open(&c, libc::O_RDONLY | libc::O_NONBLOCK, 0).map_err(|e| Error::sys("open exec fifo", e))?;
    let write = oxsys::open(&c, libc::O_WRONLY | libc::O_NONBLOCK, 0).map_err(|e| Error::sys("open exec fifo", e))?;
    Ok((read, write))
}

/// systemd socket activation: fds 3.. handed to us (LISTEN_PID is our pid) pass to the container.
fn listen_fds() -> (u32, Vec<String>) {
    let pid_matches = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    match std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse::<u32>().ok()) {
        Some(n) if n > 0 && pid_matches => (n, vec![format!("LISTEN_FDS={n}"), "LISTEN_PID=1".into()]),
        _ => (0, Vec::new()),
    }
}

fn is_permission_error(e: &cgroups::CgroupError) -> bool {
    matches!(e, cgroups::CgroupError::Io { source, .. } if matches!(source.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS)))
}
