//! CVE-2019-5736: the container must never be able to write the runtime's binary through
//! /proc/<pid>/exe of a process running it. The runtime re-executes itself once from a read-only
//! view of its binary, and init is forked from that process, so its /proc/self/exe points at a
//! file that cannot be opened for writing. The views, cheapest first:
//! - a read-only bind mount of the binary under /run/oxrun-exe, made once per boot (and per
//!   installed binary) by root and reused: no copy, and no mount to tear down on every start
//!   (unmounting waits for an RCU grace period, which measured at 1–18 ms per run);
//! - a detached read-only overlayfs of the binary's directory (runc 1.2's trick);
//! - a sealed memfd copy (what works without privileges).
//!
//! This is the runtime's policy (where views live, how they are named and shared, which to try
//! first); the one syscall family nix lacks (fsopen/fsconfig/fsmount) is `oxsys::fsmount`.
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use oxsys::SysError;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const GUARD_ENV: &str = "_OXRUN_EXE_GUARDED";

/// Where the persistent read-only views live (root only; one file per installed binary).
pub const RO_VIEW_DIR: &str = "/run/oxrun-exe";

/// Whether the running binary is already read-only to everyone (a read-only mount or a sealed
/// memfd).
pub fn exe_is_protected() -> bool {
    let Ok(fd) = oxsys::open(c"/proc/self/exe", libc::O_RDONLY, 0) else { return false };
    is_read_only_to_everyone(fd.as_fd())
}

/// Whether nobody can write the file behind `fd`: it sits on a read-only mount, or it is a memfd
/// sealed against writes.
fn is_read_only_to_everyone(fd: BorrowedFd<'_>) -> bool {
    if nix::sys::statvfs::fstatvfs(fd).is_ok_and(|vfs| vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY)) {
        return true;
    }
    matches!(fcntl(fd.as_raw_fd(), FcntlArg::F_GET_SEALS), Ok(seals) if seals & libc::F_SEAL_WRITE != 0)
}

/// Re-executes the current program from a read-only view of its binary unless it already runs
/// from one. Returns only if no protection could be set up (the caller decides what to do).
/// The error names the step that failed last (the sealed copy, once the views failed) and the
/// binary.
pub fn ensure_protected_exe() -> Result<(), SysError> {
    if std::env::var_os(GUARD_ENV).is_some() || exe_is_protected() {
        return Ok(());
    }
    let exe = std::fs::read_link("/proc/self/exe").map_err(SysError::on("read link", Path::new("/proc/self/exe")))?;
    let fd = match persistent_ro_view(&exe).or_else(|_| overlay_view(&exe)) {
        Ok(fd) => fd,
        Err(_) => sealed_copy(&exe).map_err(SysError::on("copy into a sealed memfd", &exe))?,
    };
    let args: Vec<CString> = std::env::args_os().map(|a| CString::new(a.as_bytes()).unwrap_or_default()).collect();
    let mut env: Vec<CString> = std::env::vars_os().map(|(k, v)| env_entry(&k, &v)).collect();
    env.push(CString::new(format!("{GUARD_ENV}=1")).expect("no nul"));
    // On success execveat does not return.
    let Err(e) = nix::unistd::execveat(Some(fd.as_raw_fd()), c"", &args, &env, nix::fcntl::AtFlags::AT_EMPTY_PATH);
    Err(SysError::at("re-execute from the read-only view of", exe, e))
}

/// One `KEY=value` entry of an environment for exec (empty if either part holds a NUL byte).
fn env_entry(key: &OsStr, value: &OsStr) -> CString {
    let mut kv = key.as_bytes().to_vec();
    kv.push(b'=');
    kv.extend_from_slice(value.as_bytes());
    CString::new(kv).unwrap_or_default()
}

fn cstr(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The persistent view of the binary with device `dev` and inode `ino`.
fn view_path(dev: u64, ino: u64) -> PathBuf {
    Path::new(RO_VIEW_DIR).join(format!("{dev}-{ino}"))
}

/// An O_PATH fd of a read-only bind mount of the binary at /run/oxrun-exe/<dev>-<ino>, made if
/// missing. Keyed by device and inode, so a reinstalled binary gets a fresh view.
fn persistent_ro_view(exe: &Path) -> io::Result<OwnedFd> {
    use nix::mount::{mount, MsFlags};
    if !nix::unistd::geteuid().is_root() {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    let meta = std::fs::metadata(exe)?;
    let view = view_path(meta.dev(), meta.ino());
    let usable = |p: &Path| -> io::Result<OwnedFd> {
        let fd = oxsys::open(&cstr(p.as_os_str().as_bytes())?, libc::O_PATH, 0)?;
        let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
        let vfs = nix::sys::statvfs::fstatvfs(&fd)?;
        let same = st.st_dev == meta.dev() && st.st_ino == meta.ino();
        if same && vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
            Ok(fd)
        } else {
            Err(io::Error::from_raw_os_error(libc::ESTALE))
        }
    };
    if let Ok(fd) = usable(&view) {
        return Ok(fd);
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(RO_VIEW_DIR)?;
    // One maker at a time: two concurrent bind mounts would stack, and a mount stacked on the
    // first one sits on the binary's own dentry, which then can no longer be replaced (EBUSY).
    let dir = std::fs::File::open(RO_VIEW_DIR)?;
    let _lock =
        nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
    if let Ok(fd) = usable(&view) {
        return Ok(fd);
    }
    remove_stale_views(&view);
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o500).open(&view) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    mount(Some(exe), &view, None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
    mount(
        None::<&str>,
        &view,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )?;
    usable(&view)
}

/// Unmounts and removes views of binaries that no longer exist (replaced by a rebuild or an
/// upgrade: the view holds the only link to the old inode). Runs only when a new view is made.
fn remove_stale_views(keep: &Path) {
    let Ok(entries) = std::fs::read_dir(RO_VIEW_DIR) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == keep {
            continue;
        }
        let gone = std::fs::metadata(&path).is_ok_and(|m| m.nlink() == 0);
        if gone && nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH).is_ok() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// overlayfs's `lowerdir`: the binary's directory over the empty layer at `empty_layer`.
fn overlay_lowerdir(dir: &Path, empty_layer: &str) -> io::Result<CString> {
    let mut lower = dir.as_os_str().as_bytes().to_vec();
    lower.push(b':');
    lower.extend_from_slice(empty_layer.as_bytes());
    cstr(&lower)
}

/// An O_PATH fd of the binary inside a detached, read-only overlayfs of its directory.
fn overlay_view(exe: &Path) -> io::Result<OwnedFd> {
    const MOUNT_ATTR_RDONLY: libc::c_uint = 1;
    let dir = exe.parent().ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let name = exe.file_name().ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    // overlayfs without an upper layer needs two distinct lower layers: the binary's directory
    // over an empty, detached tmpfs.
    let empty = oxsys::fsmount::detached_mount(c"tmpfs", &[], 0)?;
    let lower = overlay_lowerdir(dir, &oxsys::fd_path(empty.as_fd()))?;
    let mnt = oxsys::fsmount::detached_mount(c"overlay", &[(c"lowerdir", &lower)], MOUNT_ATTR_RDONLY)?;
    let name = cstr(name.as_bytes())?;
    oxsys::openat2(mnt.as_fd(), &name, libc::O_PATH, 0, oxsys::resolve::NO_SYMLINKS | oxsys::resolve::NO_XDEV)
}

/// A memfd holding a copy of the binary, sealed against every change.
fn sealed_copy(exe: &Path) -> io::Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let fd = memfd_create(c"oxrun", MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING)?;
    let mut src = std::fs::File::open(exe)?;
    let mut dst = std::fs::File::from(fd);
    std::io::copy(&mut src, &mut dst)?;
    let seals = SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE;
    fcntl(dst.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    Ok(OwnedFd::from(dst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn a_view_is_named_by_device_and_inode_under_the_view_dir() {
        assert_eq!(view_path(2049, 1_234_567), Path::new("/run/oxrun-exe/2049-1234567"));
    }

    #[test]
    fn the_overlay_puts_the_binary_directory_over_the_empty_layer() {
        let lower = overlay_lowerdir(Path::new("/usr/local/bin"), "/proc/self/fd/7").unwrap();
        assert_eq!(lower.as_bytes(), b"/usr/local/bin:/proc/self/fd/7");
        let nul = OsStr::from_bytes(b"/a\0b");
        assert_eq!(overlay_lowerdir(Path::new(nul), "/x").unwrap_err().raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn an_env_entry_is_key_equals_value_and_empty_with_a_nul() {
        assert_eq!(env_entry(OsStr::new("A"), OsStr::new("b=c")).as_bytes(), b"A=b=c");
        assert_eq!(env_entry(OsStr::new("A"), OsStr::from_bytes(b"x\0y")).as_bytes(), b"");
    }

    #[test]
    fn a_sealed_copy_holds_the_file_and_refuses_writes() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"\x7fELF not really").unwrap();
        assert!(!is_read_only_to_everyone(file.as_file().as_fd()));
        let copy = sealed_copy(file.path()).unwrap();
        assert!(is_read_only_to_everyone(copy.as_fd()));
        let mut copy = std::fs::File::from(copy);
        copy.rewind().unwrap();
        let mut text = Vec::new();
        copy.read_to_end(&mut text).unwrap();
        assert_eq!(text, b"\x7fELF not really");
        assert_eq!(copy.write(b"x").unwrap_err().raw_os_error(), Some(libc::EPERM));
    }
}
