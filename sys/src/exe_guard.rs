//! CVE-2019-5736: the container must never be able to write the runtime's binary through
//! /proc/<pid>/exe of a process running it. The runtime re-executes itself once from a read-only
//! view of its binary, and init is forked from that process, so its /proc/self/exe points at a
//! file that cannot be opened for writing. The views, cheapest first:
//! - a read-only bind mount of the binary under /run/oxrun-exe, made once per boot (and per
//!   installed binary) by root and reused: no copy, and no mount to tear down on every start
//!   (unmounting waits for an RCU grace period, which measured at 1–18 ms per run);
//! - a detached read-only overlayfs of the binary's directory (runc 1.2's trick);
//! - a sealed memfd copy (what works without privileges).
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

const GUARD_ENV: &str = "_OXRUN_EXE_GUARDED";

/// Whether the running binary is already read-only to everyone (a read-only mount or a sealed
/// memfd).
pub fn exe_is_protected() -> bool {
    let Ok(path) = CString::new("/proc/self/exe") else { return false };
    let Ok(fd) = crate::open(&path, libc::O_RDONLY, 0) else { return false };
    // SAFETY: fstatvfs fills the struct we pass; fd is valid for the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) } == 0 && st.f_flag & libc::ST_RDONLY != 0 {
        return true;
    }
    // SAFETY: F_GET_SEALS takes no argument and returns the seal bits or -1.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals != -1 && seals & libc::F_SEAL_WRITE != 0
}

/// Re-executes the current program from a read-only view of its binary unless it already runs
/// from one. Returns only if no protection could be set up (the caller decides what to do).
pub fn ensure_protected_exe() -> io::Result<()> {
    if std::env::var_os(GUARD_ENV).is_some() || exe_is_protected() {
        return Ok(());
    }
    let exe = std::fs::read_link("/proc/self/exe")?;
    let fd = match persistent_ro_view(&exe).or_else(|_| overlay_view(&exe)) {
        Ok(fd) => fd,
        Err(_) => sealed_copy(&exe)?,
    };
    let args: Vec<CString> = std::env::args_os().map(|a| CString::new(a.as_bytes()).unwrap_or_default()).collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    env.push(CString::new(format!("{GUARD_ENV}=1")).expect("no nul"));
    let argv: Vec<*const libc::c_char> =
        args.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let envp: Vec<*const libc::c_char> =
        env.iter().map(|e| e.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let empty = c"";
    // SAFETY: argv and envp are NUL-terminated arrays of pointers to NUL-terminated strings that
    // live until the call; on success execveat does not return.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(io::Error::last_os_error())
}

fn cstr(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Where the persistent read-only views live (root only; one file per installed binary).
pub const RO_VIEW_DIR: &str = "/run/oxrun-exe";

/// An O_PATH fd of a read-only bind mount of the binary at /run/oxrun-exe/<dev>-<ino>, made if
/// missing. Keyed by device and inode, so a reinstalled binary gets a fresh view.
fn persistent_ro_view(exe: &std::path::Path) -> io::Result<OwnedFd> {
    use nix::mount::{mount, MsFlags};
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    let meta = std::fs::metadata(exe)?;
    let view = std::path::Path::new(RO_VIEW_DIR).join(format!("{}-{}", meta.dev(), meta.ino()));
    let usable = |p: &std::path::Path| -> io::Result<OwnedFd> {
        let fd = crate::open(&cstr(p.as_os_str().as_bytes())?, libc::O_PATH, 0)?;
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
fn remove_stale_views(keep: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(RO_VIEW_DIR) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == keep {
            continue;
        }
        let gone = std::fs::metadata(&path).is_ok_and(|m| std::os::unix::fs::MetadataExt::nlink(&m) == 0);
        if gone && nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH).is_ok() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// An O_PATH fd of the binary inside a detached, read-only overlayfs of its directory.
fn overlay_view(exe: &std::path::Path) -> io::Result<OwnedFd> {
    const MOUNT_ATTR_RDONLY: libc::c_uint = 1;
    let dir = exe.parent().ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let name = exe.file_name().ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    // overlayfs without an upper layer needs two distinct lower layers: the binary's directory
    // over an empty, detached tmpfs.
    let empty = detached_mount(c"tmpfs", &[], 0)?;
    let mut lower = dir.as_os_str().as_bytes().to_vec();
    lower.extend_from_slice(format!(":/proc/self/fd/{}", empty.as_raw_fd()).as_bytes());
    let lower = cstr(&lower)?;
    let mnt = detached_mount(c"overlay", &[(c"lowerdir", &lower)], MOUNT_ATTR_RDONLY)?;
    let name = cstr(name.as_bytes())?;
    crate::openat2(
        std::os::fd::AsFd::as_fd(&mnt),
        &name,
        libc::O_PATH,
        0,
        crate::resolve::NO_SYMLINKS | crate::resolve::NO_XDEV,
    )
}

/// A new detached mount of `fstype` with string `options` and MOUNT_ATTR_* `attrs`
/// (fsopen, fsconfig, fsmount).
fn detached_mount(fstype: &CStr, options: &[(&CStr, &CStr)], attrs: libc::c_uint) -> io::Result<OwnedFd> {
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    // SAFETY: fsopen takes a NUL-terminated fs name and flags; returns a new fd or -1.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just created this fd for us.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    for (key, value) in options {
        // SAFETY: key and value are NUL-terminated strings valid for the call.
        if unsafe {
            libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), FSCONFIG_SET_STRING, key.as_ptr(), value.as_ptr(), 0)
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: CMD_CREATE takes no key or value.
    if unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fsmount takes the fs context fd and flag words; returns a new mount fd or -1.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), libc::FSMOUNT_CLOEXEC, attrs) };
    if mnt < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as i32) })
}

/// A memfd holding a copy of the binary, sealed against every change.
fn sealed_copy(exe: &std::path::Path) -> io::Result<OwnedFd> {
    let name: &CStr = c"oxrun";
    // SAFETY: memfd_create takes a NUL-terminated name and flags; returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut src = std::fs::File::open(exe)?;
    let mut dst = std::fs::File::from(fd);
    std::io::copy(&mut src, &mut dst)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS takes an int of seal bits.
    if unsafe { libc::fcntl(dst.as_raw_fd(), libc::F_ADD_SEALS, seals) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(OwnedFd::from(dst))
}
