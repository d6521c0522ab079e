//! exec sessions: the exec-attach handshake, exit files, the second sync message, tty, timeout.

use std::time::Duration;

use serde_json::Value;
use shim_tests::*;

/// A running `sleep` container to exec into.
fn running_container(tag: &str) -> (Bundle, String, Running, Cleanup) {
    let b = Bundle::new(&["sleep", "100"], false);
    let cid = unique_id(tag);
    let (r, g, _pid) = launch_created(Launch::create(&cid, &b));
    start(&cid);
    (b, cid, r, g)
}

fn process(b: &Bundle, args: &[&str], terminal: bool) -> Value {
    let mut p = b.config["process"].clone();
    p["args"] = serde_json::json!(args);
    p["terminal"] = Value::Bool(terminal);
    p
}

/// Spawns an exec monitor, checks the attach-pipe `{"data": 0}`, connects to the session's
/// attach socket and sends the second start byte. Returns the handle, client and sync pid.
fn exec_attach(l: Launch, before_start: impl FnOnce(&std::path::Path)) -> (Running, std::os::fd::OwnedFd, i64) {
    let eb = l.bundle.clone();
    let mut r = l.spawn();
    assert_eq!(r.wait_parent(), 0, "{}", r.stderr_text());
    let ready = read_json(r.attach.as_ref().unwrap(), STEP).expect("attach pipe message");
    assert_eq!(ready, serde_json::json!({"data": 0}), "exec-attach readiness");
    assert!(eb.join("ctl").exists(), "ctl exists before the readiness message");
    let c = connect_attach(&eb.join("attach"));
    before_start(&eb);
    r.send_start();
    let msg = r.read_sync().unwrap_or_else(|| panic!("sync EOF: {}", r.stderr_text()));
    let pid = msg["data"].as_i64().unwrap();
    (r, c, pid)
}

#[test]
fn exec_attach_handshake_and_exit_code() {
    let (b, cid, ctr, _g) = running_container("exec");
    let p = process(&b, &["sh", "-c", "echo execout; echo execerr >&2; exit 5"], false);
    let l = Launch::exec(&cid, &b, "sess1", &p).exec_flags();
    let (r, c, pid) = exec_attach(l, |_| {});
    assert!(pid > 0, "exec pid {pid}");
    let f = read_frames(&c, STEP, |_| false);
    assert_eq!(stream_text(&f, 2), "execout\n");
    assert_eq!(stream_text(&f, 3), "execerr\n");
    let code = wait_file(&b.file(&format!("sess1/exit/{cid}")), STEP);
    assert_eq!(code, "5", "exec exit file");
    let second = r.read_sync().expect("second sync message with the exit code");
    assert_eq!(second, serde_json::json!({"data": 5}));
    assert_eq!(r.read_sync(), None, "monitor exits after the exec session");
    assert!(ctr.monitor_pid().is_some_and(pid_alive), "container monitor unaffected");
}

#[test]
fn exec_tty_with_resize_before_start() {
    let (b, cid, _ctr, _g) = running_container("exectty");
    // The short sleep keeps the check about the queue, not about racing the runtime's exec.
    let p = process(&b, &["sh", "-c", "sleep 0.3; tty; stty size"], true);
    let l = Launch::exec(&cid, &b, "sess2", &p).arg("-t").exec_flags();
    // Podman resizes through ctl before the second start byte: the pty does not exist yet,
    // so the size must be queued (winsz) and applied once the pty arrives.
    let (r, c, pid) = exec_attach(l, |eb| write_ctl(eb, "1 20 60\n"));
    assert!(pid > 0);
    let f = read_frames(&c, STEP, |_| false);
    let out = stream_text(&f, 2);
    assert!(out.contains("/dev/pts/"), "exec got a tty: {out:?}");
    assert!(out.contains("20 60"), "queued resize applied: {out:?}");
    assert!(f.iter().all(|(id, _)| *id == 2));
    assert_eq!(wait_file(&b.file(&format!("sess2/exit/{cid}")), STEP), "0");
    assert_eq!(r.read_sync(), Some(serde_json::json!({"data": 0})));
}

#[test]
fn exec_timeout_reports_timed_out() {
    let (b, cid, _ctr, _g) = running_container("exectmo");
    let p = process(&b, &["sleep", "100"], false);
    let l = Launch::exec(&cid, &b, "sess3", &p).arg("--timeout=1").exec_flags();
    let t0 = std::time::Instant::now();
    let (r, _c, pid) = exec_attach(l, |_| {});
    assert!(pid > 0);
    let second = r.read_sync().expect("timeout message");
    assert_eq!(second, serde_json::json!({"data": -1, "message": "command timed out"}));
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(wait_file(&b.file(&format!("sess3/exit/{cid}")), STEP), "-1");
}

#[test]
fn exec_of_missing_binary_fails() {
    let (b, cid, _ctr, _g) = running_container("execfail");
    let p = process(&b, &["/bin/does-not-exist"], false);
    let l = Launch::exec(&cid, &b, "sess4", &p).exec_flags();
    let mut r = l.spawn();
    assert_eq!(r.wait_parent(), 0);
    assert_eq!(read_json(r.attach.as_ref().unwrap(), STEP), Some(serde_json::json!({"data": 0})));
    r.send_start();
    let msg = r.read_sync().expect("failure message");
    assert!(msg["data"].as_i64().unwrap() < 0, "{msg}");
    let text = msg["message"].as_str().unwrap_or("");
    assert!(text.contains("does-not-exist"), "runtime error forwarded: {text:?}");
}

#[test]
fn exec_stdin_pipe_and_half_close() {
    let (b, cid, _ctr, _g) = running_container("execin");
    let p = process(&b, &["sh", "-c", "cat; echo end"], false);
    let l = Launch::exec(&cid, &b, "sess5", &p).arg("-i").exec_flags();
    let (r, c, pid) = exec_attach(l, |_| {});
    assert!(pid > 0);
    send_input(&c, b"abc\n");
    close_write(&c);
    let f = read_frames(&c, STEP, |_| false);
    assert_eq!(stream_text(&f, 2), "abc\nend\n");
    assert_eq!(wait_file(&b.file(&format!("sess5/exit/{cid}")), STEP), "0");
    assert_eq!(r.read_sync(), Some(serde_json::json!({"data": 0})));
}
