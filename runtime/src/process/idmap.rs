//! User-namespace id maps written by the runtime: init's uid_map and gid_map (directly, or through
//! the setuid helpers newuidmap/newgidmap), and the user namespaces that idmapped bind mounts
//! take their maps from.
use crate::error::Error;
use crate::plan::{namespaces::id_map_text, Plan};
use crate::spec::IdMapping;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::path::Path;

/// Writes uid_map and gid_map of init's new user namespace. Root writes them directly (any
/// ranges inside its own namespace). An unprivileged user may map only itself, after denying
/// setgroups; anything else goes through the setuid helpers newuidmap/newgidmap (package uidmap,
/// ranges from /etc/subuid and /etc/subgid).
pub fn write_id_maps(pid: i32, plan: &Plan) -> Result<(), Error> {
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
            return Err(Error::Helper { program: helper.into(), reason: format!("pid {pid}: {}: {msg}", out.status) });
        }
    }
    Ok(())
}

/// Idmapped bind mounts need a user namespace holding the mount's maps; the runtime makes it
/// (writing maps needs its privileges) and init uses it to idmap the bind mount it clones.
/// Returns one entry per mount of the plan.
pub fn prepare_idmapped_mounts(plan: &Plan) -> Result<Vec<Option<OwnedFd>>, Error> {
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
fn idmap_userns(uids: &[IdMapping], gids: &[IdMapping]) -> std::io::Result<OwnedFd> {
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
