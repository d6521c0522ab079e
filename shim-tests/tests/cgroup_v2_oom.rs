//! OOM watching on a pure cgroup v2 host (the VM guest of `make test-vm`; skipped elsewhere):
//! a container cgroup removed while the monitor watches it (as systemd removes a scope) is
//! reported at `--log-level debug` as conmon HEAD reports it, and is no OOM kill.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use shim_tests::*;

/// conmon HEAD's debug line (src/cgroup.c, `check_cgroup2_oom`), which its
/// `05-oom-detection.bats` looks for in the binary.
const REMOVED: &str = "Cgroup appears to have been removed, stopping OOM monitoring";

/// Why this host cannot run the test, if it cannot.
fn unsupported() -> Option<&'static str> {
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return Some("not a pure cgroup v2 host (run it in the VM: make test-vm)");
    }
    let has = |cmd: &str| Command::new(cmd).arg("--version").output().is_ok_and(|o| o.status.success());
    if !Path::new("/dev/log").exists() || !has("journalctl") {
        return Some("no journald to read the monitor's --syslog lines from");
    }
    None
}

/// conmon before 2.2 (Debian's 2.1.6) only warns `Failed to open cgroups file`.
fn reports_removal() -> bool {
    let out = Command::new(monitor_bin()).arg("--version").output().expect("monitor --version");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let newer = text.split_whitespace().nth(2).and_then(|v| {
        let mut n = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        Some((n.next()?, n.next()?))
    });
    is_oxmon() || newer.is_some_and(|v| v >= (2, 2))
}

/// The monitor's syslog lines as journald stored them (`_PID`), waiting up to `wait` for `want`.
fn journal_lines(pid: i32, want: &str, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let out = Command::new("journalctl")
            .args(["-q", "--no-pager", "-o", "cat", &format!("_PID={pid}")])
            .output()
            .expect("journalctl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains(want) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Removes the test's cgroups (deepest first) at the end, retrying while they empty.
struct CgroupDirs(Vec<PathBuf>);

impl Drop for CgroupDirs {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in self.0.iter().rev() {
            while dir.exists() && std::fs::remove_dir(dir).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if dir.exists() {
                eprintln!("NOTE: could not remove the test cgroup {}", dir.display());
            }
        }
    }
}

#[test]
fn removed_cgroup_is_reported_at_debug_level_and_is_no_oom() {
    if let Some(why) = unsupported() {
        eprintln!("SKIP removed_cgroup_is_reported_at_debug_level_and_is_no_oom: {why}");
        return;
    }
    let cid = unique_id("cgrm");
    let parent = Path::new("/sys/fs/cgroup").join(format!("shimtests-{}", std::process::id()));
    let moved = parent.join("moved");
    let _dirs = CgroupDirs(vec![parent.clone(), moved.clone()]);
    let mut b = Bundle::new(&["sleep", "1000"], false);
    // A memory limit, so the runtime enables the memory controller down to the container.
    b.config["linux"]["resources"] = serde_json::json!({"memory": {"limit": 268435456}});
    b.config["linux"]["cgroupsPath"] =
        serde_json::json!(format!("/{}/{cid}", parent.file_name().unwrap().to_string_lossy()));
    b.save();
    let persist = b.file("persist");
    std::fs::create_dir_all(&persist).unwrap();
    let l = Launch::create(&cid, &b).arg("--persist-dir").arg(persist.to_str().unwrap());
    let (r, _g, pid) = launch_created(l.arg("--log-level").arg("debug").arg("--syslog"));
    start(&cid);
    let cg = parent.join(&cid);
    assert!(cg.join("memory.events").exists(), "the container's cgroup {} has memory.events", cg.display());
    // Move the container out and remove its cgroup under the monitor.
    std::fs::create_dir(&moved).unwrap();
    std::fs::write(moved.join("cgroup.procs"), pid.to_string()).unwrap();
    std::fs::remove_dir(&cg).unwrap_or_else(|e| panic!("rmdir {}: {e}", cg.display()));
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    let mpid = r.monitor_pid().expect("monitor pid");
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "137", "SIGKILLed status");
    for dir in [persist.as_path(), b.path()] {
        assert!(!dir.join("oom").exists(), "a removed cgroup and a SIGKILL without an OOM kill are no OOM");
    }
    if !reports_removal() {
        eprintln!("NOTE: {} predates conmon 2.2: it does not report a removed cgroup", monitor_bin().display());
        return;
    }
    // Generous: journald lags behind a loaded guest (14 s were seen after the whole VM suite).
    let logged = journal_lines(mpid, REMOVED, Duration::from_secs(30));
    assert!(logged.contains(REMOVED), "monitor {mpid} logged no {REMOVED:?} at debug level: {logged}");
}
