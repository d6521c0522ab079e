//! Log drivers selected with `-l` (may repeat).

pub mod journald;
pub mod k8s_file;

use std::path::PathBuf;

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
    #[error("passthrough logging mode cannot be combined with other log drivers")]
    PassthroughMixed,
    #[error("Container ID must be longer than 12 characters for journald")]
    ShortId,
    #[error(transparent)]
    K8s(#[from] k8s_file::K8sError),
    #[error(transparent)]
    Journald(#[from] journald::JournaldError),
}

/// Parses one `-l` argument like conmon's `parse_log_path`.
pub fn parse_driver(arg: &str) -> Result<Driver, LogError> {
    let Some((kind, rest)) = arg.split_once(':') else {
        return Ok(match arg {
            "journald" => Driver::Journald,
            "none" | "off" | "null" => Driver::Off,
            "passthrough" => Driver::Passthrough,
            "k8s-file" => return Err(LogError::UnknownDriver(arg.to_string())),
            path => Driver::K8sFile(PathBuf::from(path)),
        });
    };
    match kind {
        "k8s-file" if !rest.is_empty() => Ok(Driver::K8sFile(PathBuf::from(rest))),
        "journald" => Ok(Driver::Journald),
        "none" | "off" | "null" => Ok(Driver::Off),
        "passthrough" => Ok(Driver::Passthrough),
        _ => Err(LogError::UnknownDriver(arg.to_string())),
    }
}

/// Parses every `-l` (at least one is required, as in conmon). Rejects `--log-tag` without journald.
pub fn parse_drivers(opts: &Options) -> Result<Vec<Driver>, LogError> {
    if opts.log_paths.is_empty() {
        return Err(LogError::NoDriver);
    }
    let drivers = opts.log_paths.iter().map(|a| parse_driver(a)).collect::<Result<Vec<_>, _>>()?;
    let has = |d: fn(&Driver) -> bool| drivers.iter().any(d);
    if opts.log_tag.is_some()
        && has(|d| matches!(d, Driver::K8sFile(_)))
        && !has(|d| matches!(d, Driver::Journald))
    {
        return Err(LogError::TagWithoutJournald);
    }
    Ok(drivers)
}

/// The active log writers.
pub struct Logs {
    k8s: Vec<k8s_file::K8sFile>,
    journald: Option<journald::Journald>,
    global_max: i64,
    global_written: i64,
    warned: bool,
}

impl Logs {
    pub fn open(opts: &Options, drivers: &[Driver], cid: &str) -> Result<Self, LogError> {
        let mut k8s = Vec::new();
        let mut jd = None;
        for d in drivers {
            match d {
                Driver::K8sFile(p) => {
                    k8s.push(k8s_file::K8sFile::open(p.clone(), opts.log_size_max, !opts.no_sync_log)?)
                }
                Driver::Journald if jd.is_none() => {
                    if cid.len() <= 12 {
                        return Err(LogError::ShortId);
                    }
                    let common = journald::common_fields(
                        cid,
                        opts.name.as_deref(),
                        opts.log_tag.as_deref(),
                        &opts.log_labels,
                    );
                    jd = Some(journald::Journald::new(common)?);
                }
                _ => {}
            }
        }
        let global_max = opts.log_global_size_max;
        Ok(Logs { k8s, journald: jd, global_max, global_written: 0, warned: false })
    }

    fn warn(&mut self, err: &dyn std::fmt::Display) {
        if !self.warned {
            crate::warn(&format!("{err}"));
            self.warned = true;
        }
    }

    /// Writes one chunk read from the container.
    pub fn write(&mut self, stream: Stream, buf: &[u8]) {
        if self.global_max > 0 {
            if self.global_written >= self.global_max {
                return;
            }
            self.global_written += buf.len() as i64;
        }
        if !self.k8s.is_empty() {
            let ts = crate::timefmt::now_timestamp();
            for i in 0..self.k8s.len() {
                if let Err(e) = self.k8s[i].write_chunk(&ts, stream, buf) {
                    self.warn(&e);
                }
            }
        }
        if let Some(j) = self.journald.as_mut() {
            if let Err(e) = j.write_chunk(stream, buf) {
                self.warn(&e);
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
                crate::warn(&format!("{e}"));
            }
        }
        for f in &mut self.k8s {
            f.sync();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_parsing() {
        assert_eq!(parse_driver("k8s-file:/a/b").unwrap(), Driver::K8sFile("/a/b".into()));
        assert_eq!(parse_driver("/a/b").unwrap(), Driver::K8sFile("/a/b".into()));
        assert_eq!(parse_driver("journald").unwrap(), Driver::Journald);
        assert_eq!(parse_driver("journald:x").unwrap(), Driver::Journald);
        for off in ["none", "off", "null"] {
            assert_eq!(parse_driver(off).unwrap(), Driver::Off);
        }
        assert_eq!(parse_driver("passthrough").unwrap(), Driver::Passthrough);
        assert!(parse_driver("syslog:x").is_err());
    }

    #[test]
    fn tag_needs_journald() {
        let o = crate::cli::parse(["-l", "k8s-file:/x", "--log-tag", "t"]).unwrap();
        assert!(matches!(parse_drivers(&o), Err(LogError::TagWithoutJournald)));
        let o = crate::cli::parse(["-l", "k8s-file:/x", "-l", "journald", "--log-tag", "t"]).unwrap();
        assert_eq!(parse_drivers(&o).unwrap().len(), 2);
        let o = crate::cli::parse(["-c", "x"]).unwrap();
        assert!(matches!(parse_drivers(&o), Err(LogError::NoDriver)));
    }
}
