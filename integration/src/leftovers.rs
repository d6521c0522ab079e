//! What a container may leave behind, how to check it, and how to clean it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::{pid_alive, poll_until};

/// Root of the unique cgroup paths the tests use.
pub const CGROUP_PARENT: &str = "/oxrun-test";

/// The parent cgroup Podman's cgroupfs manager puts containers and conmon under.
pub const PODMAN_PARENT: &str = "libpod_parent";

/// Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers, the
/// named systemd hierarchy and the unified mount), deduplicated by real path.
pub fn cgroup_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    // A pure cgroup v2 host: /sys/fs/cgroup is the one hierarchy (its subdirectories are cgroups).
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        roots.push(PathBuf::from("/sys/fs/cgroup"));
        return roots;
    }
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return roots;
    };
    for e in rd.flatten() {
        let p = e.path();
        let real = std::fs::canonicalize(&p).unwrap_or(p);
        if real.is_dir() && real.join("cgroup.procs").exists() && !roots.contains(&real) {
            roots.push(real);
        }
    }
    roots.sort();
    roots
}

/// Existing directories for `cgroups_path` in any hierarchy.
pub fn cgroup_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    if rel.is_empty() {
        return Vec::new();
    }
    cgroup_roots().into_iter().map(|r| r.join(rel)).filter(|p| p.is_dir()).collect()
}

/// Lines of /proc/self/mountinfo that mention `path`.
pub fn mounts_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(str::to_string)
        .collect()
}

/// Mount points (field 5 of mountinfo) at or under `path`, deepest first.
fn mount_points_under(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    let mut v: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|mp| mp == &needle || mp.starts_with(&format!("{needle}/")))
        .collect();
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v
}

/// Live processes whose root directory is `rootfs` (same device and inode:
/// pivoted containers show "/" in readlink) or lies under it (chroot / no-pivot).
pub fn procs_rooted_in(rootfs: &Path) -> Vec<i32> {
    let Ok(target) = std::fs::metadata(rootfs) else {
        return Vec::new();
    };
    let prefix = rootfs.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    let mut pids = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let root = e.path().join("root");
        let same_inode =
            std::fs::metadata(&root).map(|m| m.dev() == target.dev() && m.ino() == target.ino()).unwrap_or(false);
        let under = std::fs::read_link(&root).map(|l| l.to_string_lossy().starts_with(&prefix)).unwrap_or(false);
        if (same_inode || under) && pid_alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Everything a removed container must not leave behind; empty when clean.
/// `state_dir` is `<root>/<id>`.
pub fn find_leftovers(state_dir: &Path, bundle: &Path, rootfs: &Path, cgroups_path: &str) -> Vec<String> {
    let mut found = Vec::new();
    if state_dir.exists() {
        found.push(format!("state directory {} still exists", state_dir.display()));
    }
    for d in cgroup_dirs(cgroups_path) {
        found.push(format!("cgroup directory {} still exists", d.display()));
    }
    for l in mounts_mentioning(bundle) {
        found.push(format!("mount still present: {l}"));
    }
    for p in procs_rooted_in(rootfs) {
        found.push(format!("process {p} ({:?}) still runs in the rootfs", crate::util::cmdline_of(p)));
    }
    found
}

/// Waits up to 3 s for the container's traces to vanish (processes are reaped
/// and cgroups removed asynchronously by some runtimes), then asserts none is left.
#[track_caller]
pub fn assert_clean(state_dir: &Path, bundle: &Path, rootfs: &Path, cgroups_path: &str) {
    let mut last = Vec::new();
    poll_until(Duration::from_secs(3), || {
        last = find_leftovers(state_dir, bundle, rootfs, cgroups_path);
        last.is_empty()
    });
    assert!(last.is_empty(), "container left things behind:\n  {}", last.join("\n  "));
}

/// Kills processes in the rootfs, unmounts what is under the bundle and removes
/// the cgroup directories. Returns true when no mount remains under the bundle.
pub fn force_cleanup(bundle: &Path, rootfs: &Path, cgroups_path: &str) -> bool {
    for pid in procs_rooted_in(rootfs) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    poll_until(Duration::from_secs(2), || procs_rooted_in(rootfs).is_empty());
    for mp in mount_points_under(bundle) {
        let _ = nix::mount::umount2(mp.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
    let rel = cgroups_path.trim_start_matches('/');
    if !rel.is_empty() {
        for d in cgroup_dirs(cgroups_path) {
            // Kill stragglers that are still attached, then remove (children first).
            if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
                for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        poll_until(Duration::from_secs(2), || {
            cgroup_dirs(cgroups_path).iter().all(|d| std::fs::remove_dir(d).is_ok() || !d.exists())
        });
    }
    mount_points_under(bundle).is_empty()
}

/// What a test run must leave on the host's cgroup trees as it found them: the
/// `cgroup.subtree_control` of every cgroup2 root and of the tests' parent below it (the
/// runtime enables controllers there on a hybrid host), and which hierarchies have the
/// tests' parent cgroup ([`CGROUP_PARENT`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostCgroups {
    /// (directory, its cgroup.subtree_control words sorted)
    pub subtree_control: Vec<(PathBuf, Vec<String>)>,
    /// The tests' parent cgroup directories that exist.
    pub parents: Vec<PathBuf>,
    /// Podman's parent cgroup (`libpod_parent`, cgroupfs manager) in each hierarchy that has one:
    /// Podman makes it and never removes it, so the Podman suite's runs are tidied against this.
    #[serde(default)]
    pub podman_parents: Vec<PathBuf>,
    /// The cgroups directly under those parents (pods, monitors): Podman leaves a pod's cgroup in
    /// the hierarchies it does not manage (name=systemd, the cgroup2 one), so a run on a host
    /// that already had `libpod_parent` is tidied against this.
    #[serde(default)]
    pub podman_children: Vec<PathBuf>,
    /// Controllers bound to a v1 hierarchy that is mounted nowhere here: the kernel keeps an
    /// unmounted hierarchy that still has child cgroups, hidden and holding its controllers
    /// (a test that mounts one in a private namespace and leaves a cgroup in it does this).
    #[serde(default)]
    pub hidden_v1: Vec<String>,
}

/// Controllers whose v1 hierarchy (/proc/cgroups) is not mounted in this mount namespace.
fn hidden_v1_controllers() -> Vec<String> {
    let mounted: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(" - ").map(|(_, tail)| tail.split_whitespace().collect::<Vec<_>>()))
        .filter(|f| f.first() == Some(&"cgroup"))
        .flat_map(|f| f.get(2).map(|o| o.split(',').map(str::to_string).collect::<Vec<_>>()).unwrap_or_default())
        .collect();
    std::fs::read_to_string("/proc/cgroups")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 2 && f[1] != "0" && !mounted.iter().any(|m| m == f[0])).then(|| f[0].to_string())
        })
        .collect()
}

impl HostCgroups {
    /// The host as it is now.
    pub fn snapshot() -> HostCgroups {
        let parent = CGROUP_PARENT.trim_start_matches('/');
        let mut subtree_control = Vec::new();
        let mut parents = Vec::new();
        for root in cgroup_roots() {
            for dir in [root.clone(), root.join(parent)] {
                if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.subtree_control")) {
                    let mut words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
                    words.sort();
                    subtree_control.push((dir, words));
                }
            }
            if root.join(parent).is_dir() {
                parents.push(root.join(parent));
            }
        }
        let podman_parents: Vec<PathBuf> =
            cgroup_roots().into_iter().map(|r| r.join(PODMAN_PARENT)).filter(|p| p.is_dir()).collect();
        let podman_children = podman_parents.iter().flat_map(|p| child_cgroups(p)).collect();
        HostCgroups { subtree_control, parents, podman_parents, podman_children, hidden_v1: hidden_v1_controllers() }
    }

    /// Removes the Podman parent cgroups made since this snapshot (empty ones; a tree with a
    /// process left in it stays, and `differences` reports it). Returns one line per removal.
    pub fn tidy_podman(&self) -> Vec<String> {
        let mut out = Vec::new();
        let now = HostCgroups::snapshot();
        let new_children = now.podman_children.iter().filter(|c| !self.podman_children.contains(c));
        let new_parents = now.podman_parents.iter().filter(|p| !self.podman_parents.contains(p));
        // A new child of a new parent goes with its parent.
        for p in new_children
            .filter(|c| c.parent().is_some_and(|p| self.podman_parents.iter().any(|q| q == p)))
            .chain(new_parents)
        {
            remove_cgroup_tree(p);
            if !p.exists() {
                out.push(format!("removed {} (made by Podman during the run)", p.display()));
            }
        }
        out
    }

    /// What differs in `now` from this snapshot, one line each; empty when the host is as found.
    pub fn differences(&self, now: &HostCgroups) -> Vec<String> {
        let mut out = Vec::new();
        for p in now.parents.iter().filter(|p| !self.parents.contains(p)) {
            out.push(format!("cgroup {} was made and is still there", p.display()));
        }
        for p in now.podman_parents.iter().filter(|p| !self.podman_parents.contains(p)) {
            out.push(format!("Podman's cgroup {} was made and is still there", p.display()));
        }
        for c in now.hidden_v1.iter().filter(|c| !self.hidden_v1.contains(c)) {
            out.push(format!(
                "controller {c} is held by a v1 hierarchy mounted nowhere (unmounted with a cgroup left in it)"
            ));
        }
        for p in self.parents.iter().filter(|p| !now.parents.contains(p)) {
            out.push(format!("cgroup {} was there and is gone", p.display()));
        }
        for (dir, words) in &now.subtree_control {
            let before = self.subtree_control.iter().find(|(d, _)| d == dir).map(|(_, w)| w.clone());
            // A parent made during the run is reported above; its own controllers with it.
            if before.as_ref().is_some_and(|b| b != words) {
                out.push(format!(
                    "{}/cgroup.subtree_control is {words:?}, was {:?}",
                    dir.display(),
                    before.unwrap_or_default()
                ));
            }
        }
        out
    }

    /// Puts the host back as in this snapshot, best effort: controllers enabled since are
    /// disabled (deepest level first; a level still used below refuses and stays), parents
    /// made since are removed when empty (another run's container keeps them).
    /// The kernel answers EBUSY while a cgroup just emptied still holds processes finishing
    /// their exit: each step is retried for up to a second.
    pub fn restore(&self) {
        let busy_retry = |f: &dyn Fn() -> std::io::Result<()>| {
            poll_until(Duration::from_secs(1), || !matches!(f(), Err(e) if e.raw_os_error() == Some(libc::EBUSY)));
        };
        let now = HostCgroups::snapshot();
        for (dir, words) in now.subtree_control.iter().rev() {
            let before =
                self.subtree_control.iter().find(|(d, _)| d == dir).map(|(_, w)| w.clone()).unwrap_or_default();
            for c in words.iter().filter(|c| !before.contains(c)) {
                busy_retry(&|| std::fs::write(dir.join("cgroup.subtree_control"), format!("-{c}")));
            }
        }
        for p in now.parents.iter().filter(|p| !self.parents.contains(p)) {
            busy_retry(&|| std::fs::remove_dir(p));
        }
    }
}

/// SIGKILLs every process in the cgroup tree at `dir`.
pub fn kill_cgroup_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            kill_cgroup_tree(&e.path());
        }
    }
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Removes a cgroup tree empty of processes, deepest first.
/// The cgroup directories directly under `dir`.
fn child_cgroups(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    entries.filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
}

pub fn remove_cgroup_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_cgroup_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}
