//! OOM detection: cgroup v1 `memory.oom_control` eventfd, plus the `oom_kill` counter
//! (v1 `memory.oom_control`, v2 `memory.events`) checked at exit.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::eventfd::{EfdFlags, EventFd};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The memory cgroup of a process as found in `/proc/<pid>/cgroup`.
#[derive(Debug, PartialEq, Eq)]
pub enum MemCgroup {
    V1(PathBuf),
    V2(PathBuf),
}

/// Parses `/proc/<pid>/cgroup`; a v1 `memory` controller line wins over the v2 `0::` line.
pub fn parse_proc_cgroup(content: &str, unified_only: bool) -> Option<MemCgroup> {
    let mut v2 = None;
    for line in content.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        if ctrls.split(',').any(|c| c == "memory") {
            return Some(MemCgroup::V1(Path::new(CGROUP_ROOT).join("memory").join(path.trim_start_matches('/'))));
        }
        if ctrls.is_empty() && unified_only {
            v2 = Some(MemCgroup::V2(Path::new(CGROUP_ROOT).join(path.trim_start_matches('/'))));
        }
    }
    v2
}

/// Reads a `key value` counter from a cgroup file body.
pub fn parse_counter(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Watches one container's memory cgroup.
pub struct OomWatch {
    cgroup: Option<MemCgroup>,
    event: Option<EventFd>,
    _control: Option<OwnedFd>,
    baseline: u64,
}

impl OomWatch {
    pub fn none() -> Self {
        OomWatch { cgroup: None, event: None, _control: None, baseline: 0 }
    }

    /// Starts watching the memory cgroup of `pid`.
    pub fn setup(pid: i32) -> Self {
        let unified_only = Path::new(CGROUP_ROOT).join("cgroup.controllers").exists();
        let content = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let Some(cg) = parse_proc_cgroup(&content, unified_only) else { return Self::none() };
        let mut w = OomWatch { cgroup: Some(cg), event: None, _control: None, baseline: 0 };
        w.baseline = w.oom_kills().unwrap_or(0);
        if let Some(MemCgroup::V1(dir)) = &w.cgroup {
            if let Some((efd, ctl)) = register_v1(dir) {
                w.event = Some(efd);
                w._control = Some(ctl);
            }
        }
        w
    }

    fn oom_kills(&self) -> Option<u64> {
        match self.cgroup.as_ref()? {
            MemCgroup::V1(d) => {
                parse_counter(&std::fs::read_to_string(d.join("memory.oom_control")).ok()?, "oom_kill")
            }
            MemCgroup::V2(d) => {
                let body = std::fs::read_to_string(d.join("memory.events")).ok()?;
                Some(parse_counter(&body, "oom_kill").unwrap_or(0).max(parse_counter(&body, "oom").unwrap_or(0)))
            }
        }
    }

    pub fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        self.event.as_ref().map(|e| e.as_fd())
    }

    /// Called when the eventfd is readable; true if this was a real OOM (cgroup still there).
    pub fn on_event(&mut self) -> bool {
        let Some(ev) = self.event.as_ref() else { return false };
        let _ = ev.read();
        match &self.cgroup {
            Some(MemCgroup::V1(d)) if d.join("memory.oom_control").exists() => true,
            _ => {
                self.event = None;
                false
            }
        }
    }

    /// Final check at exit: did the `oom_kill` counter grow?
    pub fn final_check(&self) -> bool {
        self.oom_kills().is_some_and(|n| n > self.baseline)
    }
}

fn register_v1(dir: &Path) -> Option<(EventFd, OwnedFd)> {
    let control = std::fs::File::open(dir.join("memory.oom_control")).ok()?;
    let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).ok()?;
    use std::os::fd::AsRawFd;
    let line = format!("{} {}", efd.as_fd().as_raw_fd(), control.as_raw_fd());
    std::fs::write(dir.join("cgroup.event_control"), line).ok()?;
    Some((efd, OwnedFd::from(control)))
}

/// Creates the empty `oom` marker files.
pub fn write_oom_files(dirs: &[&Path]) {
    for d in dirs {
        let p = d.join("oom");
        if let Err(e) = std::fs::OpenOptions::new().create(true).write(true).truncate(false).open(&p) {
            crate::warn(&format!("failed to write oom file {}: {e}", p.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_cgroup_parsing() {
        let v1 = "12:pids:/x\n4:memory:/process_api/abc\n0::/user.slice\n";
        assert_eq!(
            parse_proc_cgroup(v1, false),
            Some(MemCgroup::V1("/sys/fs/cgroup/memory/process_api/abc".into()))
        );
        assert_eq!(parse_proc_cgroup("0::/a/b\n", true), Some(MemCgroup::V2("/sys/fs/cgroup/a/b".into())));
        assert_eq!(parse_proc_cgroup("0::/a/b\n", false), None);
    }

    #[test]
    fn counters() {
        let c = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(parse_counter(c, "oom_kill"), Some(2));
        assert_eq!(parse_counter("low 0\noom 1\n", "oom_kill"), None);
    }
}
