//! Point 3: -i, -t, logs (k8s-file, max-size), exec (plain, -t, --user,
//! exit codes), attach.

use integration::podman::{podman_for, IMAGE};
use std::time::Duration;

pub fn stdin_interactive(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    let out = pm.run_stdin(
        &["run", "--rm", "-i", "--network", "none", IMAGE, "sh", "-c", "cat; echo done; exit 4"],
        b"hello\nworld\n",
    );
    assert_eq!(out.code(), 4, "[{pair}] {out}");
    assert_eq!(out.stdout, "hello\nworld\ndone\n", "[{pair}] {out}");
    // Large input goes through intact.
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let out = pm.run_stdin(&["run", "--rm", "-i", "--network", "none", IMAGE, "wc", "-c"], &big);
    assert_eq!(out.stdout.trim(), "200000", "[{pair}] {out}");
}

pub fn tty(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    let out = pm.run_tty(&["run", "--rm", "-t", "--network", "none", IMAGE, "sh", "-c", "tty; exit 3"], "");
    assert_eq!(out.code(), 3, "[{pair}] {out}");
    assert!(out.stdout.contains("/dev/pts/0"), "[{pair}] no tty in the container: {out}");
    let out = pm.run_tty(&["run", "--rm", "-it", "--network", "none", IMAGE, "sh"], "echo $((6*7))x\nexit 5\n");
    assert_eq!(out.code(), 5, "[{pair}] {out}");
    assert!(out.stdout.contains("42x"), "[{pair}] typed input not run: {out}");
}

pub fn logs_k8s_file(pair: &str) {
    let pm = podman_for(pair);
    let id =
        pm.run_d(&["--network", "none", IMAGE, "sh", "-c", "echo out1; echo err1 >&2; printf partial; sleep 1000"]);
    integration::util::wait_for(Duration::from_secs(10), "logs", || {
        let l = pm.run(&["logs", &id]);
        (l.stdout.contains("out1") && l.stderr.contains("err1") && l.stdout.contains("partial")).then_some(())
    });
    assert_eq!(pm.inspect(&id, "{{.HostConfig.LogConfig.Type}}"), "k8s-file");
    let path = pm.inspect(&id, "{{.HostConfig.LogConfig.Path}}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("[{pair}] log file {path}: {e}"));
    // k8s-file: "<RFC3339Nano> <stream> <F|P> <text>"
    assert!(text.lines().any(|l| l.contains(" stdout F out1")), "[{pair}] {text}");
    assert!(text.lines().any(|l| l.contains(" stderr F err1")), "[{pair}] {text}");
    assert!(text.lines().any(|l| l.contains(" stdout P partial")), "[{pair}] {text}");
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.len() > 20 && first.as_bytes()[4] == b'-' && first.as_bytes()[10] == b'T',
        "[{pair}] timestamp: {first}"
    );
    // logs of an exited container, and --tail.
    pm.ok(&["stop", "-t", "0", &id]);
    let l = pm.ok(&["logs", "--tail", "1", &id]);
    let both = format!("{}{}", l.stdout, l.stderr);
    assert!(!both.trim().is_empty() && !both.contains("out1"), "[{pair}] --tail 1: {l}");
}

pub fn logs_max_size(pair: &str) {
    let pm = podman_for(pair);
    let max = 16 * 1024;
    // ~80 KiB of numbered lines, then a marker.
    let id = pm.run_d(&[
        "--network",
        "none",
        "--log-opt",
        "max-size=16k",
        IMAGE,
        "sh",
        "-c",
        "i=0; while [ $i -lt 1000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; echo END; sleep 1000",
    ]);
    let path = pm.inspect(&id, "{{.HostConfig.LogConfig.Path}}");
    integration::util::wait_for(Duration::from_secs(20), "END in the log", || {
        std::fs::read_to_string(&path).unwrap_or_default().contains(" END").then_some(())
    });
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    assert!(len <= max + 512, "[{pair}] log file is {len} bytes, max-size 16k");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(!text.contains("line-0-"), "[{pair}] the oldest lines must be gone");
}

pub fn exec_plain_user_codes(pair: &str) {
    let pm = podman_for(pair);
    let id = pm.run_d(&["--network", "none", IMAGE, "sleep", "1000"]);
    let out = pm.ok(&["exec", &id, "echo", "hi"]);
    assert_eq!(out.stdout, "hi\n", "[{pair}] {out}");
    let out = pm.run(&["exec", &id, "sh", "-c", "echo to-err >&2; exit 7"]);
    assert_eq!(out.code(), 7, "[{pair}] {out}");
    assert!(out.stderr.contains("to-err"), "[{pair}] {out}");
    let out = pm.ok(&["exec", "--user", "1000:1000", &id, "id"]);
    assert!(out.stdout.starts_with("uid=1000(user) gid=1000(user)"), "[{pair}] {out}");
    let out = pm.ok(&["exec", "--user", "nobody", &id, "id", "-u"]);
    assert_eq!(out.stdout.trim(), "65534", "[{pair}] {out}");
    let out = pm.ok(&["exec", "-e", "FOO=bar", "-w", "/tmp", &id, "sh", "-c", "echo $FOO $(pwd)"]);
    assert_eq!(out.stdout.trim(), "bar /tmp", "[{pair}] {out}");
    let out = pm.run_stdin(&["exec", "-i", &id, "sh", "-c", "cat; exit 2"], b"piped\n");
    assert_eq!((out.code(), out.stdout.as_str()), (2, "piped\n"), "[{pair}] {out}");
    // The exec joins the container: same pid namespace (sees PID 1 = sleep).
    let out = pm.ok(&["exec", &id, "cat", "/proc/1/cmdline"]);
    assert!(out.stdout.starts_with("sleep"), "[{pair}] {out}");
    let out = pm.run(&["exec", &id, "/nonexistent"]);
    assert_eq!(out.code(), 127, "[{pair}] {out}");
    let out = pm.run(&["exec", &id, "/etc/passwd"]);
    assert_eq!(out.code(), 126, "[{pair}] {out}");
    pm.assert_pair(&id);
}

pub fn exec_tty(pair: &str) {
    let pm = podman_for(pair);
    let id = pm.run_d(&["--network", "none", IMAGE, "sleep", "1000"]);
    let out = pm.run_tty(&["exec", "-t", &id, "sh", "-c", "tty; exit 4"], "");
    assert_eq!(out.code(), 4, "[{pair}] {out}");
    assert!(out.stdout.contains("/dev/pts/"), "[{pair}] {out}");
    let out = pm.run_tty(&["exec", "-it", &id, "sh"], "echo $((7*6))y\nexit 6\n");
    assert_eq!(out.code(), 6, "[{pair}] {out}");
    assert!(out.stdout.contains("42y"), "[{pair}] {out}");
}

pub fn attach(pair: &str) {
    let pm = podman_for(pair);
    // stdin through attach: the container waits for a line.
    let id = pm.run_d(&["-i", "--network", "none", IMAGE, "sh", "-c", "read x; echo got:$x; exit 3"]);
    let out = pm.run_stdin(&["attach", &id], b"hello\n");
    assert!(out.stdout.contains("got:hello"), "[{pair}] {out}");
    pm.ok(&["wait", &id]);
    assert_eq!(pm.inspect(&id, "{{.State.ExitCode}}"), "3");
    // output-only attach sees what is printed after it attached and returns when
    // the container exits (Podman 4.3.1 exits 0 here with any runtime/monitor).
    let id = pm.run_d(&["--network", "none", IMAGE, "sh", "-c", "sleep 3; echo late; exit 9"]);
    let out = pm.run(&["attach", "--no-stdin", &id]);
    assert!(out.ok() && out.stdout.contains("late"), "[{pair}] {out}");
    assert_eq!(pm.inspect(&id, "{{.State.ExitCode}}"), "9");
}
