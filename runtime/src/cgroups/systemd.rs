//! The systemd cgroup driver (--systemd-cgroup): cgroupsPath "slice:prefix:name" names a
//! transient scope that systemd would create over D-Bus.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SystemdError {
    #[error("cgroupsPath {0:?} is not slice:prefix:name (as --systemd-cgroup expects)")]
    BadPath(String),
    #[error(
        "--systemd-cgroup: the D-Bus transport to systemd (connect, AUTH EXTERNAL, Hello, wait for \
         JobRemoved) is not implemented; oxrun only builds the StartTransientUnit message. Use the \
         cgroupfs driver (omit --systemd-cgroup)"
    )]
    NoTransport,
}

/// A parsed systemd cgroupsPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitPath {
    /// The parent slice, e.g. "system.slice".
    pub slice: String,
    /// The scope's unit name, "<prefix>-<name>.scope" (or `name` when it already ends in .slice).
    pub unit: String,
}

/// Parses "slice:prefix:name" as runc does: an empty slice means system.slice, an empty path
/// means "system.slice:oxrun:<id>".
pub fn parse_path(path: &str, id: &str) -> Result<UnitPath, SystemdError> {
    let path = path.trim_start_matches('/');
    let default = format!("system.slice:oxrun:{id}");
    let path = if path.is_empty() || path == id { default.as_str() } else { path };
    let parts: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = parts[..] else { return Err(SystemdError::BadPath(path.into())) };
    if name.is_empty() || [slice, prefix, name].iter().any(|p| p.contains('/')) {
        return Err(SystemdError::BadPath(path.into()));
    }
    let slice = if slice.is_empty() { "system.slice".to_string() } else { slice.to_string() };
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(UnitPath { slice, unit })
}

/// Where systemd would put the scope in a cgroupfs hierarchy: "a-b.slice" nests as
/// "a.slice/a-b.slice".
pub fn cgroup_dir(u: &UnitPath) -> PathBuf {
    let mut out = PathBuf::from("/");
    if u.slice != "-.slice" {
        let stem = u.slice.trim_end_matches(".slice");
        let mut acc = String::new();
        for part in stem.split('-') {
            if !acc.is_empty() {
                acc.push('-');
            }
            acc.push_str(part);
            out.push(format!("{acc}.slice"));
        }
    }
    out.push(&u.unit);
    out
}
