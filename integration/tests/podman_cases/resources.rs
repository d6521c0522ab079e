//! Point 3: --memory, --cpus, --pids-limit, --ulimit (values in the
//! container's cgroups and rlimits, and enforcement).

use integration::podman::{podman_for, IMAGE};

/// The host path of `pid`'s cgroup in the v1 hierarchy of `controller`.
fn cgroup_dir(pid: i32, controller: &str) -> String {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    for l in cg.lines() {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next().unwrap_or(""), it.next().unwrap_or(""), it.next().unwrap_or(""));
        if ctrls.split(',').any(|c| c == controller) {
            let mount = if ctrls == "cpu,cpuacct" { "cpu,cpuacct".to_string() } else { controller.to_string() };
            for base in [format!("/sys/fs/cgroup/{mount}"), format!("/sys/fs/cgroup/{ctrls}")] {
                let d = format!("{base}{path}");
                if std::path::Path::new(&d).is_dir() {
                    return d;
                }
            }
        }
    }
    panic!("no {controller} cgroup for pid {pid}: {cg}");
}

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}")).trim().to_string()
}

pub fn limits_in_cgroups_and_rlimits(pair: &str) {
    let pm = podman_for(pair);
    let id = pm.run_d(&[
        "--network",
        "none",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "--ulimit",
        "nofile=100:200",
        // --ulimit replaces default_ulimits: without nproc Podman asks for
        // nproc=1048576, above this host's hard limit (every runtime: EPERM).
        "--ulimit",
        "nproc=4096:4096",
        IMAGE,
        "sleep",
        "1000",
    ]);
    let pid = pm.pid(&id);
    let mem = cgroup_dir(pid, "memory");
    assert!(mem.contains(&id), "[{pair}] memory cgroup {mem} is not the container's");
    assert_eq!(read(&format!("{mem}/memory.limit_in_bytes")), "67108864", "[{pair}]");
    let cpu = cgroup_dir(pid, "cpu");
    assert_eq!(read(&format!("{cpu}/cpu.cfs_period_us")), "100000", "[{pair}]");
    assert_eq!(read(&format!("{cpu}/cpu.cfs_quota_us")), "50000", "[{pair}]");
    let pids = cgroup_dir(pid, "pids");
    assert_eq!(read(&format!("{pids}/pids.max")), "50", "[{pair}]");
    let limits = read(&format!("/proc/{pid}/limits"));
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or_default();
    assert_eq!(line.split_whitespace().collect::<Vec<_>>()[3..5], ["100", "200"], "[{pair}] {line}");
    // update changes a running container's limits (runtime `update`).
    pm.ok(&["update", "--memory", "96m", &id]);
    assert_eq!(read(&format!("{mem}/memory.limit_in_bytes")), "100663296", "[{pair}] after podman update");
    // The container sees its limit too (cgroup mounted in the container).
    let out = pm.ok(&["exec", &id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]);
    assert_eq!(out.stdout.trim(), "100663296", "[{pair}] {out}");
}

pub fn memory_limit_oom_kills(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    // dd's 64 MiB buffer does not fit in 32 MiB (no swap here).
    let out = pm.run(&[
        "run",
        "--name",
        "oxoom",
        "--network",
        "none",
        "--memory",
        "32m",
        "--memory-swap",
        "32m",
        IMAGE,
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert_eq!(out.code(), 137, "[{pair}] {out}");
    let oom = pm.inspect("oxoom", "{{.State.OOMKilled}}");
    if pm.pair.monitor_is_oxmon() {
        assert_eq!(oom, "true", "[{pair}] the monitor must report the OOM kill");
    } else if oom != "true" {
        // shim-tests oom_kill_is_reported: conmon 2.1.6 watches the v1 eventfd only while its
        // loop runs and misses an OOM kill that ends the container.
        integration::note(&format!("NOTE [{pair}] conmon 2.1.6 missed the OOM kill (its known eventfd/exit race)"));
    }
}

pub fn pids_limit_enforced(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    let out = pm.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pids-limit",
        "5",
        IMAGE,
        "sh",
        "-c",
        "n=0; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & n=$((n+1)); done; wait; echo started",
    ]);
    assert!(
        out.stderr.contains("fork") || out.stderr.contains("Resource temporarily unavailable"),
        "[{pair}] no fork failure under --pids-limit 5: {out}"
    );
}
