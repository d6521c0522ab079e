//! `linux.resources` → the file writes that apply them (pure; v1 and v2 names).
use crate::spec::{DeviceRule, Resources};

/// One write of a value into a controller's interface file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The v1 controller owning the file (on v2 every file is in the one directory).
    pub controller: String,
    pub file: String,
    pub value: String,
}

fn w(controller: &str, file: &str, value: impl ToString) -> Write {
    Write { controller: controller.into(), file: file.into(), value: value.to_string() }
}

/// Writes for cgroup v1. `extra_devices` are the device nodes the container gets, which are allowed
/// after the spec's own device rules (as runc does).
pub fn v1_writes(r: &Resources, extra_devices: &[DeviceRule], has_memsw: bool) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(m) = &r.memory {
        if let Some(limit) = m.limit.filter(|l| *l != 0) {
            out.push(w("memory", "memory.limit_in_bytes", limit));
        }
        if let Some(res) = m.reservation.filter(|l| *l != 0) {
            out.push(w("memory", "memory.soft_limit_in_bytes", res));
        }
        if let Some(swap) = m.swap.filter(|l| *l != 0) {
            // memsw is limit+swap in v1 and exists only with swap accounting.
            if has_memsw {
                out.push(w("memory", "memory.memsw.limit_in_bytes", swap));
            }
        }
        if let Some(s) = m.swappiness.filter(|s| *s <= 100) {
            out.push(w("memory", "memory.swappiness", s));
        }
        if m.disable_oom_killer == Some(true) {
            out.push(w("memory", "memory.oom_control", 1));
        }
    }
    if let Some(c) = &r.cpu {
        if let Some(shares) = c.shares.filter(|s| *s != 0) {
            out.push(w("cpu", "cpu.shares", shares));
        }
        if let Some(period) = c.period.filter(|p| *p != 0) {
            out.push(w("cpu", "cpu.cfs_period_us", period));
        }
        if let Some(quota) = c.quota.filter(|q| *q != 0) {
            out.push(w("cpu", "cpu.cfs_quota_us", quota));
        }
        if let Some(p) = c.realtime_period.filter(|p| *p != 0) {
            out.push(w("cpu", "cpu.rt_period_us", p));
        }
        if let Some(rt) = c.realtime_runtime.filter(|p| *p != 0) {
            out.push(w("cpu", "cpu.rt_runtime_us", rt));
        }
        if let Some(cpus) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = c.mems.as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.mems", mems));
        }
    }
    if let Some(p) = &r.pids {
        out.push(w("pids", "pids.max", if p.limit > 0 { p.limit.to_string() } else { "max".into() }));
    }
    for rule in r.devices.iter().chain(extra_devices) {
        let file = if rule.allow { "devices.allow" } else { "devices.deny" };
        out.push(w("devices", file, device_rule_text(rule)));
    }
    out
}

/// Writes for cgroup v2 (the unified hierarchy), including `unified` key/values.
pub fn v2_writes(r: &Resources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(m) = &r.memory {
        if let Some(limit) = m.limit.filter(|l| *l != 0) {
            out.push(w("memory", "memory.max", max_or(limit)));
        }
        if let Some(res) = m.reservation.filter(|l| *l != 0) {
            out.push(w("memory", "memory.low", max_or(res)));
        }
        if let (Some(swap), limit) = (m.swap.filter(|s| *s != 0), m.limit.unwrap_or(0)) {
            // v2 swap.max is swap alone, the spec's value is memory+swap.
            let v = if swap < 0 { "max".into() } else { (swap - limit.max(0)).max(0).to_string() };
            out.push(w("memory", "memory.swap.max", v));
        }
    }
    if let Some(c) = &r.cpu {
        if let Some(shares) = c.shares.filter(|s| *s != 0) {
            out.push(w("cpu", "cpu.weight", shares_to_weight(shares)));
        }
        if c.quota.is_some() || c.period.is_some() {
            let quota = match c.quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".into(),
            };
            out.push(w("cpu", "cpu.max", format!("{quota} {}", c.period.filter(|p| *p != 0).unwrap_or(100_000))));
        }
        if let Some(cpus) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = c.mems.as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.mems", mems));
        }
    }
    if let Some(p) = &r.pids {
        out.push(w("pids", "pids.max", if p.limit > 0 { p.limit.to_string() } else { "max".into() }));
    }
    for (k, v) in r.unified.iter().flatten() {
        let controller = k.split('.').next().unwrap_or_default();
        out.push(w(controller, k, v));
    }
    out
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// cgroup v1 cpu.shares (2–262144) to v2 cpu.weight (1–10000), the formula runc and crun share.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// A v1 devices.allow/deny line: `type major:minor access`, `*` for wildcards.
pub fn device_rule_text(rule: &DeviceRule) -> String {
    let kind = rule.kind.as_deref().filter(|k| !k.is_empty()).unwrap_or("a");
    if kind == "a" && rule.major.is_none() && rule.minor.is_none() {
        return format!("a *:* {}", rule.access.as_deref().unwrap_or("rwm"));
    }
    let num = |n: Option<i64>| n.filter(|n| *n >= 0).map_or("*".to_string(), |n| n.to_string());
    format!("{kind} {}:{} {}", num(rule.major), num(rule.minor), rule.access.as_deref().unwrap_or("rwm"))
}

/// The device rules runc always allows after the spec's: the default nodes, /dev/console, ptys, tun.
pub fn default_allowed_devices(nodes: &[crate::plan::DeviceNode]) -> Vec<DeviceRule> {
    let rule = |kind: char, major: i64, minor: Option<i64>| DeviceRule {
        allow: true,
        kind: Some(kind.to_string()),
        major: Some(major),
        minor,
        access: Some("rwm".into()),
    };
    let mut out: Vec<DeviceRule> = nodes
        .iter()
        .filter(|n| n.kind != 'p')
        .map(|n| rule(n.kind, n.major as i64, Some(n.minor as i64)))
        .collect();
    out.push(rule('c', 5, Some(1)));
    out.push(rule('c', 136, None));
    out.push(rule('c', 5, Some(2)));
    out.push(rule('c', 10, Some(200)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Cpu, Memory, Pids};

    fn res() -> Resources {
        Resources {
            memory: Some(Memory { limit: Some(64 << 20), swap: Some(128 << 20), ..Memory::default() }),
            cpu: Some(Cpu { shares: Some(512), quota: Some(50_000), period: Some(100_000), ..Cpu::default() }),
            pids: Some(Pids { limit: 42 }),
            devices: vec![DeviceRule { allow: false, access: Some("rwm".into()), ..DeviceRule::default() }],
            ..Resources::default()
        }
    }

    #[test]
    fn v1_writes_in_order() {
        let writes = v1_writes(&res(), &[], true);
        let files: Vec<(&str, &str)> = writes.iter().map(|w| (w.file.as_str(), w.value.as_str())).collect();
        assert_eq!(
            files,
            vec![
                ("memory.limit_in_bytes", "67108864"),
                ("memory.memsw.limit_in_bytes", "134217728"),
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("pids.max", "42"),
                ("devices.deny", "a *:* rwm"),
            ]
        );
        // Without swap accounting memsw is skipped rather than failing.
        assert!(v1_writes(&res(), &[], false).iter().all(|w| w.file != "memory.memsw.limit_in_bytes"));
    }

    #[test]
    fn v2_writes_convert_units() {
        let writes = v2_writes(&res());
        let get = |f: &str| writes.iter().find(|w| w.file == f).map(|w| w.value.clone());
        assert_eq!(get("memory.max").as_deref(), Some("67108864"));
        assert_eq!(get("memory.swap.max").as_deref(), Some("67108864"));
        assert_eq!(get("cpu.weight").as_deref(), Some("20"));
        assert_eq!(get("cpu.max").as_deref(), Some("50000 100000"));
        assert_eq!(get("pids.max").as_deref(), Some("42"));
    }

    #[test]
    fn shares_to_weight_matches_the_reference_points() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn device_rules_render_like_v1_expects() {
        let r = DeviceRule { allow: true, kind: Some("c".into()), major: Some(1), minor: Some(3), access: Some("rw".into()) };
        assert_eq!(device_rule_text(&r), "c 1:3 rw");
        let r = DeviceRule { allow: true, kind: Some("c".into()), major: Some(136), minor: None, access: None };
        assert_eq!(device_rule_text(&r), "c 136:* rwm");
    }
}
