//! Applies the mount plan inside the container's mount namespace.
//!
//! Every destination is resolved inside the rootfs with openat2(RESOLVE_IN_ROOT), so a symlink in
//! the rootfs cannot lead a mount outside it, and the mount is made on `/proc/self/fd/N` of the
//! resolved O_PATH fd, so a path component swapped after the check changes nothing.
use crate::cgroups::Layout;
use crate::ipc::InitError;
use crate::plan::{DeviceNode, MountOp, MountSource, NsKind, Plan};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::mkdirat;
use nix::sys::stat::{fstat, mknodat, Mode, SFlag};
use nix::unistd::{chdir, chroot, fchdir, fchownat, pivot_root, symlinkat, Gid, Uid};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

type Result<T> = std::result::Result<T, InitError>;

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| CString::new("invalid-path-with-nul").expect("no nul"))
}

/// Opens a directory (or any path) of the host, O_PATH.
pub fn open_host(path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    oxsys::open(&cstr(&path.to_string_lossy()), flags, 0)
}

/// What to create at a destination that does not exist.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Nothing,
    Dir,
    File,
}

/// Resolves `path` (absolute, container view) inside the rootfs fd and returns an O_PATH fd,
/// creating missing directories (and the last component as `create` says) inside the root.
pub fn resolve_in_root(root: BorrowedFd<'_>, path: &str, create: Create, extra: u64) -> std::io::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let how = oxsys::resolve::IN_ROOT | oxsys::resolve::NO_MAGICLINKS | extra;
    let target = if rel.is_empty() { "." } else { rel };
    match oxsys::openat2(root, &cstr(target), libc::O_PATH, 0, how) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create != Create::Nothing => {}
        other => return other,
    }
    let real = create_in_root(root, rel, create)?;
    oxsys::openat2(root, &cstr(if real.is_empty() { "." } else { &real }), libc::O_PATH, 0, how)
}

/// mkdir -p inside the root, following symlinks as if the root were `/` (a link to /tmp/x means
/// <root>/tmp/x), the way runc's SecureJoin plus MkdirAll does. Returns the symlink-free path.
fn create_in_root(root: BorrowedFd<'_>, rel: &str, create: Create) -> std::io::Result<String> {
    use std::collections::VecDeque;
    let mut queue: VecDeque<String> =
        rel.split('/').filter(|c| !c.is_empty() && *c != ".").map(str::to_string).collect();
    let mut real: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(comp) = queue.pop_front() {
        if comp == ".." {
            real.pop();
            continue;
        }
        let parent_path = if real.is_empty() { ".".to_string() } else { real.join("/") };
        let parent = oxsys::openat2(
            root,
            &cstr(&parent_path),
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            oxsys::resolve::IN_ROOT | oxsys::resolve::NO_SYMLINKS,
        )?;
        match nix::sys::stat::fstatat(Some(parent.as_raw_fd()), comp.as_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
                links += 1;
                if links > 40 {
                    return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = nix::fcntl::readlinkat(Some(parent.as_raw_fd()), comp.as_str())?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    real.clear();
                }
                for c in target.split('/').rev().filter(|c| !c.is_empty() && *c != ".") {
                    queue.push_front(c.to_string());
                }
            }
            Ok(_) => real.push(comp),
            Err(nix::Error::ENOENT) => {
                if queue.is_empty() && create == Create::File {
                    let f = oxsys::openat2(
                        parent.as_fd(),
                        &cstr(&comp),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW,
                        0o644,
                        oxsys::resolve::NO_SYMLINKS,
                    )?;
                    drop(f);
                } else {
                    match mkdirat(Some(parent.as_raw_fd()), comp.as_str(), Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(nix::Error::EEXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                real.push(comp);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(real.join("/"))
}

fn is_dir(fd: BorrowedFd<'_>) -> bool {
    fstat(fd.as_raw_fd()).is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
}

/// Step 1 of the rootfs, as runc's prepareRoot: the propagation of `/`, the mount holding the
/// rootfs made private (or slave), and the rootfs bind-mounted onto itself so it is a mount point
/// pivot_root accepts. Without a mount namespace these would change the runtime's own mounts:
/// nothing is done, the rootfs is only opened (the container is chrooted into it later).
/// Returns an O_PATH fd of the rootfs.
pub fn prepare(plan: &Plan) -> Result<OwnedFd> {
    let rootfs = plan.rootfs.to_string_lossy().into_owned();
    if plan.namespaces.has(NsKind::Mount) {
        let prop = &plan.root_propagation;
        mount(None::<&str>, "/", None::<&str>, prop.namespace, None::<&str>)
            .map_err(|e| InitError::sys("set propagation of /", e))?;
        set_parent_mount_propagation(&plan.rootfs, prop.parent)?;
        mount(Some(rootfs.as_str()), rootfs.as_str(), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .map_err(|e| InitError::sys(format!("bind rootfs {rootfs}"), e))?;
    }
    open_host(&plan.rootfs, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| InitError::sys(format!("open rootfs {rootfs}"), e))
}

/// Gives `flag` to the mount that holds `rootfs`: the rootfs itself when it is a mount point,
/// else the nearest ancestor that is (the kernel answers EINVAL for a directory that is not).
fn set_parent_mount_propagation(rootfs: &Path, flag: MsFlags) -> Result<()> {
    for dir in rootfs.ancestors() {
        match mount(None::<&str>, dir, None::<&str>, flag, None::<&str>) {
            Ok(()) => return Ok(()),
            Err(nix::Error::EINVAL) if dir != Path::new("/") => continue,
            Err(e) => {
                return Err(InitError::sys(
                    format!("set propagation of the mount holding the rootfs ({})", dir.display()),
                    e,
                ))
            }
        }
    }
    Err(InitError::msg(
        "set propagation of the mount holding the rootfs",
        format!("{} is not an absolute path", rootfs.display()),
    ))
}

/// Applies every mount of the plan, in order. `prepared` holds, per mount, the user namespace of
/// an idmapped bind mount (made by the runtime), or None.
pub fn mount_all(plan: &Plan, root: BorrowedFd<'_>, cgroup: &CgroupMount, prepared: &[Option<OwnedFd>]) -> Result<()> {
    for (i, op) in plan.mounts.iter().enumerate() {
        let userns = prepared.get(i).and_then(|t| t.as_ref()).map(|t| t.as_fd());
        apply_mount(root, op, cgroup, userns).map_err(|e| InitError { step: format!("mount {}", op.dest), ..e })?;
    }
    Ok(())
}

/// What the cgroup mount needs: the host layout, the container's cgroup path, and whether the
/// container has its own cgroup namespace.
#[derive(Debug, Clone, Default)]
pub struct CgroupMount {
    pub layout: Layout,
    pub path: String,
    pub own_ns: bool,
}

fn apply_mount(
    root: BorrowedFd<'_>,
    op: &MountOp,
    cgroup: &CgroupMount,
    idmap_userns: Option<BorrowedFd<'_>>,
) -> Result<()> {
    let step = || format!("mount {}", op.dest);
    let target_kind = match &op.source {
        MountSource::Bind { source, .. } => {
            let st = nix::sys::stat::stat(source.as_path())
                .map_err(|e| InitError::sys(format!("stat bind source {}", source.display()), e))?;
            if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
                Create::Dir
            } else {
                Create::File
            }
        }
        _ => Create::Dir,
    };
    // procfs and sysfs must never land on a symlink (CVE-2019-19921 class).
    let no_symlinks = matches!(&op.source, MountSource::Fs { fstype, .. } if fstype == "proc" || fstype == "sysfs");
    let extra = if no_symlinks { oxsys::resolve::NO_SYMLINKS } else { 0 };
    let target = resolve_in_root(root, &op.dest, target_kind, extra).map_err(|e| InitError::sys(step(), e))?;
    if no_symlinks && !is_dir(target.as_fd()) {
        return Err(InitError::msg(step(), "refusing to mount proc or sysfs on a non-directory"));
    }
    let tpath = oxsys::fd_path(target.as_fd());
    let data = (!op.data.is_empty()).then_some(op.data.as_str());
    match &op.source {
        MountSource::Bind { source, recursive } if idmap_userns.is_some() => {
            // A detached copy of the source, idmapped, then attached: the new mount API, because
            // mount(2) cannot idmap.
            let userns = idmap_userns.expect("checked");
            let tree = oxsys::open_tree_clone(&cstr(&source.to_string_lossy()), *recursive)
                .map_err(|e| InitError::sys(format!("clone {}", source.display()), e))?;
            oxsys::mount_set_idmap(tree.as_fd(), userns, op.idmap_recursive)
                .map_err(|e| InitError::sys(format!("idmap {}", source.display()), e))?;
            oxsys::move_mount_to(tree.as_fd(), target.as_fd())
                .map_err(|e| InitError::sys(format!("attach idmapped mount at {}", op.dest), e))?;
            if op.bind_needs_remount() {
                let mounted =
                    resolve_in_root(root, &op.dest, Create::Nothing, 0).map_err(|e| InitError::sys(step(), e))?;
                remount(mounted.as_fd(), op.flags).map_err(|e| InitError::sys(format!("remount {}", op.dest), e))?;
            }
        }
        MountSource::Bind { source, recursive } => {
            let mut flags = MsFlags::MS_BIND;
            if *recursive {
                flags |= MsFlags::MS_REC;
            }
            mount(Some(source.as_path()), tpath.as_str(), None::<&str>, flags, None::<&str>)
                .map_err(|e| InitError::sys(step(), e))?;
            if op.bind_needs_remount() {
                let mounted =
                    resolve_in_root(root, &op.dest, Create::Nothing, 0).map_err(|e| InitError::sys(step(), e))?;
                remount(mounted.as_fd(), op.flags).map_err(|e| InitError::sys(format!("remount {}", op.dest), e))?;
            }
        }
        MountSource::Fs { fstype, source } => {
            let flags = op.flags & !MsFlags::MS_REMOUNT;
            mount(Some(source.as_str()), tpath.as_str(), Some(fstype.as_str()), flags, data)
                .map_err(|e| InitError::sys(step(), e))?;
        }
        MountSource::Cgroup => mount_cgroups(root, op, &tpath, cgroup)?,
    }
    if !op.recursive.is_empty() {
        let mounted = resolve_in_root(root, &op.dest, Create::Nothing, 0).map_err(|e| InitError::sys(step(), e))?;
        oxsys::mount_attr::mount_setattr_recursive(mounted.as_fd(), op.recursive.set, op.recursive.clear)
            .map_err(|e| InitError::sys(format!("set recursive mount attributes of {}", op.dest), e))?;
    }
    if !op.propagation.is_empty() {
        let mounted = resolve_in_root(root, &op.dest, Create::Nothing, 0).map_err(|e| InitError::sys(step(), e))?;
        let p = oxsys::fd_path(mounted.as_fd());
        for flag in &op.propagation {
            mount(None::<&str>, p.as_str(), None::<&str>, *flag, None::<&str>)
                .map_err(|e| InitError::sys(format!("propagation of {}", op.dest), e))?;
        }
    }
    Ok(())
}

/// Remounts a bind mount with `flags`, keeping the flags the kernel locks (nosuid, nodev, …) set.
fn remount(target: BorrowedFd<'_>, flags: MsFlags) -> nix::Result<()> {
    let p = oxsys::fd_path(target);
    let locked = nix::sys::statvfs::statvfs(p.as_str())
        .map(|s| {
            let f = s.flags();
            let mut m = MsFlags::empty();
            use nix::sys::statvfs::FsFlags as V;
            for (v, ms) in [
                (V::ST_NOSUID, MsFlags::MS_NOSUID),
                (V::ST_NODEV, MsFlags::MS_NODEV),
                (V::ST_NOEXEC, MsFlags::MS_NOEXEC),
            ] {
                if f.contains(v) {
                    m |= ms;
                }
            }
            m
        })
        .unwrap_or(MsFlags::empty());
    mount(None::<&str>, p.as_str(), None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags | locked, None::<&str>)
}

/// /sys/fs/cgroup: a tmpfs holding one mount per hierarchy (v1 and hybrid), or cgroup2 directly.
fn mount_cgroups(root: BorrowedFd<'_>, op: &MountOp, tpath: &str, cg: &CgroupMount) -> Result<()> {
    let step = |what: &str| format!("mount {}{what}", op.dest);
    let flags = op.flags & !(MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT);
    if cg.layout.is_v2_only() {
        let h = &cg.layout.hierarchies[0];
        return mount_one_hierarchy(h, tpath, op.flags, cg).map_err(|e| InitError::sys(step(""), e));
    }
    mount(
        Some("tmpfs"),
        tpath,
        Some("tmpfs"),
        flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )
    .map_err(|e| InitError::sys(step(" (tmpfs)"), e))?;
    // On a hybrid host runc shows the container only the v1 hierarchies; so do we.
    for h in cg.layout.hierarchies.iter().filter(|h| !h.v2) {
        let sub = format!("{}/{}", op.dest.trim_end_matches('/'), h.dir_name());
        let fd = resolve_in_root(root, &sub, Create::Dir, 0).map_err(|e| InitError::sys(step(""), e))?;
        mount_one_hierarchy(h, &oxsys::fd_path(fd.as_fd()), flags, cg)
            .map_err(|e| InitError::sys(format!("mount {sub}"), e))?;
        // Each hierarchy gets the mount's ro/nosuid/nodev/noexec, as runc gives them (Docker asks
        // for all four); a bind of the host's cgroup directory carries none of them by itself.
        let sub_flags = op.flags & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
        if !sub_flags.is_empty() {
            let mounted = resolve_in_root(root, &sub, Create::Nothing, 0).map_err(|e| InitError::sys(step(""), e))?;
            remount(mounted.as_fd(), sub_flags).map_err(|e| InitError::sys(format!("remount {sub}"), e))?;
        }
    }
    if op.flags.contains(MsFlags::MS_RDONLY) {
        let mounted = resolve_in_root(root, &op.dest, Create::Nothing, 0).map_err(|e| InitError::sys(step(""), e))?;
        let p = oxsys::fd_path(mounted.as_fd());
        mount(
            None::<&str>,
            p.as_str(),
            None::<&str>,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | flags
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some("mode=755"),
        )
        .map_err(|e| InitError::sys(step(" (ro)"), e))?;
    }
    Ok(())
}

/// With its own cgroup namespace the container mounts the hierarchy (it sees its cgroup as the
/// root); otherwise its own cgroup directory of the host is bind-mounted.
fn mount_one_hierarchy(
    h: &crate::cgroups::Hierarchy,
    target: &str,
    flags: MsFlags,
    cg: &CgroupMount,
) -> nix::Result<()> {
    if cg.own_ns {
        let (fstype, data) = if h.v2 { ("cgroup2", String::new()) } else { ("cgroup", h.controllers.join(",")) };
        let data = (!data.is_empty()).then_some(data.as_str());
        mount(Some("cgroup"), target, Some(fstype), flags & !MsFlags::MS_RDONLY, data)
    } else {
        let dir = cg.layout.dir_for(h, &cg.path);
        mount(Some(dir.as_path()), target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
    }
}

/// Creates the device nodes (mknod), or bind-mounts the host's nodes inside a user namespace,
/// where mknod is not allowed.
pub fn create_devices(root: BorrowedFd<'_>, devices: &[DeviceNode], bind: bool) -> Result<()> {
    for d in devices {
        let step = || format!("create device {}", d.path);
        let (dir, name) = d.path.rsplit_once('/').unwrap_or(("/dev", &d.path));
        let parent = resolve_in_root(root, dir, Create::Dir, 0).map_err(|e| InitError::sys(step(), e))?;
        if bind {
            let target = resolve_in_root(root, &d.path, Create::File, 0).map_err(|e| InitError::sys(step(), e))?;
            let host = open_host(Path::new(&d.path), libc::O_PATH).map_err(|e| InitError::sys(step(), e))?;
            mount(
                Some(oxsys::fd_path(host.as_fd()).as_str()),
                oxsys::fd_path(target.as_fd()).as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| InitError::sys(step(), e))?;
            continue;
        }
        let kind = match d.kind {
            'b' => SFlag::S_IFBLK,
            'p' => SFlag::S_IFIFO,
            _ => SFlag::S_IFCHR,
        };
        let dev = nix::sys::stat::makedev(d.major, d.minor);
        match mknodat(Some(parent.as_raw_fd()), name, kind, Mode::from_bits_truncate(d.mode), dev) {
            Ok(()) => {}
            // A node already in the rootfs (or a mounted /dev entry) is kept, as runc does.
            Err(nix::Error::EEXIST) => continue,
            Err(e) => return Err(InitError::sys(step(), e)),
        }
        fchownat(
            Some(parent.as_raw_fd()),
            name,
            Some(Uid::from_raw(d.uid)),
            Some(Gid::from_raw(d.gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| InitError::sys(step(), e))?;
    }
    Ok(())
}

/// /dev/fd, /dev/std{in,out,err} and /dev/ptmx symlinks; existing entries are kept.
pub fn create_dev_symlinks(root: BorrowedFd<'_>) -> Result<()> {
    let dev = resolve_in_root(root, "/dev", Create::Dir, 0).map_err(|e| InitError::sys("open /dev", e))?;
    for (target, link) in crate::plan::mounts::DEV_SYMLINKS {
        let name = link.trim_start_matches("/dev/");
        match symlinkat(target, Some(dev.as_raw_fd()), name) {
            Ok(()) | Err(nix::Error::EEXIST) => {}
            Err(e) => return Err(InitError::sys(format!("symlink {link}"), e)),
        }
    }
    Ok(())
}

/// Makes the rootfs the new `/`: pivot_root, or (--no-pivot) MS_MOVE plus chroot. Without a
/// mount namespace, chroot only
/// (as runc and crun): moving or pivoting would act on the runtime's own mount table.
pub fn switch_root(plan: &Plan, root: OwnedFd) -> Result<()> {
    let new_root =
        open_host(&plan.rootfs, libc::O_RDONLY | libc::O_DIRECTORY).map_err(|e| InitError::sys("open rootfs", e))?;
    drop(root);
    if !plan.namespaces.has(NsKind::Mount) {
        fchdir(new_root.as_raw_fd()).map_err(|e| InitError::sys("chdir rootfs", e))?;
        chroot(".").map_err(|e| InitError::sys("chroot", e))?;
        return chdir("/").map_err(|e| InitError::sys("chdir /", e));
    }
    if plan.options.no_pivot {
        fchdir(new_root.as_raw_fd()).map_err(|e| InitError::sys("chdir rootfs", e))?;
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
            .map_err(|e| InitError::sys("move rootfs to /", e))?;
        chroot(".").map_err(|e| InitError::sys("chroot", e))?;
    } else {
        let old_root =
            open_host(Path::new("/"), libc::O_RDONLY | libc::O_DIRECTORY).map_err(|e| InitError::sys("open /", e))?;
        fchdir(new_root.as_raw_fd()).map_err(|e| InitError::sys("chdir rootfs", e))?;
        pivot_root(".", ".").map_err(|e| InitError::sys("pivot_root", e))?;
        // The old root is now stacked under the new one at "/": detach it.
        fchdir(old_root.as_raw_fd()).map_err(|e| InitError::sys("chdir old root", e))?;
        if plan.root_propagation.old_root_needs_rslave() {
            mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
                .map_err(|e| InitError::sys("make old root slave", e))?;
        }
        umount2(".", MntFlags::MNT_DETACH).map_err(|e| InitError::sys("unmount old root", e))?;
    }
    chdir("/").map_err(|e| InitError::sys("chdir /", e))
}

/// After the switch: read-only paths, masked paths, read-only `/`, and the rootfsPropagation that
/// only the new `/` can take.
pub fn finish(plan: &Plan) -> Result<()> {
    let root = open_host(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY).map_err(|e| InitError::sys("open /", e))?;
    for p in &plan.readonly_paths {
        match resolve_in_root(root.as_fd(), p, Create::Nothing, 0) {
            Ok(fd) => {
                let fp = oxsys::fd_path(fd.as_fd());
                mount(Some(fp.as_str()), fp.as_str(), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                    .map_err(|e| InitError::sys(format!("readonly path {p}"), e))?;
                let mounted = resolve_in_root(root.as_fd(), p, Create::Nothing, 0)
                    .map_err(|e| InitError::sys(format!("readonly path {p}"), e))?;
                remount(mounted.as_fd(), MsFlags::MS_RDONLY | MsFlags::MS_REC)
                    .map_err(|e| InitError::sys(format!("readonly path {p}"), e))?;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(InitError::sys(format!("readonly path {p}"), e)),
        }
    }
    mask_paths(root.as_fd(), &plan.masked_paths)?;
    if plan.readonly_root {
        remount(root.as_fd(), MsFlags::MS_RDONLY).map_err(|e| InitError::sys("remount / read-only", e))?;
    }
    // Last: an unbindable root would refuse the read-only paths' binds above.
    if let Some(flag) = plan.root_propagation.on_new_root {
        mount(None::<&str>, "/", None::<&str>, flag, None::<&str>)
            .map_err(|e| InitError::sys("set rootfsPropagation of /", e))?;
    }
    Ok(())
}

/// Masks paths: /dev/null over files, an empty read-only tmpfs over directories. /dev/null is
/// opened once and checked to be the real 1:3 character device before it is used (CVE-2025-31133).
fn mask_paths(root: BorrowedFd<'_>, paths: &[String]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let null = resolve_in_root(root, "/dev/null", Create::Nothing, oxsys::resolve::NO_SYMLINKS)
        .map_err(|e| InitError::sys("open /dev/null", e))?;
    let st = fstat(null.as_raw_fd()).map_err(|e| InitError::sys("stat /dev/null", e))?;
    let is_char = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_char || st.st_rdev != nix::sys::stat::makedev(1, 3) {
        return Err(InitError::msg("mask paths", "/dev/null is not the 1:3 character device"));
    }
    let null_path = oxsys::fd_path(null.as_fd());
    for p in paths {
        let fd = match resolve_in_root(root, p, Create::Nothing, 0) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(InitError::sys(format!("masked path {p}"), e)),
        };
        let target = oxsys::fd_path(fd.as_fd());
        let res = if is_dir(fd.as_fd()) {
            mount(Some("tmpfs"), target.as_str(), Some("tmpfs"), MsFlags::MS_RDONLY, None::<&str>)
        } else {
            mount(Some(null_path.as_str()), target.as_str(), None::<&str>, MsFlags::MS_BIND, None::<&str>)
        };
        res.map_err(|e| InitError::sys(format!("masked path {p}"), e))?;
    }
    Ok(())
}

/// Writes sysctls through the container's procfs (mounted at /proc by now) with the checks of
/// [`crate::procfs`]: a sysctl file the container overmounted is refused, not written through.
pub fn write_sysctls(sysctl: &[(String, String)]) -> Result<()> {
    if sysctl.is_empty() {
        return Ok(());
    }
    let proc =
        crate::procfs::ProcRoot::open(Path::new("/proc")).map_err(|e| procfs_error("open /proc for sysctls", e))?;
    for (path, value) in sysctl {
        let step = format!("sysctl {path}");
        // The plan makes every sysctl path /proc/sys/...; anything else is a bug, not a write.
        let rel = path.strip_prefix("/proc/").ok_or_else(|| InitError::msg(step.clone(), "not a /proc path"))?;
        proc.write(rel, value.as_bytes()).map_err(|e| procfs_error(step, e))?;
    }
    Ok(())
}

/// A procfs write failure as init reports it, keeping the errno.
pub fn procfs_error(step: impl Into<String>, e: crate::procfs::ProcfsError) -> InitError {
    InitError { step: step.into(), errno: e.errno(), message: e.to_string() }
}
