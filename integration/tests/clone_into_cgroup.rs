//! CLONE_INTO_CGROUP (the cgroups issue, point 2): init and exec'd processes are born in the
//! container's cgroup2 directory instead of being moved there. On this hybrid host that is the
//! directory in /sys/fs/cgroup/unified; the process moves itself into each v1 hierarchy by
//! writing "0" to its `tasks` file. strace shows all: the clone3 flag with the directory fd, no
//! cgroup.procs write into the cgroup2 hierarchy, and the self-joins of v1. (The kernel side, that a child is in the cgroup before it runs,
//! is `oxsys`'s own test `clone_into_cgroup`.)
//! Checked: with create's `clone_into` always passing no directory, both tests fail ("no clone3
//! into a cgroup"); with `open_self_joins` returning nothing, both fail ("no self-join").
use integration::{is_runc, unique, Bundle, Runtime};
use std::process::Command;

fn cgroup2_mount() -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split(' ').next() != Some("cgroup2") {
            return None;
        }
        pre.split(' ').nth(4).map(str::to_string)
    })
}

/// Runs `args` (an oxrun command line) under strace; returns its result and the trace.
fn traced(rt: &Runtime, args: &[&str]) -> (integration::Out, String) {
    let trace = rt.scratch().join(format!("trace-{}", unique("t")));
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-y", "-qq", "-s", "128", "-e", "trace=clone3,write", "-e", "signal=none", "-o"]).arg(&trace);
    cmd.arg(rt.bin()).arg("--root").arg(rt.root()).args(args);
    let out = rt.exec(cmd);
    assert!(out.ok(), "{out}");
    let text = std::fs::read_to_string(&trace).expect("strace output");
    (out, text)
}

/// Asserts the trace has a clone3 into a cgroup and no cgroup.procs write under `mount`.
fn assert_born_in_cgroup(trace: &str, mount: &str, what: &str) {
    let clones: Vec<&str> = trace.lines().filter(|l| l.contains("clone3(")).collect();
    assert!(
        clones.iter().any(|l| l.contains("CLONE_INTO_CGROUP") && l.contains("cgroup=")),
        "{what}: no clone3 into a cgroup: {clones:#?}"
    );
    let procs_writes: Vec<&str> = trace.lines().filter(|l| l.contains("cgroup.procs>")).collect();
    let into_v2: Vec<&&str> = procs_writes.iter().filter(|l| l.contains(&format!("<{mount}/"))).collect();
    assert!(into_v2.is_empty(), "{what}: moved into the cgroup2 hierarchy by a write: {into_v2:#?}");
    // On a hybrid host the process moves itself into each v1 hierarchy: "0" written to `tasks`
    // (a pid written to cgroup.procs would take the lock that waits for an RCU grace period).
    if std::path::Path::new("/sys/fs/cgroup/memory/tasks").exists() {
        let in_memory = |l: &&str| l.contains("/sys/fs/cgroup/memory/");
        let self_joins: Vec<&str> = trace.lines().filter(|l| l.contains("tasks>, \"0\"") && in_memory(l)).collect();
        assert!(!self_joins.is_empty(), "{what}: no self-join of the v1 memory cgroup: {trace}");
        let by_pid: Vec<&&str> = procs_writes.iter().filter(|l| in_memory(l)).collect();
        assert!(by_pid.is_empty(), "{what}: moved into v1 memory by a cgroup.procs write: {by_pid:#?}");
    }
}

/// Asserts every v1 hierarchy line of /proc/self/cgroup as the container saw it (`seen`) shows
/// the container's cgroup, except controllers mounted nowhere (the runtime cannot see them).
fn assert_in_every_v1_cgroup(seen: &str, cgroups_path: &str, what: &str) {
    let hidden = integration::containerd::unmounted_v1_controllers();
    for line in seen.lines().filter(|l| !l.starts_with("0::")) {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if controllers.split(',').any(|c| hidden.iter().any(|h| h == c || h == controllers)) {
            continue;
        }
        assert_eq!(path, cgroups_path, "{what}: not in its {controllers} cgroup: {seen}");
    }
}

fn skip() -> Option<String> {
    if is_runc() {
        eprintln!("NOTE: skipping: runc 1.1 does not use CLONE_INTO_CGROUP");
        return None;
    }
    let Some(mount) = cgroup2_mount() else {
        eprintln!("NOTE: skipping: no cgroup2 hierarchy mounted on this host");
        return None;
    };
    if integration::bundle::base_spec()["linux"]["namespaces"]
        .as_array()
        .is_some_and(|ns| ns.iter().any(|n| n["type"] == "cgroup"))
    {
        integration::skip("clone_into_cgroup", "the base spec has a cgroup namespace (runc spec adds one on a pure v2 host), so /proc/self/cgroup in the container shows 0::/ (pure v2: cgroup_v2_host.rs checks CLONE_INTO_CGROUP)");
        return None;
    }
    Some(mount)
}

#[test]
fn init_is_born_in_its_cgroup2_directory() {
    let Some(mount) = skip() else { return };
    let rt = Runtime::new();
    let b = Bundle::new(&["cat", "/proc/self/cgroup"]);
    let id = unique("cloneinto");
    rt.track(&id);
    // `run`, not `create`: strace -f waits for every traced process, and a created init waits.
    let (ran, trace) = traced(&rt, &["run", "--bundle", &b.path_str(), &id]);
    assert_born_in_cgroup(&trace, &mount, "run");
    let want = format!("0::{}", b.cgroups_path());
    assert!(ran.stdout.lines().any(|l| l == want), "container's cgroups {:?}, want {want}", ran.stdout);
    assert_in_every_v1_cgroup(&ran.stdout, &b.cgroups_path(), "run");
    rt.assert_clean(&id, &b);
}

#[test]
fn exec_is_born_in_the_containers_cgroup2_directory() {
    let Some(mount) = skip() else { return };
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    let id = unique("cloneinto-exec");
    rt.create_start(&id, &b).assert_ok();
    let (out, trace) = traced(&rt, &["exec", &id, "cat", "/proc/self/cgroup"]);
    assert_born_in_cgroup(&trace, &mount, "exec");
    let want = format!("0::{}", b.cgroups_path());
    assert!(out.stdout.lines().any(|l| l == want), "exec'd process's cgroups {:?}, want {want}", out.stdout);
    assert_in_every_v1_cgroup(&out.stdout, &b.cgroups_path(), "exec");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}
