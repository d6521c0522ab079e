//! Issue 4, points 2-6: pause/resume (v1 freezer here), ps, update, events and features on
//! running busybox containers.

mod ops_support;

use integration::leftovers::cgroup_dirs;
use integration::util::{cap_name, poll_until, wait_child, wait_for, CMD_TIMEOUT};
use integration::{is_runc, note, unique, Bundle, Runtime};
use ops_support::{assert_one_error_line, read_pid_file, status_field, with_userns, Running};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// `<hierarchy>/<cgroupsPath>/<file>` for the hierarchy that has `file`.
fn cg_file(b: &Bundle, file: &str) -> Option<PathBuf> {
    cgroup_dirs(&b.cgroups_path()).into_iter().map(|d| d.join(file)).find(|p| p.exists())
}

fn cg_read(b: &Bundle, file: &str) -> String {
    let p = cg_file(b, file).unwrap_or_else(|| panic!("{file} not found for {}", b.cgroups_path()));
    std::fs::read_to_string(p).unwrap_or_default().trim().to_string()
}

/// Skips (true) when the host has no v1 `controller` hierarchy: the test reads v1 files. Pure v2
/// hosts have pause, update and their files checked in cgroup_v2_host.rs.
fn no_v1(test: &str, controller: &str) -> bool {
    if std::path::Path::new("/sys/fs/cgroup").join(controller).is_dir() {
        return false;
    }
    integration::skip(
        test,
        &format!("no cgroup v1 {controller} hierarchy: the test reads its v1 files (pure v2: cgroup_v2_host.rs)"),
    );
    true
}

/// A container that counts in /tmp/count every 20 ms.
fn counter() -> Running {
    let b = Bundle::new(&[
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.02; done",
    ]);
    Running::start(b, "op-count")
}

fn count(c: &Running) -> u64 {
    std::fs::read_to_string(c.b.rootfs().join("tmp/count")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

#[test]
fn pause_freezes_and_resume_thaws() {
    if no_v1("pause_freezes_and_resume_thaws", "freezer") {
        return;
    }
    let c = counter();
    wait_for(Duration::from_secs(5), "the counter to run", || (count(&c) > 3).then_some(()));
    c.rt.run(&["pause", &c.id]).assert_ok();
    assert_eq!(c.rt.status(&c.id), "paused");
    assert_eq!(cg_read(&c.b, "freezer.state"), "FROZEN");
    let frozen = count(&c);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&c), frozen, "the counter advanced while paused");
    // Pausing twice / resuming a running container are refused.
    assert_one_error_line(&c.rt.run(&["pause", &c.id]), &c.id);
    c.rt.run(&["resume", &c.id]).assert_ok();
    assert_eq!(c.rt.status(&c.id), "running");
    assert_eq!(cg_read(&c.b, "freezer.state"), "THAWED");
    assert!(poll_until(Duration::from_secs(5), || count(&c) > frozen + 3), "the counter must advance after resume");
    assert_one_error_line(&c.rt.run(&["resume", &c.id]), &c.id);
    c.finish();
}

#[test]
fn kill_and_delete_force_work_on_a_paused_container() {
    let c = counter();
    c.rt.run(&["pause", &c.id]).assert_ok();
    c.rt.kill(&c.id, "KILL").assert_ok();
    // A frozen task cannot die until thawed (v1 freezer): SIGKILL must still take effect.
    let stopped = poll_until(Duration::from_secs(5), || c.rt.status(&c.id) == "stopped");
    if is_runc() && !stopped {
        note("[runc 1.1.5] kill SIGKILL leaves a v1-paused container paused (the task stays frozen)");
    } else {
        assert!(stopped, "kill -9 of a paused container must stop it");
    }
    c.rt.delete_force(&c.id).assert_ok();
    c.rt.assert_clean(&c.id, &c.b);
    // delete --force of a paused container (with an extra exec'd process).
    let c = counter();
    let pid_file = c.scratch("extra.pid");
    c.exec(&["-d", "--pid-file", &pid_file.to_string_lossy()], &["sleep", "300"]).assert_ok();
    let extra = read_pid_file(&pid_file);
    c.rt.run(&["pause", &c.id]).assert_ok();
    c.finish();
    assert!(!integration::util::pid_alive(extra));
}

#[test]
fn pause_resume_of_unknown_or_stopped_container_fail() {
    let rt = Runtime::new();
    let id = unique("op-none");
    assert_one_error_line(&rt.run(&["pause", &id]), &id);
    assert_one_error_line(&rt.run(&["resume", &id]), &id);
    let b = Bundle::new(&["true"]);
    let id = unique("op-stopped");
    rt.create_start(&id, &b);
    rt.wait_status(&id, "stopped");
    assert_one_error_line(&rt.run(&["pause", &id]), &id);
    assert_one_error_line(&rt.run(&["resume", &id]), &id);
    assert_eq!(rt.status(&id), "stopped");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn ps_lists_the_containers_processes() {
    let c = Running::sleeping("op-ps", |_| {});
    let pid_file = c.scratch("ps.pid");
    c.exec(&["-d", "--pid-file", &pid_file.to_string_lossy()], &["sleep", "301"]).assert_ok();
    let extra = read_pid_file(&pid_file);
    let out = c.rt.run(&["ps", "--format", "json", &c.id]);
    out.assert_ok();
    assert!(out.stdout.ends_with('\n'), "{out}");
    let pids: Vec<i32> =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not a JSON array of pids ({e}): {out}"));
    let mut want = vec![c.pid(), extra];
    want.sort_unstable();
    let mut got = pids.clone();
    got.sort_unstable();
    assert_eq!(got, want, "host pids of init and the exec'd process: {out}");
    let out = c.rt.run(&["ps", "-f", "json", &c.id]);
    assert_eq!(serde_json::from_str::<Vec<i32>>(&out.assert_ok().stdout).map(|v| v.len()).ok(), Some(2), "{out}");
    // table: ps(1) output filtered to the container, with ps options after the id.
    let out = c.rt.run(&["ps", &c.id]);
    out.assert_ok();
    let mut lines = out.stdout.lines();
    assert!(lines.next().is_some_and(|h| h.contains("PID") && h.contains("CMD")), "{out}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows.iter().any(|r| r.contains("sleep 1000")) && rows.iter().any(|r| r.contains("sleep 301")), "{out}");
    let out = c.rt.run(&["ps", &c.id, "-o", "pid,comm"]);
    out.assert_ok();
    assert!(
        out.stdout.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == [c.pid().to_string().as_str(), "sleep"]),
        "{out}"
    );
    c.finish();
}

#[test]
fn update_flags_change_the_cgroup_at_once() {
    if no_v1("update_flags_change_the_cgroup_at_once", "memory") {
        return;
    }
    let c = Running::sleeping("op-upd", |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 268435456});
        c["linux"]["resources"]["pids"] = json!({"limit": 100});
    });
    c.rt.run(&["update", "--memory", "64m", "--pids-limit", "42", &c.id]).assert_ok();
    assert_eq!(cg_read(&c.b, "memory.limit_in_bytes"), "67108864");
    assert_eq!(cg_read(&c.b, "pids.max"), "42");
    // Raising the limit above the current memory+swap limit needs memsw raised first.
    let mut flags = vec!["--memory", "512m", "--memory-reservation", "32m"];
    let memsw = cg_file(&c.b, "memory.memsw.limit_in_bytes").is_some();
    if memsw {
        flags.extend(["--memory-swap", "1g"]);
    }
    let mut args = vec!["update"];
    args.extend(flags);
    args.push(&c.id);
    c.rt.run(&args).assert_ok();
    assert_eq!(cg_read(&c.b, "memory.limit_in_bytes"), "536870912");
    assert_eq!(cg_read(&c.b, "memory.soft_limit_in_bytes"), "33554432");
    if memsw {
        assert_eq!(cg_read(&c.b, "memory.memsw.limit_in_bytes"), "1073741824");
    }
    c.rt.run(&[
        "update",
        "--cpu-share",
        "512",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        &c.id,
    ])
    .assert_ok();
    assert_eq!(cg_read(&c.b, "cpu.shares"), "512");
    assert_eq!(cg_read(&c.b, "cpu.cfs_quota_us"), "20000");
    assert_eq!(cg_read(&c.b, "cpu.cfs_period_us"), "100000");
    assert_eq!(cg_read(&c.b, "cpuset.cpus"), "0");
    assert_eq!(cg_read(&c.b, "cpuset.mems"), "0");
    if is_runc() {
        note("[runc 1.1.5 has only --cpu-share; --cpu-shares is an oxrun alias]");
    } else {
        c.rt.run(&["update", "--cpu-shares", "256", &c.id]).assert_ok();
        assert_eq!(cg_read(&c.b, "cpu.shares"), "256");
    }
    if cg_file(&c.b, "blkio.weight").is_some() {
        c.rt.run(&["update", "--blkio-weight", "300", &c.id]).assert_ok();
        assert_eq!(cg_read(&c.b, "blkio.weight"), "300");
    } else {
        note(
            "update_flags_change_the_cgroup_at_once: no blkio.weight on this host (no BFQ); --blkio-weight not checked",
        );
    }
    // The process sees the new limit: a fork beyond pids.max fails.
    c.rt.run(&["update", "--pids-limit", "3", &c.id]).assert_ok();
    let out = c.exec(&[], &["sh", "-c", "sleep 5 & sleep 5 & sleep 5 & wait"]);
    assert!(
        out.stderr.contains("fork") || out.stderr.contains("can't") || !out.ok(),
        "pids.max 3 must refuse forks: {out}"
    );
    c.finish();
}

#[test]
fn update_resources_json_from_file_and_stdin() {
    if no_v1("update_resources_json_from_file_and_stdin", "memory") {
        return;
    }
    let c = Running::sleeping("op-res", |_| {});
    let res = json!({"memory": {"limit": 100663296}, "pids": {"limit": 77}, "cpu": {"shares": 300}});
    let file = c.scratch("resources.json");
    std::fs::write(&file, res.to_string()).unwrap();
    // Podman's form: --resources=FILE.
    c.rt.run(&["update", &format!("--resources={}", file.display()), &c.id]).assert_ok();
    assert_eq!(cg_read(&c.b, "memory.limit_in_bytes"), "100663296");
    assert_eq!(cg_read(&c.b, "pids.max"), "77");
    assert_eq!(cg_read(&c.b, "cpu.shares"), "300");
    // `-` reads stdin.
    let res = json!({"pids": {"limit": 55}});
    std::fs::write(&file, res.to_string()).unwrap();
    let mut cmd = c.rt.cmd(&["update", "-r", "-", &c.id]);
    cmd.stdin(std::fs::File::open(&file).unwrap()).stdout(Stdio::null()).stderr(Stdio::null());
    let st = wait_child(&mut cmd.spawn().unwrap(), CMD_TIMEOUT, "update -r -");
    assert!(st.success());
    assert_eq!(cg_read(&c.b, "pids.max"), "55");
    // Malformed JSON: one error line, nothing changed.
    std::fs::write(&file, "{\"pids\": ").unwrap();
    let out = c.rt.run(&["update", "--resources", &file.to_string_lossy(), &c.id]);
    assert_one_error_line(&out, &c.id);
    assert_eq!(cg_read(&c.b, "pids.max"), "55");
    c.finish();
}

#[test]
fn update_of_stopped_or_unknown_container_fails() {
    let rt = Runtime::new();
    let id = unique("op-updnone");
    assert_one_error_line(&rt.run(&["update", "--pids-limit", "10", &id]), &id);
    let b = Bundle::new(&["true"]);
    let id = unique("op-updstop");
    rt.create_start(&id, &b);
    rt.wait_status(&id, "stopped");
    let out = rt.run(&["update", "--pids-limit", "10", &id]);
    if is_runc() && out.ok() {
        note("[runc 1.1.5] update of a stopped container succeeds");
    } else {
        assert_one_error_line(&out, &id);
    }
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

fn check_stats(ev: &Value, id: &str) {
    assert_eq!(ev["type"], "stats", "{ev}");
    assert_eq!(ev["id"], id, "{ev}");
    let d = &ev["data"];
    assert!(d["cpu"]["usage"]["total"].as_u64().is_some_and(|n| n > 0), "cpu.usage.total: {ev}");
    assert!(d["memory"]["usage"]["usage"].as_u64().is_some_and(|n| n > 0), "memory.usage.usage: {ev}");
    assert!(d["memory"]["usage"]["limit"].as_u64().is_some_and(|n| n > 0), "memory.usage.limit: {ev}");
    assert!(d["pids"]["current"].as_u64().is_some_and(|n| n >= 1), "pids.current: {ev}");
    assert!(d["blkio"].is_object(), "blkio: {ev}");
}

#[test]
fn events_stats_once_and_as_a_stream() {
    let c = Running::sleeping("op-ev", |c| c["linux"]["resources"]["pids"] = json!({"limit": 99}));
    let out = c.rt.run(&["events", "--stats", &c.id]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "--stats prints one event: {out}");
    let ev: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    check_stats(&ev, &c.id);
    assert_eq!(ev["data"]["pids"]["limit"], 99, "{ev}");
    // A stream: one event per interval until the container stops.
    let mut child =
        c.rt.cmd(&["events", "--interval", "100ms", &c.id])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let start = std::time::Instant::now();
    for _ in 0..3 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        check_stats(&serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}")), &c.id);
    }
    assert!(start.elapsed() < Duration::from_secs(3), "three events at 100 ms took {:?}", start.elapsed());
    // Drained from here on: a full pipe would keep `events` from noticing the stop.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    c.rt.kill(&c.id, "KILL").assert_ok();
    let ended = poll_until(Duration::from_secs(5), || child.try_wait().ok().flatten().is_some());
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
    }
    if is_runc() && !ended {
        note("[runc 1.1.5] events keeps streaming after the container stopped");
    } else {
        assert!(ended, "events must end when the container stops");
    }
    c.finish();
}

#[test]
fn events_reports_an_oom_kill() {
    let c = Running::sleeping("op-oom", |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 16777216, "swap": 16777216});
    });
    let mut child =
        c.rt.cmd(&["events", "--interval", "100ms", &c.id])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    // A shell variable of 64 MiB in a 16 MiB cgroup: the kernel kills the shell.
    let out = c.exec(&[], &["sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived"]);
    assert!(!out.stdout.contains("survived"), "the hog must be OOM-killed: {out}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in reader.lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let oom = wait_for(Duration::from_secs(10), "an oom event", || {
        rx.try_iter().find_map(|l| serde_json::from_str::<Value>(&l).ok().filter(|v| v["type"] == "oom"))
    });
    assert_eq!(oom["id"], c.id.as_str(), "{oom}");
    let _ = child.kill();
    let _ = child.wait();
    c.finish();
}

#[test]
fn events_and_ps_of_unknown_container_fail() {
    let rt = Runtime::new();
    let id = unique("op-evnone");
    assert_one_error_line(&rt.run(&["events", "--stats", &id]), &id);
    assert_one_error_line(&rt.run(&["ps", &id]), &id);
}

/// The features document parses as the runtime-spec schema, and every advertised item is really
/// accepted: each mount option in a real mount, each namespace and capability in a real
/// container.
#[test]
fn features_is_honest() {
    let rt = Runtime::new();
    let out = rt.run(&["features"]);
    out.assert_ok();
    let f: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("features is not JSON ({e}): {out}"));
    for key in ["ociVersionMin", "ociVersionMax"] {
        let v = f[key].as_str().unwrap_or_else(|| panic!("{key} missing: {f}"));
        assert!(v.split('.').count() >= 3 && v.starts_with("1."), "{key}={v}");
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not an array: {v}"))
            .iter()
            .map(|s| s.as_str().expect("string").to_string())
            .collect()
    };
    let hooks = strings(&f["hooks"]);
    for h in &hooks {
        assert!(
            ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
                .contains(&h.as_str()),
            "{h}"
        );
    }
    let linux = &f["linux"];
    for (k, v) in linux["cgroup"].as_object().expect("linux.cgroup") {
        assert!(v.is_boolean(), "cgroup.{k}");
    }
    for k in ["seccomp", "apparmor", "selinux"] {
        assert!(linux[k].is_null() || linux[k]["enabled"].is_boolean(), "{k}: {linux}");
    }
    if let Some(a) = f["annotations"].as_object() {
        assert!(a.values().all(Value::is_string), "annotations are strings");
    }
    if is_runc() {
        note("features_is_honest: runc 1.1.5 advertises options (tmpcopyup, acl, ...) that need special mounts; only the schema is checked");
        return;
    }
    let options = strings(&f["mountOptions"]);
    check_mount_options(&rt, &options);
    let namespaces = strings(&linux["namespaces"]);
    let caps = strings(&linux["capabilities"]);
    check_namespaces_and_caps(&rt, &namespaces, &caps);
}

/// One container with one mount per advertised option: bind-type options on a bind mount of a
/// host directory, the others on a tmpfs.
fn check_mount_options(rt: &Runtime, options: &[String]) {
    let mut b = Bundle::new(&["sh", "-c", "cat /proc/self/mountinfo"]);
    let src = rt.scratch().join("bindsrc");
    std::fs::create_dir_all(&src).unwrap();
    for opt in options {
        let is_bind = ["bind", "rbind"].contains(&opt.as_str()) || opt == "remount";
        let dest = format!("/mnt/opt-{opt}");
        let m = if is_bind {
            // remount only changes flags of an existing mount: it goes on a bind mount.
            let mut o = vec!["bind".to_string()];
            o.push(opt.clone());
            json!({"destination": dest, "type": "bind", "source": src, "options": o})
        } else {
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [opt]})
        };
        b.add_mount(m);
    }
    let id = unique("op-feat-mnt");
    let out = rt.run_container(&id, &b, &[]);
    assert!(out.ok(), "a container with every advertised mount option must run: {out}");
    for opt in options {
        assert!(out.stdout.contains(&format!("/mnt/opt-{opt} ")), "mount with option {opt} missing: {out}");
    }
    let ro = out.stdout.lines().find(|l| l.contains("/mnt/opt-ro ")).unwrap_or_default();
    assert!(ro.split_whitespace().nth(5).is_some_and(|o| o.split(',').any(|x| x == "ro")), "ro option honoured: {ro}");
    rt.assert_clean(&id, &b);
}

/// One container with every advertised namespace new and every advertised capability in all sets.
fn check_namespaces_and_caps(rt: &Runtime, namespaces: &[String], caps: &[String]) {
    let mut b = Bundle::new(&["cat", "/proc/self/status"]);
    b.edit(|c| {
        if namespaces.iter().any(|n| n == "user") {
            with_userns(c);
        }
        c["linux"]["namespaces"] = json!(namespaces.iter().map(|n| json!({"type": n})).collect::<Vec<_>>());
        c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    });
    let id = unique("op-feat-ns");
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid(&id);
    for n in namespaces {
        let link = |p: String| {
            std::fs::read_link(format!("/proc/{p}/ns/{}", proc_ns_name(n)))
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let (theirs, ours) = (link(pid.to_string()), link("self".into()));
        assert!(
            !theirs.is_empty() && theirs != ours,
            "advertised namespace {n} is not new in the container ({theirs} vs {ours})"
        );
    }
    rt.start(&id).assert_ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
    // The capabilities: a container whose sets hold every advertised one shows them all. Outside
    // a user namespace the host's own bounding set is the limit (this VM's root lacks
    // CAP_SYS_RESOURCE), for runc as well.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let host = u64::from_str_radix(&status_field(&status, "CapBnd"), 16).unwrap_or(0);
    let names: Vec<String> = (0..64).map(cap_name).collect();
    let (caps, missing): (Vec<String>, Vec<String>) =
        caps.iter().cloned().partition(|c| names.iter().position(|n| n == c).is_some_and(|i| host & (1 << i) != 0));
    if !missing.is_empty() {
        note(&format!(
            "features_is_honest: not in the host's bounding set, not checked outside a user namespace: {missing:?}"
        ));
    }
    let mut b = Bundle::new(&["cat", "/proc/self/status"]);
    b.edit(|c| c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps}));
    let id = unique("op-feat-cap");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    let eff = u64::from_str_radix(&status_field(&out.stdout, "CapEff"), 16).unwrap_or(0);
    assert_eq!(eff.count_ones() as usize, caps.len(), "every advertised capability is granted: {out}");
    rt.assert_clean(&id, &b);
}

fn proc_ns_name(kind: &str) -> &str {
    match kind {
        "mount" => "mnt",
        "network" => "net",
        other => other,
    }
}
