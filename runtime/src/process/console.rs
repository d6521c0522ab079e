//! The container's terminal: a pty allocated inside the container, its master sent to the caller's
//! console socket (exactly one fd, with the pty name as payload, as runc does), the slave made the
//! controlling terminal and stdio, and bound onto /dev/console.
use super::ipc::InitError;
use crate::rootfs::{resolve_in_root, Create};
use crate::spec::ConsoleSize;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

type Result<T> = std::result::Result<T, InitError>;

/// Sets up the terminal; runs after pivot_root, so the pty comes from the container's devpts.
pub fn setup(socket: BorrowedFd<'_>, size: Option<ConsoleSize>, bind_console: bool) -> Result<()> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).map_err(|e| InitError::sys("open /dev/ptmx", e))?;
    nix::pty::grantpt(&master).map_err(|e| InitError::sys("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| InitError::sys("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| InitError::sys("ptsname", e))?;
    let slave = oxsys::open_pty_peer(master.as_fd()).map_err(|e| InitError::sys("open pty peer", e))?;
    if let Some(s) = size.filter(|s| s.height > 0 && s.width > 0) {
        oxsys::set_window_size(slave.as_fd(), s.height, s.width).map_err(|e| InitError::sys("set console size", e))?;
    }
    let root = crate::rootfs::open_host(std::path::Path::new("/"), libc::O_PATH | libc::O_DIRECTORY).map_err(|e| InitError::sys("open /", e))?;
    if !bind_console {
        // exec: the container's /dev/console belongs to its init.
    } else if let Ok(console) = resolve_in_root(root.as_fd(), "/dev/console", Create::File, oxsys::resolve::NO_SYMLINKS) {
        let src = oxsys::fd_path(slave.as_fd());
        mount(Some(src.as_str()), oxsys::fd_path(console.as_fd()).as_str(), None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| InitError::sys("bind pty to /dev/console", e))?;
    }
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let payload = [IoSlice::new(name.as_bytes())];
    sendmsg::<UnixAddr>(socket.as_raw_fd(), &payload, &cmsg, MsgFlags::MSG_NOSIGNAL, None).map_err(|e| InitError::sys("send pty master to console socket", e))?;
    oxsys::set_controlling_terminal(slave.as_fd()).map_err(|e| InitError::sys("set controlling terminal", e))?;
    for n in 0..3 {
        oxsys::dup_to(slave.as_fd(), n).map(std::mem::forget).map_err(|e| InitError::sys("dup pty to stdio", e))?;
    }
    Ok(())
}
