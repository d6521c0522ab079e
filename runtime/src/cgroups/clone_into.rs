//! CLONE_INTO_CGROUP: a process cloned with a cgroup2 directory fd starts life in that cgroup, so
//! nothing it runs is ever accounted elsewhere and the runtime saves the cgroup.procs write for
//! that hierarchy. Only cgroup2 directories qualify: on a v2 host that is the container's only
//! directory, on a hybrid host the one in the unified hierarchy; v1 hierarchies are still joined
//! by writing cgroup.procs.
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::CgroupDirs;
use super::{fs::write_file, CgroupError};

/// The container's directory in a cgroup2 hierarchy, opened for clone3.
#[derive(Debug)]
pub struct Cgroup2Dir {
    pub path: PathBuf,
    fd: OwnedFd,
}

impl Cgroup2Dir {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The last of `dirs` that is on a cgroup2 filesystem (checked with fstatfs, not guessed from
/// the path), or None (v1 only, no cgroups, or it cannot be opened: then joining by writing
/// cgroup.procs still works). From the end: a hybrid host mounts its cgroup2 hierarchy after the
/// v1 ones (mountinfo order), so this opens one or two directories instead of all of them.
pub fn cgroup2_dir(dirs: &CgroupDirs) -> Option<Cgroup2Dir> {
    dirs.dirs.iter().rev().find_map(|path| {
        let fd: OwnedFd = std::fs::File::open(path).ok()?.into();
        let fs = nix::sys::statfs::fstatfs(fd.as_fd()).ok()?;
        (fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC).then(|| Cgroup2Dir { path: path.clone(), fd })
    })
}

/// Whether a clone3 with CLONE_INTO_CGROUP failed for a reason that a plain clone followed by a
/// cgroup.procs write may not share: an older kernel (ENOSYS, E2BIG), a cgroup the kernel will not
/// clone into (EBUSY for a domain with controllers in the wrong mode, EOPNOTSUPP, EINVAL), or a
/// migration the caller may not make that way (EACCES, EPERM). The write then reports the real
/// error if there is one.
pub fn worth_retrying_without(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::E2BIG | libc::EBUSY | libc::EOPNOTSUPP | libc::EINVAL | libc::EACCES | libc::EPERM)
    )
}

/// Moves `pid` into every directory of the container except `entered`, the one it was cloned
/// into, and those in `joined_by_itself` (see [`SelfJoin`]).
pub fn join_rest(
    dirs: &CgroupDirs,
    pid: i32,
    entered: Option<&Path>,
    joined_by_itself: &[PathBuf],
) -> Result<(), CgroupError> {
    for d in dirs.dirs.iter().filter(|d| Some(d.as_path()) != entered && !joined_by_itself.contains(d)) {
        write_file(&d.join("cgroup.procs"), &pid.to_string())?;
    }
    Ok(())
}

/// The `tasks` file of one of the container's v1 directories, opened by the runtime for the new
/// process to move itself in by writing "0".
///
/// Why: every write of a pid to `cgroup.procs` takes the kernel's global threadgroup rwsem for
/// writing, and taking it after a quiet moment waits for an RCU grace period (measured here:
/// 1.5-24 ms, median 16 ms, for the first v1 hierarchy of a start; the next ones are cheap). A
/// single thread moving itself through `tasks` ("0": the caller, not a thread group) skips that
/// lock (kernel/cgroup/cgroup.c, `cgroup_procs_write_start`): ~0.03 ms per hierarchy. Our
/// processes are single-threaded when they do it, so the thread is the whole process. The
/// kernel checks the write against the credentials of whoever opened the file (the runtime), so
/// it works from inside a new user namespace too. The fd is a host cgroupfs file: the process
/// closes it right after the write, long before anything of the container runs.
#[derive(Debug)]
pub struct SelfJoin {
    pub dir: PathBuf,
    tasks: OwnedFd,
}

/// The `tasks` files of the container's v1 directories (cgroup2 has none), except `entered`.
/// A directory whose `tasks` cannot be opened is left to [`join_rest`].
pub fn open_self_joins(dirs: &CgroupDirs, entered: Option<&Path>) -> Vec<SelfJoin> {
    dirs.dirs
        .iter()
        .filter(|d| Some(d.as_path()) != entered)
        .filter_map(|d| {
            let file = std::fs::OpenOptions::new().write(true).open(d.join("tasks")).ok()?;
            Some(SelfJoin { dir: d.clone(), tasks: file.into() })
        })
        .collect()
}

/// In the new (single-threaded) process: moves itself into each directory, closing the fds.
/// On failure, the directory and the error.
pub fn join_self(joins: Vec<SelfJoin>) -> Result<(), (PathBuf, nix::Error)> {
    for j in &joins {
        nix::unistd::write(j.tasks.as_fd(), b"0").map_err(|e| (j.dir.clone(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_cgroup2_directory_qualifies() {
        // A temp dir is on tmpfs or ext4, never cgroup2, whatever its name says.
        let t = tempfile::tempdir().unwrap();
        let fake = t.path().join("unified/c1");
        std::fs::create_dir_all(&fake).unwrap();
        let dirs = CgroupDirs { dirs: vec![fake, t.path().join("missing")], ..CgroupDirs::default() };
        assert!(cgroup2_dir(&dirs).is_none());
        assert!(cgroup2_dir(&CgroupDirs::default()).is_none());
    }

    #[test]
    fn join_rest_skips_the_entered_directory() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("cgroup.procs"), "").unwrap();
        }
        let dirs = CgroupDirs { dirs: vec![a.clone(), b.clone()], ..CgroupDirs::default() };
        join_rest(&dirs, 42, Some(&b), &[]).unwrap();
        assert_eq!(std::fs::read_to_string(a.join("cgroup.procs")).unwrap(), "42");
        assert_eq!(std::fs::read_to_string(b.join("cgroup.procs")).unwrap(), "");
    }
}
