//! The unprivileged users the tests run things as (rootless oxrun, rootless Podman). A user is
//! created when missing and, when this process created it, removed again once the last test
//! holding it is done: its processes, its home, its `/run/user/<uid>` and its lines in
//! /etc/subuid and /etc/subgid. A user that was there before the tests is left as it was.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a test needs of its user.
#[derive(Debug, Clone, Copy)]
pub struct UserSpec {
    pub name: &'static str,
    /// `useradd -m` (a home with the skeleton files, as Podman wants for its config).
    pub home: bool,
    /// The subordinate uid/gid range given when the user has none (65536 ids from here).
    pub sub_start: u32,
}

/// A held test user; dropping the last one of a user this process created removes it.
#[derive(Debug)]
pub struct TestUser {
    pub name: &'static str,
    pub uid: u32,
    pub gid: u32,
}

/// Whether this process made `/run/user` (a host without logind has none): removed again with the
/// last runtime dir in it.
static MADE_RUN_USER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Per user: how many tests hold it, and whether this process created it.
static HELD: Mutex<BTreeMap<&'static str, (usize, bool)>> = Mutex::new(BTreeMap::new());

const SUBID_FILES: [&str; 2] = ["/etc/subuid", "/etc/subgid"];

fn id_of(name: &str, flag: &str) -> Option<u32> {
    let out = Command::new("id").arg(flag).arg(name).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Whether `name` exists (`id` knows it).
pub fn exists(name: &str) -> bool {
    id_of(name, "-u").is_some()
}

/// The lines of a subordinate id file that belong to `name`.
pub fn subid_lines(file: &str, name: &str) -> Vec<String> {
    let prefix = format!("{name}:");
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(String::from)
        .collect()
}

impl TestUser {
    /// Takes the user, creating it (and its subordinate ranges) when missing.
    pub fn acquire(spec: UserSpec) -> TestUser {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        let entry = held.entry(spec.name).or_insert((0, false));
        if entry.0 == 0 && !exists(spec.name) {
            let home = if spec.home { "-m" } else { "-M" };
            let out = Command::new("useradd").args([home, "-s", "/bin/sh", spec.name]).output().expect("run useradd");
            assert!(out.status.success(), "useradd {}: {}", spec.name, String::from_utf8_lossy(&out.stderr).trim());
            entry.1 = true;
        }
        entry.0 += 1;
        for file in SUBID_FILES {
            if subid_lines(file, spec.name).is_empty() {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new().append(true).create(true).open(file).expect("open subid file");
                writeln!(f, "{}:{}:65536", spec.name, spec.sub_start).expect("append subid range");
            }
        }
        let uid = id_of(spec.name, "-u").expect("uid of the test user");
        let gid = id_of(spec.name, "-g").expect("gid of the test user");
        TestUser { name: spec.name, uid, gid }
    }

    /// `/run/user/<uid>`, made and owned by the user (rootless runtimes keep their state there).
    pub fn runtime_dir(&self) -> PathBuf {
        let dir = PathBuf::from(format!("/run/user/{}", self.uid));
        if std::fs::create_dir("/run/user").is_ok() {
            MADE_RUN_USER.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        std::fs::create_dir_all(&dir).expect("create the user's runtime dir");
        let (uid, gid) = (nix::unistd::Uid::from_raw(self.uid), nix::unistd::Gid::from_raw(self.gid));
        nix::unistd::chown(&dir, Some(uid), Some(gid)).expect("chown the user's runtime dir");
        dir
    }

    /// Removes the user and all it left: processes first (userdel refuses a user that runs
    /// anything), then the account with its home and mail, `/run/user/<uid>`, and the
    /// subordinate id lines (whichever tool added them).
    fn remove(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pids = pids_of(self.uid);
            if pids.is_empty() || Instant::now() >= deadline {
                break;
            }
            for p in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = Command::new("userdel").args(["-r", self.name]).output().expect("run userdel");
        if exists(self.name) {
            panic!("userdel -r {}: {}", self.name, String::from_utf8_lossy(&out.stderr).trim());
        }
        let _ = std::fs::remove_dir_all(format!("/run/user/{}", self.uid));
        // Rootless Podman's lock file (/dev/shm/libpod_rootless_lock_<uid>) and anything else
        // the user left in shared memory.
        if let Ok(dir) = std::fs::read_dir("/dev/shm") {
            for e in dir.flatten() {
                let owner = e.metadata().map(|m| std::os::unix::fs::MetadataExt::uid(&m)).ok();
                if owner == Some(self.uid) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        // Only when empty: another user's runtime dir may still be in it.
        if MADE_RUN_USER.load(std::sync::atomic::Ordering::SeqCst) && std::fs::remove_dir("/run/user").is_ok() {
            MADE_RUN_USER.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        for file in SUBID_FILES {
            remove_lines_of(file, self.name);
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = held.get_mut(self.name) else { return };
        entry.0 -= 1;
        if entry.0 == 0 {
            let created = entry.1;
            held.remove(self.name);
            if created {
                self.remove();
            }
        }
    }
}

/// Live processes (zombies excepted: they are gone once reaped) whose real uid is `uid`.
pub fn pids_of(uid: u32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |name: &str| {
                status.lines().find_map(|l| l.strip_prefix(name)).and_then(|r| r.split_whitespace().next())
            };
            field("Uid:") == Some(uid.to_string().as_str()) && field("State:") != Some("Z")
        })
        .collect()
}

/// Rewrites `file` without `name`'s lines (a temporary file renamed over it, mode kept).
fn remove_lines_of(file: &str, name: &str) {
    let Ok(text) = std::fs::read_to_string(file) else { return };
    let prefix = format!("{name}:");
    if !text.lines().any(|l| l.starts_with(&prefix)) {
        return;
    }
    let kept: String = text.lines().filter(|l| !l.starts_with(&prefix)).map(|l| format!("{l}\n")).collect();
    let tmp = format!("{file}.oxrun-test");
    std::fs::write(&tmp, kept).expect("write subid file");
    if let Ok(meta) = std::fs::metadata(file) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, file).expect("replace subid file");
}
