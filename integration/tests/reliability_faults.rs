//! Issue 9, faults in oxrun: the runtime SIGKILLed at every step of `create` (a build with the
//! `fault-injection` feature, `OXRUN_FAULT=<point>`), then `delete --force` by the normal binary
//! must leave nothing behind; init dying during create; a reused pid never taken for init.
//!
//! The fault build is `$OXRUN_FAULT_BIN` (`make test-reliability` builds it into
//! target-rel-fault/ and sets it); without it the fault tests print SKIP.

use integration::leftovers::cgroup_dirs;
use integration::util::{poll_until, read_lossy};
use integration::{skip, unique, Bundle, Out, Runtime};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Must match `oxrun::fault::CREATE_POINTS` (checked against the binary's strings below).
const POINTS: &[&str] = &[
    "after-state-dir",
    "after-cgroups",
    "after-exec-fifo",
    "after-spawn",
    "after-id-maps",
    "after-cgroup-join",
    "after-continue",
    "after-ready",
    "after-state-json",
    "after-pid-file",
];

fn fault_bin() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os("OXRUN_FAULT_BIN").filter(|v| !v.is_empty())?);
    assert!(p.is_file(), "OXRUN_FAULT_BIN={} does not exist", p.display());
    Some(p)
}

/// `<fault-bin> --root <root> create --bundle <b> <id>` with `OXRUN_FAULT=<fault>`.
fn create_with_fault(rt: &Runtime, bin: &Path, b: &Bundle, id: &str, fault: &str) -> Out {
    rt.track(id);
    let mut c = Command::new(bin);
    c.arg("--root").arg(rt.root()).args(["create", "--bundle", &b.path_str(), id]).env("OXRUN_FAULT", fault);
    rt.exec(c)
}

/// Processes whose command line mentions `needle` (oxrun itself and init before it execs).
fn procs_mentioning(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == std::process::id() as i32 {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let zombie = std::fs::read_to_string(e.path().join("stat"))
            .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')));
        if text.contains(needle) && !zombie {
            found.push((pid, text));
        }
    }
    found
}

/// memfds (the exe guard's sealed copy, seccomp exports) held by processes of this container.
fn memfds_of(pids: &[(i32, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (pid, _) in pids {
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten() {
            if let Ok(t) = std::fs::read_link(fd.path()) {
                if t.to_string_lossy().starts_with("/memfd:") {
                    found.push(format!("{pid}: {}", t.display()));
                }
            }
        }
    }
    found
}

#[track_caller]
fn assert_nothing_left(rt: &Runtime, id: &str, b: &Bundle) {
    rt.assert_clean(id, b);
    let mut left = Vec::new();
    poll_until(Duration::from_secs(3), || {
        left = procs_mentioning(id);
        left.is_empty()
    });
    let memfds = memfds_of(&left);
    assert!(left.is_empty(), "processes of {id} survive delete --force: {left:?} (memfds {memfds:?})");
}

#[test]
fn fault_points_are_the_ones_the_binary_has() {
    let Some(bin) = fault_bin() else {
        return skip("fault_points_are_the_ones_the_binary_has", "no fault-injection build (make test-reliability)");
    };
    let bytes = std::fs::read(&bin).unwrap();
    for p in POINTS {
        assert!(bytes.windows(p.len()).any(|w| w == p.as_bytes()), "{p} not in {}", bin.display());
    }
    let release = integration::runtime_bin();
    if integration::runtime_name() == "oxrun" {
        let bytes = std::fs::read(&release).unwrap();
        assert!(
            !bytes.windows(b"after-cgroup-join".len()).any(|w| w == b"after-cgroup-join"),
            "the release build {} must not contain stop points",
            release.display()
        );
    }
}

#[test]
fn sigkill_at_every_create_step_then_delete_force_leaves_nothing() {
    let Some(bin) = fault_bin() else {
        return skip(
            "sigkill_at_every_create_step_then_delete_force_leaves_nothing",
            "no fault-injection build (make test-reliability)",
        );
    };
    let rt = Runtime::new();
    for point in POINTS {
        let b = Bundle::new(&["sleep", "1000"]);
        let id = unique(&format!("flt-{point}"));
        let out = create_with_fault(&rt, &bin, &b, &id, point);
        assert_eq!(out.code(), 128 + libc::SIGKILL, "create must die at {point}: {out}");
        // Whatever create left, the normal binary's delete --force removes it.
        let del = rt.delete_force(&id);
        del.assert_ok();
        assert_nothing_left(&rt, &id, &b);
        // The id is free again and works end to end.
        rt.create(&id, &b).assert_ok();
        rt.delete_force(&id).assert_ok();
        assert_nothing_left(&rt, &id, &b);
    }
}

#[test]
fn stopped_create_records_init_before_continue() {
    let Some(bin) = fault_bin() else {
        return skip("stopped_create_records_init_before_continue", "no fault-injection build (make test-reliability)");
    };
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("flt-stop");
    rt.track(&id);
    let mut c = Command::new(&bin);
    c.arg("--root")
        .arg(rt.root())
        .args(["create", "--bundle", &b.path_str(), &id])
        .env("OXRUN_FAULT", "after-continue:stop");
    c.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let pid = child.id() as i32;
    assert!(
        poll_until(Duration::from_secs(10), || read_lossy(Path::new(&format!("/proc/{pid}/stat"))).contains(") T ")),
        "create never reached after-continue"
    );
    let record: serde_json::Value =
        serde_json::from_str(&read_lossy(&rt.state_dir(&id).join("creating.json"))).expect("creating.json");
    let init = record["pid"].as_i64().unwrap() as i32;
    assert!(init > 0 && integration::util::pid_alive(init), "init recorded and alive: {record}");
    assert!(!cgroup_dirs(&b.cgroups_path()).is_empty(), "cgroup exists mid-create");
    // The lock is held by the stopped create: delete waits; kill create, then delete wins.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let _ = child.wait();
    rt.delete_force(&id).assert_ok();
    assert!(
        poll_until(Duration::from_secs(3), || !integration::util::pid_alive(init)),
        "init {init} killed by delete --force"
    );
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn init_killed_during_create_gives_prompt_error_and_no_state() {
    let Some(bin) = fault_bin() else {
        return skip(
            "init_killed_during_create_gives_prompt_error_and_no_state",
            "no fault-injection build (make test-reliability)",
        );
    };
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("flt-initdie");
    rt.track(&id);
    let mut c = Command::new(&bin);
    let err = rt.scratch().join("initdie.err");
    c.arg("--root")
        .arg(rt.root())
        .args(["create", "--bundle", &b.path_str(), &id])
        .env("OXRUN_FAULT", "after-cgroup-join:stop");
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap());
    let mut child = c.spawn().unwrap();
    let pid = child.id() as i32;
    assert!(
        poll_until(Duration::from_secs(10), || read_lossy(Path::new(&format!("/proc/{pid}/stat"))).contains(") T "))
    );
    let record: serde_json::Value =
        serde_json::from_str(&read_lossy(&rt.state_dir(&id).join("creating.json"))).unwrap();
    let init = record["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(init), nix::sys::signal::Signal::SIGKILL).unwrap();
    let t0 = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGCONT).unwrap();
    let status = integration::util::wait_child(&mut child, Duration::from_secs(10), "create");
    assert!(t0.elapsed() < Duration::from_secs(3), "prompt error, took {:?}", t0.elapsed());
    assert!(!status.success(), "create must fail when init dies");
    let text = read_lossy(&err);
    assert!(text.contains(&id) && text.lines().count() == 1, "one line naming the id: {text:?}");
    assert_nothing_left(&rt, &id, &b);
}

/// Also without the fault build: a createRuntime hook kills init.
#[test]
fn init_killed_by_a_hook_during_create_gives_prompt_error_and_no_state() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let script = r#"pid=$(sed -e 's/.*"pid": *\([0-9]*\).*/\1/'); kill -9 "$pid"; sleep 0.2"#;
    b.set_hooks("createRuntime", json!([{"path": "/bin/sh", "args": ["sh", "-c", script]}]));
    let id = unique("initdie-hook");
    let t0 = Instant::now();
    let out = rt.create(&id, &b);
    out.assert_fail();
    assert!(t0.elapsed() < Duration::from_secs(5), "prompt error: {:?}", t0.elapsed());
    assert!(out.stderr.contains(&id), "error names the id: {out}");
    assert_nothing_left(&rt, &id, &b);
}

#[test]
fn reused_pid_is_never_taken_for_init() {
    let rt = Runtime::new();
    let id = unique("pidreuse");
    // Another live process has the recorded pid, with a different start time.
    let mut other = Command::new("sleep").arg("1000").spawn().unwrap();
    let pid = other.id() as i32;
    let dir = rt.state_dir(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let st = json!({
        "ociVersion": "1.0.2", "id": id, "pid": pid, "initStartTime": 1u64,
        "bundle": "/nonexistent", "rootfs": "/nonexistent/rootfs", "created": "2026-01-01T00:00:00Z",
        "owner": 0, "cgroup": {"dirs": [], "freezer": null, "freezer_v2": false}
    });
    std::fs::write(dir.join("state.json"), st.to_string()).unwrap();
    let state = rt.run(&["state", &id]);
    state.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&state.stdout).unwrap();
    assert_eq!(v["status"], "stopped", "{state}");
    assert_eq!(v["pid"], 0, "a stopped container shows no pid: {state}");
    let k = rt.kill(&id, "KILL");
    k.assert_fail();
    assert!(k.stderr.contains("not running"), "{k}");
    rt.run(&["kill", "--all", &id, "KILL"]);
    rt.delete(&id).assert_ok();
    assert!(integration::util::pid_alive(pid), "the unrelated process {pid} must survive kill and delete");
    assert!(!dir.exists());
    let _ = other.kill();
    let _ = other.wait();
}
