//! Point 6: the container process — args, env, cwd, user, rlimits,
//! capabilities, noNewPrivileges, oomScoreAdj, terminal, fds.

use integration::console::ConsoleSocket;
use integration::util::{exec, status_field, CMD_TIMEOUT};
use integration::{is_runc, note, unique, Bundle, Out, Runtime};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

/// Runs the bundle in the foreground with `script`, asserts success and cleanliness.
#[track_caller]
fn sh(rt: &Runtime, b: &mut Bundle, script: &str) -> Out {
    b.set_args(&["sh", "-c", script]);
    let id = unique("proc");
    let out = rt.run_container(&id, b, &[]);
    rt.assert_clean(&id, b);
    out.assert_ok();
    out
}

#[test]
fn args_use_path_lookup() {
    let rt = Runtime::new();
    let b = Bundle::new(&["echo", "hello", "world"]);
    let id = unique("echo");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    assert_eq!(out.stdout, "hello world\n");
    rt.assert_clean(&id, &b);
}

#[test]
fn missing_relative_binary_reports_not_found_in_path() {
    let rt = Runtime::new();
    let b = Bundle::new(&["no-such-command-xyz"]);
    let id = unique("nobin");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_fail().assert_no_panic();
    assert!(out.stderr.contains("executable file not found in $PATH"), "runc's wording expected: {out}");
    assert!(out.stderr.contains("no-such-command-xyz"), "{out}");
    rt.assert_clean(&id, &b);
    let out = rt.create(&id, &b);
    out.assert_fail().assert_no_panic();
    assert!(out.stderr.contains("executable file not found in $PATH"), "{out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn missing_absolute_binary_fails_cleanly() {
    let rt = Runtime::new();
    let b = Bundle::new(&["/nonexistent/bin"]);
    let id = unique("noabs");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_fail().assert_no_panic();
    assert!(out.stderr.contains("/nonexistent/bin"), "{out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn env_and_cwd() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz", "EMPTY="]);
        c["process"]["cwd"] = json!("/tmp");
    });
    let out = sh(&rt, &mut b, "echo \"foo=$FOO\"; echo \"empty=[$EMPTY]\"; pwd; echo path=$PATH");
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["foo=bar baz", "empty=[]", "/tmp", "path=/bin"], "{out}");
}

#[test]
fn cwd_is_created_when_missing() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["process"]["cwd"] = json!("/does/not/exist/yet"));
    let out = sh(&rt, &mut b, "pwd");
    assert_eq!(out.stdout.trim(), "/does/not/exist/yet");
}

#[test]
fn user_uid_gid_additional_gids_umask() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "umask": 23, "additionalGids": [2000, 3000]});
    });
    let out = sh(&rt, &mut b, "id -u; id -g; id -G; umask; touch /tmp/f; stat -c '%u:%g %a' /tmp/f");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1000", "{out}");
    assert_eq!(lines[1], "1000", "{out}");
    let groups: Vec<&str> = lines[2].split_whitespace().collect();
    assert!(groups.contains(&"2000") && groups.contains(&"3000"), "additional gids: {out}");
    assert_eq!(lines[3], "0027", "{out}");
    assert_eq!(lines[4], "1000:1000 640", "{out}");
}

#[test]
fn rlimits_nofile() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 777, "hard": 1555}]));
    let out = sh(&rt, &mut b, "ulimit -n; ulimit -Hn");
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["777", "1555"], "{out}");
}

#[test]
fn reduced_capability_sets() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    let set = json!(["CAP_CHOWN", "CAP_KILL"]); // bits 0 and 5
    b.edit(|c| {
        c["process"]["capabilities"] =
            json!({"bounding": set, "effective": set, "permitted": set, "inheritable": set, "ambient": set});
    });
    let out = sh(&rt, &mut b, "cat /proc/self/status");
    for k in ["CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"] {
        assert_eq!(status_field(&out.stdout, k), "0000000000000021", "{k}: {out}");
    }
    b.edit(|c| {
        c["process"]["capabilities"] =
            json!({"bounding": ["CAP_KILL"], "effective": [], "permitted": [], "inheritable": [], "ambient": []});
    });
    let out = sh(&rt, &mut b, "cat /proc/self/status");
    assert_eq!(status_field(&out.stdout, "CapBnd"), "0000000000000020", "{out}");
    for k in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_eq!(status_field(&out.stdout, k), "0000000000000000", "{k}: {out}");
    }
}

/// oxrun requirement: an unknown capability name is a warning, the container still runs.
#[test]
fn unknown_capability_warns_and_runs() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    let set = json!(["CAP_KILL", "CAP_NOT_A_REAL_ONE"]);
    b.edit(|c| {
        c["process"]["capabilities"] = json!({"bounding": set, "effective": set, "permitted": set});
    });
    b.set_args(&["sh", "-c", "echo ran; grep CapEff /proc/self/status"]);
    let id = unique("unkcap");
    let out = rt.run_container(&id, &b, &[]);
    rt.assert_clean(&id, &b);
    out.assert_no_panic();
    if is_runc() {
        note(&format!("[runc reference] unknown capability -> exit {} stderr {:?}", out.code(), out.stderr.trim()));
    }
    assert_eq!(out.code(), 0, "an unknown capability must not fail the container: {out}");
    assert!(out.stdout.contains("ran"), "{out}");
    assert_eq!(status_field(&out.stdout, "CapEff"), "0000000000000020", "{out}");
    assert!(out.stderr.contains("CAP_NOT_A_REAL_ONE"), "a warning must name the capability: {out}");
}

#[test]
fn no_new_privileges_and_oom_score_adj() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(true);
        c["process"]["oomScoreAdj"] = json!(123);
    });
    let out = sh(&rt, &mut b, "grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj");
    assert_eq!(status_field(&out.stdout, "NoNewPrivs"), "1", "{out}");
    assert_eq!(out.stdout.lines().last(), Some("123"), "{out}");
    b.edit(|c| {
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"].as_object_mut().unwrap().remove("oomScoreAdj");
    });
    let out = sh(&rt, &mut b, "grep NoNewPrivs /proc/self/status");
    assert_eq!(status_field(&out.stdout, "NoNewPrivs"), "0", "{out}");
}

fn terminal_bundle(script: &str) -> Bundle {
    let mut b = Bundle::new(&["sh", "-c", script]);
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 33, "width": 101});
    });
    b
}

#[test]
fn terminal_via_console_socket() {
    let rt = Runtime::new();
    let b = terminal_bundle("tty; stty size; echo hello-tty");
    let sock = ConsoleSocket::bind(rt.scratch());
    let id = unique("tty");
    let out = rt.create_with(&id, &b, &["--console-socket", &sock.path_str()]);
    out.assert_ok();
    let master = sock.receive(Duration::from_secs(10)).expect("pty master over the console socket");
    assert_eq!(master.nfds, 1, "exactly one fd");
    assert!(!master.payload.is_empty(), "the message must carry a non-empty payload");
    rt.start(&id).assert_ok();
    let text = master.read_all(Duration::from_secs(10));
    rt.wait_status(&id, "stopped");
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines.first().is_some_and(|l| l.starts_with("/dev/pts/")), "tty inside: {text:?}");
    assert!(lines.contains(&"33 101"), "consoleSize: {text:?}");
    assert!(lines.contains(&"hello-tty"), "{text:?}");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn run_detached_with_terminal_via_console_socket() {
    let rt = Runtime::new();
    let b = terminal_bundle("stty size; echo run-tty");
    let sock = ConsoleSocket::bind(rt.scratch());
    let id = unique("runtty");
    rt.run_container(&id, &b, &["-d", "--console-socket", &sock.path_str()]).assert_ok();
    let master = sock.receive(Duration::from_secs(10)).expect("pty master");
    let text = master.read_all(Duration::from_secs(10));
    assert!(text.contains("33 101") && text.contains("run-tty"), "{text:?}");
    rt.wait_status(&id, "stopped");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// Drives a command on a pty of 40x120 as an interactive user's terminal would: waits for
/// "ready", resizes the terminal to 50x130 (the kernel sends the runtime SIGWINCH), types a line,
/// and prints everything read back, then `exit=<code>`.
const PTY_DRIVER: &str = r#"
import fcntl, os, struct, sys, termios, time
def size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
m, s = os.openpty()
size(m, 40, 120)
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(s, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(s, fd)
    os.execvp(sys.argv[1], sys.argv[1:])
os.close(s)
out = b""
sent = False
deadline = time.time() + 20
while time.time() < deadline:
    try:
        chunk = os.read(m, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not sent and b"ready" in out:
        size(m, 50, 130)
        time.sleep(0.3)
        os.write(m, b"hello\n")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
print("exit=%d" % os.waitstatus_to_exitcode(status))
"#;

/// `run` in the foreground of a terminal container without `--console-socket` relays the pty
/// through the runtime's own terminal, as runc does: the container sees a tty of our terminal's
/// size, follows it when it changes, reads what we type, and `run` returns its exit code.
#[test]
fn run_in_the_foreground_relays_a_terminal() {
    let rt = Runtime::new();
    let b = terminal_bundle("tty; stty size; echo ready; read x; stty size; echo got-$x; exit 5");
    let id = unique("runrelay");
    rt.track(&id);
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PTY_DRIVER]).arg(rt.bin()).arg("--root").arg(rt.root());
    cmd.args(["run", "--bundle", &b.path_str(), &id]);
    let out = rt.exec(cmd);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines.iter().any(|l| l.starts_with("/dev/pts/")), "a tty inside: {out}");
    assert!(lines.contains(&"40 120"), "the pty has our terminal's size (not consoleSize 33x101): {out}");
    assert!(lines.contains(&"50 130"), "the pty follows our terminal's size: {out}");
    assert!(lines.contains(&"got-hello"), "what we type reaches the container: {out}");
    assert!(lines.contains(&"exit=5"), "run returns the container's code: {out}");
    rt.assert_clean(&id, &b);
}

/// `sh -c 'exec "$0" "$@" 3<file 5<file'` gives the runtime extra inherited fds.
fn with_fds(rt: &Runtime, file: &str, env_listen: bool, args: &[&str]) -> Command {
    let listen = if env_listen { "export LISTEN_FDS=1 LISTEN_PID=$$; " } else { "" };
    let mut c = Command::new("/bin/sh");
    c.arg("-c")
        .arg(format!("{listen}exec \"$0\" \"$@\" 3<{file} 5<{file}"))
        .arg(rt.bin())
        .arg("--root")
        .arg(rt.root())
        .args(args);
    c
}

#[test]
fn preserve_fds_passes_fd_3() {
    let rt = Runtime::new();
    let secret = rt.scratch().join("fd3.txt");
    std::fs::write(&secret, "through-fd-3").unwrap();
    let b =
        Bundle::new(&["sh", "-c", "cat /proc/self/fd/3; echo; [ -e /proc/self/fd/5 ] && echo fd5-leaked; echo end"]);
    let id = unique("pfd");
    rt.track(&id);
    let bp = b.path_str();
    let out = exec(
        with_fds(&rt, secret.to_str().unwrap(), false, &["create", "--bundle", &bp, "--preserve-fds", "1", &id]),
        rt.scratch(),
        CMD_TIMEOUT,
    );
    out.assert_ok();
    rt.start(&id).assert_ok();
    rt.wait_status(&id, "stopped");
    let text = out.stdout_now();
    assert!(text.starts_with("through-fd-3"), "fd 3 readable inside: {text:?}");
    assert!(!text.contains("fd5-leaked"), "only --preserve-fds fds may pass: {text:?}");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn listen_fds_passes_socket_activation_fds() {
    let rt = Runtime::new();
    let secret = rt.scratch().join("listen.txt");
    std::fs::write(&secret, "listen-fd").unwrap();
    let b = Bundle::new(&["sh", "-c", "cat /proc/self/fd/3; echo; echo LISTEN_FDS=$LISTEN_FDS"]);
    let id = unique("lfd");
    rt.track(&id);
    let bp = b.path_str();
    let out =
        exec(with_fds(&rt, secret.to_str().unwrap(), true, &["run", "--bundle", &bp, &id]), rt.scratch(), CMD_TIMEOUT);
    out.assert_ok();
    assert!(out.stdout.starts_with("listen-fd"), "{out}");
    assert!(out.stdout.contains("LISTEN_FDS=1"), "{out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn other_fds_are_closed() {
    let rt = Runtime::new();
    let f = rt.scratch().join("leak.txt");
    std::fs::write(&f, "x").unwrap();
    let b = Bundle::new(&["ls", "/proc/self/fd"]);
    let id = unique("fds");
    rt.track(&id);
    let bp = b.path_str();
    let out =
        exec(with_fds(&rt, f.to_str().unwrap(), false, &["run", "--bundle", &bp, &id]), rt.scratch(), CMD_TIMEOUT);
    out.assert_ok();
    let mut fds: Vec<u32> = out.stdout.split_whitespace().filter_map(|s| s.parse().ok()).collect();
    fds.sort();
    assert!(fds.starts_with(&[0, 1, 2]), "{out}");
    assert!(fds.len() <= 4 && fds.iter().all(|&n| n <= 3), "only 0,1,2 and ls's own dir fd: {out}");
    rt.assert_clean(&id, &b);
}

/// The container's process starts with every signal's default action and nothing blocked, as
/// under runc, whatever the caller left ignored or blocked: a runtime started under `nohup` (or
/// by a shell that ran `trap "" HUP`) must not hand the container a SIGHUP its shell cannot trap.
#[test]
fn ignored_and_blocked_signals_of_the_caller_do_not_reach_the_container() {
    let rt = Runtime::new();
    for how in ["run", "exec"] {
        let mut b = Bundle::new(&["cat", "/proc/self/status"]);
        if how == "exec" {
            b.set_args(&["sleep", "100"]);
        }
        let id = unique("sigs");
        rt.track(&id);
        let mut args: Vec<String> =
            vec![rt.bin().display().to_string(), "--root".into(), rt.root().display().to_string()];
        if how == "run" {
            args.extend(["run".into(), "--bundle".into(), b.path_str(), id.clone()]);
        } else {
            rt.create_start(&id, &b).assert_ok();
            args.extend(["exec".into(), id.clone(), "cat".into(), "/proc/self/status".into()]);
        }
        // python3 blocks SIGUSR2 and ignores SIGHUP and SIGUSR1, then execs the runtime: both
        // survive execve into it.
        let py = "import os, signal, sys\n\
                  signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})\n\
                  signal.signal(signal.SIGHUP, signal.SIG_IGN)\n\
                  signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n\
                  os.execv(sys.argv[1], sys.argv[1:])";
        let mut cmd = Command::new("python3");
        cmd.arg("-c").arg(py).args(&args);
        let out = exec(cmd, rt.scratch(), CMD_TIMEOUT);
        out.assert_ok();
        let mask = |key: &str| {
            u64::from_str_radix(&status_field(&out.stdout, key), 16).unwrap_or_else(|_| panic!("{key} in {out}"))
        };
        let (hup, usr1, usr2) = (1u64 << (libc::SIGHUP - 1), 1u64 << (libc::SIGUSR1 - 1), 1u64 << (libc::SIGUSR2 - 1));
        if is_runc() {
            // runc (Go) resets what it can handle, leaves glibc's internal signal 32 as found and
            // keeps the caller's mask; crun and oxrun give an empty mask.
            assert_eq!(mask("SigIgn") & (hup | usr1), 0, "{how}: {out}");
            note(&format!(
                "runc: SigIgn {:#x}, SigBlk {:#x} (USR2 blocked: {})",
                mask("SigIgn"),
                mask("SigBlk"),
                mask("SigBlk") & usr2 != 0
            ));
        } else {
            assert_eq!(mask("SigIgn"), 0, "{how}: {out}");
            assert_eq!(mask("SigBlk"), 0, "{how}: {out}");
        }
        if how == "exec" {
            rt.delete_force(&id).assert_ok();
        }
        rt.assert_clean(&id, &b);
    }
}
