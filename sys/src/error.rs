//! The one error type for a failed system call or file operation, shared by oxrun and oxmon:
//! what was done, on which path, and what the OS said.
use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// A failed system call or file operation, printed `{op} {path}: {source}` (or `{op}: {source}`
/// without a path). `E` is the OS error as the caller has it: `std::io::Error` in oxrun, nix's
/// `Errno` in oxmon (whose messages print errno names, as conmon's do).
#[derive(Debug)]
pub struct SysError<E = std::io::Error> {
    /// What was done, as a verb phrase: "open", "create socket directory", "set hostname".
    pub op: Cow<'static, str>,
    /// The file it was done on, when there is one.
    pub path: Option<PathBuf>,
    /// The OS error.
    pub source: E,
}

impl<E> SysError<E> {
    /// An operation without a path.
    pub fn new(op: impl Into<Cow<'static, str>>, source: impl Into<E>) -> Self {
        SysError { op: op.into(), path: None, source: source.into() }
    }

    /// An operation on `path`.
    pub fn at(op: impl Into<Cow<'static, str>>, path: impl Into<PathBuf>, source: impl Into<E>) -> Self {
        SysError { op: op.into(), path: Some(path.into()), source: source.into() }
    }
}

impl SysError {
    /// For `map_err`: `std::fs::read(p).map_err(SysError::on("read", p))`.
    pub fn on<'a, S: Into<std::io::Error>>(op: &'static str, path: &'a Path) -> impl Fn(S) -> Self + Copy + 'a {
        move |source| SysError::at(op, path, source)
    }

    /// The errno behind the error, if the OS gave one.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

impl<E: fmt::Display> fmt::Display for SysError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{} {}: {}", self.op, path.display(), self.source),
            None => write!(f, "{}: {}", self.op, self.source),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SysError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn prints_op_path_and_source() {
        let e: SysError = SysError::at("open", "/run/x", io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(e.to_string(), "open /run/x: No such file or directory (os error 2)");
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        let e: SysError = SysError::new(format!("set rlimit {}", 7), io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(e.to_string(), "set rlimit 7: Operation not permitted (os error 1)");
    }

    #[test]
    fn an_errno_source_prints_its_name() {
        let e: SysError<nix::errno::Errno> = SysError::at("bind", "/s", nix::errno::Errno::EACCES);
        assert_eq!(e.to_string(), "bind /s: EACCES: Permission denied");
    }

    #[test]
    fn the_os_error_is_the_source() {
        use std::error::Error;
        let e: SysError = SysError::new("stat", io::Error::from_raw_os_error(libc::EIO));
        assert!(e.source().is_some());
    }
}
