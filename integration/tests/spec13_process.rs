//! runtime-spec 1.1–1.3 process attributes, each read back from inside the container:
//! `process.ioPriority` (busybox `ionice`), `process.scheduler` (/proc/self/stat's nice,
//! rt_priority and policy fields), `linux.personality` (`uname -m`), `process.execCPUAffinity`
//! (Cpus_allowed_list of an exec'd process) and `linux.memoryPolicy` (/proc/self/numa_maps).
//! Bad values fail `create` (or `exec`) with one error line and leave nothing behind.
//! runc 1.1.5 implements none of these (it ignores them): with runc the tests print a SKIP.

mod ops_support;

use integration::{is_runc, note, unique, Bundle, Out, Runtime};
use ops_support::{assert_one_error_line, status_field, Running};
use serde_json::{json, Value};

/// runc 1.1.5 predates these fields and silently ignores them.
fn skip_for_runc(test: &str) -> bool {
    if is_runc() {
        integration::util::note(&format!(
            "SKIP {test}: runc 1.1.5 does not implement runtime-spec 1.1-1.3 process attributes"
        ));
    }
    is_runc()
}

/// Runs `sh -c script` in a container edited by `edit`; asserts success and cleanliness and
/// returns stdout.
#[track_caller]
fn run_sh(script: &str, edit: impl FnOnce(&mut Value)) -> String {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", script]);
    b.edit(edit);
    let id = unique("attrs");
    let out = rt.run_container(&id, &b, &[]);
    rt.assert_clean(&id, &b);
    out.assert_ok();
    out.stdout
}

/// `create` of a container edited by `edit` must fail with one line containing `want`, and
/// leave nothing behind.
#[track_caller]
fn refused_at_create(edit: impl FnOnce(&mut Value), want: &str) {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(edit);
    let id = unique("attrs-bad");
    let out = rt.create(&id, &b);
    assert_one_error_line(&out, &id);
    assert!(out.stderr.contains(want), "the error must say {want:?}: {out}");
    rt.assert_clean(&id, &b);
}

/// The shell's own /proc/self/stat fields 19 (nice), 40 (rt_priority) and 41 (policy), read with
/// builtins only: a SCHED_DEADLINE process may not fork.
const SCHED_FIELDS: &str = "read -r line < /proc/self/stat; set -- $line; echo ${19} ${40} ${41}";

#[test]
fn io_priority_is_what_ionice_shows_inside() {
    if skip_for_runc("io_priority_is_what_ionice_shows_inside") {
        return;
    }
    for (class, priority, shown) in [
        ("IOPRIO_CLASS_BE", 6, "best-effort: prio 6"),
        ("IOPRIO_CLASS_RT", 2, "realtime: prio 2"),
        ("IOPRIO_CLASS_IDLE", 0, "idle"),
    ] {
        let out = run_sh("ionice", |c| c["process"]["ioPriority"] = json!({ "class": class, "priority": priority }));
        assert_eq!(out.trim(), shown, "{class} {priority}");
    }
    // Unset: the kernel's default (none set, shown as best-effort from the nice value).
    let out = run_sh("ionice", |_| {});
    assert!(!out.contains("idle") && !out.contains("realtime"), "{out}");
}

#[test]
fn scheduler_policy_nice_and_priority_are_read_back_inside() {
    if skip_for_runc("scheduler_policy_nice_and_priority_are_read_back_inside") {
        return;
    }
    // A real-time policy needs an RT budget in a v1 `cpu` cgroup with RT group scheduling; the
    // kernel grants one only below a parent that has one, so this cgroup sits under the root.
    let rt_budget = |c: &mut Value| {
        if std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
            c["linux"]["cgroupsPath"] = json!(format!("/{}", unique("oxrun-rt")));
            c["linux"]["resources"]["cpu"] = json!({ "realtimePeriod": 1000000, "realtimeRuntime": 10000 });
        }
    };
    for (scheduler, want) in [
        (json!({ "policy": "SCHED_OTHER", "nice": -5 }), "-5 0 0"),
        (json!({ "policy": "SCHED_BATCH", "nice": 7 }), "7 0 3"),
        (json!({ "policy": "SCHED_IDLE" }), "0 0 5"),
        (json!({ "policy": "SCHED_FIFO", "priority": 10 }), "0 10 1"),
        (json!({ "policy": "SCHED_RR", "priority": 5, "flags": ["SCHED_FLAG_RESET_ON_FORK"] }), "0 5 2"),
    ] {
        let realtime = scheduler["priority"].is_number();
        let out = run_sh(SCHED_FIELDS, |c| {
            c["process"]["scheduler"] = scheduler.clone();
            if realtime {
                rt_budget(c);
            }
        });
        assert_eq!(out.trim(), want, "{scheduler}: nice rt_priority policy");
    }
}

#[test]
fn scheduler_deadline_runtime_deadline_period_are_applied() {
    if skip_for_runc("scheduler_deadline_runtime_deadline_period_are_applied") {
        return;
    }
    let sched = json!({ "policy": "SCHED_DEADLINE", "runtime": 1000000, "deadline": 10000000, "period": 10000000 });
    // /proc/self/sched's dl.runtime is the budget left in the current period: at most the
    // configured runtime, and more than nothing once the task ran under SCHED_DEADLINE.
    let script = format!(
        "{SCHED_FIELDS}; while read -r k c v; do case $k in dl.runtime) echo $v;; esac; done < /proc/self/sched"
    );
    let out = run_sh(&script, |c| c["process"]["scheduler"] = sched.clone());
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0 0 6"), "SCHED_DEADLINE is policy 6: {out}");
    match lines.next().map(str::parse::<i64>) {
        Some(Ok(left)) => assert!(left <= 1_000_000, "dl.runtime {left} is above the 1 ms budget: {out}"),
        _ => note(&format!("no dl.runtime in /proc/self/sched on this kernel: {out}")),
    }
}

#[test]
fn personality_linux32_makes_uname_show_i686() {
    if skip_for_runc("personality_linux32_makes_uname_show_i686") {
        return;
    }
    if std::env::consts::ARCH != "x86_64" {
        integration::util::note(
            "SKIP personality_linux32_makes_uname_show_i686: i686 is what LINUX32 shows on x86_64 only",
        );
        return;
    }
    let out =
        run_sh("uname -m; cat /proc/self/personality", |c| c["linux"]["personality"] = json!({ "domain": "LINUX32" }));
    assert_eq!(out, "i686\n00000008\n");
    let out = run_sh("uname -m", |c| c["linux"]["personality"] = json!({ "domain": "LINUX" }));
    assert_eq!(out, "x86_64\n");
}

/// The policy /proc/self/numa_maps shows for the first mapping (ours, no VMA policy of its own).
fn numa_policy_inside(policy: Value) -> String {
    let out = run_sh("head -1 /proc/self/numa_maps", |c| c["linux"]["memoryPolicy"] = policy);
    out.split_whitespace().nth(1).unwrap_or_default().to_string()
}

#[test]
fn memory_policy_every_mode_one_node_allows_is_seen_in_numa_maps() {
    if skip_for_runc("memory_policy_every_mode_one_node_allows_is_seen_in_numa_maps") {
        return;
    }
    if !std::path::Path::new("/proc/self/numa_maps").exists() {
        integration::util::note(
            "SKIP memory_policy_every_mode_one_node_allows_is_seen_in_numa_maps: no NUMA support in this kernel",
        );
        return;
    }
    for (policy, shown) in [
        (json!({ "mode": "MPOL_DEFAULT" }), "default"),
        (json!({ "mode": "MPOL_LOCAL" }), "local"),
        (json!({ "mode": "MPOL_BIND", "nodes": "0" }), "bind:0"),
        (json!({ "mode": "MPOL_INTERLEAVE", "nodes": "0" }), "interleave:0"),
        (json!({ "mode": "MPOL_PREFERRED", "nodes": "0" }), "prefer:0"),
        (json!({ "mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"] }), "bind=static:0"),
        (
            json!({ "mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"] }),
            "interleave=relative:0",
        ),
    ] {
        assert_eq!(numa_policy_inside(policy.clone()), shown, "{policy}");
    }
    // Newer modes print more than one word ("prefer (many):0", "weighted interleave:0").
    let out = run_sh("head -1 /proc/self/numa_maps", |c| {
        c["linux"]["memoryPolicy"] = json!({ "mode": "MPOL_PREFERRED_MANY", "nodes": "0" })
    });
    assert!(out.contains("prefer (many):0"), "{out}");
    let out = run_sh("head -1 /proc/self/numa_maps", |c| {
        c["linux"]["memoryPolicy"] = json!({ "mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0" })
    });
    assert!(out.contains("weighted interleave:0"), "{out}");
}

#[test]
fn memory_policy_on_a_node_that_does_not_exist_fails_create_cleanly() {
    if skip_for_runc("memory_policy_on_a_node_that_does_not_exist_fails_create_cleanly") {
        return;
    }
    let online = std::fs::read_to_string("/sys/devices/system/node/online").unwrap_or_default();
    if online.trim() != "0" {
        integration::util::note(&format!("SKIP memory_policy_on_a_node_that_does_not_exist_fails_create_cleanly: this host has nodes {online:?}, node 5 may exist"));
        return;
    }
    refused_at_create(
        |c| c["linux"]["memoryPolicy"] = json!({ "mode": "MPOL_BIND", "nodes": "5" }),
        "set memory policy MPOL_BIND nodes 5",
    );
}

#[test]
fn bad_values_fail_create_with_one_line_and_nothing_left() {
    if skip_for_runc("bad_values_fail_create_with_one_line_and_nothing_left") {
        return;
    }
    refused_at_create(
        |c| c["process"]["ioPriority"] = json!({ "class": "IOPRIO_CLASS_NONE", "priority": 0 }),
        "process.ioPriority: unknown class",
    );
    refused_at_create(
        |c| c["process"]["ioPriority"] = json!({ "class": "IOPRIO_CLASS_BE", "priority": 8 }),
        "process.ioPriority: priority 8",
    );
    refused_at_create(
        |c| c["process"]["scheduler"] = json!({ "policy": "SCHED_NOPE" }),
        "process.scheduler: unknown policy",
    );
    refused_at_create(
        |c| c["process"]["scheduler"] = json!({ "policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_NOPE"] }),
        "process.scheduler: unknown flag",
    );
    refused_at_create(
        |c| c["process"]["scheduler"] = json!({ "policy": "SCHED_OTHER", "nice": 20 }),
        "process.scheduler: nice 20",
    );
    refused_at_create(
        |c| c["process"]["execCPUAffinity"] = json!({ "initial": "1-0" }),
        "process.execCPUAffinity.initial",
    );
    refused_at_create(
        |c| c["linux"]["personality"] = json!({ "domain": "LINUX64" }),
        "linux.personality: unknown domain",
    );
    refused_at_create(
        |c| c["linux"]["memoryPolicy"] = json!({ "mode": "MPOL_NOPE", "nodes": "0" }),
        "linux.memoryPolicy: unknown mode",
    );
    refused_at_create(
        |c| c["linux"]["memoryPolicy"] = json!({ "mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NOPE"] }),
        "linux.memoryPolicy: unknown flag",
    );
    refused_at_create(
        |c| c["linux"]["memoryPolicy"] = json!({ "mode": "MPOL_BIND" }),
        "linux.memoryPolicy: MPOL_BIND needs nodes",
    );
}

/// `exec --process` with `process` (args and cwd added); the Out of the exec.
fn exec_process(r: &Running, mut process: Value, args: &[&str]) -> Out {
    process["args"] = json!(args);
    process["cwd"] = json!("/");
    let file = r.scratch(&unique("process.json"));
    std::fs::write(&file, process.to_string()).unwrap();
    r.exec(&["--process", file.to_str().unwrap()], &[])
}

#[test]
fn exec_cpu_affinity_final_is_set_after_the_cgroup_join_for_exec_only() {
    if skip_for_runc("exec_cpu_affinity_final_is_set_after_the_cgroup_join_for_exec_only") {
        return;
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        integration::util::note(
            "SKIP exec_cpu_affinity_final_is_set_after_the_cgroup_join_for_exec_only: needs 2 CPUs",
        );
        return;
    }
    let all = status_field(&std::fs::read_to_string("/proc/self/status").unwrap(), "Cpus_allowed_list");
    // From config.json: exec'd processes get it, init does not ("not applicable to the
    // container's init process").
    let r =
        Running::sleeping("affinity", |c| c["process"]["execCPUAffinity"] = json!({ "initial": "0", "final": "1" }));
    let init_status = std::fs::read_to_string(format!("/proc/{}/status", r.pid())).unwrap();
    assert_eq!(status_field(&init_status, "Cpus_allowed_list"), all, "init keeps the runtime's affinity");
    let out = r.exec(&[], &["grep", "Cpus_allowed_list", "/proc/self/status"]);
    out.assert_ok();
    assert_eq!(status_field(&out.stdout, "Cpus_allowed_list"), "1", "config.json's final: {out}");
    // From --process: its own lists, for each of the spec's list forms.
    for (fin, shown) in [("0", "0"), ("1", "1"), ("0-1", "0-1"), ("0,1", "0-1")] {
        let out = exec_process(
            &r,
            json!({ "execCPUAffinity": { "initial": "1", "final": fin } }),
            &["grep", "Cpus_allowed_list", "/proc/self/status"],
        );
        out.assert_ok();
        assert_eq!(status_field(&out.stdout, "Cpus_allowed_list"), shown, "final {fin}: {out}");
    }
    r.finish();
}

#[test]
fn exec_cpu_affinity_initial_is_what_the_process_is_born_with() {
    if skip_for_runc("exec_cpu_affinity_initial_is_what_the_process_is_born_with") {
        return;
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        integration::util::note("SKIP exec_cpu_affinity_initial_is_what_the_process_is_born_with: needs 2 CPUs");
        return;
    }
    // Without cgroups (--cgroup-manager disabled) no cgroup join resets the affinity, so the
    // initial list is what the exec'd process still runs with.
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("affinity-initial");
    rt.create_with(&id, &b, &["--cgroup-manager", "disabled"]).assert_ok();
    rt.start(&id).assert_ok();
    let process = json!({ "args": ["grep", "Cpus_allowed_list", "/proc/self/status"], "cwd": "/", "execCPUAffinity": { "initial": "1" } });
    let file = rt.scratch().join("process.json");
    std::fs::write(&file, process.to_string()).unwrap();
    let out = rt.run(&["--cgroup-manager", "disabled", "exec", "--process", file.to_str().unwrap(), &id]);
    out.assert_ok();
    assert_eq!(status_field(&out.stdout, "Cpus_allowed_list"), "1", "{out}");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn exec_gets_the_containers_attributes_and_refuses_bad_ones() {
    if skip_for_runc("exec_gets_the_containers_attributes_and_refuses_bad_ones") {
        return;
    }
    let r = Running::sleeping("attrs-exec", |c| {
        c["process"]["ioPriority"] = json!({ "class": "IOPRIO_CLASS_IDLE", "priority": 0 });
        c["process"]["scheduler"] = json!({ "policy": "SCHED_BATCH", "nice": 3 });
        c["linux"]["personality"] = json!({ "domain": "LINUX32" });
        c["linux"]["memoryPolicy"] = json!({ "mode": "MPOL_INTERLEAVE", "nodes": "0" });
    });
    let out = r.exec(&[], &["sh", "-c", &format!("ionice; uname -m; {SCHED_FIELDS}; head -1 /proc/self/numa_maps")]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[..3], ["idle", "i686", "3 0 3"], "{out}");
    assert!(lines[3].contains(" interleave:0 "), "{out}");
    // --process carries its own ioPriority and scheduler.
    let out = exec_process(&r, json!({ "ioPriority": { "class": "IOPRIO_CLASS_BE", "priority": 1 } }), &["ionice"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "best-effort: prio 1");
    for (process, want) in [
        (json!({ "ioPriority": { "class": "IOPRIO_CLASS_NOPE", "priority": 1 } }), "process.ioPriority: unknown class"),
        (json!({ "scheduler": { "policy": "SCHED_NOPE" } }), "process.scheduler: unknown policy"),
        (json!({ "execCPUAffinity": { "final": "x" } }), "process.execCPUAffinity.final"),
    ] {
        let out = exec_process(&r, process, &["true"]);
        assert_one_error_line(&out, &r.id);
        assert!(out.stderr.contains(want), "{want}: {out}");
    }
    assert_eq!(r.rt.status(&r.id), "running", "a refused exec leaves the container running");
    r.finish();
}

/// Every memory policy mode and flag `features` advertises is taken by a real container on this
/// host (nodes "0", the one node every NUMA kernel has).
#[test]
fn features_memory_policy_is_honest() {
    if skip_for_runc("features_memory_policy_is_honest") {
        return;
    }
    let rt = Runtime::new();
    let out = rt.run(&["features"]);
    out.assert_ok();
    let f: Value = serde_json::from_str(&out.stdout).expect("features JSON");
    let names = |v: &Value| -> Vec<String> {
        v.as_array().expect("array").iter().map(|s| s.as_str().expect("string").to_string()).collect()
    };
    let m = &f["linux"]["memoryPolicy"];
    for mode in names(&m["modes"]) {
        let nodes = if matches!(mode.as_str(), "MPOL_DEFAULT" | "MPOL_LOCAL") { json!(null) } else { json!("0") };
        let policy = numa_policy_inside(json!({ "mode": mode, "nodes": nodes }));
        assert!(!policy.is_empty(), "{mode}");
    }
    for flag in names(&m["flags"]) {
        let policy = numa_policy_inside(json!({ "mode": "MPOL_BIND", "nodes": "0", "flags": [flag] }));
        assert!(policy.starts_with("bind="), "{flag}: {policy}");
    }
}
