//! oxsys: the only crate of oxrun that uses `unsafe`.
//!
//! Each function wraps one Linux syscall (or ioctl) that neither `nix` nor `std` offers safely,
//! takes and returns owned or borrowed fds, and reports failures as `std::io::Error`.
//! Every `unsafe` block states why it holds.
#![allow(unsafe_code)]

pub mod arena_alloc;
pub mod bpf;
pub mod error;
pub mod fsmount;
pub mod monitor_io;
pub mod mount_attr;
pub mod netlink;
pub mod sched;
pub mod spawn_fds;
pub mod statmount;
pub mod threads;

pub use error::SysError;

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// What `clone3` returned in the calling process.
#[derive(Debug, PartialEq, Eq)]
pub enum Forked {
    /// We are the new child process.
    Child,
    /// We are the parent; the child has this pid.
    Parent(i32),
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3(2) without a new stack (fork semantics), with `flags` (CLONE_NEW* and friends).
///
/// `into_cgroup` puts the child into a cgroup v2 directory (CLONE_INTO_CGROUP) before it runs.
/// Refused while the process may have another thread ([`threads::fork_hazard`]): the child
/// continues with a copy of this one thread only.
pub fn clone3(flags: u64, into_cgroup: Option<BorrowedFd<'_>>) -> io::Result<Forked> {
    refuse_fork_with_threads("clone3")?;
    let mut args = CloneArgs { flags, exit_signal: libc::SIGCHLD as u64, ..CloneArgs::default() };
    if let Some(fd) = into_cgroup {
        // CLONE_INTO_CGROUP (libc declares it with a type too narrow for the bit).
        args.flags |= 0x2_0000_0000;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: `args` is a valid, fully initialised clone_args of the size we pass; with a zero stack
    // the kernel duplicates the caller's stack like fork(2), so the child returns here on a valid
    // stack. The process is single-threaded (checked above), so no lock held by another thread
    // can be copied into the child in a locked state.
    let ret = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>()) };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// fork(2) (glibc's, through the clone syscall). Unlike posix_spawn, which Rust's `Command`
/// uses and which glibc starts with clone3 (falling back to clone only on ENOSYS), it works
/// under a seccomp profile that denies clone3 with EPERM but allows clone, as many do.
/// Refused, like [`clone3`], while the process may have another thread.
pub fn fork() -> io::Result<Forked> {
    refuse_fork_with_threads("fork")?;
    // SAFETY: fork takes no arguments; the process is single-threaded (checked above), so no
    // lock held by another thread can be copied into the child locked.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

fn refuse_fork_with_threads(what: &str) -> io::Result<()> {
    match threads::fork_hazard() {
        Some(why) => Err(io::Error::other(format!("{what} refused: {why}, and the child would inherit their locks"))),
        None => Ok(()),
    }
}

/// Ends the calling process at once, without running exit handlers or flushing stdio buffers
/// inherited from the parent (what a forked child must do).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) takes a plain int and never returns; it touches no memory of ours.
    unsafe { libc::_exit(code) }
}

/// Gives the calling process every signal's default action and an empty signal mask (as crun;
/// runc resets dispositions but keeps the caller's mask). Ignored dispositions and the mask
/// survive execve: without this
/// a runtime started under `nohup` (SIGHUP ignored) starts a container whose shell cannot trap
/// SIGHUP, since POSIX shells may not trap a signal ignored on entry.
pub fn reset_signals() -> nix::Result<()> {
    /// The kernel's `struct sigaction` for rt_sigaction(2) on x86_64 and aarch64.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // The raw syscall, not glibc's sigaction: glibc refuses its two internal real-time
        // signals, which a caller may still have left ignored (python does).
        // SAFETY: `default` is a valid kernel sigaction that installs no handler (SIG_DFL), so no
        // code of ours ever runs in signal context; the old-action pointer is null; the last
        // argument is the kernel's sigset size (8 bytes).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
        if rc != 0 {
            return Err(nix::Error::last());
        }
    }
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    )
}

/// Ends the process as a write to a closed pipe ends a program that keeps SIGPIPE's default
/// action (runc, like any Go program writing to a closed stdout): killed by SIGPIPE.
pub fn die_of_sigpipe() -> ! {
    // SAFETY: SIG_DFL installs no handler (no code of ours runs in signal context), and raise
    // only sends a signal to the calling thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Only reached if SIGPIPE is blocked: the shell's code for death by SIGPIPE.
    exit_now(128 + libc::SIGPIPE)
}

/// close_range(2) with CLOSE_RANGE_CLOEXEC: marks every fd from `first` up close-on-exec, so
/// exec drops them; closes nothing now (an fd still owned by an `OwnedFd` stays valid).
pub fn mark_cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range takes plain integers; with CLOSE_RANGE_CLOEXEC it only sets a flag on
    // each descriptor and closes none, so no owner's fd is invalidated.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// setdomainname(2).
pub fn set_domainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, which outlive the call; the kernel
    // only reads them.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes the terminal `fd` the controlling terminal of the calling session (TIOCSCTTY).
pub fn set_controlling_terminal(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal); fd is a valid open descriptor.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets a terminal's window size (TIOCSWINSZ).
pub fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one struct winsize from the pointer, which points at `size`.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size as *const libc::winsize) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A terminal's window size (TIOCGWINSZ) as (rows, columns).
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one struct winsize through the pointer, which points at `size`.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size as *mut libc::winsize) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok((size.ws_row, size.ws_col))
}

/// Opens the peer (slave) of a pty master through TIOCGPTPEER, without a path lookup that a
/// container could redirect.
pub fn open_pty_peer(master: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as an int and returns a new fd or -1.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// kill(2) with a raw signal number, so real-time signals (32–64) can be sent.
pub fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill takes plain integers and touches no memory.
    let ret = unsafe { libc::kill(pid, signal) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until the process behind `pidfd` exits (the pidfd becomes readable): whether it did
/// within `timeout` (false on timeout or a failed poll).
pub fn wait_pidfd_exit(pidfd: BorrowedFd<'_>, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fds = [nix::poll::PollFd::new(pidfd, nix::poll::PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(left.as_millis().min(10_000) as u16)) {
            Ok(n) if n > 0 => return true,
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// pidfd_open(2): a stable handle on a process, immune to pid reuse.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just created by the kernel for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// pidfd_send_signal(2): signals exactly the process behind `pidfd`.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: a null siginfo is allowed (the kernel fills one in); other args are integers.
    let ret = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), signal, std::ptr::null::<libc::siginfo_t>(), 0)
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Joins a new session keyring named `name` (keyctl KEYCTL_JOIN_SESSION_KEYRING), so the container
/// does not share the caller's keyring.
pub fn join_session_keyring(name: &CStr) -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    // SAFETY: the name pointer is a valid NUL-terminated string that outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Flags of openat2's `resolve` field.
pub mod resolve {
    /// Stay inside the directory fd, as if it were the root (RESOLVE_IN_ROOT).
    pub const IN_ROOT: u64 = 0x10;
    /// Refuse /proc/*/fd style magic links (RESOLVE_NO_MAGICLINKS).
    pub const NO_MAGICLINKS: u64 = 0x02;
    /// Refuse every symlink (RESOLVE_NO_SYMLINKS).
    pub const NO_SYMLINKS: u64 = 0x04;
    /// Refuse to cross a mount point (RESOLVE_NO_XDEV).
    pub const NO_XDEV: u64 = 0x01;
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(2): opens `path` relative to `dir` with `resolve` restrictions (see [`resolve`]).
pub fn openat2(dir: BorrowedFd<'_>, path: &CStr, flags: i32, mode: u32, resolve: u64) -> io::Result<OwnedFd> {
    let how = OpenHow { flags: (flags | libc::O_CLOEXEC) as u64, mode: mode as u64, resolve };
    loop {
        // SAFETY: `how` is a valid open_how of the size passed; `path` is NUL-terminated and
        // outlives the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        let err = io::Error::last_os_error();
        // EAGAIN: a concurrent rename raced RESOLVE_IN_ROOT's checks; the kernel asks us to retry.
        if err.raw_os_error() != Some(libc::EAGAIN) {
            return Err(err);
        }
    }
}

/// Returns `/proc/self/fd/N` for an fd: the path through which mount(2) acts on an opened target.
pub fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// The raw number of an fd, for the few places the kernel wants it in text (LISTEN_FDS, paths).
pub fn fd_number(fd: BorrowedFd<'_>) -> i32 {
    fd.as_raw_fd()
}

/// Makes `fd` the process's stdin, stdout and stderr (dup3 onto 0, 1 and 2, without CLOEXEC),
/// as a container's terminal. The numbers 0–2 belong to the process, never to an `OwnedFd` (Rust
/// reaches stdio through the raw numbers), so replacing them takes no owner's fd away.
pub fn make_stdio(fd: BorrowedFd<'_>) -> io::Result<()> {
    for target in 0..3 {
        if fd.as_raw_fd() == target {
            clear_cloexec(fd)?;
            continue;
        }
        // SAFETY: dup3 with two integers; it atomically replaces `target` (a stdio number, see
        // above) with a duplicate of `fd`, which stays open and owned by the caller.
        if unsafe { libc::dup3(fd.as_raw_fd(), target, 0) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Keeps fd number `n`, inherited for the container's program (a preserved fd), open across
/// exec by clearing its FD_CLOEXEC; `Ok(false)` when `n` is not open. It neither owns nor closes
/// the descriptor: preserved fds belong to the program, not to the runtime.
pub fn keep_inherited_across_exec(n: i32) -> io::Result<bool> {
    // SAFETY: F_GETFD only queries the descriptor table.
    let flags = unsafe { libc::fcntl(n, libc::F_GETFD) };
    if flags == -1 {
        return Ok(false);
    }
    // SAFETY: F_SETFD with an integer flag word on an open descriptor; it closes nothing.
    if unsafe { libc::fcntl(n, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(true)
}

/// Clears FD_CLOEXEC on an inherited fd so it survives exec (preserved fds).
pub fn clear_cloexec(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFD/F_SETFD with integer arguments on a valid fd.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    // SAFETY: as above.
    if flags == -1 || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags & !libc::FD_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets a resource limit by its raw number (RLIMIT_*), for limits nix's enum may lack.
pub fn set_rlimit(resource: u32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit64 { rlim_cur: soft, rlim_max: hard };
    // SAFETY: prlimit64 on ourselves (pid 0) reads one rlimit64 from a valid pointer and writes
    // nothing (null old_limit).
    let ret = unsafe { libc::prlimit64(0, resource as _, &lim, std::ptr::null_mut()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The clock ticks per second (sysconf(_SC_CLK_TCK)), for reading /proc/PID/stat start times.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf takes an integer and touches no memory.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v <= 0 {
        100
    } else {
        v as u64
    }
}

/// open(2) with O_CLOEXEC always set, returning an owned fd.
pub fn open(path: &CStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: `path` is NUL-terminated and outlives the call; flags and mode are integers.
        let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
        if fd >= 0 {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Capability bitmasks for capset(2) (bit N = capability N).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// capset(2) of all three sets in one call, so no intermediate state violates the kernel's rules
/// (effective ⊆ permitted).
pub fn capset(sets: CapSets) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header { version: VERSION_3, pid: 0 };
    let lo = |v: u64| v as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let data = [
        Data { effective: lo(sets.effective), permitted: lo(sets.permitted), inheritable: lo(sets.inheritable) },
        Data { effective: hi(sets.effective), permitted: hi(sets.permitted), inheritable: hi(sets.inheritable) },
    ];
    // SAFETY: version 3 capset reads one header and two data structs from valid pointers.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// seccomp(SECCOMP_SET_MODE_FILTER): installs a BPF program (an array of 8-byte sock_filter
/// instructions). With SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns a notify fd.
pub fn seccomp_set_filter(bpf: &[u8], flags: u32) -> io::Result<Option<OwnedFd>> {
    const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
    const NEW_LISTENER: u32 = 8;
    if !bpf.len().is_multiple_of(std::mem::size_of::<libc::sock_filter>()) || bpf.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // Copy into properly aligned instructions; the byte buffer carries no alignment guarantee.
    let insns: Vec<libc::sock_filter> = bpf
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let prog = libc::sock_fprog { len: insns.len() as u16, filter: insns.as_ptr() as *mut libc::sock_filter };
    // SAFETY: `prog` points at `insns`, which lives until after the call; the kernel copies the
    // program and keeps no pointer into our memory.
    let ret =
        unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog as *const libc::sock_fprog) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    if flags & NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the return value is a new fd owned by nobody else.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }));
    }
    Ok(None)
}

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at `path` (recursive with
/// `recursive`), to be configured and attached elsewhere.
pub fn open_tree_clone(path: &CStr, recursive: bool) -> io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is NUL-terminated and outlives the call; returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// mount_setattr(2): makes the detached mount `tree` idmapped through the user namespace
/// `userns` (MOUNT_ATTR_IDMAP), recursively when `recursive`.
pub fn mount_set_idmap(tree: BorrowedFd<'_>, userns: BorrowedFd<'_>, recursive: bool) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let attr =
        MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns.as_raw_fd() as u64 };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `attr` is a valid mount_attr of the size passed; the empty path with AT_EMPTY_PATH
    // names `tree` itself.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// move_mount(2): attaches the detached mount `tree` on the file or directory `target` (an O_PATH
/// fd, so no path is resolved again).
pub fn move_mount_to(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: both paths are empty NUL-terminated strings naming the fds themselves.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
