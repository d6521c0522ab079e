//! Forking the container's init: with clone3 (into its cgroup2 directory when the kernel takes
//! it), directly or through an intermediate process that first joins the namespaces that need a
//! fork to take effect. The forked child closes the runtime's fds before it does anything else.
use super::init::{self, InitContext};
use crate::cgroups::{self, clone_into::Cgroup2Dir};
use crate::error::Error;
use crate::ipc::{InitError, RuntimeEnd};
use crate::logging;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;

/// clone3 into `cgroup2` (CLONE_INTO_CGROUP) when given and the kernel takes it, else a plain
/// clone3. Also returns the directory the child was born in, if any.
pub fn clone_into(flags: u64, cgroup2: Option<&Cgroup2Dir>) -> Result<(oxsys::Forked, Option<&Path>), Error> {
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
/// `runtime` must expect an intermediate exactly when the plan needs one (see
/// [`crate::ipc::create_channel`]).
pub fn spawn_init<'a>(
    ctx: InitContext<'_>,
    runtime: &mut RuntimeEnd,
    lock: RawFd,
    cgroup2: Option<&'a Cgroup2Dir>,
) -> Result<(i32, Option<&'a Path>), Error> {
    let ns = &ctx.plan.namespaces;
    if !ns.needs_intermediate() {
        return match clone_into(ns.clone_flags() & !(libc::CLONE_NEWCGROUP as u64), cgroup2)? {
            (oxsys::Forked::Child, _) => {
                close_runtime_fds(runtime, lock, cgroup2);
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
            close_runtime_fds(runtime, lock, cgroup2);
            intermediate(ctx)
        }
        (oxsys::Forked::Parent(pid), entered) => {
            // Our copy of the child's channel end must go, or a dying child would leave us
            // waiting forever.
            drop(ctx);
            (pid, entered)
        }
    };
    let reply = runtime.wait_pid::<Error>();
    let _ = waitpid(Pid::from_raw(intermediate), None);
    Ok((reply?, entered))
}

/// In a forked child: closes its copies of the runtime's channel end (so the runtime's death reads
/// as end-of-file and the child exits instead of waiting forever), of the state directory's lock
/// (which would otherwise stay held after a killed create and block every later command) and of
/// the host cgroup directory it was cloned into (a host directory fd must never reach the
/// container, CVE-2024-21626).
fn close_runtime_fds(runtime: &RuntimeEnd, lock: RawFd, cgroup2: Option<&Cgroup2Dir>) {
    let _ = nix::unistd::close(runtime.as_fd().as_raw_fd());
    let _ = nix::unistd::close(lock);
    if let Some(cg) = cgroup2 {
        let _ = nix::unistd::close(cg.fd().as_raw_fd());
    }
}

/// The intermediate process: joins user/pid/time namespaces by path, unshares a time namespace
/// with offsets, forks init into them, reports init's pid, and exits.
fn intermediate(ctx: InitContext<'_>) -> ! {
    let plan = ctx.plan;
    let fail = |e: InitError| -> ! {
        let _ = ctx.channel.send_failed(e);
        oxsys::exit_now(1)
    };
    for (kind, path) in plan.namespaces.intermediate_joins() {
        let fd = match crate::rootfs::open_host(path, libc::O_RDONLY) {
            Ok(fd) => fd,
            Err(e) => fail(InitError::sys(format!("open namespace {}", path.display()), e)),
        };
        if let Err(e) =
            nix::sched::setns(fd.as_fd(), nix::sched::CloneFlags::from_bits_retain(kind.clone_flag() as i32))
        {
            fail(InitError::sys(format!("join {} namespace {}", kind.proc_name(), path.display()), e));
        }
    }
    if !plan.namespaces.time_offsets.is_empty() {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)) {
            fail(InitError::sys("create time namespace", e));
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
            let _ = ctx.channel.send_pid(pid);
            oxsys::exit_now(0)
        }
        Err(e) => fail(InitError::sys("clone3 init", e)),
    }
}
