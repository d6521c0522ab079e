//! What the command line prints for tools that read it: failures carry a level on stderr as
//! runc's log lines do (issue 15, defect 5), and a stdout whose reader went away ends a command
//! quietly, as it ends runc (defect 12).

use integration::{unique, Bundle, Out, Runtime};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

/// A failed command: non-zero exit, no panic, exactly one stderr line, and that line says it is
/// an error the way runc's logrus line does (`level=error`, or `"level":"error"` in JSON).
#[track_caller]
fn assert_error_line_with_level(out: &Out, json: bool) {
    let line = out.one_error_line();
    if json {
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {out}"));
        assert_eq!(v["level"], "error", "{out}");
        assert!(v["msg"].as_str().is_some_and(|m| !m.is_empty()), "{out}");
    } else {
        assert!(line.contains("level=error"), "the failure line must carry level=error: {out}");
        assert!(line.contains("msg="), "{out}");
    }
}

#[test]
fn failed_delete_and_kill_print_one_line_with_level_error() {
    let rt = Runtime::new();
    let missing = unique("missing");
    for json in [false, true] {
        let fmt: &[&str] = if json { &["--log-format", "json"] } else { &[] };
        assert_error_line_with_level(&rt.run(&[fmt, &["delete", &missing]].concat()), json);
        assert_error_line_with_level(&rt.run(&[fmt, &["kill", &missing, "KILL"]].concat()), json);
    }
    // A stopped container cannot be signalled; a running one is not deleted without --force.
    let b = Bundle::new(&["true"]);
    let stopped = unique("stopped");
    rt.create_start(&stopped, &b);
    rt.wait_status(&stopped, "stopped");
    assert_error_line_with_level(&rt.kill(&stopped, "KILL"), false);
    rt.delete(&stopped).assert_ok();
    let b2 = Bundle::new(&["sleep", "100"]);
    let running = unique("running");
    rt.create_start(&running, &b2);
    assert_error_line_with_level(&rt.delete(&running), false);
    rt.delete_force(&running).assert_ok();
    rt.assert_clean(&stopped, &b);
    rt.assert_clean(&running, &b2);
}

/// Runs the command with a stdout pipe whose read end is already closed.
fn run_into_closed_pipe(rt: &Runtime, args: &[&str], global: bool) -> std::process::Output {
    let (read, write) = nix::unistd::pipe().expect("pipe");
    drop(read);
    let mut cmd = if global {
        let mut c = rt.raw_cmd();
        c.args(args);
        c
    } else {
        rt.cmd(args)
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::from(write)).stderr(Stdio::piped());
    cmd.output().expect("run the runtime")
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    let id = unique("epipe");
    rt.create_start(&id, &b);
    let cases: &[(&[&str], bool)] = &[
        (&["features"], false),
        (&["list"], false),
        (&["list", "-q"], false),
        (&["list", "--format", "json"], false),
        (&["state", &id], false),
        (&["ps", &id], false),
        (&["ps", "--format", "json", &id], false),
        (&["--version"], true),
        (&["--help"], true),
    ];
    for (args, global) in cases {
        let out = run_into_closed_pipe(&rt, args, *global);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{args:?} panicked: {stderr}");
        assert!(stderr.trim().is_empty(), "{args:?}: a closed pipe ends the command quietly, got {stderr:?}");
        // runc (a Go program) dies of SIGPIPE when its stdout is gone; so do we.
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{args:?}: {:?} {stderr}", out.status);
    }
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}
