//! The systemd cgroup driver (--systemd-cgroup): cgroupsPath "slice:prefix:name" names a
//! transient scope that systemd creates over D-Bus (org.freedesktop.systemd1.Manager
//! .StartTransientUnit), with the resources as unit properties.
//!
//! This file is the pure part: the path syntax, where the scope's cgroup is, and the resources →
//! properties mapping (including org.systemd.property.* annotations). The wire format is in
//! `dbus`/`dbus_decode`, the connection in `dbus_conn`, the scope's life in `scope`.
pub use super::dbus::Value;
use crate::spec::Resources;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("cgroupsPath {0:?} is not slice:prefix:name (as --systemd-cgroup expects)")]
    BadPath(String),
    #[error("cgroupsPath {path:?}: {part:?} is not a valid systemd unit name (letters, digits and \":-_.\\@\" only)")]
    BadUnitName { path: String, part: String },
    /// Talking to systemd failed, or systemd answered with an error.
    #[error("systemd unit {unit}: {op}: {source}")]
    Bus { unit: String, op: &'static str, source: super::dbus_conn::BusError },
    #[error("systemd unit {unit}: the {op} job ended {result:?}, not \"done\"")]
    JobFailed { unit: String, op: &'static str, result: String },
    #[error("annotation {key}: cannot read {value:?} as a D-Bus value (true, false, 'text', uint64 N, int64 N, uint32 N, int32 N, or a bare number)")]
    BadAnnotation { key: String, value: String },
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
    // systemd refuses other names anyway; checking here also keeps NUL out of D-Bus strings.
    if let Some(part) = [slice, prefix, name]
        .into_iter()
        .find(|p| p.len() > 255 || !p.chars().all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c)))
    {
        return Err(SystemdError::BadUnitName { path: path.into(), part: part.into() });
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

/// Unit properties in the order they are sent.
pub type Properties = Vec<(String, Value)>;

/// The properties of the transient scope for `pid`, as runc sets them. `v2` picks the cgroup v2
/// property names (MemoryMax, CPUWeight, IOWeight) over the v1 ones; `proc_devices` (the text
/// of /proc/devices) names the drivers of whole-major device rules.
pub fn properties(
    u: &UnitPath,
    pid: u32,
    res: &Resources,
    annotations: &BTreeMap<String, String>,
    v2: bool,
    proc_devices: &str,
) -> Result<(Properties, Vec<String>), SystemdError> {
    let mut p: Vec<(String, Value)> = vec![
        ("Description".into(), Value::Str(format!("oxrun container {}", u.unit))),
        ("Slice".into(), Value::Str(u.slice.clone())),
        ("PIDs".into(), Value::U32s(vec![pid])),
        ("Delegate".into(), Value::Bool(true)),
        ("DefaultDependencies".into(), Value::Bool(false)),
        // Accounting on, as runc does: systemd then realizes the scope in those controllers
        // even without a limit, and the container has the statistics it has with cgroupfs.
        ("MemoryAccounting".into(), Value::Bool(true)),
        ("CPUAccounting".into(), Value::Bool(true)),
        ((if v2 { "IOAccounting" } else { "BlockIOAccounting" }).into(), Value::Bool(true)),
        ("TasksAccounting".into(), Value::Bool(true)),
    ];
    let mut warnings = Vec::new();
    resource_properties(res, v2, &mut p);
    device_properties(res, proc_devices, &mut p, &mut warnings);
    for (key, value) in annotations {
        let Some(name) = key.strip_prefix("org.systemd.property.") else { continue };
        let v = parse_annotation(value)
            .ok_or_else(|| SystemdError::BadAnnotation { key: key.clone(), value: value.clone() })?;
        // An annotation overrides a property derived from the spec.
        p.retain(|(n, _)| n != name);
        p.push((name.to_string(), v));
    }
    Ok((p, warnings))
}

/// The properties `update` sets on a running container's unit (runc's SetUnitProperties): the
/// resource ones alone, so systemd keeps the new limits when it reapplies the unit's values.
pub fn update_properties(res: &Resources, v2: bool) -> Properties {
    let mut p = Vec::new();
    resource_properties(res, v2, &mut p);
    p
}

fn resource_properties(res: &Resources, v2: bool, p: &mut Vec<(String, Value)>) {
    let mut set = |name: &str, v: Value| p.push((name.to_string(), v));
    if let Some(m) = &res.memory {
        if let Some(limit) = m.limit.filter(|l| *l > 0) {
            set(if v2 { "MemoryMax" } else { "MemoryLimit" }, Value::U64(limit as u64));
        }
        if let Some(low) = m.reservation.filter(|l| *l > 0 && v2) {
            set("MemoryLow", Value::U64(low as u64));
        }
        if let (Some(swap), Some(limit), true) = (m.swap.filter(|s| *s > 0), m.limit.filter(|l| *l > 0), v2) {
            set("MemorySwapMax", Value::U64((swap - limit).max(0) as u64));
        }
    }
    if let Some(c) = &res.cpu {
        if let Some(shares) = c.shares.filter(|s| *s != 0) {
            if v2 {
                set("CPUWeight", Value::U64(super::resources::shares_to_weight(shares)));
            } else {
                set("CPUShares", Value::U64(shares));
            }
        }
        if let Some(period) = c.period.filter(|p| *p != 0) {
            set("CPUQuotaPeriodUSec", Value::U64(period));
        }
        if let Some(quota) = c.quota.filter(|q| *q > 0) {
            // systemd wants CPU time per second of wall time.
            let period = c.period.filter(|p| *p != 0).unwrap_or(100_000);
            set("CPUQuotaPerSecUSec", Value::U64((quota as u64 * 1_000_000).div_ceil(period)));
        }
        if let Some(mask) = c.cpus.as_deref().and_then(cpu_mask) {
            set("AllowedCPUs", Value::Bytes(mask));
        }
        if let Some(mask) = c.mems.as_deref().and_then(cpu_mask) {
            set("AllowedMemoryNodes", Value::Bytes(mask));
        }
    }
    if let Some(pids) = &res.pids {
        set("TasksMax", Value::U64(if pids.limit > 0 { pids.limit as u64 } else { u64::MAX }));
    }
    // Weight 0 (Docker's spec when no --blkio-weight is given) means unset, as in runc; systemd
    // refuses IOWeight=0.
    if let Some(w) = res.block_io.as_ref().and_then(|b| b.weight).filter(|w| *w != 0) {
        set(
            if v2 { "IOWeight" } else { "BlockIOWeight" },
            Value::U64(if v2 { super::blkio::blkio_weight_to_io(w) } else { u64::from(w) }),
        );
    }
}

/// DevicePolicy=strict plus one DeviceAllow per allow rule: "/dev/char/M:N" for one node,
/// "char-<driver>" for a whole major (systemd names majors by their driver in /proc/devices, as
/// runc maps them) and "char-*" for every device of a type. Deny rules after the first cannot be
/// said to systemd; the cgroupfs writes still apply them.
fn device_properties(res: &Resources, proc_devices: &str, p: &mut Vec<(String, Value)>, warnings: &mut Vec<String>) {
    let Some(first) = res.devices.first() else { return };
    if first.allow || first.kind.as_deref().is_some_and(|k| k != "a") || first.major.is_some() {
        warnings.push("systemd driver: device rules that do not start with a deny-all are not mapped".into());
        return;
    }
    let mut allow = Vec::new();
    for r in res.devices.iter().skip(1) {
        let kinds: &[&str] = match r.kind.as_deref() {
            _ if !r.allow => &[],
            Some("c") | Some("u") => &["char"],
            Some("b") => &["block"],
            Some("a") | None => &["char", "block"],
            _ => &[],
        };
        if kinds.is_empty() {
            warnings.push(format!("systemd driver: device rule {r:?} not mapped"));
        }
        let access = r.access.clone().filter(|a| !a.is_empty()).unwrap_or_else(|| "rwm".into());
        for kind in kinds {
            let name = match (r.major.filter(|m| *m >= 0), r.minor.filter(|m| *m >= 0)) {
                (None, _) => Some(format!("{kind}-*")),
                (Some(maj), Some(min)) => Some(format!("/dev/{kind}/{maj}:{min}")),
                (Some(maj), None) => driver_name(proc_devices, kind, maj).map(|d| format!("{kind}-{d}")),
            };
            match name {
                Some(n) => allow.push((n, access.clone())),
                None => warnings.push(format!(
                    "systemd driver: device rule {r:?} not mapped (no {kind} driver with that major in /proc/devices)"
                )),
            }
        }
    }
    p.push(("DevicePolicy".into(), Value::Str("strict".into())));
    p.push(("DeviceAllow".into(), Value::Pairs(allow)));
}

/// The driver name of a major in /proc/devices text ("char" or "block" section); the first
/// one listed, as runc takes it.
pub fn driver_name(proc_devices: &str, kind: &str, major: i64) -> Option<String> {
    let section = if kind == "char" { "Character devices:" } else { "Block devices:" };
    let mut inside = false;
    for line in proc_devices.lines().map(str::trim) {
        if line.ends_with("devices:") {
            inside = line == section;
            continue;
        }
        let mut words = line.split_whitespace();
        if inside && words.next().and_then(|m| m.parse::<i64>().ok()) == Some(major) {
            return words.next().map(str::to_string);
        }
    }
    None
}

/// "0-2,4" → a little-endian bit mask (byte 0 holds CPUs 0–7), as AllowedCPUs takes it.
pub fn cpu_mask(list: &str) -> Option<Vec<u8>> {
    let mut mask = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => (part.parse().ok()?, part.parse().ok()?),
        };
        if lo > hi || hi > 8191 {
            return None;
        }
        for cpu in lo..=hi {
            if mask.len() <= cpu / 8 {
                mask.resize(cpu / 8 + 1, 0);
            }
            mask[cpu / 8] |= 1 << (cpu % 8);
        }
    }
    Some(mask)
}

/// The value of an org.systemd.property.* annotation, in GVariant text form as runc reads it.
pub fn parse_annotation(text: &str) -> Option<Value> {
    let t = text.trim();
    if let Some(s) = t
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| t.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
    {
        // A D-Bus string cannot hold NUL.
        return (!s.contains('\0')).then(|| Value::Str(s.to_string()));
    }
    match t {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    let (ty, num) = t.split_once(' ').unwrap_or(("", t));
    match ty {
        "uint64" => num.parse().ok().map(Value::U64),
        "int64" => num.parse().ok().map(Value::I64),
        "uint32" => num.parse().ok().map(Value::U32),
        "int32" | "" => num.parse().ok().map(Value::I32),
        _ => None,
    }
}

#[cfg(test)]
#[path = "systemd_tests.rs"]
mod tests;
