//! Reading a container's resource usage back from its cgroup files (runc's `events` shape).
use super::CgroupDirs;
use super::Layout;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};

fn read_u64(dir: &Path, file: &str) -> Option<u64> {
    fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
}

/// Parses "key value" lines (memory.stat, cpu.stat, memory.events).
pub fn parse_flat_keyed(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The container's directory for a controller (v1), or its one directory (v2).
pub fn dir_of(layout: &Layout, dirs: &CgroupDirs, controller: &str) -> Option<PathBuf> {
    if dirs.freezer_v2 {
        return dirs.dirs.first().cloned();
    }
    // On a hybrid host a controller may live on the cgroup2 mount (hugetlb here).
    let h = layout.hierarchy_of(controller)?;
    dirs.dirs.iter().find(|d| d.starts_with(&h.mount)).cloned()
}

/// Statistics as runc's `events --stats` prints them under "data".
pub fn collect(layout: &Layout, dirs: &CgroupDirs) -> Value {
    let mut data = json!({});
    // Pure v2 first: there `dir_of` answers the one cgroup for every controller name, cpuacct
    // included, whose v1 files do not exist (the guest of issue 16 saw usage 0).
    if dirs.freezer_v2 {
        if let Some(d) = dirs.dirs.first() {
            let stat = parse_flat_keyed(&fs::read_to_string(d.join("cpu.stat")).unwrap_or_default());
            let get = |k: &str| stat.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v) * 1000;
            data["cpu"] = json!({ "usage": { "total": get("usage_usec"), "kernel": get("system_usec"), "user": get("user_usec") } });
        }
    } else if let Some(d) = dir_of(layout, dirs, "cpuacct") {
        let percpu: Vec<u64> = fs::read_to_string(d.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let stat = parse_flat_keyed(&fs::read_to_string(d.join("cpuacct.stat")).unwrap_or_default());
        let ticks =
            |k: &str| stat.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v) * (1_000_000_000 / oxsys::clock_ticks());
        data["cpu"] = json!({ "usage": { "total": read_u64(&d, "cpuacct.usage").unwrap_or(0), "percpu": percpu,
            "kernel": ticks("system"), "user": ticks("user") } });
    }
    if let Some(d) = dir_of(layout, dirs, "cpu") {
        if !dirs.freezer_v2 {
            let stat = parse_flat_keyed(&fs::read_to_string(d.join("cpu.stat")).unwrap_or_default());
            let get = |k: &str| stat.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v);
            data["cpu"]["throttling"] = json!({ "periods": get("nr_periods"), "throttledPeriods": get("nr_throttled"), "throttledTime": get("throttled_time") });
        }
    }
    if let Some(d) = dir_of(layout, dirs, "memory") {
        let (usage, limit, max, failcnt) = if dirs.freezer_v2 {
            (read_u64(&d, "memory.current"), read_u64(&d, "memory.max"), read_u64(&d, "memory.peak"), None)
        } else {
            (
                read_u64(&d, "memory.usage_in_bytes"),
                read_u64(&d, "memory.limit_in_bytes"),
                read_u64(&d, "memory.max_usage_in_bytes"),
                read_u64(&d, "memory.failcnt"),
            )
        };
        let raw: serde_json::Map<String, Value> =
            parse_flat_keyed(&fs::read_to_string(d.join("memory.stat")).unwrap_or_default())
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect();
        data["memory"] = json!({ "usage": { "usage": usage.unwrap_or(0), "limit": limit.unwrap_or(u64::MAX), "max": max.unwrap_or(0), "failcnt": failcnt.unwrap_or(0) }, "raw": raw });
        // Not in runc's shape: the OOM kill count, so a caller that starts late still sees it.
        data["memory"]["oomKills"] = json!(oom_kills(layout, dirs));
    }
    if let Some(d) = dir_of(layout, dirs, "pids") {
        let limit = fs::read_to_string(d.join("pids.max")).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
        data["pids"] = json!({ "current": read_u64(&d, "pids.current").unwrap_or(0), "limit": limit });
    }
    if let Some(d) = dir_of(layout, dirs, "blkio") {
        let entries = |file: &str| -> Vec<Value> {
            fs::read_to_string(d.join(file))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let (maj, min) = f.first()?.split_once(':')?;
                    Some(json!({ "major": maj.parse::<u64>().ok()?, "minor": min.parse::<u64>().ok()?, "op": f.get(1)?, "value": f.get(2)?.parse::<u64>().ok()? }))
                })
                .collect()
        };
        data["blkio"] = json!({ "ioServiceBytesRecursive": entries("blkio.throttle.io_service_bytes"), "ioServicedRecursive": entries("blkio.throttle.io_serviced") });
    }
    data
}

/// The file whose `oom_kill N` line counts the container's OOM kills (what a monitor watches):
/// v1 memory.oom_control, v2 memory.events.
pub fn oom_file(layout: &Layout, dirs: &CgroupDirs) -> Option<PathBuf> {
    let d = dir_of(layout, dirs, "memory")?;
    Some(d.join(if dirs.freezer_v2 { "memory.events" } else { "memory.oom_control" }))
}

/// The number of OOM kills so far (v1 memory.oom_control `oom_kill`, v2 memory.events `oom_kill`).
pub fn oom_kills(layout: &Layout, dirs: &CgroupDirs) -> u64 {
    let Some(file) = oom_file(layout, dirs) else { return 0 };
    parse_flat_keyed(&fs::read_to_string(file).unwrap_or_default())
        .into_iter()
        .find(|(k, _)| k == "oom_kill")
        .map_or(0, |(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_files_parse() {
        let v = parse_flat_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
        assert_eq!(v.last().unwrap(), &("oom_kill".to_string(), 3));
    }

    #[test]
    fn stats_from_a_fake_v1_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let mem = tmp.path().join("memory");
        let pids = tmp.path().join("pids");
        fs::create_dir_all(mem.join("c")).unwrap();
        fs::create_dir_all(pids.join("c")).unwrap();
        fs::write(mem.join("c/memory.usage_in_bytes"), "4096\n").unwrap();
        fs::write(mem.join("c/memory.limit_in_bytes"), "33554432\n").unwrap();
        fs::write(mem.join("c/memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n").unwrap();
        fs::write(pids.join("c/pids.current"), "3\n").unwrap();
        fs::write(pids.join("c/pids.max"), "max\n").unwrap();
        let mountinfo = format!(
            "1 1 0:1 / {} rw - cgroup cgroup rw,memory\n2 1 0:2 / {} rw - cgroup cgroup rw,pids\n",
            mem.display(),
            pids.display()
        );
        let layout = Layout::parse(&mountinfo, "");
        let dirs = CgroupDirs { dirs: vec![mem.join("c"), pids.join("c")], ..CgroupDirs::default() };
        let data = collect(&layout, &dirs);
        assert_eq!(data["memory"]["usage"]["usage"], 4096);
        assert_eq!(data["memory"]["usage"]["limit"], 33554432);
        assert_eq!(data["pids"]["current"], 3);
        assert_eq!(oom_kills(&layout, &dirs), 2);
        assert_eq!(data["memory"]["oomKills"], 2);
    }
}
