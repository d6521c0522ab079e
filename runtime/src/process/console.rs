//! The container's terminal: a pty allocated inside the container, its master sent to the caller's
//! console socket (exactly one fd, with the pty name as payload, as runc does), the slave made the
//! controlling terminal and stdio, and bound onto /dev/console.
//!
//! Everything here runs after pivot_root, in a /dev the container may own (CVE-2025-52565): both
//! ends of the pty are checked to be what they claim before use, and /dev/console is mounted over
//! only when no symlink is on its path (see [`bind_console`]).
//!
//! The runtime's side is here too: it connects the caller's console socket (and a seccomp
//! listener's, which takes the same kind of connection) before the fork, or makes a socket pair
//! standing in for one when it relays the terminal itself.
use crate::ipc::InitError;
use crate::rootfs::{resolve_in_root, Create};
use crate::spec::ConsoleSize;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use nix::sys::stat::{fstat, major, makedev, SFlag};
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

type Result<T> = std::result::Result<T, InitError>;

/// The pty multiplexer, /dev/ptmx or /dev/pts/ptmx (char 5:2).
const PTMX_DEV: (u64, u64) = (5, 2);
/// Majors of Unix98 pty slaves (UNIX98_PTY_SLAVE_MAJOR and the seven after it).
const PTY_SLAVE_MAJORS: std::ops::RangeInclusive<u64> = 136..=143;

/// Connects a unix stream socket (console socket, seccomp listener).
pub fn connect_socket(path: &std::path::Path) -> std::result::Result<OwnedFd, crate::error::Error> {
    use crate::error::Error;
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType};
    let fd = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::sys("console socket", e))?;
    let addr = UnixAddr::new(path).map_err(|e| Error::sys(format!("console socket {}", path.display()), e))?;
    connect(fd.as_raw_fd(), &addr).map_err(|e| Error::sys(format!("connect console socket {}", path.display()), e))?;
    Ok(fd)
}

/// A socket pair standing in for a console socket: (the process's end, ours).
pub fn socket_pair() -> std::result::Result<(OwnedFd, OwnedFd), crate::error::Error> {
    nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| crate::error::Error::sys("console socketpair", e))
}

/// Sets up the terminal; runs after pivot_root, so the pty comes from the container's devpts.
pub fn setup(socket: BorrowedFd<'_>, size: Option<ConsoleSize>, bind: bool) -> Result<()> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| InitError::sys("open /dev/ptmx", e))?;
    check_char_device(master.as_fd(), "/dev/ptmx", |rdev| rdev == makedev(PTMX_DEV.0, PTMX_DEV.1))?;
    nix::pty::grantpt(&master).map_err(|e| InitError::sys("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| InitError::sys("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| InitError::sys("ptsname", e))?;
    // TIOCGPTPEER, not an open of `name`: the container could have put anything at that path.
    let slave = oxsys::open_pty_peer(master.as_fd()).map_err(|e| InitError::sys("open pty peer", e))?;
    check_pty_peer(slave.as_fd())?;
    if let Some(s) = size.filter(|s| s.height > 0 && s.width > 0) {
        oxsys::set_window_size(slave.as_fd(), s.height, s.width).map_err(|e| InitError::sys("set console size", e))?;
    }
    // exec gets a terminal too, but the container's /dev/console belongs to its init.
    if bind {
        bind_console(slave.as_fd())?;
    }
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let payload = [IoSlice::new(name.as_bytes())];
    sendmsg::<UnixAddr>(socket.as_raw_fd(), &payload, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(|e| InitError::sys("send pty master to console socket", e))?;
    oxsys::set_controlling_terminal(slave.as_fd()).map_err(|e| InitError::sys("set controlling terminal", e))?;
    oxsys::make_stdio(slave.as_fd()).map_err(|e| InitError::sys("dup pty to stdio", e))?;
    Ok(())
}

/// Bind-mounts the pty slave over /dev/console, creating it as an empty regular file when it is
/// missing. A symlink at /dev/console (or at /dev) fails the create with one clear error, as in
/// runc (which opens the mount target O_NOFOLLOW): following it would let the container choose a
/// file to replace with a writable pty before masked and read-only paths are applied, skipping
/// the mount would hand the program a /dev/console that is not its terminal, and deleting the
/// container's file is not ours to do.
fn bind_console(slave: BorrowedFd<'_>) -> Result<()> {
    const STEP: &str = "bind pty to /dev/console";
    let root = crate::rootfs::open_host(std::path::Path::new("/"), libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| InitError::sys("open /", e))?;
    let console = match resolve_in_root(root.as_fd(), "/dev/console", Create::File, oxsys::resolve::NO_SYMLINKS) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(InitError {
                step: STEP.into(),
                message: "/dev/console or /dev is a symlink in the rootfs: refusing to mount the console through it"
                    .into(),
                errno: Some(libc::ELOOP),
            });
        }
        Err(e) => return Err(InitError::sys(STEP, e)),
    };
    let src = oxsys::fd_path(slave);
    mount(Some(src.as_str()), oxsys::fd_path(console.as_fd()).as_str(), None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| InitError::sys(STEP, e))
}

/// The peer must be a pty slave on a devpts, whatever the container's /dev looks like.
fn check_pty_peer(slave: BorrowedFd<'_>) -> Result<()> {
    let fs = nix::sys::statfs::fstatfs(slave).map_err(|e| InitError::sys("check pty peer", e))?;
    if fs.filesystem_type() != nix::sys::statfs::DEVPTS_SUPER_MAGIC {
        return Err(InitError::msg(
            "check pty peer",
            format!("not on a devpts filesystem (magic {:#x})", fs.filesystem_type().0),
        ));
    }
    check_char_device(slave, "pty peer", |rdev| PTY_SLAVE_MAJORS.contains(&major(rdev)))
}

fn check_char_device(fd: BorrowedFd<'_>, what: &str, want: impl Fn(libc::dev_t) -> bool) -> Result<()> {
    let st = fstat(fd.as_raw_fd()).map_err(|e| InitError::sys(format!("check {what}"), e))?;
    let is_char = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_char || !want(st.st_rdev) {
        let (maj, min) = (major(st.st_rdev), nix::sys::stat::minor(st.st_rdev));
        return Err(InitError::msg(
            format!("check {what}"),
            format!("not the expected pty device (mode {:o}, device {maj}:{min})", st.st_mode),
        ));
    }
    Ok(())
}
