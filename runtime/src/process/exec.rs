//! `exec`: a new process inside a running container.
//!
//! The runtime forks a helper that joins the container's namespaces (user first) from
//! /proc/<init>/ns/*, and forks the process itself, which is then inside the container's pid
//! namespace. It moves itself into the container's v1 cgroups, and the runtime puts it into the
//! rest (it is born in the cgroup2 one), before it runs anything. Both forks are non-dumpable, so
//! the container cannot ptrace or read them while they hold its namespaces; exec resets that for
//! the user's program.
use super::init::{self, Exec};
use crate::cgroups::clone_into::SelfJoin;
use crate::error::Error;
use crate::ipc::{self, ExecEnd, InitError, RuntimeEnd};
use crate::plan::{NsKind, ProcessPlan};
use crate::state::CgroupDirs;
use nix::sched::{setns, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{Gid, Pid, Uid};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

/// Everything the exec'd process needs.
pub struct ExecRequest<'a> {
    pub init_pid: i32,
    pub process: &'a ProcessPlan,
    pub cgroup: &'a CgroupDirs,
    pub console: Option<OwnedFd>,
    pub preserve_fds: u32,
    /// The seccomp filter's listenerPath, connected, with what the state names.
    pub seccomp_listener: Option<OwnedFd>,
    pub id: &'a str,
    pub bundle: &'a std::path::Path,
}

/// Namespaces of init that differ from ours, opened now (user first), as (kind, fd).
fn container_namespaces(init_pid: i32) -> Result<Vec<(NsKind, OwnedFd)>, Error> {
    let kinds = [
        NsKind::User,
        NsKind::Mount,
        NsKind::Uts,
        NsKind::Ipc,
        NsKind::Network,
        NsKind::Cgroup,
        NsKind::Time,
        NsKind::Pid,
    ];
    let mut out = Vec::new();
    for kind in kinds {
        let theirs = format!("/proc/{init_pid}/ns/{}", kind.proc_name());
        let ours = format!("/proc/self/ns/{}", kind.proc_name());
        let (Ok(t), Ok(o)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else { continue };
        if t.ino() == o.ino() && t.dev() == o.dev() {
            continue;
        }
        let fd = crate::rootfs::open_host(std::path::Path::new(&theirs), libc::O_RDONLY)
            .map_err(|e| Error::sys(format!("open {theirs}"), e))?;
        out.push((kind, fd));
    }
    Ok(out)
}

/// Starts the process; returns its pid (in our pid namespace) once it has exec'd.
pub fn spawn(req: ExecRequest<'_>) -> Result<i32, Error> {
    let namespaces = container_namespaces(req.init_pid)?;
    let (mut runtime, process_end) = ipc::exec_channel()?;
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| Error::sys("set child subreaper", e))?;
    // Born in the container's cgroup2 directory (if any), the helper passes it on to the process.
    let cgroup2 = crate::cgroups::clone_into::cgroup2_dir(req.cgroup);
    // The process moves itself into the v1 cgroups (see clone_into::SelfJoin); we do the rest.
    let self_joins = crate::cgroups::clone_into::open_self_joins(req.cgroup, None);
    let joined_by_itself: Vec<std::path::PathBuf> = self_joins.iter().map(|j| j.dir.clone()).collect();
    let initial_affinity = super::attrs::InitialAffinity::enter(&req.process.attrs)?;
    let (helper, entered) = match super::spawn::clone_into(0, cgroup2.as_ref())? {
        (oxsys::Forked::Child, _) => {
            drop(cgroup2);
            helper(&namespaces, process_end, &req, self_joins)
        }
        (oxsys::Forked::Parent(pid), entered) => (pid, entered),
    };
    drop(self_joins);
    drop(initial_affinity);
    drop(process_end);
    let reply = runtime.wait_pid::<Error>();
    let _ = waitpid(Pid::from_raw(helper), None);
    let pid = reply?;
    if let Err(e) = crate::cgroups::join(req.cgroup, pid, entered, &joined_by_itself, None) {
        let _ = oxsys::kill(pid, libc::SIGKILL);
        return Err(e.into());
    }
    if let (Some(_), Some(prog)) = (&req.seccomp_listener, &req.process.seccomp) {
        runtime.send_seccomp_state(crate::seccomp::exec_listener_state(prog, req.id, pid, req.init_pid, req.bundle))?;
    }
    runtime.send_continue()?;
    wait_exec(&mut runtime, pid)
}

/// The process closes the channel by exec'ing (it is close-on-exec); a message means failure.
fn wait_exec(runtime: &mut RuntimeEnd, pid: i32) -> Result<i32, Error> {
    runtime.wait_exec::<Error>().map(|()| pid).inspect_err(|e| {
        // It reported its failure and exits: reap it.
        if matches!(e, Error::Init(_)) {
            let _ = waitpid(Pid::from_raw(pid), None);
        }
    })
}

fn helper(namespaces: &[(NsKind, OwnedFd)], ch: ExecEnd, req: &ExecRequest<'_>, self_joins: Vec<SelfJoin>) -> ! {
    let fail = |e: InitError| -> ! {
        let _ = ch.send_failed(e);
        oxsys::exit_now(1)
    };
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        fail(InitError::sys("set non-dumpable", e));
    }
    for (kind, fd) in namespaces {
        if let Err(e) = setns(fd.as_fd(), CloneFlags::from_bits_retain(kind.clone_flag() as i32)) {
            fail(InitError::sys(format!("join {} namespace", kind.proc_name()), e));
        }
        if *kind == NsKind::User {
            if let Err(e) = nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
                .and_then(|_| nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)))
            {
                fail(InitError::sys("become root in the container's user namespace", e));
            }
        }
    }
    match oxsys::clone3(0, None) {
        Ok(oxsys::Forked::Child) => process(ch, req, self_joins),
        Ok(oxsys::Forked::Parent(pid)) => {
            let _ = ch.send_pid(pid);
            oxsys::exit_now(0)
        }
        Err(e) => fail(InitError::sys("clone3", e)),
    }
}

fn process(mut ch: ExecEnd, req: &ExecRequest<'_>, self_joins: Vec<SelfJoin>) -> ! {
    let result = (|| -> Result<Exec, InitError> {
        crate::cgroups::clone_into::join_self(self_joins)
            .map_err(|(dir, e)| InitError::sys(format!("join cgroup {}", dir.display()), e))?;
        let listener_state = ch.wait_continue()?;
        nix::unistd::setsid().map_err(|e| InitError::sys("setsid", e))?;
        super::attrs::apply_final_affinity(&req.process.attrs)?;
        super::attrs::apply(&req.process.attrs)?;
        if let Some(console) = &req.console {
            super::console::setup(console.as_fd(), req.process.console_size, false)?;
        }
        // Resolved inside the container (our root is its root since joining its mount namespace)
        // and before the ids change.
        let exec = init::resolve_exec(req.process, &[])?;
        crate::lsm::apply(&req.process.labels).map_err(|e| crate::rootfs::procfs_error("apply LSM labels", e))?;
        init::mark_fds_cloexec(req.preserve_fds)?;
        init::keep_preserved_fds(req.preserve_fds);
        let notify_fd = init::apply_process(req.process)?;
        if let (Some(fd), Some(socket), Some(state)) = (&notify_fd, &req.seccomp_listener, &listener_state) {
            init::send_seccomp_listener(socket, fd, state)?;
        }
        drop(notify_fd);
        Ok(exec)
    })();
    let err = match result {
        Ok(exec) => match init::exec_now(&exec) {
            Ok(never) => match never {},
            Err(e) => InitError::msg("exec", e.to_string()),
        },
        Err(e) => e,
    };
    let _ = ch.send_failed(err);
    oxsys::exit_now(1)
}
