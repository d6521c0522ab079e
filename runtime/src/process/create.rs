//! The runtime's side of `create`: state dir, cgroups, exec fifo, the fork of init, id maps, hooks,
//! and state.json once init reports it is ready. Any failure undoes everything done so far.
use super::init::{self, InitContext};
use crate::cgroups::{self, clone_into::Cgroup2Dir, resources, Layout};
use crate::error::Error;
use crate::ipc::{self, Channel, FromInit, ToInit};
use crate::logging;
use crate::plan::{self, namespaces::id_map_text, CreateOptions, NsKind, Plan};
use crate::rootfs::CgroupMount;
use crate::spec::Spec;
use crate::state::{self, CgroupDirs, State, StateDir};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What `create` needs besides config.json.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub options: CreateOptions,
    pub systemd_cgroup: bool,
    /// `--cgroup-manager disabled` (crun's flag, passed by Podman for --cgroups=disabled): no
    /// cgroup is created or joined; the container stays in the caller's.
    pub no_cgroups: bool,
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
    scope: Option<cgroups::scope::PendingScope>,
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
    let bundle =
        std::fs::canonicalize(&req.bundle).map_err(|e| Error::sys(format!("bundle {}", req.bundle.display()), e))?;
    let spec = Spec::load(&bundle)?;
    let (mut plan, mut warnings) = plan::build(&spec, &bundle, &req.id, req.options.clone()).map_err(Error::Config)?;
    if let Some(profile) = spec.linux.as_ref().and_then(|l| l.seccomp.as_ref()) {
        let (program, seccomp_warnings) = crate::seccomp::compile(profile).map_err(Error::Config)?;
        warnings.extend(seccomp_warnings);
        plan.process.seccomp = Some(program);
    }
    apply_lsm_plan(&spec, &mut plan, &mut warnings)?;
    for w in &warnings {
        logging::warn(w);
    }
    match std::fs::metadata(&plan.rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Error::Config(format!("rootfs {} is not a directory", plan.rootfs.display()))),
        Err(e) => return Err(Error::sys(format!("rootfs {}", plan.rootfs.display()), e)),
    }
    let dir = StateDir::create(root, &req.id)?;
    crate::fault::point("after-state-dir");
    let mut cleanup = Cleanup { dir: Some(dir), cgroups: None, scope: None, child: None };
    let linux = spec.linux();
    let layout = Layout::detect()?;
    let cg_path = cgroups::cgroup_path(linux.cgroups_path.as_deref(), &req.id, req.systemd_cgroup)?;
    let resources = cgroup_writes(&layout, &plan, linux.resources.as_ref())?;
    let created = if req.no_cgroups {
        Ok((CgroupDirs::default(), None))
    } else if req.systemd_cgroup {
        cgroups::scope::prepare(&layout, &spec, &plan.devices, &req.id, &resources)
            .map(|(dirs, scope)| (dirs, Some(scope)))
    } else {
        cgroups::create(&layout, &cg_path, &resources).map(|dirs| (dirs, None))
    };
    let dirs = match created {
        Ok((dirs, scope)) => {
            cleanup.scope = scope;
            dirs
        }
        // Rootless without a delegated cgroup: run without one, as runc and crun do.
        Err(e) if state::is_rootless() && is_permission_error(&e) => {
            if !resources.writes.is_empty() {
                logging::warn(&format!("rootless: no writable cgroup ({e}); resource limits are not applied"));
            }
            CgroupDirs::default()
        }
        Err(e) => return Err(e.into()),
    };
    logging::debug(&format!(
        "container {}: cgroup {cg_path} in {} hierarchies, {} resource writes",
        req.id,
        dirs.dirs.len(),
        resources.writes.len()
    ));
    cleanup.cgroups = Some(dirs.clone());
    let dir = cleanup.dir.as_ref().expect("state dir");
    // What `delete --force` needs if we die before state.json: the cgroups now, init's pid below.
    let mut record = State {
        oci_version: spec.oci_version.clone(),
        id: req.id.clone(),
        pid: 0,
        init_start_time: 0,
        bundle: bundle.clone(),
        rootfs: plan.rootfs.clone(),
        created: logging::rfc3339(std::time::SystemTime::now()),
        annotations: spec.annotations.clone(),
        owner: nix::unistd::geteuid().as_raw(),
        systemd_cgroup: req.systemd_cgroup,
        cgroup: dirs.clone(),
        hooks: None,
        own_pid_ns: plan.namespaces.has(NsKind::Pid),
        uid_mappings: plan.namespaces.uid_mappings.clone(),
        host_mounts_before: (!plan.namespaces.has(NsKind::Mount)).then(|| state::mounts_at_or_under(&plan.rootfs)),
    };
    dir.save_creating(&record)?;
    crate::fault::point("after-cgroups");
    let fifo_path = state::make_exec_fifo(dir)?;
    let fifo = open_fifo(&fifo_path)?;
    crate::fault::point("after-exec-fifo");
    let (console, relay_end) = match &req.console_socket {
        Some(p) => (Some(connect_console(p)?), None),
        // The plan allows this only for a foreground `run`, which relays the pty itself.
        None if plan.process.terminal => {
            let (theirs, ours) = super::console::socket_pair()?;
            (Some(theirs), Some(ours))
        }
        None => (None, None),
    };
    let (listen_fds, extra_env) = listen_fds();
    let seccomp_listener = match plan.process.seccomp.as_ref().and_then(|p| p.listener_path.as_ref()) {
        Some(path) => Some(connect_console(Path::new(path))?),
        None => None,
    };
    // Without cgroups of its own the container is shown the cgroup it runs in: ours.
    let shown_path = if dirs.dirs.is_empty() { String::new() } else { cg_path };
    let cgroup_mount = CgroupMount { layout, path: shown_path, own_ns: plan.namespaces.has(NsKind::Cgroup) };
    let (parent_ch, child_ch) = ipc::pair()?;
    let ctx = InitContext {
        plan: &plan,
        channel: child_ch,
        fifo,
        console,
        cgroup: cgroup_mount,
        preserved_fds: listen_fds + req.options.preserve_fds,
        extra_env,
        seccomp_listener,
        host_pid: 0,
        idmapped: prepare_idmapped_mounts(&plan)?,
    };
    let cgroup2 = cgroups::clone_into::cgroup2_dir(&dirs);
    let (pid, entered) = spawn(ctx, &parent_ch, dir.lock_fd(), cgroup2.as_ref())?;
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
    if plan.namespaces.is_new(NsKind::User) {
        write_id_maps(pid, &plan)?;
    }
    crate::fault::point("after-id-maps");
    let net_devices = crate::netdev::move_devices(plan.net_devices.as_ref(), &req.id, pid)?;
    // Init sets up its mounts while we move it into its cgroups: the first write to a v1
    // cgroup.procs waits for an RCU grace period, the largest single cost of a start.
    let joined = (|| -> Result<(), Error> {
        parent_ch.send(&ToInit::Continue)?;
        crate::fault::point("after-continue");
        cgroups::join(&dirs, pid, entered, cleanup.scope.as_mut())?;
        crate::fault::point("after-cgroup-join");
        parent_ch.send(&ToInit::CgroupsJoined)?;
        Ok(())
    })();
    // A mount that fails while we join makes init report and exit: our next write then meets a
    // closed channel (or a gone pid) and init's own error is the one to show.
    joined.map_err(|e| init_failure(&parent_ch).unwrap_or(e))?;
    wait_ready(&parent_ch, &plan, pid)?;
    crate::fault::point("after-ready");
    let start_time =
        state::proc_stat(pid).map(|s| s.start_time).ok_or_else(|| Error::InitDied("vanished after ready".into()))?;
    let state = State {
        init_start_time: start_time,
        created: logging::rfc3339(std::time::SystemTime::now()),
        hooks: spec.hooks.clone(),
        ..record
    };
    dir.save_seccomp(spec.linux.as_ref().and_then(|l| l.seccomp.as_ref()))?;
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
    if let Some(moved) = net_devices {
        moved.keep()
    }
    Ok(Created { dir: cleanup.disarm(), state, relay_end })
}

/// The resources translated for this host (v1, v2 or a hybrid mix); accepted-but-ignored fields
/// are logged as warnings. The container's own device nodes stay allowed, as runc does.
fn cgroup_writes(
    layout: &Layout,
    plan: &Plan,
    res: Option<&crate::spec::Resources>,
) -> Result<resources::ResourcePlan, Error> {
    let planned = cgroups::plan_resources(layout, res, &resources::default_allowed_devices(&plan.devices))?;
    for w in &planned.warnings {
        logging::warn(w);
    }
    Ok(planned)
}

/// Opens both ends of the exec fifo for init: the read end it waits on, and a write end that keeps
/// poll from reporting a hang-up when `start` closes its end.
fn open_fifo(path: &Path) -> Result<(OwnedFd, OwnedFd), Error> {
    let c = std::ffi::CString::new(path.to_string_lossy().as_bytes())
        .map_err(|_| Error::Usage("state path contains NUL".into()))?;
    let read = oxsys::open(&c, libc::O_RDONLY | libc::O_NONBLOCK, 0).map_err(|e| Error::sys("open exec fifo", e))?;
    let write = oxsys::open(&c, libc::O_WRONLY | libc::O_NONBLOCK, 0).map_err(|e| Error::sys("open exec fifo", e))?;
    Ok((read, write))
}

/// Connects a unix stream socket (console socket, seccomp listener).
pub fn connect_console(path: &Path) -> Result<OwnedFd, Error> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let fd = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::sys("console socket", e))?;
    let addr = UnixAddr::new(path).map_err(|e| Error::sys(format!("console socket {}", path.display()), e))?;
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr)
        .map_err(|e| Error::sys(format!("connect console socket {}", path.display()), e))?;
    Ok(fd)
}

/// systemd socket activation: fds 3.. handed to us (LISTEN_PID is our pid) pass to the container.
fn listen_fds() -> (u32, Vec<String>) {
    let pid_matches = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    match std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse::<u32>().ok()) {
        Some(n) if n > 0 && pid_matches => (n, vec![format!("LISTEN_FDS={n}"), "LISTEN_PID=1".into()]),
        _ => (0, Vec::new()),
    }
}

/// clone3 into `cgroup2` (CLONE_INTO_CGROUP) when given and the kernel takes it, else a plain
/// clone3. Also returns the directory the child was born in, if any.
pub(super) fn clone_into(flags: u64, cgroup2: Option<&Cgroup2Dir>) -> Result<(oxsys::Forked, Option<&Path>), Error> {
    if let Some(cg) = cgroup2 {
        match oxsys::clone3(flags, Some(cg.fd())) {
            Ok(forked) => return Ok((forked, Some(cg.path.as_path()))),
            Err(e) if cgroups::clone_into::worth_retrying_without(&e) => {
                logging::debug(&format!("clone3 into {}: {e}; cloning, then joining", cg.path.display()));
            }
            Err(e) => return Err(Error::sys(format!("clone3 into cgroup {}", cg.path.display()), e)),
        }
    }
    Ok((oxsys::clone3(flags, None).map_err(|e| Error::sys("clone3", e))?, None))
}

/// Forks init (directly, or through an intermediate process when namespaces must be joined
/// first) and returns its pid in our pid namespace, and the cgroup2 directory it was born in.
fn spawn<'a>(
    ctx: InitContext<'_>,
    parent_ch: &Channel,
    lock: std::os::fd::RawFd,
    cgroup2: Option<&'a Cgroup2Dir>,
) -> Result<(i32, Option<&'a Path>), Error> {
    let ns = &ctx.plan.namespaces;
    if !ns.needs_intermediate() {
        return match clone_into(ns.clone_flags() & !(libc::CLONE_NEWCGROUP as u64), cgroup2)? {
            (oxsys::Forked::Child, _) => {
                close_runtime_fds(parent_ch, lock, cgroup2);
                init::run(ctx)
            }
            (oxsys::Forked::Parent(pid), entered) => {
                drop(ctx);
                Ok((pid, entered))
            }
        };
    }
    // The intermediate exits after forking init; as a subreaper we become init's parent, so a
    // foreground `run` can wait for it. Born in the cgroup2 directory, it passes that on to init.
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| Error::sys("set child subreaper", e))?;
    let (intermediate, entered) = match clone_into(0, cgroup2)? {
        (oxsys::Forked::Child, _) => {
            close_runtime_fds(parent_ch, lock, cgroup2);
            intermediate(ctx)
        }
        (oxsys::Forked::Parent(pid), entered) => {
            // Our copy of the child's channel end must go, or a dying child would leave us
            // waiting forever.
            drop(ctx);
            (pid, entered)
        }
    };
    let reply = parent_ch.recv::<FromInit>();
    let _ = waitpid(Pid::from_raw(intermediate), None);
    match reply? {
        FromInit::InitPid(pid) => Ok((pid, entered)),
        FromInit::Failed(e) => Err(e.into()),
        other => Err(Error::Usage(format!("unexpected message from intermediate process: {other:?}"))),
    }
}

/// In a forked child: closes its copies of the runtime's channel end (so the runtime's death reads
/// as end-of-file and the child exits instead of waiting forever), of the state directory's lock
/// (which would otherwise stay held after a killed create and block every later command) and of
/// the host cgroup directory it was cloned into (a host directory fd must never reach the
/// container, CVE-2024-21626).
fn close_runtime_fds(parent_ch: &Channel, lock: std::os::fd::RawFd, cgroup2: Option<&Cgroup2Dir>) {
    use std::os::fd::AsRawFd;
    let _ = nix::unistd::close(parent_ch.as_fd().as_raw_fd());
    let _ = nix::unistd::close(lock);
    if let Some(cg) = cgroup2 {
        let _ = nix::unistd::close(cg.fd().as_raw_fd());
    }
}

/// The intermediate process: joins user/pid/time namespaces by path, unshares a time namespace
/// with offsets, forks init into them, reports init's pid, and exits.
fn intermediate(ctx: InitContext<'_>) -> ! {
    let plan = ctx.plan;
    let fail = |e: ipc::InitError| -> ! {
        let _ = ctx.channel.send(&FromInit::Failed(e));
        oxsys::exit_now(1)
    };
    for (kind, path) in plan.namespaces.intermediate_joins() {
        let fd = match crate::rootfs::open_host(path, libc::O_RDONLY) {
            Ok(fd) => fd,
            Err(e) => fail(ipc::InitError::sys(format!("open namespace {}", path.display()), e)),
        };
        if let Err(e) =
            nix::sched::setns(fd.as_fd(), nix::sched::CloneFlags::from_bits_retain(kind.clone_flag() as i32))
        {
            fail(ipc::InitError::sys(format!("join {} namespace {}", kind.proc_name(), path.display()), e));
        }
    }
    if !plan.namespaces.time_offsets.is_empty() {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)) {
            fail(ipc::InitError::sys("create time namespace", e));
        }
        let text = plan.namespaces.time_offsets.join("\n");
        // Through the verified procfs, like every other procfs write (CVE-2025-52881).
        let written = crate::procfs::ProcRoot::open(Path::new("/proc"))
            .and_then(|proc| proc.write_self("timens_offsets", text.as_bytes()));
        if let Err(e) = written {
            fail(crate::rootfs::procfs_error("write timens_offsets", e));
        }
    }
    match oxsys::clone3(plan.namespaces.clone_flags() & !(libc::CLONE_NEWCGROUP as u64), None) {
        Ok(oxsys::Forked::Child) => init::run(ctx),
        Ok(oxsys::Forked::Parent(pid)) => {
            let _ = ctx.channel.send(&FromInit::InitPid(pid));
            oxsys::exit_now(0)
        }
        Err(e) => fail(ipc::InitError::sys("clone3 init", e)),
    }
}

/// Idmapped bind mounts need a user namespace holding the mount's maps; the runtime makes it
/// (writing maps needs its privileges) and init uses it to idmap the bind mount it clones.
/// Returns one entry per mount of the plan.
fn prepare_idmapped_mounts(plan: &Plan) -> Result<Vec<Option<OwnedFd>>, Error> {
    plan.mounts
        .iter()
        .map(|op| {
            let Some((uids, gids)) = &op.idmap else { return Ok(None) };
            let userns = idmap_userns(uids, gids)
                .map_err(|e| Error::sys(format!("idmapped mount {}: user namespace", op.dest), e))?;
            Ok(Some(userns))
        })
        .collect()
}

/// A user namespace with the given maps, held by an fd: a child is forked into a new user
/// namespace, its maps are written, the namespace is opened, and the child exits.
fn idmap_userns(uids: &[crate::spec::IdMapping], gids: &[crate::spec::IdMapping]) -> std::io::Result<OwnedFd> {
    let (hold_r, hold_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    match oxsys::clone3(libc::CLONE_NEWUSER as u64, None)? {
        oxsys::Forked::Child => {
            drop(hold_w);
            let mut b = [0u8; 1];
            // Wait until the parent has what it needs (it closes its end), then vanish.
            let _ = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&hold_r), &mut b);
            oxsys::exit_now(0)
        }
        oxsys::Forked::Parent(pid) => {
            drop(hold_r);
            let result = (|| {
                let proc = crate::procfs::ProcRoot::open(Path::new("/proc"))?;
                proc.write_pid(pid, "uid_map", id_map_text(uids).as_bytes())?;
                proc.write_pid(pid, "gid_map", id_map_text(gids).as_bytes())?;
                crate::rootfs::open_host(Path::new(&format!("/proc/{pid}/ns/user")), libc::O_RDONLY)
            })();
            drop(hold_w);
            let _ = waitpid(Pid::from_raw(pid), None);
            result
        }
    }
}

/// LSMs: an AppArmor profile that cannot be applied is an error (the container would run
/// unconfined), as in runc; SELinux labels are ignored with a warning where SELinux is off.
/// The LSM labels that apply on this host: an AppArmor profile without AppArmor is refused,
/// SELinux labels without SELinux are ignored with a warning; a mount label becomes `context=` in
/// the data of the mounts that take one.
fn apply_lsm_plan(spec: &Spec, plan: &mut Plan, warnings: &mut Vec<String>) -> Result<(), Error> {
    let host = crate::lsm::HostLsms::detect();
    let process = spec.process.as_ref();
    let (labels, label_warnings) = crate::lsm::exec_labels(
        process.and_then(|p| p.apparmor_profile.as_deref()),
        process.and_then(|p| p.selinux_label.as_deref()),
        host,
        "process",
    )
    .map_err(Error::Config)?;
    plan.process.labels = labels;
    warnings.extend(label_warnings);
    let mount_label = spec.linux.as_ref().and_then(|l| l.mount_label.as_deref());
    if let Some(label) = crate::lsm::mount_label(mount_label, host, warnings) {
        for op in &mut plan.mounts {
            if let crate::plan::mounts::MountSource::Fs { fstype, .. } = &op.source {
                op.data = crate::lsm::mount_data(fstype, &op.data, Some(&label));
            }
        }
    }
    Ok(())
}

fn is_permission_error(e: &cgroups::CgroupError) -> bool {
    matches!(e, cgroups::CgroupError::Io { source, .. } if matches!(source.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS)))
}

/// Writes uid_map and gid_map of init's new user namespace. Root writes them directly (any
/// ranges inside its own namespace). An unprivileged user may map only itself, after denying
/// setgroups; anything else goes through the setuid helpers newuidmap/newgidmap (package uidmap,
/// ranges from /etc/subuid and /etc/subgid).
fn write_id_maps(pid: i32, plan: &Plan) -> Result<(), Error> {
    let ns = &plan.namespaces;
    let euid = nix::unistd::geteuid().as_raw();
    let egid = nix::unistd::getegid().as_raw();
    for (file, maps, own, helper) in
        [("uid_map", &ns.uid_mappings, euid, "newuidmap"), ("gid_map", &ns.gid_mappings, egid, "newgidmap")]
    {
        let only_self = maps.len() == 1 && maps[0].host_id == own && maps[0].size == 1;
        if euid == 0 || only_self {
            // Through a checked procfs root, never a path that a mount could redirect.
            let proc = crate::procfs::ProcRoot::open(Path::new("/proc")).map_err(|e| Error::sys("write id maps", e))?;
            if euid != 0 && file == "gid_map" {
                proc.write_pid(pid, "setgroups", b"deny").map_err(|e| Error::sys("write id maps", e))?;
            }
            proc.write_pid(pid, file, id_map_text(maps).as_bytes()).map_err(|e| Error::sys("write id maps", e))?;
            continue;
        }
        let mut cmd = std::process::Command::new(helper);
        cmd.arg(pid.to_string());
        for m in maps.iter() {
            cmd.args([m.container_id.to_string(), m.host_id.to_string(), m.size.to_string()]);
        }
        let out = cmd.output().map_err(|e| Error::sys(format!("run {helper} (package uidmap) for {file}"), e))?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr).trim().replace('\n', " ");
            return Err(Error::Usage(format!("{helper} {pid} failed: {msg}")));
        }
    }
    Ok(())
}

/// Serves init's requests until it is ready; a failure or an early exit is an error.
/// The error init reported, if it did and exited: its message is already queued then.
fn init_failure(ch: &Channel) -> Option<Error> {
    match ch.try_recv::<FromInit>() {
        Some(FromInit::Failed(e)) => Some(e.into()),
        _ => None,
    }
}

fn wait_ready(ch: &Channel, plan: &Plan, pid: i32) -> Result<(), Error> {
    loop {
        match ch.recv::<FromInit>() {
            Ok(FromInit::Ready) => return Ok(()),
            Ok(FromInit::Failed(e)) => return Err(e.into()),
            Ok(FromInit::RunCreateHooks) => {
                let state = init::hook_state(plan, init::HOOK_STATUS_CREATE, pid);
                crate::hooks::run_all("prestart", &plan.hooks.prestart, &state)?;
                crate::hooks::run_all("createRuntime", &plan.hooks.create_runtime, &state)?;
                ch.send(&ToInit::HooksDone)?;
            }
            Ok(other) => return Err(Error::Usage(format!("unexpected message from init: {other:?}"))),
            Err(ipc::ChannelError::Closed) => {
                let how = match waitpid(Pid::from_raw(pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, code)) => format!("exit code {code}"),
                    Ok(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
                    _ => "channel closed".into(),
                };
                return Err(Error::InitDied(how));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
