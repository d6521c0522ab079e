//! `--cgroup-manager` (crun's global flag, which Podman passes for --cgroups=disabled).
use integration::{unique, Bundle, Runtime};

#[test]
fn cgroup_manager_disabled_creates_and_joins_no_cgroup() {
    if integration::is_runc() {
        integration::util::note(
            "SKIP cgroup_manager_disabled_creates_and_joins_no_cgroup: runc has no --cgroup-manager flag",
        );
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "grep memory /proc/self/cgroup"]);
    let id = unique("nocg");
    rt.track(&id);
    let ours = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let ours = ours.lines().find(|l| l.contains(":memory:")).unwrap().to_string();
    let out = rt.run(&["--cgroup-manager", "disabled", "run", "--bundle", &b.path_str(), &id]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), ours, "the container stays in the caller's cgroup: {out}");
    assert!(integration::leftovers::cgroup_dirs(&b.cgroups_path()).is_empty(), "no cgroup directory may be created");
    rt.assert_clean(&id, &b);
}

#[test]
fn cgroup_manager_rejects_unknown_values() {
    if integration::is_runc() {
        integration::util::note("SKIP cgroup_manager_rejects_unknown_values: runc has no --cgroup-manager flag");
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let id = unique("badcgm");
    let out = rt.run(&["--cgroup-manager", "bogus", "run", "--bundle", &b.path_str(), &id]);
    out.assert_fail().assert_no_panic();
    assert_eq!(out.stderr.trim().lines().count(), 1, "{out}");
    rt.assert_clean(&id, &b);
}
