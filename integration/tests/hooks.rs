//! Point 7: hooks — state on stdin, order, timeout, failure handling.

use integration::{unique, Bundle, Runtime};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// A host hook that saves its stdin to `<dir>/<kind>.json` and appends `kind` to `<dir>/order`.
fn record_hook(dir: &Path, kind: &str) -> Value {
    let d = dir.display();
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {d}/{kind}.json; echo {kind} >> {d}/order")], "timeout": 10})
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("hook output {} missing: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("hook stdin was not state JSON ({e}): {text:?}"))
}

#[test]
fn all_hooks_run_in_order_with_state_on_stdin() {
    let rt = Runtime::new();
    let out_dir = tempfile::tempdir().unwrap();
    let o = out_dir.path();
    let mut b = Bundle::new(&["sh", "-c", "echo body >> /order-inside"]);
    for kind in ["prestart", "createRuntime", "createContainer", "poststart", "poststop"] {
        b.set_hooks(kind, json!([record_hook(o, kind)]));
    }
    // startContainer runs inside the container: its path and files resolve in the rootfs.
    b.set_hooks(
        "startContainer",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", "cat > /startContainer.json; echo startContainer >> /order-inside"]}]),
    );
    let id = unique("hooks");
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid(&id);
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let v = read_json(&o.join(format!("{kind}.json")));
        assert_eq!(v["id"], id.as_str(), "{kind}: {v}");
        assert_eq!(v["bundle"], b.path_str().as_str(), "{kind}: {v}");
        // createContainer runs in the container's pid namespace, where init is pid 1 (runc reports 1).
        let want = if kind == "createContainer" { [pid, 1] } else { [pid, pid] };
        let got = v["pid"].as_i64().unwrap_or(0) as i32;
        assert!(want.contains(&got), "{kind} gets the init pid ({pid}, or 1 in the container's pid ns): {v}");
        // state.md: `created` is "after step 2 in the lifecycle" (prestart..createContainer are steps 3-5).
        assert_eq!(v["status"], "created", "{kind}: {v}");
        assert!(v["ociVersion"].is_string());
    }
    assert!(!b.rootfs().join("startContainer.json").exists(), "startContainer must wait for start");
    rt.start(&id).assert_ok();
    rt.wait_status(&id, "stopped");
    let v = read_json(&b.rootfs().join("startContainer.json"));
    assert_eq!(v["id"], id.as_str(), "{v}");
    assert_eq!(v["status"], "created", "startContainer: {v}");
    let v = read_json(&o.join("poststart.json"));
    assert_eq!(v["id"], id.as_str(), "{v}");
    assert_eq!(v["pid"].as_i64().unwrap_or(0) as i32, pid, "{v}");
    let inside = std::fs::read_to_string(b.rootfs().join("order-inside")).unwrap_or_default();
    assert_eq!(
        inside.lines().collect::<Vec<_>>(),
        ["startContainer", "body"],
        "startContainer runs before the process"
    );
    assert!(!o.join("poststop.json").exists(), "poststop runs at delete");
    rt.delete(&id).assert_ok();
    let v = read_json(&o.join("poststop.json"));
    assert_eq!(v["id"], id.as_str(), "{v}");
    assert_eq!(v["status"], "stopped", "poststop: {v}");
    let order = std::fs::read_to_string(o.join("order")).unwrap_or_default();
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        ["prestart", "createRuntime", "createContainer", "poststart", "poststop"],
        "host hook order"
    );
    rt.assert_clean(&id, &b);
}

#[test]
fn hook_args_and_env_are_passed() {
    let rt = Runtime::new();
    let out_dir = tempfile::tempdir().unwrap();
    let f = out_dir.path().join("env.txt");
    let mut b = Bundle::new(&["true"]);
    b.set_hooks(
        "createRuntime",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("echo \"$0 $1 $HOOKVAR\" > {}", f.display()), "arg0", "arg1"],
                "env": ["HOOKVAR=hv"]}]),
    );
    let id = unique("hookenv");
    rt.run_container(&id, &b, &[]).assert_ok();
    assert_eq!(std::fs::read_to_string(&f).unwrap_or_default().trim(), "arg0 arg1 hv");
    rt.assert_clean(&id, &b);
}

#[test]
fn failing_prestart_and_create_runtime_fail_create_cleanly() {
    let rt = Runtime::new();
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let mut b = Bundle::new(&["sleep", "1000"]);
        b.set_hooks(kind, json!([{"path": "/bin/sh", "args": ["sh", "-c", "exit 7"]}]));
        let id = unique("hookfail");
        let out = rt.create(&id, &b);
        out.assert_fail().assert_no_panic();
        rt.assert_clean(&id, &b);
    }
}

#[test]
fn hook_timeout_fails_create() {
    let rt = Runtime::new();
    let pidfile = rt.scratch().join("hook.pid");
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.set_hooks(
        "createRuntime",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("echo $$ > {}; exec sleep 30", pidfile.display())], "timeout": 1}]),
    );
    let id = unique("hooktmo");
    let t0 = Instant::now();
    let out = rt.create(&id, &b);
    let took = t0.elapsed();
    out.assert_fail().assert_no_panic();
    assert!(took < Duration::from_secs(10), "the hook timeout (1 s) must be enforced, took {took:?}");
    rt.assert_clean(&id, &b);
    let hook_pid: i32 = std::fs::read_to_string(&pidfile).expect("the hook ran").trim().parse().expect("hook pid");
    let gone = integration::util::poll_until(Duration::from_secs(3), || !integration::util::pid_alive(hook_pid));
    if !gone {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(hook_pid), nix::sys::signal::Signal::SIGKILL);
    }
    assert!(gone, "the timed-out hook (pid {hook_pid}) must be killed");
}

/// Spec: poststart hooks run after the user process started, not at create.
/// runc 1.1.5 runs them during `create` (fixed in runc 1.2): oxrun-specific.
#[test]
fn poststart_runs_at_start_not_at_create() {
    let rt = Runtime::new();
    let out_dir = tempfile::tempdir().unwrap();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.set_hooks("poststart", json!([record_hook(out_dir.path(), "poststart")]));
    let id = unique("pstime");
    rt.create(&id, &b).assert_ok();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!out_dir.path().join("poststart.json").exists(), "poststart must not run before start");
    rt.start(&id).assert_ok();
    let v = read_json(&out_dir.path().join("poststart.json"));
    assert_eq!(v["status"], "running", "poststart sees a running container: {v}");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// runtime.md (1.3.0) lifecycle step 9: "If any `poststart` hook fails, the runtime MUST generate
/// an error, stop the container, and continue the lifecycle at step 12." So `start` fails, the
/// hooks after the failing one do not run, the container is stopped when `start` returns, and
/// `delete` destroys it and runs the poststop hooks (steps 12 and 13). runtime-spec 1.0.2 to
/// 1.2.1 said to log a warning and go on, which runtime-tools' poststart_fail still checks.
/// runc 1.1.5 runs poststart hooks during `create`, which fails: oxrun-specific.
#[test]
fn failing_poststart_fails_start_and_stops_the_container() {
    let rt = Runtime::new();
    let out_dir = tempfile::tempdir().unwrap();
    let o = out_dir.path();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.set_hooks(
        "poststart",
        json!([
            {"path": "/bin/sh", "args": ["sh", "-c", "echo poststart-broke >&2; exit 3"]},
            record_hook(o, "poststart"),
        ]),
    );
    b.set_hooks("poststop", json!([record_hook(o, "poststop")]));
    let id = unique("pstart");
    rt.create(&id, &b).assert_ok();
    let st = rt.start(&id);
    st.assert_no_panic();
    assert!(!st.ok(), "a failing poststart hook must fail start: {st}");
    assert!(st.stderr.contains("poststart"), "the error must name the poststart hook: {st}");
    assert_eq!(rt.state(&id)["status"], "stopped", "start must leave the container stopped");
    assert!(!o.join("poststart.json").exists(), "the hooks after the failing one must not run");
    rt.delete(&id).assert_ok();
    let v = read_json(&o.join("poststop.json"));
    assert_eq!(v["id"], id.as_str(), "delete runs the poststop hooks: {v}");
    rt.assert_clean(&id, &b);
}

/// Spec: a failing poststop is logged and delete still succeeds.
#[test]
fn failing_poststop_is_logged_not_fatal() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.set_hooks("poststop", json!([{"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]}]));
    let id = unique("pstop");
    rt.create_start(&id, &b);
    rt.wait_status(&id, "stopped");
    let d = rt.delete(&id);
    d.assert_no_panic();
    assert!(d.ok(), "a failing poststop hook must not fail delete: {d}");
    rt.assert_clean(&id, &b);
}

/// The runtime-spec's state, which every hook reads on stdin, carries the config's annotations
/// (issue 15, defect 3): all six kinds get them.
#[test]
fn every_hook_state_carries_the_annotations() {
    let rt = Runtime::new();
    let out_dir = tempfile::tempdir().unwrap();
    let o = out_dir.path();
    let mut b = Bundle::new(&["true"]);
    let annotations = json!({"org.oxrun.test": "yes", "io.kubernetes.pod.name": "p1"});
    b.edit(|c| c["annotations"] = annotations.clone());
    for kind in ["prestart", "createRuntime", "createContainer", "poststart", "poststop"] {
        b.set_hooks(kind, json!([record_hook(o, kind)]));
    }
    b.set_hooks("startContainer", json!([{"path": "/bin/sh", "args": ["sh", "-c", "cat > /startContainer.json"]}]));
    let id = unique("hooks-ann");
    rt.create(&id, &b).assert_ok();
    rt.start(&id).assert_ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).assert_ok();
    for kind in ["prestart", "createRuntime", "createContainer", "poststart", "poststop"] {
        let v = read_json(&o.join(format!("{kind}.json")));
        assert_eq!(v["annotations"], annotations, "{kind}: {v}");
    }
    let v = read_json(&b.rootfs().join("startContainer.json"));
    assert_eq!(v["annotations"], annotations, "startContainer: {v}");
    rt.assert_clean(&id, &b);
}

/// runtime.md lifecycle step 13: "If any `poststop` hook fails, the runtime MUST log a warning,
/// but the remaining hooks and lifecycle continue as if the hook had succeeded" (issue 15, defect
/// 11). runc 1.1.5 skips the remaining hooks. A failing poststart hook is an error since
/// runtime-spec 1.3.0: failing_poststart_fails_start_and_stops_the_container.
#[test]
fn hooks_after_a_failing_poststop_hook_still_run() {
    let rt = Runtime::new();
    let out_dir = tempfile::tempdir().unwrap();
    let o = out_dir.path();
    let mut b = Bundle::new(&["true"]);
    b.set_hooks("poststop", json!([{"path": "/bin/sh", "args": ["sh", "-c", "exit 5"]}, record_hook(o, "poststop")]));
    let id = unique("hooks-go-on");
    rt.create_start(&id, &b);
    rt.wait_status(&id, "stopped");
    let d = rt.delete(&id);
    d.assert_ok();
    assert!(d.stderr.contains("warn"), "the failure is logged as a warning: {d}");
    let order = std::fs::read_to_string(o.join("order")).unwrap_or_default();
    if integration::is_runc() && order.is_empty() {
        integration::note("runc 1.1.5 skips the hooks after a failing poststop hook");
    } else {
        assert_eq!(order, "poststop\n", "the hook after the failing one ran");
    }
    rt.assert_clean(&id, &b);
}

/// startContainer hooks run in the container just before the program and inherit the process's
/// environment (issue 15, defect 11), as runc's do; a hook's own `env` replaces it.
#[test]
fn start_container_hooks_inherit_the_process_env() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FROMPROC=p1"]));
    b.set_hooks(
        "startContainer",
        json!([
            {"path": "/bin/sh", "args": ["sh", "-c", "echo \"inherited=$FROMPROC\" > /hook-env-1"]},
            {"path": "/bin/sh", "args": ["sh", "-c", "echo \"own=$FROMPROC$OWN\" > /hook-env-2"], "env": ["OWN=o1"]}
        ]),
    );
    let id = unique("hook-penv");
    rt.run_container(&id, &b, &[]).assert_ok();
    let read = |f: &str| std::fs::read_to_string(b.rootfs().join(f)).unwrap_or_default();
    assert_eq!(read("hook-env-1").trim(), "inherited=p1");
    assert_eq!(read("hook-env-2").trim(), "own=o1");
    rt.assert_clean(&id, &b);
}
