//! OOM detection: cgroup v1 `memory.oom_control` eventfd; on v2, the `oom_kill` counter of the
//! container's `memory.events` read whenever the kernel says the file changed (inotify) and once
//! more at exit, compared with its value when the watch began.
//!
//! Why not only at exit (issue 16): under a systemd cgroup manager the container's scope is
//! removed by systemd as soon as its last process is gone, often before the monitor has reaped
//! the container and looked, and a removed cgroup's files cannot be read. The kernel counts the
//! kill before the victim dies, so a read on the change notification usually sees it while the
//! cgroup still exists; but the kernel rate-limits those notifications (one per 20 ms per file)
//! and drops a pending one when the cgroup is removed. So the parent's counter is recorded too:
//! v2 counts a descendant's kills in every ancestor's memory.events. When the container's cgroup
//! is gone at exit, nothing was seen in it, the container died of SIGKILL and the parent's count
//! grew meanwhile, the kill was the container's (wrong only if a sibling was OOM-killed in the
//! same lifetime and this container was SIGKILLed by someone else, with its cgroup already gone).
//! Only `oom_kill` counts: `oom` also grows when the OOM killer ran and found nothing to kill,
//! and no process of the container was killed then.
//! With `--log-level` debug, a v2 cgroup found removed is reported as conmon HEAD does
//! (`Cgroup appears to have been removed, stopping OOM monitoring`), on the notification and at
//! exit.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// conmon HEAD's debug line (cgroup.c) when the container's `memory.events` is gone.
const REMOVED: &str = "Cgroup appears to have been removed, stopping OOM monitoring";

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

/// What wakes the event loop when the container's memory cgroup may have seen an OOM kill.
enum Wakeup {
    /// v1: the `memory.oom_control` eventfd (kept with the control file it was registered on).
    V1 { event: EventFd, _control: OwnedFd },
    /// v2: IN_MODIFY on `memory.events`.
    V2(Inotify),
}

/// Watches one container's memory cgroup.
pub struct OomWatch {
    cgroup: Option<MemCgroup>,
    wakeup: Option<Wakeup>,
    /// The `oom_kill` count when the watch began.
    baseline: u64,
    /// The highest `oom_kill` count read since (it stays known once the cgroup is gone).
    seen: u64,
    /// v2: the parent cgroup's `oom_kill` count when the watch began.
    parent_baseline: Option<u64>,
}

impl OomWatch {
    pub fn none() -> Self {
        OomWatch { cgroup: None, wakeup: None, baseline: 0, seen: 0, parent_baseline: None }
    }

    /// Starts watching the memory cgroup of `pid`.
    pub fn setup(pid: i32) -> Self {
        let unified_only = Path::new(CGROUP_ROOT).join("cgroup.controllers").exists();
        let content = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let Some(cg) = parse_proc_cgroup(&content, unified_only) else { return Self::none() };
        // The notification is set up before the baseline is read, so no kill falls between them.
        let wakeup = match &cg {
            MemCgroup::V1(dir) => register_v1(dir).map(|(event, ctl)| Wakeup::V1 { event, _control: ctl }),
            MemCgroup::V2(dir) => {
                let w = watch_v2(dir);
                let events = dir.join("memory.events");
                if w.is_none() && !events.exists() {
                    crate::diag::debug(&format!(
                        "memory.events file does not exist at {}, skipping OOM monitoring",
                        events.display()
                    ));
                }
                w.map(Wakeup::V2)
            }
        };
        let mut w = OomWatch { cgroup: Some(cg), wakeup, baseline: 0, seen: 0, parent_baseline: None };
        w.baseline = w.oom_kills().unwrap_or(0);
        w.seen = w.baseline;
        w.parent_baseline = w.parent_oom_kills();
        w
    }

    /// v2: the container's `memory.events` is gone (its cgroup was removed).
    fn v2_removed(&self) -> bool {
        matches!(&self.cgroup, Some(MemCgroup::V2(d)) if !d.join("memory.events").exists())
    }

    fn parent_oom_kills(&self) -> Option<u64> {
        let Some(MemCgroup::V2(d)) = &self.cgroup else { return None };
        parse_counter(&std::fs::read_to_string(d.parent()?.join("memory.events")).ok()?, "oom_kill")
    }

    fn oom_kills(&self) -> Option<u64> {
        match self.cgroup.as_ref()? {
            MemCgroup::V1(d) => parse_counter(&std::fs::read_to_string(d.join("memory.oom_control")).ok()?, "oom_kill"),
            MemCgroup::V2(d) => {
                Some(parse_counter(&std::fs::read_to_string(d.join("memory.events")).ok()?, "oom_kill").unwrap_or(0))
            }
        }
    }

    /// Reads the counter now; true if it grew past the baseline (now or at an earlier read).
    fn killed_since_setup(&mut self) -> bool {
        if let Some(n) = self.oom_kills() {
            self.seen = self.seen.max(n);
        }
        self.seen > self.baseline
    }

    pub fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        match self.wakeup.as_ref()? {
            Wakeup::V1 { event, .. } => Some(event.as_fd()),
            Wakeup::V2(ino) => Some(ino.as_fd()),
        }
    }

    /// Called when the poll fd is readable; true if the container saw an OOM kill.
    pub fn on_event(&mut self) -> bool {
        match &self.wakeup {
            None => false,
            Some(Wakeup::V1 { event, .. }) => {
                let _ = event.read();
                match &self.cgroup {
                    Some(MemCgroup::V1(d)) if d.join("memory.oom_control").exists() => true,
                    _ => {
                        self.wakeup = None;
                        false
                    }
                }
            }
            Some(Wakeup::V2(ino)) => {
                let ignored =
                    ino.read_events().is_ok_and(|evs| evs.iter().any(|e| e.mask.contains(AddWatchFlags::IN_IGNORED)));
                let killed = self.killed_since_setup();
                if ignored || self.v2_removed() {
                    // The cgroup was removed: nothing more will come.
                    crate::diag::debug(REMOVED);
                    self.wakeup = None;
                }
                killed
            }
        }
    }

    /// Final check at exit (`status`: the container's exit code, 128 + signal when killed): did
    /// the `oom_kill` counter grow? See the module comment for a cgroup already removed.
    pub fn final_check(&mut self, status: Option<i32>) -> bool {
        let killed = self.killed_since_setup();
        let gone = self.v2_removed();
        if gone {
            crate::diag::debug(REMOVED);
        }
        let parent_grew =
            || self.parent_baseline.zip(self.parent_oom_kills()).is_some_and(|(before, now)| now > before);
        killed || (gone && status == Some(128 + libc::SIGKILL) && parent_grew())
    }
}

fn watch_v2(dir: &Path) -> Option<Inotify> {
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok()?;
    ino.add_watch(&dir.join("memory.events"), AddWatchFlags::IN_MODIFY).ok()?;
    Some(ino)
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
        assert_eq!(parse_proc_cgroup(v1, false), Some(MemCgroup::V1("/sys/fs/cgroup/memory/process_api/abc".into())));
        assert_eq!(parse_proc_cgroup("0::/a/b\n", true), Some(MemCgroup::V2("/sys/fs/cgroup/a/b".into())));
        assert_eq!(parse_proc_cgroup("0::/a/b\n", false), None);
    }

    #[test]
    fn counters() {
        let c = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(parse_counter(c, "oom_kill"), Some(2));
        assert_eq!(parse_counter("low 0\noom 1\n", "oom_kill"), None);
    }

    /// A v2 watch on a stand-in memory.events (inotify works on any file): a kill read on the
    /// change notification stays known after the cgroup is gone, as under systemd, which removes
    /// the scope's cgroup once its last process died; `oom` alone (the OOM killer ran and found
    /// nothing to kill) is no kill.
    #[test]
    fn v2_kill_seen_on_change_outlives_the_cgroup() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = tmp.path().join("libpod-x.scope");
        std::fs::create_dir(&cg).unwrap();
        let events = cg.join("memory.events");
        std::fs::write(&events, "low 0\nhigh 0\nmax 3\noom 0\noom_kill 2\n").unwrap();
        let mut w = OomWatch {
            cgroup: Some(MemCgroup::V2(cg.clone())),
            wakeup: watch_v2(&cg).map(Wakeup::V2),
            baseline: 0,
            seen: 0,
            parent_baseline: None,
        };
        w.baseline = w.oom_kills().unwrap();
        w.seen = w.baseline;
        assert_eq!(w.baseline, 2, "kills before the watch are not the container's");
        assert!(w.poll_fd().is_some(), "an inotify fd to poll");
        std::fs::write(&events, "low 0\nhigh 0\nmax 9\noom 1\noom_kill 2\n").unwrap();
        assert!(!w.on_event(), "oom without oom_kill");
        std::fs::write(&events, "low 0\nhigh 0\nmax 9\noom 2\noom_kill 3\n").unwrap();
        assert!(w.on_event(), "oom_kill grew");
        std::fs::remove_dir_all(&cg).unwrap();
        assert!(w.final_check(Some(0)), "the kill is still known once the cgroup is gone");
        let mut quiet = OomWatch {
            cgroup: Some(MemCgroup::V2(tmp.path().join("gone"))),
            wakeup: None,
            baseline: 0,
            seen: 0,
            parent_baseline: None,
        };
        assert!(!quiet.final_check(Some(137)), "no cgroup and nothing seen: no OOM");
    }

    /// The kill was never read in the container's cgroup (the notification was dropped with the
    /// cgroup): the parent's count, which includes its children's kills, decides, and only for a
    /// container that died of SIGKILL.
    #[test]
    fn v2_kill_missed_in_a_removed_cgroup_is_found_in_the_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = tmp.path().join("libpod-x.scope");
        std::fs::create_dir(&cg).unwrap();
        std::fs::write(cg.join("memory.events"), "oom 0\noom_kill 0\n").unwrap();
        std::fs::write(tmp.path().join("memory.events"), "oom 4\noom_kill 4\n").unwrap();
        let watch = || {
            let mut w = OomWatch {
                cgroup: Some(MemCgroup::V2(cg.clone())),
                wakeup: None,
                baseline: 0,
                seen: 0,
                parent_baseline: None,
            };
            w.parent_baseline = w.parent_oom_kills();
            w
        };
        let mut w = watch();
        assert_eq!(w.parent_baseline, Some(4));
        assert!(!w.final_check(Some(137)), "the cgroup is there and counts nothing");
        std::fs::write(tmp.path().join("memory.events"), "oom 5\noom_kill 5\n").unwrap();
        assert!(!w.final_check(Some(137)), "a sibling's kill while our cgroup is readable and says 0");
        std::fs::remove_dir_all(&cg).unwrap();
        assert!(w.final_check(Some(137)), "cgroup gone, SIGKILL, the parent counted a kill");
        assert!(!w.final_check(Some(0)), "an exit without SIGKILL was no OOM kill");
        std::fs::create_dir(&cg).unwrap();
        std::fs::write(cg.join("memory.events"), "oom 0\noom_kill 0\n").unwrap();
        let mut w = watch();
        std::fs::remove_dir_all(&cg).unwrap();
        assert!(!w.final_check(Some(137)), "cgroup gone but the parent counted nothing new");
    }
}
