//! Log drivers selected with `-l` (may repeat).

pub mod journald;
pub mod k8s_file;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::cli::Options;

/// A container output stream; the value is conmon's attach stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 2,
    Stderr = 3,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    pub fn index(self) -> usize {
        self as usize - 2
    }
}

/// One parsed `-l` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    K8sFile(PathBuf),
    Journald,
    Off,
    Passthrough,
}

/// Errors of log driver set-up.
#[derive(Debug, Error)]
pub enum LogError {
    #[error("Log driver not provided. Use --log-path")]
    NoDriver,
    #[error("No such log driver {0}")]
    UnknownDriver(String),
    #[error("k8s-file doesn't support --log-tag")]
    TagWithoutJournald,
    #[error("log-path must not be empty")]
    EmptyPath,
    #[error("k8s-file requires a filename")]
    NoFileName,
    #[error("k8s-file doesn't support --log-label")]
    LabelWithoutJournald,
    #[error("Container labels must be in format LABEL=VALUE (no LABEL present in '{0}')")]
    LabelNoName(String),
    #[error("Container labels must be in format LABEL=VALUE (none or more than one '=' present in '{0}')")]
    LabelEquals(String),
    #[error("Container label names must contain only uppercase letters, numbers and underscore (in '{0}')")]
    LabelNameChars(String),
    #[error("log-max-files must be non-negative, got {0}")]
    NegativeMaxFiles(i64),
    #[error("log-max-files must be at least 1 when log-rotate is enabled, got {0}")]
    BadMaxFiles(i64),
    #[error("Log path {path} is outside every --log-allowlist-dir ({dirs}); it resolves to {resolved}")]
    NotAllowed { path: String, resolved: String, dirs: String },
    #[error("Cannot resolve {what} {path}: {source}")]
    Resolve { what: &'static str, path: String, source: std::io::Error },
    #[error("passthrough logging mode cannot be combined with other log drivers")]
    PassthroughMixed,
    #[error("Container ID must be longer than 12 characters for journald")]
    ShortId,
    #[error(transparent)]
    K8s(#[from] k8s_file::K8sError),
    #[error(transparent)]
    Journald(#[from] journald::JournaldError),
}

/// Parses one `-l` argument like conmon's `parse_log_path`, which splits it with `strtok`:
/// the driver is the first non-empty `:`-separated token and the path the second (any further
/// tokens are ignored). A value starting with `:` names a k8s-file path (`:journald` is a file
/// named `journald`); a value without `:` is a driver name or else a k8s-file path.
pub fn parse_driver(arg: &str) -> Result<Driver, LogError> {
    let mut tokens = arg.split(':').filter(|t| !t.is_empty());
    let (first, second) = (tokens.next(), tokens.next());
    let (driver, path) = match (first, second) {
        (None, _) => return Err(LogError::EmptyPath),
        (Some(p), None) if arg.starts_with(':') => ("k8s-file", Some(p)),
        (Some(d), p) => (d, p),
    };
    match (driver, path) {
        ("none" | "off" | "null", _) => Ok(Driver::Off),
        ("passthrough", _) => Ok(Driver::Passthrough),
        ("journald", _) => Ok(Driver::Journald),
        ("k8s-file", None) => Err(LogError::NoFileName),
        ("k8s-file", Some(p)) => Ok(Driver::K8sFile(PathBuf::from(p))),
        (p, None) if !arg.contains(':') => Ok(Driver::K8sFile(PathBuf::from(p))),
        (d, _) => Err(LogError::UnknownDriver(d.to_string())),
    }
}

/// Parses every `-l` (at least one is required, as in conmon) and checks the log options as
/// conmon HEAD's `configure_log_drivers` does: with k8s-file and without journald, `--log-tag`
/// and `--log-label` are refused; with journald every `--log-label` must be `NAME=VALUE`.
/// With `--log-allowlist-dir` every k8s-file path is replaced by its resolved form, which must
/// lie inside one of the listed directories.
pub fn parse_drivers(opts: &Options) -> Result<Vec<Driver>, LogError> {
    if opts.log_paths.is_empty() {
        return Err(LogError::NoDriver);
    }
    let mut drivers = opts.log_paths.iter().map(|a| parse_driver(a)).collect::<Result<Vec<_>, _>>()?;
    let has = |drivers: &[Driver], d: fn(&Driver) -> bool| drivers.iter().any(d);
    let journald = has(&drivers, |d| matches!(d, Driver::Journald));
    if has(&drivers, |d| matches!(d, Driver::K8sFile(_))) && !journald {
        if opts.log_tag.is_some() {
            return Err(LogError::TagWithoutJournald);
        }
        if !opts.log_labels.is_empty() {
            return Err(LogError::LabelWithoutJournald);
        }
    }
    if journald {
        for label in &opts.log_labels {
            check_label(label)?;
        }
    }
    if !opts.log_allowlist_dirs.is_empty() {
        for d in &mut drivers {
            if let Driver::K8sFile(p) = d {
                *p = resolve_in_allowlist(p, &opts.log_allowlist_dirs)?;
            }
        }
    }
    Ok(drivers)
}

/// `--log-max-files` as conmon HEAD checks it at option parsing: never negative, and at least
/// 1 with `--log-rotate`.
pub fn check_max_files(opts: &Options) -> Result<(), LogError> {
    if opts.log_max_files < 0 {
        return Err(LogError::NegativeMaxFiles(opts.log_max_files));
    }
    if opts.log_rotate && opts.log_max_files == 0 {
        return Err(LogError::BadMaxFiles(opts.log_max_files));
    }
    Ok(())
}

/// Splits a `--log-label NAME=VALUE` with conmon HEAD's rules: exactly one `=`, a non-empty
/// name of `A-Z`, `0-9` and `_` only (the journal itself drops names starting with `_` or a
/// digit; conmon passes them on, and so does oxmon).
pub fn check_label(label: &str) -> Result<(&str, &str), LogError> {
    if label.starts_with('=') {
        return Err(LogError::LabelNoName(label.to_string()));
    }
    let Some((key, value)) = label.split_once('=').filter(|(_, v)| !v.contains('=')) else {
        return Err(LogError::LabelEquals(label.to_string()));
    };
    if !key.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
        return Err(LogError::LabelNameChars(label.to_string()));
    }
    Ok((key, value))
}

/// Resolves a log path without requiring the file to exist: an existing path (also a
/// symlink) is canonicalized as a whole; a new file is its canonical parent plus its name.
pub fn resolve_log_path(path: &Path) -> Result<PathBuf, LogError> {
    let err = |source| LogError::Resolve { what: "log path", path: path.display().to_string(), source };
    if std::fs::symlink_metadata(path).is_ok() {
        // Follows every symlink; a dangling one fails (opening it would create its target).
        return std::fs::canonicalize(path).map_err(err);
    }
    let name =
        path.file_name().ok_or_else(|| err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name")))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok(std::fs::canonicalize(parent).map_err(err)?.join(name))
}

/// The resolved `path` if it lies strictly inside one of the (resolved) `dirs`.
pub fn resolve_in_allowlist(path: &Path, dirs: &[String]) -> Result<PathBuf, LogError> {
    let mut allowed = Vec::new();
    for d in dirs {
        let canon = std::fs::canonicalize(d).map_err(|source| LogError::Resolve {
            what: "--log-allowlist-dir",
            path: d.clone(),
            source,
        })?;
        allowed.push(canon);
    }
    let resolved = resolve_log_path(path)?;
    if allowed.iter().any(|d| resolved.starts_with(d) && resolved != *d) {
        return Ok(resolved);
    }
    Err(LogError::NotAllowed {
        path: path.display().to_string(),
        resolved: resolved.display().to_string(),
        dirs: dirs.join(", "),
    })
}

/// The active log writers.
pub struct Logs {
    k8s: Vec<k8s_file::K8sFile>,
    journald: Option<journald::Journald>,
    warned: bool,
    clock: crate::timefmt::Clock,
}

/// The k8s-file size policy from the options.
pub fn k8s_limits(opts: &Options) -> k8s_file::Limits {
    k8s_file::Limits {
        max: opts.log_size_max,
        keep: opts.log_rotate.then(|| u32::try_from(opts.log_max_files).unwrap_or(u32::MAX).max(1)),
        global_max: opts.log_global_size_max,
        sync: !opts.no_sync_log,
        nofollow: !opts.log_allowlist_dirs.is_empty(),
    }
}

impl Logs {
    pub fn open(opts: &Options, drivers: &[Driver], cid: &str) -> Result<Self, LogError> {
        let mut k8s = Vec::new();
        let mut jd = None;
        for d in drivers {
            match d {
                Driver::K8sFile(p) => k8s.push(k8s_file::K8sFile::open(p.clone(), k8s_limits(opts))?),
                Driver::Journald if jd.is_none() => {
                    if cid.len() <= 12 {
                        return Err(LogError::ShortId);
                    }
                    let common =
                        journald::common_fields(cid, opts.name.as_deref(), opts.log_tag.as_deref(), &opts.log_labels);
                    jd = Some(journald::Journald::new(common, !opts.no_container_partial_message)?);
                }
                _ => {}
            }
        }
        Ok(Logs { k8s, journald: jd, warned: false, clock: crate::timefmt::Clock::default() })
    }

    fn warn(&mut self, err: &dyn std::fmt::Display) {
        if !self.warned {
            crate::diag::warn(&format!("{err}"));
            self.warned = true;
        }
    }

    /// Writes one chunk read from the container (one timestamp for all its k8s-file records).
    pub fn write(&mut self, stream: Stream, buf: &[u8]) {
        if !self.k8s.is_empty() {
            let ts = self.clock.now();
            for i in 0..self.k8s.len() {
                match self.k8s[i].write_chunk(ts.as_bytes(), stream, buf) {
                    Ok(()) => {}
                    Err(e @ k8s_file::K8sError::GlobalLimit { .. }) => crate::diag::warn(&e.to_string()),
                    Err(e) => self.warn(&e),
                }
            }
        }
        if let Some(j) = self.journald.as_mut() {
            // In conmon-sized pieces, so partial-line handling is what conmon's would be.
            for piece in buf.chunks(k8s_file::MAX_RECORD_CONTENT) {
                if let Err(e) = j.write_chunk(stream, piece) {
                    self.warn(&e);
                    break;
                }
            }
        }
    }

    /// Handles a `ctl` reopen request.
    pub fn reopen(&mut self) {
        for i in 0..self.k8s.len() {
            if let Err(e) = self.k8s[i].reopen() {
                self.warn(&e);
            }
        }
    }

    /// Flushes partial journald lines and fsyncs files (at exit).
    pub fn finish(&mut self) {
        if let Some(j) = self.journald.as_mut() {
            if let Err(e) = j.flush() {
                crate::diag::warn(&format!("{e}"));
            }
        }
        for f in &mut self.k8s {
            f.sync();
            f.report_dropped_at_exit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_parsing() {
        let k8s = |p: &str| Driver::K8sFile(p.into());
        assert_eq!(parse_driver("k8s-file:/a/b").unwrap(), k8s("/a/b"));
        assert_eq!(parse_driver("/a/b").unwrap(), k8s("/a/b"));
        assert_eq!(parse_driver(":/a/b").unwrap(), k8s("/a/b"));
        assert_eq!(parse_driver(":journald").unwrap(), k8s("journald"));
        assert_eq!(parse_driver("k8s-file:/a:b").unwrap(), k8s("/a"));
        assert_eq!(parse_driver("journald").unwrap(), Driver::Journald);
        assert_eq!(parse_driver("journald:x").unwrap(), Driver::Journald);
        assert_eq!(parse_driver("journald:").unwrap(), Driver::Journald);
        for off in ["none", "off", "null", "none:x"] {
            assert_eq!(parse_driver(off).unwrap(), Driver::Off);
        }
        assert_eq!(parse_driver("passthrough").unwrap(), Driver::Passthrough);
        assert!(matches!(parse_driver("syslog:x"), Err(LogError::UnknownDriver(d)) if d == "syslog"));
        assert!(matches!(parse_driver("syslog:"), Err(LogError::UnknownDriver(_))));
        for empty in ["", ":", "::"] {
            assert!(matches!(parse_driver(empty), Err(LogError::EmptyPath)), "{empty:?}");
        }
        for bare in ["k8s-file", "k8s-file:", "k8s-file::"] {
            assert!(matches!(parse_driver(bare), Err(LogError::NoFileName)), "{bare:?}");
        }
    }

    #[test]
    fn tag_and_labels_need_journald() {
        let o = crate::cli::parse(["-l", "k8s-file:/x", "--log-tag", "t"]).unwrap();
        assert!(matches!(parse_drivers(&o), Err(LogError::TagWithoutJournald)));
        let o = crate::cli::parse(["-l", "k8s-file:/x", "--log-label", "A=b"]).unwrap();
        assert!(matches!(parse_drivers(&o), Err(LogError::LabelWithoutJournald)));
        let o = crate::cli::parse(["-l", "k8s-file:/x", "-l", "journald", "--log-tag", "t"]).unwrap();
        assert_eq!(parse_drivers(&o).unwrap().len(), 2);
        // Without k8s-file or journald nothing looks at the labels (as in conmon).
        let o = crate::cli::parse(["-l", "none", "--log-label", "bad"]).unwrap();
        assert_eq!(parse_drivers(&o).unwrap(), vec![Driver::Off]);
        let o = crate::cli::parse(["-c", "x"]).unwrap();
        assert!(matches!(parse_drivers(&o), Err(LogError::NoDriver)));
    }

    #[test]
    fn labels() {
        assert!(matches!(check_label("A_1="), Ok(("A_1", ""))));
        assert!(matches!(check_label("_X9=v"), Ok(("_X9", "v"))));
        assert!(matches!(check_label("=v"), Err(LogError::LabelNoName(_))));
        for bad in ["NOEQ", "APP=web=1"] {
            assert!(matches!(check_label(bad), Err(LogError::LabelEquals(_))), "{bad}");
        }
        for bad in ["app=x", "A-B=1", "MY%LABEL=x"] {
            assert!(matches!(check_label(bad), Err(LogError::LabelNameChars(_))), "{bad}");
        }
        let o = crate::cli::parse(["-l", "journald", "--log-label", "lower=x"]).unwrap();
        assert!(matches!(parse_drivers(&o), Err(LogError::LabelNameChars(_))));
    }

    #[test]
    fn max_files() {
        let check = |args: &[&str]| check_max_files(&crate::cli::parse(args.iter().copied()).unwrap());
        assert!(matches!(check(&["--log-rotate", "--log-max-files", "0"]), Err(LogError::BadMaxFiles(0))));
        assert!(matches!(check(&["--log-max-files", "-1"]), Err(LogError::NegativeMaxFiles(-1))));
        assert!(check(&["--log-max-files", "0"]).is_ok());
        assert!(check(&["--log-rotate", "--log-max-files", "1"]).is_ok());
    }

    #[test]
    fn allowlist() {
        let root = tempfile::tempdir().unwrap();
        let ok = root.path().join("ok");
        let out = root.path().join("out");
        std::fs::create_dir_all(ok.join("sub")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::os::unix::fs::symlink(&out, ok.join("link-dir")).unwrap();
        std::os::unix::fs::symlink(out.join("f"), ok.join("link-file")).unwrap();
        std::os::unix::fs::symlink(ok.join("sub"), out.join("into-ok")).unwrap();
        let dirs = vec![ok.display().to_string()];
        let canon_ok = std::fs::canonicalize(&ok).unwrap();
        let r = resolve_in_allowlist(&ok.join("sub/../ctr.log"), &dirs).unwrap();
        assert_eq!(r, canon_ok.join("ctr.log"));
        assert_eq!(resolve_in_allowlist(&out.join("into-ok/c.log"), &dirs).unwrap(), canon_ok.join("sub/c.log"));
        for bad in
            [ok.join("../out/ctr.log"), ok.join("link-dir/ctr.log"), ok.join("link-file"), ok.join(".."), ok.clone()]
        {
            assert!(resolve_in_allowlist(&bad, &dirs).is_err(), "{}", bad.display());
        }
        let missing = vec![root.path().join("nope").display().to_string()];
        assert!(matches!(resolve_in_allowlist(&ok.join("x"), &missing), Err(LogError::Resolve { .. })));
    }
}
