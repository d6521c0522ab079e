//! `host_cgroups tidy-podman` on a host that already has Podman's `libpod_parent`: what Podman
//! made under it during the run (a pod's cgroup in a hierarchy Podman does not clean) is removed,
//! and what was there before stays.
use integration::leftovers::{remove_cgroup_tree, HostCgroups, PODMAN_PARENT};
use std::path::Path;

#[test]
fn tidy_removes_new_cgroups_under_an_existing_podman_parent() {
    let root = Path::new("/sys/fs/cgroup/systemd");
    if !root.join("cgroup.procs").exists() {
        integration::util::note("SKIP tidy_removes_new_cgroups_under_an_existing_podman_parent: no name=systemd v1 hierarchy at /sys/fs/cgroup/systemd");
        return;
    }
    let parent = root.join(PODMAN_PARENT);
    let made_parent = !parent.is_dir();
    std::fs::create_dir_all(&parent).unwrap();
    let old = parent.join(format!("oxtidy-old-{}", std::process::id()));
    std::fs::create_dir(&old).unwrap();
    let before = HostCgroups::snapshot();
    let new = parent.join(format!("oxtidy-new-{}", std::process::id()));
    std::fs::create_dir_all(new.join("inner")).unwrap();
    let removed = before.tidy_podman();
    let new_gone = !new.exists();
    let old_kept = old.exists();
    remove_cgroup_tree(&new);
    remove_cgroup_tree(&old);
    if made_parent {
        remove_cgroup_tree(&parent);
    }
    assert!(new_gone, "a cgroup made under {} after the snapshot is left: {removed:?}", parent.display());
    assert!(old_kept, "a cgroup that was there before the snapshot was removed");
    assert!(removed.iter().any(|l| l.contains("oxtidy-new")), "{removed:?}");
}
