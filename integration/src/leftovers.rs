//! What a container may leave behind, how to check it, and how to clean it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::{pid_alive, poll_until};

/// Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers, the
/// named systemd hierarchy and the unified mount), deduplicated by real path.
pub fn cgroup_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
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
    cgroup_roots()
        .into_iter()
        .map(|r| r.join(rel))
        .filter(|p| p.is_dir())
        .collect()
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
        let same_inode = std::fs::metadata(&root)
            .map(|m| m.dev() == target.dev() && m.ino() == target.ino())
            .unwrap_or(false);
        let under = std::fs::read_link(&root)
            .map(|l| l.to_string_lossy().starts_with(&prefix))
            .unwrap_or(false);
        if (same_inode || under) && pid_alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Everything a removed container must not leave behind; empty when clean.
/// `state_dir` is `<root>/<id>`.
pub fn find_leftovers(
    state_dir: &Path,
    bundle: &Path,
    rootfs: &Path,
    cgroups_path: &str,
) -> Vec<String> {
    let mut found = Vec::new();
    if state_dir.exists() {
        found.push(format!(
            "state directory {} still exists",
            state_dir.display()
        ));
    }
    for d in cgroup_dirs(cgroups_path) {
        found.push(format!("cgroup directory {} still exists", d.display()));
    }
    for l in mounts_mentioning(bundle) {
        found.push(format!("mount still present: {l}"));
    }
    for p in procs_rooted_in(rootfs) {
        found.push(format!(
            "process {p} ({:?}) still runs in the rootfs",
            crate::util::cmdline_of(p)
        ));
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
    assert!(
        last.is_empty(),
        "container left things behind:\n  {}",
        last.join("\n  ")
    );
}

/// Kills processes in the rootfs, unmounts what is under the bundle and removes
/// the cgroup directories. Returns true when no mount remains under the bundle.
pub fn force_cleanup(bundle: &Path, rootfs: &Path, cgroups_path: &str) -> bool {
    for pid in procs_rooted_in(rootfs) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    poll_until(Duration::from_secs(2), || {
        procs_rooted_in(rootfs).is_empty()
    });
    for mp in mount_points_under(bundle) {
        let _ = nix::mount::umount2(mp.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
    let rel = cgroups_path.trim_start_matches('/');
    if !rel.is_empty() {
        for d in cgroup_dirs(cgroups_path) {
            // Kill stragglers that are still attached, then remove (children first).
            if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
                for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        poll_until(Duration::from_secs(2), || {
            cgroup_dirs(cgroups_path)
                .iter()
                .all(|d| std::fs::remove_dir(d).is_ok() || !d.exists())
        });
    }
    mount_points_under(bundle).is_empty()
}
