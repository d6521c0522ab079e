//! `start` reports a container process that dies before its program runs (issue 15, defect 2): the
//! runtime-spec's start "MUST generate an error" when it cannot run the program, so its exit code
//! is not 0. runc 1.1.5 exits 0 in both cases below; oxrun follows the spec.
use integration::{is_runc, note, unique, Bundle, Runtime};
use serde_json::json;

#[track_caller]
fn assert_start_fails(rt: &Runtime, b: &Bundle, id: &str, words: &str) {
    let out = rt.start(id);
    if is_runc() && out.ok() {
        note("runc exits 0 from start when the container process fails before exec (the spec says it must not)");
    } else {
        out.assert_fail().assert_no_panic();
        let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one error line expected: {out}");
        assert!(out.stderr.contains(words), "expected {words:?}: {out}");
    }
    rt.wait_status(id, "stopped");
    rt.delete(id).assert_ok();
    rt.assert_clean(id, b);
}

#[test]
fn start_fails_when_a_start_container_hook_fails() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.set_hooks("startContainer", json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-broke >&2; exit 3"]}]));
    let id = unique("start-hook");
    rt.create(&id, &b).assert_ok();
    assert_start_fails(&rt, &b, &id, "startContainer");
}

#[test]
fn start_fails_when_the_program_is_gone_at_exec() {
    let rt = Runtime::new();
    let b = Bundle::new(&["/bin/vanishing"]);
    std::fs::copy(b.rootfs().join("bin/busybox"), b.rootfs().join("bin/vanishing")).unwrap();
    let id = unique("start-gone");
    rt.create(&id, &b).assert_ok();
    // Resolved at create; removed before start, so the execve itself fails.
    std::fs::remove_file(b.rootfs().join("bin/vanishing")).unwrap();
    assert_start_fails(&rt, &b, &id, "vanishing");
}

#[test]
fn start_still_succeeds_for_a_program_that_exits_at_once() {
    for prog in [&["true"][..], &["false"][..], &["sh", "-c", "exit 7"][..]] {
        let rt = Runtime::new();
        let b = Bundle::new(prog);
        let id = unique("start-quick");
        rt.create(&id, &b).assert_ok();
        rt.start(&id).assert_ok();
        rt.wait_status(&id, "stopped");
        rt.delete(&id).assert_ok();
        rt.assert_clean(&id, &b);
    }
}
