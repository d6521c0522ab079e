//! Point 2: the runc-compatible command line.

use integration::util::{exec, pid_alive, wait_child, wait_for, CMD_TIMEOUT};
use integration::{runtime_name, unique, Bundle, Runtime};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

fn is_rfc3339(s: &str) -> bool {
    // 2026-11-29T17:02:39Z or with fraction / offset
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':'
        && s[..4].chars().all(|c| c.is_ascii_digit())
        && (s.ends_with('Z') || s.ends_with('z') || s[19..].contains('+') || s[19..].contains('-'))
}

#[test]
fn version_prints_name_version_and_spec() {
    let rt = Runtime::new();
    let out = rt.exec({
        let mut c = rt.raw_cmd();
        c.arg("--version");
        c
    });
    out.assert_ok();
    let first = out.stdout.lines().next().unwrap_or_default();
    let prefix = format!("{} version ", runtime_name());
    assert!(first.starts_with(&prefix), "first line must start with {prefix:?}: {out}");
    let ver = first[prefix.len()..].split(['+', '-', ' ']).next().unwrap_or_default();
    let parts: Vec<&str> = ver.split('.').collect();
    assert!(
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())),
        "version must be X.Y.Z: {out}"
    );
    assert!(out.stdout.lines().any(|l| l.starts_with("spec: 1.")), "a line must start with `spec: 1.`: {out}");
}

/// The default state root: /run/<binary name> (oxrun -> /run/oxrun, runc -> /run/runc),
/// used by every subcommand when --root is absent, with XDG_RUNTIME_DIR empty.
#[test]
fn default_root_is_run_binary_name_for_every_subcommand() {
    let rt = Runtime::new();
    let default_root = PathBuf::from(format!("/run/{}", runtime_name()));
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("defroot");
    let bare = |args: &[&str]| {
        let mut c = rt.raw_cmd();
        c.env_clear().env("XDG_RUNTIME_DIR", "").args(args);
        rt.exec(c)
    };
    struct Guard<'a>(&'a dyn Fn(&[&str]) -> integration::Out, String, PathBuf);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["delete", "--force", &self.1]);
            // A broken runtime must not leave state in the shared default root.
            let _ = std::fs::remove_dir_all(self.2.join(&self.1));
        }
    }
    let _g = Guard(&bare, id.clone(), default_root.clone());
    bare(&["create", "--bundle", &b.path_str(), &id]).assert_ok();
    assert!(
        default_root.join(&id).join("state.json").is_file(),
        "{}/{id}/state.json must exist after create without --root",
        default_root.display()
    );
    let st = bare(&["state", &id]);
    st.assert_ok();
    let v: Value = serde_json::from_str(&st.stdout).expect("state JSON");
    assert_eq!(v["status"], "created");
    // The default root is shared with other users of the runtime on this host: a
    // container deleted by someone else while `list` walks the root can make one
    // `list` fail, so allow a few attempts.
    let mut list = bare(&["list", "-q"]);
    for _ in 0..4 {
        if list.ok() && list.stdout.lines().any(|l| l.trim() == id) {
            break;
        }
        integration::note(&format!("default root: list retried after {list}"));
        std::thread::sleep(Duration::from_millis(200));
        list = bare(&["list", "-q"]);
    }
    list.assert_ok();
    assert!(list.stdout.lines().any(|l| l.trim() == id), "list -q without --root must show {id}: {list}");
    bare(&["start", &id]).assert_ok();
    let st: Value = serde_json::from_str(&bare(&["state", &id]).stdout).expect("state JSON");
    assert_eq!(st["status"], "running");
    bare(&["kill", &id, "KILL"]).assert_ok();
    wait_for(Duration::from_secs(10), "stopped", || {
        let v: Value = serde_json::from_str(&bare(&["state", &id]).stdout).ok()?;
        (v["status"] == "stopped").then_some(())
    });
    bare(&["delete", &id]).assert_ok();
    integration::leftovers::assert_clean(&default_root.join(&id), b.path(), &b.rootfs(), &b.cgroups_path());
}

fn log_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn log_format_json_failure_writes_one_error_object_and_same_message_on_stderr() {
    let rt = Runtime::new();
    let log = rt.scratch().join("log.json");
    let id = unique("nosuch");
    let out = rt.run(&["--log", log.to_str().unwrap(), "--log-format", "json", "state", &id]);
    out.assert_fail().assert_no_panic();
    let lines = log_lines(&log);
    let mut errors = Vec::new();
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"));
        for k in ["level", "msg", "time"] {
            assert!(v.get(k).is_some(), "log object lacks {k}: {l}");
        }
        assert!(is_rfc3339(v["time"].as_str().unwrap_or_default()), "time is not RFC 3339: {l}");
        if v["level"] == "error" {
            errors.push(v);
        }
    }
    assert_eq!(errors.len(), 1, "exactly one error line expected in {lines:?}");
    let msg = errors[0]["msg"].as_str().unwrap_or_default();
    assert!(!msg.is_empty());
    assert!(out.stderr.contains(msg), "stderr must carry the logged message {msg:?}: {out}");
}

#[test]
fn log_format_json_success_lines_are_all_json() {
    let rt = Runtime::new();
    let log = rt.scratch().join("ok.json");
    let b = Bundle::new(&["true"]);
    let id = unique("logok");
    rt.track(&id);
    let l = log.to_str().unwrap();
    let out = rt.run(&["--log", l, "--log-format", "json", "--debug", "run", "--bundle", &b.path_str(), &id]);
    out.assert_ok();
    let lines = log_lines(&log);
    assert!(!lines.is_empty(), "--debug must write debug lines to the log file: {out}");
    assert!(lines.iter().any(|l| l.contains("\"debug\"")), "debug-level lines expected: {lines:?}");
    for line in lines {
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["msg"].is_string() && v["time"].is_string(), "{line}");
        assert_ne!(v["level"], "error", "no error expected on success: {line}");
    }
    rt.assert_clean(&id, &b);
}

#[test]
fn log_format_text_failure_is_logged() {
    let rt = Runtime::new();
    let log = rt.scratch().join("log.txt");
    let id = unique("nosuch");
    let out = rt.run(&["--log", log.to_str().unwrap(), "--log-format", "text", "state", &id]);
    out.assert_fail().assert_no_panic();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.to_lowercase().contains("error"), "text log must record the error: {text:?}; {out}");
    assert!(serde_json::from_str::<Value>(text.lines().next().unwrap_or("")).is_err(), "text log must not be JSON");
    assert!(!out.stderr.trim().is_empty(), "the error must also go to stderr");
}

#[test]
fn debug_and_systemd_cgroup_flags_are_accepted() {
    let rt = Runtime::new();
    let b = Bundle::new(&["echo", "debug-ok"]);
    let id = unique("dbg");
    rt.track(&id);
    let out = rt.run(&["--debug", "run", "--bundle", &b.path_str(), &id]);
    out.assert_ok();
    assert!(out.stdout.contains("debug-ok"), "{out}");
    rt.assert_clean(&id, &b);
    let out = rt.run(&["--systemd-cgroup", "list"]);
    out.assert_ok().assert_no_panic();
}

#[test]
fn kill_accepts_names_with_and_without_sig_numbers_and_defaults_to_term() {
    let rt = Runtime::new();
    let script = "trap 'echo USR1 >> /sigs' USR1; trap 'echo HUP >> /sigs' HUP; \
                  trap 'echo USR2 >> /sigs' USR2; trap 'echo TERM >> /sigs; exit 0' TERM; \
                  echo ready > /ready; while true; do sleep 0.05; done";
    let b = Bundle::new(&["sh", "-c", script]);
    let id = unique("kill");
    rt.create_start(&id, &b);
    let sigs = b.rootfs().join("sigs");
    wait_for(Duration::from_secs(10), "trap setup", || b.rootfs().join("ready").exists().then_some(()));
    let expect_lines = |n: usize| {
        wait_for(Duration::from_secs(10), &format!("{n} handled signals"), || {
            let t = std::fs::read_to_string(&sigs).unwrap_or_default();
            (t.lines().count() >= n).then_some(t)
        })
    };
    for bad in ["65", "NOTASIGNAL", "SIGNOPE"] {
        rt.kill(&id, bad).assert_fail().assert_no_panic();
    }
    rt.kill(&id, "USR1").assert_ok();
    expect_lines(1);
    rt.kill(&id, "SIGHUP").assert_ok();
    expect_lines(2);
    rt.kill(&id, &libc::SIGUSR2.to_string()).assert_ok();
    expect_lines(3);
    rt.run(&["kill", &id]).assert_ok();
    let t = expect_lines(4);
    assert_eq!(t.lines().collect::<Vec<_>>(), ["USR1", "HUP", "USR2", "TERM"]);
    rt.wait_status(&id, "stopped");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn kill_all_reaches_every_process() {
    let rt = Runtime::new();
    // pid 1 ignores SIGTERM (no handler); its child does not: only --all kills the child.
    let b = Bundle::new(&["sh", "-c", "sleep 1000 & echo started > /started; wait; echo done > /done; sleep 1000"]);
    let id = unique("killall");
    rt.create_start(&id, &b);
    wait_for(Duration::from_secs(10), "child", || b.rootfs().join("started").exists().then_some(()));
    rt.run(&["kill", "--all", &id, "TERM"]).assert_ok();
    wait_for(Duration::from_secs(10), "child killed by kill --all", || b.rootfs().join("done").exists().then_some(()));
    assert_eq!(rt.status(&id), "running", "pid 1 has no TERM handler and must survive");
    rt.run(&["kill", "-a", &id, "KILL"]).assert_ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn create_accepts_pid_file_no_pivot_no_new_keyring() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "cat /proc/self/mountinfo | head -1; echo opts-ok"]);
    let id = unique("opts");
    let pidfile = rt.scratch().join("p.pid");
    let c = rt.create_with(&id, &b, &["--pid-file", pidfile.to_str().unwrap(), "--no-pivot", "--no-new-keyring"]);
    c.assert_ok();
    let pid: i32 = std::fs::read_to_string(&pidfile).expect("pid file").trim().parse().expect("pid number");
    assert_eq!(pid, rt.pid(&id));
    rt.start(&id).assert_ok();
    rt.wait_status(&id, "stopped");
    assert!(c.stdout_now().contains("opts-ok"), "{}", c.stdout_now());
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn run_foreground_returns_container_exit_code() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "echo out-line; exit 3"]);
    let id = unique("run3");
    let out = rt.run_container(&id, &b, &[]);
    assert_eq!(out.code(), 3, "{out}");
    assert!(out.stdout.contains("out-line"), "{out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn run_foreground_killed_by_signal_exits_128_plus_n() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("run137");
    rt.track(&id);
    let out_f = std::fs::File::create(rt.scratch().join("run.out")).unwrap();
    let mut c = rt.cmd(&["run", "--bundle", &b.path_str(), &id]);
    c.stdin(Stdio::null()).stdout(out_f).stderr(Stdio::null());
    let mut child = c.spawn().expect("spawn run");
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.wait_status(&id, "running")));
    if waited.is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("container never ran");
    }
    rt.kill(&id, "KILL").assert_ok();
    let st = wait_child(&mut child, Duration::from_secs(20), "run to exit");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        st.code(),
        Some(128 + 9),
        "run must exit 137 when the container dies of SIGKILL: {st:?} {:?}",
        st.signal()
    );
    rt.assert_clean(&id, &b);
}

#[test]
fn run_detach_with_pid_file_and_keep() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("rund");
    let pidfile = rt.scratch().join("d.pid");
    let out = rt.run_container(&id, &b, &["--detach", "--pid-file", pidfile.to_str().unwrap()]);
    out.assert_ok();
    let pid: i32 = std::fs::read_to_string(&pidfile).expect("pid file").trim().parse().expect("pid");
    assert!(pid_alive(pid));
    assert_eq!(rt.status(&id), "running");
    rt.kill(&id, "KILL").assert_ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);

    // --keep: the stopped container stays until deleted.
    let b2 = Bundle::new(&["sh", "-c", "exit 0"]);
    let id2 = unique("keep");
    let out = rt.run_container(&id2, &b2, &["-d", "--keep"]);
    out.assert_ok();
    rt.wait_status(&id2, "stopped");
    assert_eq!(rt.state(&id2)["pid"], 0, "a stopped container reports pid 0");
    rt.delete(&id2).assert_ok();
    rt.assert_clean(&id2, &b2);
}

#[test]
fn run_without_keep_removes_the_container() {
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let id = unique("nokeep");
    rt.run_container(&id, &b, &[]).assert_ok();
    let st = rt.run(&["state", &id]);
    st.assert_fail().assert_no_panic();
    rt.assert_clean(&id, &b);
}

#[test]
fn list_quiet_table_and_json() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("list");
    rt.create(&id, &b).assert_ok();
    let q = rt.run(&["list", "-q"]);
    q.assert_ok();
    assert_eq!(q.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>(), [id.as_str()], "{q}");
    let t = rt.run(&["list", "--format", "table"]);
    t.assert_ok();
    let mut lines = t.stdout.lines();
    let header = lines.next().unwrap_or_default();
    for col in ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        assert!(header.contains(col), "table header lacks {col}: {t}");
    }
    let row = lines.next().unwrap_or_default();
    assert!(row.starts_with(&id) && row.contains("created") && row.contains(&b.path_str()), "{t}");
    let j = rt.run(&["list", "--format", "json"]);
    j.assert_ok();
    let v: Value = serde_json::from_str(&j.stdout).unwrap_or_else(|e| panic!("list json ({e}): {j}"));
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 1);
    assert_eq!(arr[0]["id"], id.as_str());
    assert_eq!(arr[0]["status"], "created");
    assert_eq!(arr[0]["bundle"], b.path_str().as_str());
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
    let e = rt.run(&["list", "--format", "json"]);
    e.assert_ok();
    let v: Value = serde_json::from_str(e.stdout.trim()).unwrap_or(Value::Null);
    assert!(v.as_array().map(|a| a.is_empty()).unwrap_or(true) || e.stdout.trim() == "null", "{e}");
}

fn spec_in(rt: &Runtime, dir: &Path, extra: &[&str]) -> Value {
    let mut c = rt.raw_cmd();
    c.arg("spec").args(extra).current_dir(dir);
    exec(c, rt.scratch(), CMD_TIMEOUT).assert_ok();
    let text = std::fs::read_to_string(dir.join("config.json")).expect("spec writes config.json");
    serde_json::from_str(&text).expect("spec output parses")
}

#[test]
fn spec_default_is_runnable_after_replacing_args() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let mut v = spec_in(&rt, dir.path(), &[]);
    assert!(v["ociVersion"].as_str().unwrap_or_default().starts_with("1."), "{v}");
    assert_eq!(v["root"]["path"], "rootfs");
    assert_eq!(v["process"]["terminal"], true, "runc's default spec has terminal: true");
    assert!(v["linux"]["namespaces"].as_array().map(|a| a.len() >= 5).unwrap_or(false));
    assert!(v["mounts"].as_array().map(|a| a.iter().any(|m| m["destination"] == "/proc")).unwrap_or(false));
    // Use it as the whole config of a bundle.
    let mut b = Bundle::new(&["true"]);
    v["process"]["args"] = serde_json::json!(["sh", "-c", "echo from-spec; hostname"]);
    v["process"]["terminal"] = serde_json::json!(false);
    v["linux"]["cgroupsPath"] = serde_json::json!(b.cgroups_path());
    b.edit(|c| *c = v);
    let id = unique("spec");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    assert!(out.stdout.contains("from-spec"), "{out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn spec_bundle_flag_and_rootless() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let mut c = rt.raw_cmd();
    c.args(["spec", "--rootless", "-b", d]).current_dir(elsewhere.path());
    exec(c, rt.scratch(), CMD_TIMEOUT).assert_ok();
    assert!(!elsewhere.path().join("config.json").exists(), "-b must write into the bundle dir, not cwd");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
    let ns = v["linux"]["namespaces"].as_array().expect("namespaces");
    assert!(ns.iter().any(|n| n["type"] == "user"), "rootless spec needs a user namespace: {v}");
    for k in ["uidMappings", "gidMappings"] {
        let m = v["linux"][k].as_array().unwrap_or_else(|| panic!("rootless spec lacks {k}"));
        assert!(!m.is_empty());
        assert!(m[0]["containerID"].is_u64() && m[0]["hostID"].is_u64() && m[0]["size"].as_u64().unwrap_or(0) >= 1);
    }
    // spec refuses to overwrite an existing config.json (runc behaviour).
    let again = spec_in_fail(&rt, dir.path());
    again.assert_fail().assert_no_panic();
}

fn spec_in_fail(rt: &Runtime, dir: &Path) -> integration::Out {
    let mut c = rt.raw_cmd();
    c.arg("spec").current_dir(dir);
    exec(c, rt.scratch(), CMD_TIMEOUT)
}
