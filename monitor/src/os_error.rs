//! oxsys reports failures as `std::io::Error`; oxmon's messages print nix's `Errno` (conmon's
//! words stay the same whichever crate made the call).

use nix::errno::Errno;

/// The errno behind an I/O error (EIO if it carries none).
pub fn errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Opens `path` with `flags` (O_CLOEXEC is always added) as an owned descriptor.
pub fn open(path: &std::path::Path, write: bool, flags: i32) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(!write).write(write).custom_flags(flags).open(path).map_err(errno)?;
    Ok(file.into())
}
