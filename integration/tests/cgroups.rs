//! Point 8: cgroups (v1 hierarchies under /sys/fs/cgroup/<controller>).

use integration::leftovers::{cgroup_dirs, cgroup_roots};
use integration::{skip, unique, Bundle, Runtime};
use serde_json::json;
use std::path::PathBuf;

/// `/sys/fs/cgroup/<ctrl>/<cgroupsPath>/<file>` for the first hierarchy that has `file`'s controller.
fn ctrl_file(b: &Bundle, file: &str) -> Option<PathBuf> {
    let rel = b.cgroups_path().trim_start_matches('/').to_string();
    cgroup_roots().into_iter().map(|r| r.join(&rel).join(file)).find(|p| p.exists())
}

fn read(b: &Bundle, file: &str) -> String {
    let p = ctrl_file(b, file).unwrap_or_else(|| panic!("{file} not found for cgroup {}", b.cgroups_path()));
    std::fs::read_to_string(&p).unwrap_or_default().trim().to_string()
}

#[test]
fn cgroups_path_limits_and_membership() {
    if !std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        skip("cgroups_path_limits_and_membership", "no cgroup v1 memory controller on this host");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        let r = &mut c["linux"]["resources"];
        r["memory"] = json!({"limit": 67108864});
        r["pids"] = json!({"limit": 64});
        r["cpu"] = json!({"shares": 512, "quota": 50000, "period": 100000});
    });
    let id = unique("cg");
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid(&id).to_string();
    assert_eq!(read(&b, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&b, "pids.max"), "64");
    assert_eq!(read(&b, "cpu.shares"), "512");
    assert_eq!(read(&b, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&b, "cpu.cfs_period_us"), "100000");
    // init is in the container's cgroup in every v1 controller it created
    let dirs = cgroup_dirs(&b.cgroups_path());
    let v1: Vec<_> = dirs.iter().filter(|d| !d.starts_with("/sys/fs/cgroup/unified")).collect();
    assert!(v1.len() >= 4, "the container cgroup must exist in the v1 controllers: {dirs:?}");
    for d in &v1 {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        assert!(procs.lines().any(|l| l.trim() == pid), "pid {pid} not in {}: {procs:?}", d.display());
    }
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    for ctrl in ["memory", "pids", "cpu"] {
        assert!(
            own.lines().any(|l| l.split(':').nth(1).is_some_and(|c| c.split(',').any(|x| x == ctrl))
                && l.ends_with(&b.cgroups_path())),
            "/proc/{pid}/cgroup must place {ctrl} at {}: {own}",
            b.cgroups_path()
        );
    }
    rt.start(&id).assert_ok();
    rt.delete_force(&id).assert_ok();
    assert!(
        cgroup_dirs(&b.cgroups_path()).is_empty(),
        "delete must remove the cgroup everywhere: {:?}",
        cgroup_dirs(&b.cgroups_path())
    );
    rt.assert_clean(&id, &b);
}

#[test]
fn pids_limit_is_enforced() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["linux"]["resources"]["pids"] = json!({"limit": 5}));
    b.set_args(&["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; echo all-forked"]);
    let id = unique("pidlim");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_no_panic();
    assert!(!out.stdout.contains("all-forked"), "pids.max=5 must stop 8 forks: {out}");
    assert!(out.stderr.contains("fork"), "the shell reports the failed fork: {out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn cgroup_removed_after_natural_exit_and_delete() {
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let id = unique("cgexit");
    rt.create(&id, &b).assert_ok();
    assert!(!cgroup_dirs(&b.cgroups_path()).is_empty(), "create must make {}", b.cgroups_path());
    rt.start(&id).assert_ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn run_foreground_removes_cgroup() {
    if !std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        skip(
            "run_foreground_removes_cgroup",
            "no cgroup v1 memory hierarchy: the test looks for its :memory: line (pure v2 hosts: cgroup_v2_host.rs)",
        );
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "cat /proc/self/cgroup"]);
    let id = unique("cgrun");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    assert!(out.stdout.lines().any(|l| l.contains(":memory:")), "{out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn default_cgroup_path_without_cgroups_path() {
    if !std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        skip("default_cgroup_path_without_cgroups_path", "no cgroup v1 memory hierarchy: the test reads the path from the :memory: line (pure v2 hosts: cgroup_v2_host.rs)");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"].as_object_mut().unwrap().remove("cgroupsPath");
    });
    let id = unique("nocgpath");
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid(&id).to_string();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mem = own.lines().find(|l| l.split(':').nth(1) == Some("memory")).unwrap_or_default().to_string();
    let path = mem.splitn(3, ':').nth(2).unwrap_or_default().to_string();
    assert!(path.ends_with(&id), "without cgroupsPath the container's cgroup is named after its id: {own}");
    rt.delete_force(&id).assert_ok();
    assert!(cgroup_dirs(&path).is_empty(), "delete must remove {path}");
    rt.assert_clean(&id, &b);
}
