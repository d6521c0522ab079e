//! `linux.resources` → the file writes that apply them (pure). Each controller is translated to
//! v1 or v2 names depending on where the host has it, so a hybrid host gets a mix (here:
//! everything on v1 except what the cgroup2 mount carries, such as hugetlb).
use super::blkio;
use super::devices;
use super::resource_error::invalid;
pub use super::resource_error::ResourceError;
use super::resource_plan::w;
pub use super::resource_plan::{Host, ResourcePlan, Write};
use crate::spec::{Cpu, DeviceRule, Memory, Resources};

/// Translates `r` for `host`. `extra_devices` are the container's own device nodes, allowed
/// after the spec's device rules (as runc does).
pub fn plan(r: &Resources, host: &Host, extra_devices: &[DeviceRule]) -> Result<ResourcePlan, ResourceError> {
    let mut p = ResourcePlan::default();
    if let Some(m) = &r.memory {
        if host.is_v2("memory") {
            memory_v2(m, &mut p)?;
        } else {
            memory_v1(m, host.has_memsw, &mut p)?;
        }
    }
    if let Some(c) = &r.cpu {
        cpu(c, host, &mut p)?;
    }
    if let Some(pids) = &r.pids {
        p.writes.push(w("pids", "pids.max", if pids.limit > 0 { pids.limit.to_string() } else { "max".into() }));
    }
    if let Some(b) = &r.block_io {
        blkio::block_io(b, host.is_v2("io"), &mut p)?;
    }
    for h in &r.hugepage_limits {
        blkio::hugepages(h, host.is_v2("hugetlb"), &mut p)?;
    }
    if let Some(n) = &r.network {
        blkio::network(n, host.v2_only, &mut p);
    }
    for (dev, limit) in r.rdma.iter().flatten() {
        blkio::rdma(dev, limit, &mut p)?;
    }
    if !r.devices.is_empty() {
        let rules: Vec<DeviceRule> = r.devices.iter().chain(extra_devices).cloned().collect();
        if host.v2_only {
            p.device_program = Some(devices::program(&rules)?);
        } else {
            for rule in &rules {
                let file = if rule.allow { "devices.allow" } else { "devices.deny" };
                p.writes.push(w("devices", file, devices::rule_text(rule)?));
            }
        }
    }
    unified(r, host, &mut p)?;
    Ok(p)
}

fn memory_v1(m: &Memory, has_memsw: bool, p: &mut ResourcePlan) -> Result<(), ResourceError> {
    if m.kernel.is_some_and(|k| k != 0) {
        p.warnings.push(KERNEL_IGNORED.into());
    }
    if let (Some(limit), Some(swap)) = (m.limit.filter(|l| *l > 0), m.swap.filter(|s| *s > 0)) {
        if swap < limit {
            return Err(invalid("memory.swap", format!("{swap} is below memory.limit {limit} (swap is memory+swap)")));
        }
    }
    if let Some(limit) = m.limit.filter(|l| *l != 0) {
        p.writes.push(w("memory", "memory.limit_in_bytes", limit));
    }
    if let Some(res) = m.reservation.filter(|l| *l != 0) {
        p.writes.push(w("memory", "memory.soft_limit_in_bytes", res));
    }
    if let Some(swap) = m.swap.filter(|l| *l != 0) {
        // memsw is memory+swap and exists only with swap accounting; without it the kernel cannot
        // limit swap at all, which runc also tolerates.
        if has_memsw {
            p.writes.push(w("memory", "memory.memsw.limit_in_bytes", swap));
        } else {
            p.warnings.push(
                "linux.resources.memory.swap ignored: swap accounting is off (no memory.memsw.limit_in_bytes)".into(),
            );
        }
    }
    if let Some(s) = m.swappiness {
        if s > 100 {
            return Err(invalid("memory.swappiness", format!("{s} is above 100")));
        }
        p.writes.push(w("memory", "memory.swappiness", s));
    }
    if m.disable_oom_killer == Some(true) {
        p.writes.push(w("memory", "memory.oom_control", 1));
    }
    // config-linux.md: kernelTCP "sets hard limit for kernel TCP buffer memory in bytes". v1's
    // memory.kmem.tcp.limit_in_bytes still applies it (6.x reads back what it was given), unlike
    // memory.kmem.limit_in_bytes, which the kernel accepts and ignores since 5.16.
    if let Some(tcp) = m.kernel_tcp.filter(|k| *k != 0) {
        p.writes.push(w("memory", "memory.kmem.tcp.limit_in_bytes", tcp));
    }
    match m.use_hierarchy {
        Some(true) => p.writes.push(w("memory", "memory.use_hierarchy", 1)),
        // Since Linux 5.x use_hierarchy is always 1 and writing 0 fails.
        Some(false) => p.warnings.push(
            "linux.resources.memory.useHierarchy=false ignored: the kernel always accounts hierarchically".into(),
        ),
        None => {}
    }
    Ok(())
}

fn memory_v2(m: &Memory, p: &mut ResourcePlan) -> Result<(), ResourceError> {
    if m.kernel.is_some_and(|k| k != 0) {
        p.warnings.push(KERNEL_IGNORED.into());
    }
    if m.kernel_tcp.is_some_and(|k| k != 0) {
        p.warnings.push("linux.resources.memory.kernelTCP ignored: cgroup v2 has no kernel TCP memory limit".into());
    }
    if let Some(limit) = m.limit.filter(|l| *l != 0) {
        p.writes.push(w("memory", "memory.max", max_or(limit)));
    }
    if let Some(res) = m.reservation.filter(|l| *l != 0) {
        p.writes.push(w("memory", "memory.low", max_or(res)));
    }
    if let Some(swap) = swap_v2(m.swap.unwrap_or(0), m.limit.unwrap_or(0))? {
        p.writes.push(w("memory", "memory.swap.max", swap));
    }
    if m.swappiness.is_some() {
        p.warnings.push("linux.resources.memory.swappiness ignored: cgroup v2 has no per-cgroup swappiness".into());
    }
    if m.disable_oom_killer == Some(true) {
        p.warnings
            .push("linux.resources.memory.disableOOMKiller ignored: cgroup v2 cannot disable the OOM killer".into());
    }
    if m.use_hierarchy == Some(false) {
        p.warnings.push("linux.resources.memory.useHierarchy=false ignored: cgroup v2 is always hierarchical".into());
    }
    Ok(())
}

const KERNEL_IGNORED: &str = "linux.resources.memory.kernel ignored: kernel memory limits are deprecated and not set";

/// memory.checkBeforeUpdate (runtime-spec 1.3, config-linux.md#memory): "enables checking if a
/// new memory limit is lower than the current usage during update, and if so, rejecting the new
/// limit". As runc 1.2 (which does it on v2 only; v1 has the same usage file under another
/// name): the limit and the memory+swap limit must be above the usage `read_usage` returns for
/// the file named; a usage that cannot be read is no reason to refuse.
pub fn check_memory_usage(m: &Memory, v2: bool, read_usage: impl Fn(&str) -> Option<u64>) -> Result<(), ResourceError> {
    if m.check_before_update != Some(true) {
        return Ok(());
    }
    let (limit, swap) = (m.limit.unwrap_or(0), m.swap.unwrap_or(0));
    if limit <= 0 && swap <= 0 {
        return Ok(());
    }
    let Some(usage) = read_usage(if v2 { "memory.current" } else { "memory.usage_in_bytes" }) else {
        return Ok(());
    };
    for (field, value) in [("memory.swap", swap), ("memory.limit", limit)] {
        if value > 0 && value as u64 <= usage {
            return Err(ResourceError::BelowUsage { field, limit: value, usage });
        }
    }
    Ok(())
}

/// The spec's swap is memory+swap; v2 memory.swap.max is swap alone (runc's conversion).
pub fn swap_v2(swap: i64, limit: i64) -> Result<Option<String>, ResourceError> {
    match (swap, limit) {
        (0, _) => Ok(None),
        (-1, _) => Ok(Some("max".into())),
        (_, 0) => Err(invalid("memory.swap", "a swap limit needs a memory limit on cgroup v2")),
        (_, -1) => Err(invalid("memory.swap", "a swap limit needs a finite memory limit on cgroup v2")),
        (s, l) if s < l => Err(invalid("memory.swap", format!("{s} is below memory.limit {l} (swap is memory+swap)"))),
        (s, l) => Ok(Some((s - l).to_string())),
    }
}

fn cpu(c: &Cpu, host: &Host, p: &mut ResourcePlan) -> Result<(), ResourceError> {
    let v2 = host.is_v2("cpu");
    if let Some(shares) = c.shares.filter(|s| *s != 0) {
        p.writes.push(if v2 {
            w("cpu", "cpu.weight", shares_to_weight(shares))
        } else {
            w("cpu", "cpu.shares", shares)
        });
    }
    if v2 {
        if c.quota.is_some_and(|q| q != 0) || c.period.is_some_and(|q| q != 0) {
            let quota = c.quota.filter(|q| *q > 0).map_or("max".to_string(), |q| q.to_string());
            p.writes.push(w("cpu", "cpu.max", format!("{quota} {}", c.period.filter(|p| *p != 0).unwrap_or(100_000))));
        }
        if let Some(b) = c.burst {
            p.writes.push(w("cpu", "cpu.max.burst", b));
        }
        if c.realtime_period.is_some_and(|v| v != 0) || c.realtime_runtime.is_some_and(|v| v != 0) {
            return Err(invalid("cpu.realtimeRuntime", "real-time CPU bandwidth exists only on cgroup v1"));
        }
    } else {
        // The period first: a quota is checked against the period in place.
        if let Some(period) = c.period.filter(|p| *p != 0) {
            p.writes.push(w("cpu", "cpu.cfs_period_us", period));
        }
        if let Some(quota) = c.quota.filter(|q| *q != 0) {
            p.writes.push(w("cpu", "cpu.cfs_quota_us", quota));
        }
        if let Some(b) = c.burst {
            p.writes.push(w("cpu", "cpu.cfs_burst_us", b));
        }
        if let Some(period) = c.realtime_period.filter(|p| *p != 0) {
            p.writes.push(w("cpu", "cpu.rt_period_us", period));
        }
        if let Some(rt) = c.realtime_runtime.filter(|p| *p != 0) {
            p.writes.push(w("cpu", "cpu.rt_runtime_us", rt));
        }
    }
    if let Some(idle) = c.idle {
        if !(0..=1).contains(&idle) {
            return Err(invalid("cpu.idle", format!("{idle} is neither 0 nor 1")));
        }
        p.writes.push(w("cpu", "cpu.idle", idle));
    }
    if let Some(cpus) = c.cpus.as_deref().filter(|s| !s.is_empty()) {
        p.writes.push(w("cpuset", "cpuset.cpus", cpus));
    }
    if let Some(mems) = c.mems.as_deref().filter(|s| !s.is_empty()) {
        p.writes.push(w("cpuset", "cpuset.mems", mems));
    }
    Ok(())
}

/// Raw v2 key/values. A key names its controller by its prefix ("memory.high" → memory).
fn unified(r: &Resources, host: &Host, p: &mut ResourcePlan) -> Result<(), ResourceError> {
    for (k, v) in r.unified.iter().flatten() {
        if !host.has_v2 {
            return Err(ResourceError::UnifiedOnV1 { key: k.clone() });
        }
        if k.contains('/') || k.starts_with('.') || !k.contains('.') {
            return Err(invalid("unified", format!("{k:?} is not a cgroup interface file name")));
        }
        let controller = k.split('.').next().unwrap_or_default();
        if !host.v2_only && !host.v2_controllers.iter().any(|c| c == controller) {
            return Err(ResourceError::UnifiedNotOnV2 { key: k.clone(), controller: controller.into() });
        }
        p.writes.push(w(controller, k, v));
    }
    Ok(())
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

#[cfg(test)]
#[path = "resources_tests.rs"]
mod tests;
