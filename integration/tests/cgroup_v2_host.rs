//! A production host: systemd as PID 1 on a pure cgroup v2 hierarchy (issue 16). These tests run
//! in the test VM (`make test-vm`, vm/); elsewhere each skips with its reason.
//! What they read back is the kernel's v2 files (memory.max, cpu.max, pids.max, cgroup.freeze,
//! memory.events) and, for `--systemd-cgroup`, the unit's properties as real systemd reports them
//! (`systemctl show`).

use integration::util::unit_prop;
use integration::{is_runc, skip, unique, Bundle, Out, Runtime};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const V2: &str = "/sys/fs/cgroup";

/// Some(reason) unless /sys/fs/cgroup is a pure cgroup v2 mount.
fn not_pure_v2() -> Option<&'static str> {
    if !Path::new(V2).join("cgroup.controllers").exists() {
        return Some("/sys/fs/cgroup is not a cgroup v2 mount (a v1 or hybrid host)");
    }
    None
}

fn needs_v2(test: &str) -> bool {
    match not_pure_v2() {
        Some(why) => {
            skip(test, why);
            false
        }
        None => true,
    }
}

fn needs_systemd(test: &str) -> bool {
    if !needs_v2(test) {
        return false;
    }
    if !Path::new("/run/systemd/system").exists() {
        skip(test, "systemd is not PID 1 here (no /run/systemd/system)");
        return false;
    }
    true
}

fn cg_dir(b: &Bundle) -> PathBuf {
    Path::new(V2).join(b.cgroups_path().trim_start_matches('/'))
}

#[track_caller]
fn read(dir: &Path, file: &str) -> String {
    let p = dir.join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())).trim().to_string()
}

/// `key value` lines of a flat-keyed v2 file (memory.events, cgroup.events).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn resources_read_back_from_the_v2_files() {
    if !needs_v2("resources_read_back_from_the_v2_files") {
        return;
    }
    let mut b = Bundle::new(&["sleep", "60"]);
    b.edit(|c| {
        c["linux"]["resources"] = json!({
            "memory": { "limit": 64u64 << 20, "reservation": 32u64 << 20, "swap": 96u64 << 20 },
            "cpu": { "shares": 1024, "quota": 30000, "period": 60000, "cpus": "0", "mems": "0" },
            "pids": { "limit": 77 },
            "unified": { "memory.high": "50331648" }
        })
    });
    let rt = Runtime::new();
    let id = unique("v2res");
    rt.create(&id, &b).assert_ok();
    let dir = cg_dir(&b);
    assert_eq!(read(&dir, "memory.max"), (64u64 << 20).to_string());
    assert_eq!(read(&dir, "memory.low"), (32u64 << 20).to_string());
    // v2 counts swap alone: swap.max = memory+swap limit - memory limit.
    assert_eq!(read(&dir, "memory.swap.max"), (32u64 << 20).to_string());
    assert_eq!(read(&dir, "memory.high"), "50331648");
    assert_eq!(read(&dir, "cpu.max"), "30000 60000");
    // shares 1024 is the v1 default; its v2 weight is 1 + (1024 - 2) * 9999 / 262142 = 39.
    assert_eq!(read(&dir, "cpu.weight"), "39");
    assert_eq!(read(&dir, "cpuset.cpus"), "0");
    assert_eq!(read(&dir, "cpuset.mems"), "0");
    assert_eq!(read(&dir, "pids.max"), "77");
    let pid = rt.pid(&id);
    assert_eq!(read(&dir, "cgroup.procs"), pid.to_string(), "init is the cgroup's only process");
    rt.delete_force(&id).assert_ok();
    assert!(!dir.exists(), "delete removes {}", dir.display());
    rt.assert_clean(&id, &b);
}

#[test]
fn pause_sets_cgroup_freeze_and_resume_clears_it() {
    if !needs_v2("pause_sets_cgroup_freeze_and_resume_clears_it") {
        return;
    }
    let b = Bundle::new(&["sleep", "60"]);
    let rt = Runtime::new();
    let id = unique("v2frz");
    rt.create_start(&id, &b).assert_ok();
    let dir = cg_dir(&b);
    rt.run(&["pause", &id]).assert_ok();
    assert_eq!(rt.status(&id), "paused");
    assert_eq!(read(&dir, "cgroup.freeze"), "1");
    assert_eq!(keyed(&read(&dir, "cgroup.events"), "frozen"), Some(1), "the kernel reports the cgroup frozen");
    rt.run(&["resume", &id]).assert_ok();
    assert_eq!(rt.status(&id), "running");
    assert_eq!(read(&dir, "cgroup.freeze"), "0");
    assert_eq!(keyed(&read(&dir, "cgroup.events"), "frozen"), Some(0));
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn update_rewrites_the_v2_limits() {
    if !needs_v2("update_rewrites_the_v2_limits") {
        return;
    }
    let mut b = Bundle::new(&["sleep", "60"]);
    b.edit(|c| c["linux"]["resources"] = json!({ "memory": { "limit": 64u64 << 20 }, "pids": { "limit": 50 } }));
    let rt = Runtime::new();
    let id = unique("v2upd");
    rt.create(&id, &b).assert_ok();
    rt.run(&["update", "--memory", "134217728", "--pids-limit", "60", &id]).assert_ok();
    let dir = cg_dir(&b);
    assert_eq!(read(&dir, "memory.max"), "134217728");
    assert_eq!(read(&dir, "pids.max"), "60");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn oom_kill_is_counted_in_memory_events_and_reported() {
    if !needs_v2("oom_kill_is_counted_in_memory_events_and_reported") {
        return;
    }
    let mut b = Bundle::new(&["sh", "-c", "sleep 1; tail /dev/zero"]);
    let mem = 32u64 << 20;
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({ "limit": mem, "swap": mem }));
    let rt = Runtime::new();
    let id = unique("v2oom");
    rt.create(&id, &b).assert_ok();
    let dir = cg_dir(&b);
    let mut events =
        rt.cmd(&["events", "--interval", "50ms", &id]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    rt.start(&id).assert_ok();
    rt.wait_status(&id, "stopped");
    let kills = keyed(&read(&dir, "memory.events"), "oom_kill").unwrap_or(0);
    assert!(kills >= 1, "memory.events: {}", read(&dir, "memory.events"));
    let (status, text) = integration::util::wait_child_stdout(&mut events, Duration::from_secs(20), "events");
    assert!(status.success(), "events: {text}");
    assert!(
        text.lines()
            .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["type"] == "oom" && v["id"] == id.as_str())),
        "an oom event: {text}"
    );
    let stats = rt.run(&["events", "--stats", &id]);
    stats.assert_ok();
    let v: Value = serde_json::from_str(stats.stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(v["data"]["memory"]["oomKills"], json!(kills), "{}", stats.stdout);
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

fn sd(rt: &Runtime, args: &[&str]) -> Out {
    let mut c = rt.cmd(&["--systemd-cgroup"]);
    c.args(args);
    rt.exec(c)
}

#[test]
fn systemd_scope_has_the_limits_and_update_sets_the_unit() {
    if !needs_systemd("systemd_scope_has_the_limits_and_update_sets_the_unit") {
        return;
    }
    let id = unique("v2sd");
    let mut b = Bundle::new(&["sleep", "60"]);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(format!("system.slice:oxtest:{id}"));
        c["linux"]["resources"] = json!({ "memory": { "limit": 64u64 << 20 }, "pids": { "limit": 40 } });
    });
    let unit = format!("oxtest-{id}.scope");
    let dir = Path::new(V2).join("system.slice").join(&unit);
    let rt = Runtime::new();
    rt.track(&id);
    sd(&rt, &["create", "--bundle", &b.path_str(), &id]).assert_ok();
    assert_eq!(unit_prop(&unit, "ActiveState"), "active");
    assert_eq!(unit_prop(&unit, "MemoryMax"), (64u64 << 20).to_string());
    assert_eq!(unit_prop(&unit, "TasksMax"), "40");
    assert_eq!(read(&dir, "memory.max"), (64u64 << 20).to_string());
    assert_eq!(read(&dir, "cgroup.procs"), rt.pid(&id).to_string());
    if is_runc() {
        skip(
            "systemd_scope_has_the_limits_and_update_sets_the_unit (update part)",
            "runc 1.1.5's --systemd-cgroup update is the reference being matched",
        );
    }
    sd(&rt, &["update", "--memory", "134217728", "--pids-limit", "60", &id]).assert_ok();
    assert_eq!(read(&dir, "memory.max"), "134217728");
    // The unit's own values too, or systemd restores the old limits on its next reload.
    assert_eq!(unit_prop(&unit, "MemoryMax"), "134217728", "the unit's MemoryMax after update");
    assert_eq!(unit_prop(&unit, "TasksMax"), "60", "the unit's TasksMax after update");
    sd(&rt, &["delete", "--force", &id]).assert_ok();
    let state = unit_prop(&unit, "ActiveState");
    assert!(state == "inactive" || state.is_empty(), "the scope is stopped after delete: {state}");
    assert!(!dir.exists(), "no scope cgroup left: {}", dir.display());
}

/// The device filter is an eBPF program on the container's cgroup (v2 has no devices.* files):
/// the block device of the host's / bind-mounted in (a device no default rule allows, readable
/// by root without a capability) cannot be opened without an allow rule, /dev/null (a default
/// device) can, and an allow rule for the device opens it.
#[test]
fn device_filter_is_attached_and_enforced() {
    if !needs_v2("device_filter_is_attached_and_enforced") {
        return;
    }
    let dev = std::fs::metadata("/").map(|m| std::os::unix::fs::MetadataExt::dev(&m)).unwrap_or(0);
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let node = format!("/dev/block/{major}:{minor}");
    if major == 0 || !Path::new(&node).exists() {
        skip("device_filter_is_attached_and_enforced", &format!("/ is not on a block device here ({major}:{minor})"));
        return;
    }
    for allow in [false, true] {
        let mut b = Bundle::new(&[
            "sh",
            "-c",
            "head -c1 /dev/null && echo null-ok; head -c1 /dev/xblk >/dev/null && echo blk-ok; true",
        ]);
        b.edit(|c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({ "destination": "/dev/xblk", "type": "bind", "source": node, "options": ["bind"] }));
            // runc spec's default: deny every device (the defaults are allowed after it).
            c["linux"]["resources"]["devices"] = json!([{ "allow": false, "access": "rwm" }]);
            if allow {
                c["linux"]["resources"]["devices"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({ "allow": true, "type": "b", "major": major, "minor": minor, "access": "r" }));
            }
        });
        let rt = Runtime::new();
        let id = unique("v2dev");
        let out = rt.run_container(&id, &b, &[]);
        out.assert_ok();
        assert!(out.stdout.contains("null-ok"), "/dev/null is a default device: {out}");
        if allow {
            assert!(out.stdout.contains("blk-ok"), "b {major}:{minor} r allowed: {out}");
        } else {
            assert!(
                !out.stdout.contains("blk-ok") && out.stderr.contains("ermitted"),
                "b {major}:{minor} not allowed: EPERM from the filter: {out}"
            );
        }
        rt.assert_clean(&id, &b);
    }
}

/// CLONE_INTO_CGROUP: init and exec'd processes are born in the container's cgroup (clone3 with
/// the directory's fd, and no cgroup.procs write at all on a pure v2 host). The bundle has no
/// cgroup namespace, so /proc/self/cgroup in the container shows the host path.
#[test]
fn init_and_exec_are_born_in_the_cgroup() {
    if !needs_v2("init_and_exec_are_born_in_the_cgroup") {
        return;
    }
    if is_runc() {
        skip("init_and_exec_are_born_in_the_cgroup", "runc 1.1 does not use CLONE_INTO_CGROUP");
        return;
    }
    let no_cgroupns =
        |c: &mut Value| c["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "cgroup");
    let rt = Runtime::new();
    let traced = |args: &[&str]| {
        let trace = rt.scratch().join(format!("trace-{}", unique("t")));
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-y", "-qq", "-s", "128", "-e", "trace=clone3,write", "-e", "signal=none", "-o"]).arg(&trace);
        cmd.arg(rt.bin()).arg("--root").arg(rt.root()).args(args);
        let out = rt.exec(cmd);
        out.assert_ok();
        let text = std::fs::read_to_string(&trace).expect("strace output");
        let clones: Vec<&str> = text.lines().filter(|l| l.contains("clone3(")).collect();
        assert!(
            clones.iter().any(|l| l.contains("CLONE_INTO_CGROUP") && l.contains("cgroup=")),
            "{args:?}: no clone3 into a cgroup: {clones:#?}"
        );
        let writes: Vec<&str> = text.lines().filter(|l| l.contains("cgroup.procs>")).collect();
        assert!(writes.is_empty(), "{args:?}: moved by a cgroup.procs write: {writes:#?}");
        out
    };
    // init: `run`, as strace -f waits for every traced process and a created init waits.
    let mut b = Bundle::new(&["cat", "/proc/self/cgroup"]);
    b.edit(no_cgroupns);
    let id = unique("v2clone");
    rt.track(&id);
    let out = traced(&["run", "--bundle", &b.path_str(), &id]);
    assert_eq!(out.stdout.trim(), format!("0::{}", b.cgroups_path()), "init's cgroup");
    rt.assert_clean(&id, &b);
    let mut b = Bundle::new(&["sleep", "60"]);
    b.edit(no_cgroupns);
    let id = unique("v2clonex");
    rt.create_start(&id, &b).assert_ok();
    let out = traced(&["exec", &id, "cat", "/proc/self/cgroup"]);
    assert_eq!(out.stdout.trim(), format!("0::{}", b.cgroups_path()), "the exec'd process's cgroup");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}
