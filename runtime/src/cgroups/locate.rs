//! Where the cgroup hierarchies are mounted, found without reading /proc/self/mountinfo: the
//! kernel generates that file for every mount of the namespace on each read (about 22 ms with
//! 5,000 mounts), and a start reads it in every oxrun process that needs the cgroup layout.
//!
//! The hierarchies are the ones /proc/self/cgroup names. Each is looked for where hosts mount
//! it (/sys/fs/cgroup/<controllers> or /sys/fs/cgroup/<name> for v1, /sys/fs/cgroup/unified or
//! /sys/fs/cgroup for v2, as crun assumes) and checked with statmount(2): the mount there must be
//! a cgroup (cgroup2) filesystem with exactly the hierarchy's controllers. If any hierarchy is
//! not found that way (for instance one that is active but mounted nowhere, or mounted
//! elsewhere), `scan` finds every cgroup mount as mountinfo lists them: listmount(2) ids and the
//! filesystem magic of each (no text), strings only for the cgroup mounts. Without listmount and
//! statmount (before 6.8; mount options from 6.11) the caller parses mountinfo as before.
use super::Hierarchy;
use oxsys::statmount::{self, mask};
use std::os::fd::AsFd;
use std::path::PathBuf;

/// The hierarchies of `own` (the text of /proc/self/cgroup) in mountinfo order, or None when one
/// of them is not at its usual place.
pub fn targeted(own: &str) -> Option<Vec<Hierarchy>> {
    let mut found: Vec<(u64, Hierarchy)> = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (id, key) = (parts.next()?, parts.next()?);
        let (id_mnt, h) = if id == "0" && key.is_empty() {
            locate(&["/sys/fs/cgroup/unified".into(), "/sys/fs/cgroup".into()], None)?
        } else {
            let want: Vec<&str> = key.split(',').collect();
            let dir = key.strip_prefix("name=").unwrap_or(key);
            if dir.is_empty() || dir.contains('/') || dir.contains(',') && dir.contains('=') {
                return None;
            }
            locate(&[format!("/sys/fs/cgroup/{dir}")], Some(&want))?
        };
        if !found.iter().any(|(i, _)| *i == id_mnt) {
            found.push((id_mnt, h));
        }
    }
    // Unique mount ids grow with mount order, which is mountinfo's order.
    found.sort_by_key(|(i, _)| *i);
    Some(found.into_iter().map(|(_, h)| h).collect())
}

/// Every cgroup and cgroup2 mount in mountinfo's order, the first of each hierarchy kept (as
/// `Layout::parse`), or None when the kernel cannot tell.
pub fn scan() -> Option<Vec<Hierarchy>> {
    const CGROUP_SUPER_MAGIC: u64 = 0x0027_e0eb;
    const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
    let mut out: Vec<Hierarchy> = Vec::new();
    for id in statmount::list_all().ok()? {
        let magic = match statmount::sb_magic(id) {
            Ok(m) => m,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue, // unmounted meanwhile
            Err(_) => return None,
        };
        let v2 = match magic {
            CGROUP2_SUPER_MAGIC => true,
            CGROUP_SUPER_MAGIC => false,
            _ => continue,
        };
        let m = statmount::statmount(id, mask::FS_TYPE | mask::MNT_ROOT | mask::MNT_POINT | mask::MNT_OPTS).ok()?;
        let (Some(root), Some(point)) = (m.root, m.point) else { return None };
        let controllers = if v2 { Vec::new() } else { super::controllers_of(m.opts.as_deref()?) };
        if out.iter().any(|h| h.v2 == v2 && h.controllers == controllers) {
            continue;
        }
        out.push(Hierarchy { mount: PathBuf::from(point), root, controllers, v2 });
    }
    Some(out)
}

/// The first candidate whose mount is the hierarchy: cgroup2 when `controllers` is None, else a
/// cgroup mount with exactly these controllers (and name=).
fn locate(candidates: &[String], controllers: Option<&[&str]>) -> Option<(u64, Hierarchy)> {
    let want =
        mask::FS_TYPE | mask::MNT_ROOT | mask::MNT_POINT | if controllers.is_some() { mask::MNT_OPTS } else { 0 };
    for path in candidates {
        let Ok(dir) = std::fs::File::open(path) else { continue };
        let Ok(id) = statmount::mount_id(dir.as_fd()) else { return None };
        let Ok(m) = statmount::statmount(id, want) else { return None };
        let (Some(fs), Some(root), Some(point)) = (m.fs_type.as_deref(), m.root, m.point) else { return None };
        let h = match controllers {
            None if fs == "cgroup2" => {
                Hierarchy { mount: PathBuf::from(point), root, controllers: Vec::new(), v2: true }
            }
            Some(wanted) if fs == "cgroup" => {
                let have = super::controllers_of(m.opts.as_deref()?);
                let mut a: Vec<&str> = have.iter().map(String::as_str).collect();
                let mut b = wanted.to_vec();
                a.sort_unstable();
                b.sort_unstable();
                if a != b {
                    continue;
                }
                Hierarchy { mount: PathBuf::from(point), root, controllers: have, v2: false }
            }
            _ => continue,
        };
        return Some((id, h));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::Layout;

    /// On the machine running the tests, the targeted lookup finds what parsing mountinfo finds
    /// (skipped where it falls back: no statmount, or hierarchies mounted elsewhere).
    #[test]
    fn targeted_lookup_matches_mountinfo_here() {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let Some(found) = super::targeted(&own) else {
            return eprintln!("SKIP targeted_lookup_matches_mountinfo_here: the targeted lookup falls back here");
        };
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let parsed = Layout::parse(&mountinfo, &own).hierarchies;
        assert_eq!(found, parsed);
        assert!(!found.is_empty());
    }

    #[test]
    fn scan_matches_mountinfo_here() {
        let Some(found) = super::scan() else {
            return eprintln!("SKIP scan_matches_mountinfo_here: no listmount/statmount here");
        };
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(found, Layout::parse(&mountinfo, "").hierarchies);
    }

    #[test]
    fn unusual_keys_fall_back() {
        assert!(super::targeted("5:cpu,name=x:/\n").is_none());
        assert!(super::targeted("5:nonexistent-controller:/\n").is_none());
    }
}
