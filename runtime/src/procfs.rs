//! Writes to procfs files that cannot be redirected (CVE-2025-52881, youki CVE-2025-62596).
//!
//! A path such as /proc/sys/kernel/domainname can be overmounted by a container that shares
//! mounts with us: a tmpfs, or a bind mount of another procfs file (/proc/sysrq-trigger,
//! /proc/sys/kernel/core_pattern). A plain open by path then writes wherever the mount points, and
//! a check of the filesystem type alone still passes for a bind of another procfs file. So every
//! write starts from an fd of a procfs *root* (PROC_SUPER_MAGIC and the root inode) and opens the
//! file beneath it with openat2(RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS):
//! any mount crossed on the way, or any symlink, fails the open instead of being followed. The
//! opened fd is checked with fstatfs again before one write(2) (id maps must arrive in one write).
use oxsys::SysError;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// st_ino of the root directory of every procfs mount (PROC_ROOT_INO in the kernel).
const PROC_ROOT_INO: u64 = 1;

/// How files beneath the procfs root are opened: no mount crossing (an overmount), no symlink,
/// no magic link.
const RESOLVE: u64 = oxsys::resolve::NO_XDEV | oxsys::resolve::NO_SYMLINKS | oxsys::resolve::NO_MAGICLINKS;

#[derive(Debug, thiserror::Error)]
pub enum ProcfsError {
    #[error("open {path}: {}", open_reason(.source))]
    Open { path: String, source: io::Error },
    #[error("{path} is not on procfs (filesystem magic {magic:#x}): refusing to write through it")]
    NotProcfs { path: String, magic: i64 },
    #[error("{path} is not the root of a procfs mount (inode {ino})")]
    NotProcRoot { path: String, ino: u64 },
    #[error("{path}: procfs of another pid namespace (its self is {found:?}, our pid is {ours})")]
    ForeignPidNamespace { path: String, found: String, ours: i32 },
    #[error("invalid procfs path {0:?}: want a relative path of plain names")]
    BadPath(String),
    #[error(transparent)]
    Io {
        #[from]
        source: SysError,
    },
    #[error("write {path}: only {written} of {len} bytes were written")]
    ShortWrite { path: String, written: usize, len: usize },
}

fn open_reason(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EXDEV) => "a mount is in the way (an overmount?): refusing to write through it".into(),
        Some(libc::ELOOP) => "a symlink is in the way: refusing to follow it".into(),
        _ => e.to_string(),
    }
}

impl ProcfsError {
    /// The errno behind the failure, when a syscall failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            ProcfsError::Open { source, .. } => source.raw_os_error(),
            ProcfsError::Io { source } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl From<ProcfsError> for io::Error {
    fn from(e: ProcfsError) -> io::Error {
        let kind = e.errno().map_or(io::ErrorKind::PermissionDenied, |n| io::Error::from_raw_os_error(n).kind());
        io::Error::new(kind, e)
    }
}

type Result<T> = std::result::Result<T, ProcfsError>;

/// An fd of a procfs mount's root directory, checked to be one.
pub struct ProcRoot {
    fd: OwnedFd,
    path: PathBuf,
}

impl ProcRoot {
    /// Opens the procfs mounted at `path` (normally /proc); `path` itself must not be a symlink.
    pub fn open(path: &Path) -> Result<ProcRoot> {
        let shown = path.display().to_string();
        let c = CString::new(shown.as_str()).map_err(|_| ProcfsError::BadPath(shown.clone()))?;
        let fd = oxsys::open(&c, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
            .map_err(|source| ProcfsError::Open { path: shown.clone(), source })?;
        check_procfs(fd.as_fd(), &shown)?;
        let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(SysError::on("stat", Path::new(&shown)))?;
        if st.st_ino != PROC_ROOT_INO {
            return Err(ProcfsError::NotProcRoot { path: shown, ino: st.st_ino });
        }
        Ok(ProcRoot { fd, path: path.to_path_buf() })
    }

    /// Writes `value` to `<root>/<rel>` (e.g. "sys/net/ipv4/ip_forward") in one write(2).
    pub fn write(&self, rel: &str, value: &[u8]) -> Result<()> {
        check_rel(rel)?;
        let path = format!("{}/{rel}", self.path.display());
        let c = CString::new(rel).map_err(|_| ProcfsError::BadPath(rel.into()))?;
        let fd = oxsys::openat2(self.fd.as_fd(), &c, libc::O_WRONLY | libc::O_NOCTTY, 0, RESOLVE)
            .map_err(|source| ProcfsError::Open { path: path.clone(), source })?;
        check_procfs(fd.as_fd(), &path)?;
        let written = nix::unistd::write(fd.as_fd(), value).map_err(SysError::on("write", Path::new(&path)))?;
        if written != value.len() {
            return Err(ProcfsError::ShortWrite { path, written, len: value.len() });
        }
        Ok(())
    }

    /// Writes `file` of the calling process (/proc/self/<file>). "self" is a symlink, so it is
    /// read here and the numeric directory it names is opened without following any link: the
    /// pid is the one this procfs gives us, and ours cannot be reused while we run.
    pub fn write_self(&self, file: &str, value: &[u8]) -> Result<()> {
        let pid = self.self_pid()?;
        self.write_in_pid_dir(&pid, file, value)
    }

    /// Writes `file` of process `pid` (a pid in our own pid namespace, e.g. a child we have not
    /// reaped). The procfs must belong to that namespace, or `pid` would name another process.
    pub fn write_pid(&self, pid: i32, file: &str, value: &[u8]) -> Result<()> {
        let found = self.self_pid()?;
        let ours = nix::unistd::getpid().as_raw();
        if found != ours.to_string() {
            return Err(ProcfsError::ForeignPidNamespace { path: self.path.display().to_string(), found, ours });
        }
        self.write_in_pid_dir(&pid.to_string(), file, value)
    }

    /// Writes an LSM attribute of the calling process (/proc/self/attr/<attr>, e.g. "exec" or
    /// "apparmor/exec").
    pub fn write_self_attr(&self, attr: &str, value: &[u8]) -> Result<()> {
        let pid = self.self_pid()?;
        self.write(&format!("{pid}/attr/{attr}"), value)
    }

    fn write_in_pid_dir(&self, pid: &str, file: &str, value: &[u8]) -> Result<()> {
        if file.contains('/') {
            return Err(ProcfsError::BadPath(file.into()));
        }
        self.write(&format!("{pid}/{file}"), value)
    }

    /// What "self" names in this procfs: our pid as its pid namespace sees it.
    fn self_pid(&self) -> Result<String> {
        let path = format!("{}/self", self.path.display());
        let link = nix::fcntl::readlinkat(Some(self.fd.as_raw_fd()), "self")
            .map_err(SysError::on("readlink", Path::new(&path)))?;
        let pid = link.to_string_lossy().into_owned();
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ProcfsError::ForeignPidNamespace { path, found: pid, ours: nix::unistd::getpid().as_raw() });
        }
        Ok(pid)
    }
}

/// Fails unless `fd` lives on procfs.
fn check_procfs(fd: BorrowedFd<'_>, path: &str) -> Result<()> {
    let fs = nix::sys::statfs::fstatfs(fd).map_err(SysError::on("statfs", Path::new(path)))?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(ProcfsError::NotProcfs { path: path.into(), magic: fs.filesystem_type().0 as i64 });
    }
    Ok(())
}

/// A path beneath the root: relative, plain names only (RESOLVE_NO_XDEV already stops ".." at
/// the mount, but a path that needs ".." is a bug in the caller).
fn check_rel(rel: &str) -> Result<()> {
    if rel.is_empty() || rel.starts_with('/') || rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(ProcfsError::BadPath(rel.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_outside_procfs_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        match ProcRoot::open(dir.path()) {
            Err(ProcfsError::NotProcfs { path, .. }) => assert_eq!(path, dir.path().display().to_string()),
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("a tmp directory was accepted as procfs"),
        }
    }

    #[test]
    fn a_file_outside_procfs_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("oom_score_adj");
        std::fs::write(&file, "0").unwrap();
        let fd = std::fs::File::open(&file).unwrap();
        let err = check_procfs(fd.as_fd(), "f").unwrap_err();
        assert!(matches!(err, ProcfsError::NotProcfs { .. }), "{err}");
        assert!(err.to_string().contains("not on procfs"), "{err}");
    }

    #[test]
    fn a_procfs_subdirectory_is_not_a_root() {
        let err = ProcRoot::open(Path::new("/proc/sys")).err().expect("/proc/sys is not a procfs root");
        assert!(matches!(err, ProcfsError::NotProcRoot { .. }), "{err}");
    }

    #[test]
    fn a_symlinked_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("proc");
        std::os::unix::fs::symlink("/proc", &link).unwrap();
        let err = ProcRoot::open(&link).err().expect("a symlink to /proc must not be followed");
        assert!(matches!(err, ProcfsError::Open { .. }), "{err}");
    }

    #[test]
    fn symlinks_beneath_the_root_are_not_followed() {
        let proc = ProcRoot::open(Path::new("/proc")).unwrap();
        // /proc/self is a symlink: write() refuses it, write_self() resolves it itself.
        let err = proc.write("self/oom_score_adj", b"0").unwrap_err();
        assert_eq!(err.errno(), Some(libc::ELOOP), "{err}");
        assert!(err.to_string().contains("symlink"), "{err}");
    }

    #[test]
    fn paths_must_be_plain_relative_names() {
        for bad in ["", "/sys/kernel/x", "sys/../1/x", "sys//x", "./sys", "sys/."] {
            assert!(matches!(check_rel(bad), Err(ProcfsError::BadPath(_))), "{bad:?}");
        }
        check_rel("sys/net/ipv4/ip_forward").unwrap();
        let proc = ProcRoot::open(Path::new("/proc")).unwrap();
        assert!(matches!(proc.write_self("../1/oom_score_adj", b"0"), Err(ProcfsError::BadPath(_))));
    }

    #[test]
    fn own_and_child_files_are_written() {
        // Writing back the current value is allowed without privileges.
        let current = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap();
        let proc = ProcRoot::open(Path::new("/proc")).unwrap();
        proc.write_self("oom_score_adj", current.trim().as_bytes()).unwrap();
        proc.write_pid(nix::unistd::getpid().as_raw(), "oom_score_adj", current.trim().as_bytes()).unwrap();
        let err = proc.write("sys/kernel/no-such-sysctl", b"1").unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT), "{err}");
    }
}
