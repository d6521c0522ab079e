//! pause, resume, ps, update, events: commands on a running container's cgroup.
use crate::cgroups::{self, resources, stats, Layout};
use crate::cli::UpdateArgs;
use crate::error::Error;
use crate::spec::{Cpu, Memory, Pids, Resources};
use crate::state::{self, StateDir, Status};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// `pause`: freezes the cgroup (a running or created container).
pub fn pause(root: &Path, id: &str) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let st = dir.load()?;
    match state::status(&dir, &st) {
        Status::Running | Status::Created => freeze_and_wait(&st.cgroup),
        status => Err(Error::WrongState { op: "pause", status }),
    }
}

/// A v1 freezer passes through FREEZING (state stays "running" meanwhile) while tasks are caught;
/// as runc does, the request is repeated until it reads FROZEN, and undone if it never does.
fn freeze_and_wait(dirs: &crate::state::CgroupDirs) -> Result<(), Error> {
    for _ in 0..500 {
        cgroups::freeze(dirs)?;
        if cgroups::is_frozen(dirs) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = cgroups::thaw(dirs);
    Err(Error::NotFrozen)
}

/// `resume`: thaws a paused container.
pub fn resume(root: &Path, id: &str) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let st = dir.load()?;
    match state::status(&dir, &st) {
        Status::Paused => Ok(cgroups::thaw(&st.cgroup)?),
        status => Err(Error::WrongState { op: "resume", status }),
    }
}

/// `ps`: the container's pids as a JSON array, or `ps` output filtered to them.
pub fn ps(root: &Path, id: &str, json: bool, ps_args: &[String]) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let st = dir.load()?;
    let mut pids = cgroups::pids(&st.cgroup);
    pids.sort_unstable();
    drop(dir);
    let mut out = std::io::stdout().lock();
    let text = if json {
        format!("{}\n", serde_json::to_string(&pids).expect("pids serialize"))
    } else {
        ps_table(&pids, ps_args)?
    };
    out.write_all(text.as_bytes()).map_err(Error::Stdout)
}

fn ps_table(pids: &[i32], ps_args: &[String]) -> Result<String, Error> {
    let args: Vec<String> = if ps_args.is_empty() { vec!["-ef".into()] } else { ps_args.to_vec() };
    let out = std::process::Command::new("ps").args(&args).output().map_err(|e| Error::sys("run ps", e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header
        .split_whitespace()
        .position(|c| c == "PID")
        .ok_or_else(|| Error::Helper { program: "ps".into(), reason: "its output has no PID column".into() })?;
    let mut result = format!("{header}\n");
    for line in lines {
        let pid = line.split_whitespace().nth(pid_col).and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            result.push_str(line);
            result.push('\n');
        }
    }
    Ok(result)
}

/// `update`: new resource values written into the live cgroup.
pub fn update(root: &Path, a: &UpdateArgs) -> Result<(), Error> {
    let dir = StateDir::open(root, &a.id)?;
    let st = dir.load()?;
    if state::status(&dir, &st) == Status::Stopped {
        return Err(Error::WrongState { op: "update", status: Status::Stopped });
    }
    let res = update_resources(a)?;
    let layout = Layout::detect()?;
    if let Some(m) = &res.memory {
        let dir = stats::dir_of(&layout, &st.cgroup, "memory");
        let read = |f: &str| std::fs::read_to_string(dir.as_ref()?.join(f)).ok()?.trim().parse().ok();
        resources::check_memory_usage(m, layout.host().is_v2("memory"), read).map_err(cgroups::CgroupError::from)?;
    }
    let writes = cgroups::plan_update(&layout, &res)?;
    if st.systemd_cgroup {
        cgroups::scope::update_unit(&st.cgroup, &layout, &res).map_err(cgroups::CgroupError::from)?;
    }
    for w in order_for_update(writes, &layout, &st.cgroup) {
        let d = stats::dir_of(&layout, &st.cgroup, &w.controller)
            .ok_or_else(|| cgroups::CgroupError::NoCgroup(w.controller.clone()))?;
        cgroups::apply_write(&d, &w)?;
    }
    Ok(())
}

/// On v1, memory.limit_in_bytes may not exceed memory.memsw.limit_in_bytes: when the new limit
/// is above the current memsw value, memsw must be raised first.
fn order_for_update(
    mut writes: Vec<resources::Write>,
    layout: &Layout,
    dirs: &crate::state::CgroupDirs,
) -> Vec<resources::Write> {
    let pos = |ws: &[resources::Write], f: &str| ws.iter().position(|w| w.file == f);
    if let (Some(l), Some(s)) = (pos(&writes, "memory.limit_in_bytes"), pos(&writes, "memory.memsw.limit_in_bytes")) {
        let current_swap = stats::dir_of(layout, dirs, "memory")
            .and_then(|d| std::fs::read_to_string(d.join("memory.memsw.limit_in_bytes")).ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(i64::MAX);
        let new_limit: i64 = writes[l].value.parse().unwrap_or(0);
        if new_limit > current_swap || new_limit == -1 {
            let swap = writes.remove(s);
            writes.insert(l, swap);
        }
    }
    writes
}

fn update_resources(a: &UpdateArgs) -> Result<Resources, Error> {
    let mut res = match &a.resources {
        Some(p) => {
            let mut text = String::new();
            if p.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text).map_err(|e| Error::sys("read stdin", e))?;
            } else {
                text = std::fs::read_to_string(p).map_err(|e| Error::from(oxsys::SysError::at("read", p, e)))?;
            }
            serde_json::from_str(&text).map_err(Error::BadResources)?
        }
        None => Resources::default(),
    };
    let mem = |v: &Option<String>| v.as_deref().map(parse_bytes).transpose();
    let (limit, reservation, swap) = (mem(&a.memory)?, mem(&a.memory_reservation)?, mem(&a.memory_swap)?);
    if limit.is_some() || reservation.is_some() || swap.is_some() {
        let m = res.memory.get_or_insert_with(Memory::default);
        m.limit = limit.or(m.limit);
        m.reservation = reservation.or(m.reservation);
        m.swap = swap.or(m.swap);
    }
    let cpu_flags = a.cpu_share.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_period.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some();
    if cpu_flags {
        let c = res.cpu.get_or_insert_with(Cpu::default);
        c.shares = a.cpu_share.or(c.shares);
        c.quota = a.cpu_quota.or(c.quota);
        c.period = a.cpu_period.or(c.period);
        c.realtime_period = a.cpu_rt_period.or(c.realtime_period);
        c.realtime_runtime = a.cpu_rt_runtime.or(c.realtime_runtime);
        c.cpus = a.cpuset_cpus.clone().or(c.cpus.take());
        c.mems = a.cpuset_mems.clone().or(c.mems.take());
    }
    if let Some(limit) = a.pids_limit {
        res.pids = Some(Pids { limit });
    }
    if let Some(w) = a.blkio_weight {
        res.block_io.get_or_insert_with(Default::default).weight = Some(w);
    }
    Ok(res)
}

/// A byte count like runc's flags take: "-1", "1024", "64k", "512m", "1g" (binary units).
pub fn parse_bytes(s: &str) -> Result<i64, Error> {
    let bad = || Error::Usage(format!("invalid size {s:?}"));
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.trim_end_matches('b');
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        Some('t') => (&lower[..lower.len() - 1], 1 << 40),
        _ => (lower, 1),
    };
    num.parse::<i64>().ok().and_then(|n| n.checked_mul(mult)).ok_or_else(bad)
}

/// `events`: statistics once (`--stats`) or every interval, with an "oom" event when the OOM
/// kill count grows, until the container stops.
pub fn events(root: &Path, id: &str, once: bool, interval: &str) -> Result<(), Error> {
    let interval = parse_duration(interval)?;
    let layout = Layout::detect()?;
    let mut last_ooms = None;
    loop {
        let dir = StateDir::open(root, id)?;
        let st = dir.load()?;
        let stopped = state::status(&dir, &st) == Status::Stopped;
        drop(dir);
        let mut out = std::io::stdout().lock();
        let ooms = stats::oom_kills(&layout, &st.cgroup);
        if last_ooms.is_some_and(|n| ooms > n) {
            let ev = serde_json::json!({ "type": "oom", "id": id });
            writeln!(out, "{ev}").map_err(Error::Stdout)?;
        }
        last_ooms = Some(ooms);
        let ev = serde_json::json!({ "type": "stats", "id": id, "data": stats::collect(&layout, &st.cgroup) });
        writeln!(out, "{ev}").map_err(Error::Stdout)?;
        out.flush().map_err(Error::Stdout)?;
        if once || stopped {
            return Ok(());
        }
        drop(out);
        std::thread::sleep(interval);
    }
}

fn parse_duration(s: &str) -> Result<Duration, Error> {
    let bad = || Error::Usage(format!("invalid interval {s:?}"));
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: u64 = num.parse().map_err(|_| bad())?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_and_durations() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert!(parse_duration("5x").is_err());
    }

    /// pause/resume through a fake cgroup tree: v2 writes cgroup.freeze, v1 freezer.state.
    #[test]
    fn freeze_and_thaw_on_fake_v1_and_v2_trees() {
        for (v2, file, frozen, thawed) in
            [(true, "cgroup.freeze", "1", "0"), (false, "freezer.state", "FROZEN", "THAWED")]
        {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().to_path_buf();
            std::fs::write(dir.join(file), thawed).unwrap();
            let dirs = crate::state::CgroupDirs {
                dirs: vec![dir.clone()],
                freezer: Some(dir.clone()),
                freezer_v2: v2,
                ..Default::default()
            };
            assert!(!cgroups::is_frozen(&dirs));
            freeze_and_wait(&dirs).unwrap();
            assert_eq!(std::fs::read_to_string(dir.join(file)).unwrap().trim(), frozen);
            assert!(cgroups::is_frozen(&dirs));
            cgroups::thaw(&dirs).unwrap();
            assert_eq!(std::fs::read_to_string(dir.join(file)).unwrap().trim(), thawed);
            assert!(!cgroups::is_frozen(&dirs));
        }
    }
}
