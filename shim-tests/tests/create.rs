//! Create path: version probe, handshake, pidfiles, exit files, k8s-file records, failures.

use std::time::Duration;

use shim_tests::*;

#[test]
fn version_satisfies_podman_probe() {
    let out = std::process::Command::new(monitor_bin()).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // Podman: ^(version:|conmon version)? (\d+).(\d+).(\d+), at least 2.0.1.
    let first = text.lines().next().unwrap();
    let rest = first.strip_prefix("conmon version ").expect("first line starts with 'conmon version '");
    let nums: Vec<u32> = rest.split('.').take(3).map(|n| n.trim().parse().unwrap()).collect();
    assert_eq!(nums.len(), 3, "{first}");
    assert!((nums[0], nums[1], nums[2]) >= (2, 0, 1), "{first}");
}

fn run_exit(args: &[&str], kill_after_start: bool) -> (String, Bundle) {
    let b = Bundle::new(args, false);
    let cid = unique_id("exit");
    let l = Launch::create(&cid, &b);
    let (r, _guard, pid) = launch_created(l);
    let pidfile = std::fs::read_to_string(b.file("pidfile")).unwrap();
    assert_eq!(pidfile.trim().parse::<i64>().unwrap(), pid, "sync pid equals runtime pidfile");
    let conmon_pid = std::fs::read_to_string(b.file("conmon.pid")).unwrap();
    assert!(!conmon_pid.ends_with('\n'), "conmon pidfile must have no newline: {conmon_pid:?}");
    let mpid: i32 = conmon_pid.parse().expect("decimal conmon pid");
    assert!(pid_alive(mpid), "daemonized monitor is running");
    let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i32 = ppid.rsplit(')').next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(ppid, mpid, "container is reparented to the (subreaper) monitor");
    start(&cid);
    if kill_after_start {
        std::thread::sleep(Duration::from_millis(200));
        let (ok, out) = runtime(&["kill", &cid, "9"]);
        assert!(ok, "{out}");
    }
    let code = wait_exit(&r, &b.file(&format!("exits/{cid}")));
    (code, b)
}

#[test]
fn exit_code_zero_and_log_records() {
    let (code, b) = run_exit(&["sh", "-c", "echo hello; echo oops >&2"], false);
    assert_eq!(code, "0");
    let recs = parse_log(&std::fs::read_to_string(b.file("ctr.log")).unwrap());
    let out: Vec<_> = recs.iter().filter(|r| r.stream == "stdout").map(|r| (r.partial, r.content.as_str())).collect();
    let err: Vec<_> = recs.iter().filter(|r| r.stream == "stderr").map(|r| (r.partial, r.content.as_str())).collect();
    assert_eq!(out, vec![(false, "hello")]);
    assert_eq!(err, vec![(false, "oops")]);
}

#[test]
fn exit_code_three_no_newline() {
    let (code, _b) = run_exit(&["sh", "-c", "exit 3"], false);
    assert_eq!(code, "3", "exit file is the bare decimal status");
}

#[test]
fn exit_code_signal_is_128_plus_n() {
    let (code, _b) = run_exit(&["sleep", "100"], true);
    assert_eq!(code, "137");
}

#[test]
fn k8s_partial_lines_and_timezone() {
    let script = "echo line1; printf partial; sleep 0.3; echo; sleep 0.3; printf 'a\\nb\\nc'; sleep 0.3; echo";
    let b = Bundle::new(&["sh", "-c", script], false);
    let cid = unique_id("k8s");
    let mut l = Launch::create(&cid, &b);
    l.env.push(("TZ".into(), "EST5".into()));
    let (r, _g, _pid) = launch_created(l);
    start(&cid);
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
    let recs = parse_log(&std::fs::read_to_string(b.file("ctr.log")).unwrap());
    let got: Vec<_> = recs.iter().map(|r| (r.stream.as_str(), r.partial, r.content.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("stdout", false, "line1"),
            ("stdout", true, "partial"),
            ("stdout", false, ""),
            ("stdout", false, "a"),
            ("stdout", false, "b"),
            ("stdout", true, "c"),
            ("stdout", false, ""),
        ]
    );
    for r in &recs {
        assert!(r.ts.ends_with("-05:00"), "TZ=EST5 must give a -05:00 offset: {}", r.ts);
    }
    // Records of one chunk share one timestamp.
    assert_eq!(recs[3].ts, recs[4].ts);
    assert_eq!(recs[4].ts, recs[5].ts);
}

#[test]
fn k8s_utc_offset_is_numeric() {
    let b = Bundle::new(&["echo", "utc"], false);
    let cid = unique_id("utc");
    let mut l = Launch::create(&cid, &b);
    l.env.push(("TZ".into(), "UTC".into()));
    let (r, _g, _pid) = launch_created(l);
    start(&cid);
    wait_exit(&r, &b.file(&format!("exits/{cid}")));
    let recs = parse_log(&std::fs::read_to_string(b.file("ctr.log")).unwrap());
    assert_eq!(recs.len(), 1);
    assert!(recs[0].ts.ends_with("+00:00"), "{}", recs[0].ts);
}

#[test]
fn log_size_max_truncates_whole_records() {
    let b = Bundle::new(&["sh", "-c", "for i in $(seq 1 300); do echo line-$i; done"], false);
    let cid = unique_id("size");
    let l = Launch::create(&cid, &b).arg("--log-size-max").arg("1000");
    let (r, _g, _pid) = launch_created(l);
    start(&cid);
    wait_exit(&r, &b.file(&format!("exits/{cid}")));
    let text = std::fs::read_to_string(b.file("ctr.log")).unwrap();
    assert!(text.len() <= 1000, "log is {} bytes, max 1000", text.len());
    let recs = parse_log(&text);
    assert!(!recs.is_empty());
    let nums: Vec<u32> = recs
        .iter()
        .map(|r| {
            assert!(!r.partial);
            r.content.strip_prefix("line-").unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(*nums.last().unwrap(), 300, "the newest record is kept");
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "records are consecutive: {nums:?}");
    assert!(nums[0] > 1, "old records were truncated away");
}

#[test]
fn runtime_failure_reports_stderr_message() {
    let b = Bundle::new(&["/bin/does-not-exist"], false);
    let cid = unique_id("fail");
    let guard = Cleanup { cid: cid.clone(), monitor_pidfile: Some(b.file("conmon.pid")) };
    let mut r = Launch::create(&cid, &b).spawn();
    assert_eq!(r.wait_parent(), 0);
    let msg = r.read_sync().expect("an error message on the sync pipe");
    assert_eq!(msg["data"], -1, "{msg}");
    let text = msg["message"].as_str().unwrap();
    assert!(
        text.contains("no such file or directory") || text.contains("not found"),
        "runtime stderr is forwarded: {text:?}"
    );
    if let Some(pid) = r.monitor_pid() {
        assert!(wait_pid_gone(pid, STEP));
    }
    assert!(!b.file(&format!("exits/{cid}")).exists(), "no exit file after a failed create");
    // --runtime-arg values reach the runtime before the subcommand (Podman reads oci-log).
    let oci_log = std::fs::read_to_string(b.file("oci-log")).expect("runtime wrote --log file");
    let first: serde_json::Value = serde_json::from_str(oci_log.lines().last().unwrap()).unwrap();
    assert!(first["msg"].as_str().is_some(), "runtime JSON log: {oci_log}");
    drop(guard);
}

#[test]
fn bogus_runtime_message_is_json_escaped() {
    let b = Bundle::new(&["true"], false);
    let script = fake_runtime(&b, "printf 'bogus \"runtime\"\\tfailed\\\\x\\n' >&2\nexit 1\n");
    let cid = unique_id("bogus");
    let exit_cmd = b.file("exit-command.sh");
    let marker = b.file("marker");
    let body = format!("#!/bin/sh\necho \"$@\" > {m}.tmp && mv {m}.tmp {m}\n", m = marker.display());
    std::fs::write(&exit_cmd, body).unwrap();
    std::fs::set_permissions(&exit_cmd, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut l = Launch::create(&cid, &b)
        .arg("--exit-command")
        .arg(exit_cmd.to_str().unwrap())
        .arg("--exit-command-arg")
        .arg("cleanup");
    l.runtime = Some(script);
    let mut r = l.spawn();
    assert_eq!(r.wait_parent(), 0);
    let msg = r.read_sync().expect("error message");
    assert_eq!(msg["data"], -1);
    assert_eq!(msg["message"], "bogus \"runtime\"\tfailed\\x\n");
    // conmon registers its exit command before waiting for the runtime: it runs on failure too.
    assert_eq!(wait_file(&marker, STEP), "cleanup\n");
    assert!(!b.file(&format!("exits/{cid}")).exists());
}

#[test]
fn inherited_fds_stay_open_until_container_exit() {
    let b = Bundle::new(&["sleep", "100"], false);
    let cid = unique_id("fds");
    let (rd, wr) = nix::unistd::pipe().unwrap();
    let mut l = Launch::create(&cid, &b);
    l.extra_fds.push(wr);
    let (r, _g, _pid) = launch_created(l);
    start(&cid);
    let mut pfd = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&rd), nix::poll::PollFlags::POLLIN)];
    let n = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(500u16)).unwrap();
    assert_eq!(n, 0, "inherited pipe must stay open while the container runs");
    let (ok, out) = runtime(&["kill", &cid, "9"]);
    assert!(ok, "{out}");
    wait_exit(&r, &b.file(&format!("exits/{cid}")));
    let n = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(5000u16)).unwrap();
    assert_eq!(n, 1, "inherited pipe is closed after the container exits");
}

#[test]
fn cli_rejects_missing_or_unknown_options() {
    let mon = monitor_bin();
    let rt = runtime_bin();
    let rt = rt.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = format!("k8s-file:{}", dir.path().join("ctr.log").display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--bogus"], "Unknown option --bogus"),
        (vec!["-u", "x", "-r", rt, "-l", "none"], "Container ID not provided"),
        (vec!["-c", "abcdefabcdef1234", "-r", rt, "-l", "none"], "Container UUID not provided"),
        (vec!["-c", "abcdefabcdef1234", "-u", "x", "-l", "none"], "Runtime path not provided"),
        (
            vec!["-c", "abcdefabcdef1234", "-u", "x", "-r", "/nonexistent/rt", "-l", "none"],
            "Runtime path /nonexistent/rt is not valid",
        ),
        (
            vec!["-c", "abcdefabcdef1234", "-u", "x", "-r", rt, "-e", "-l", "none"],
            "Exec process spec path not provided",
        ),
        (vec!["-c", "abcdefabcdef1234", "-u", "x", "-r", rt], "Log driver not provided"),
        (vec!["-c", "abcdefabcdef1234", "-u", "x", "-r", rt, "-l", "bogus:x"], "No such log driver bogus"),
        (
            vec!["-c", "abcdefabcdef1234", "-u", "x", "-r", rt, "-l", &log, "--log-tag", "t"],
            "k8s-file doesn't support --log-tag",
        ),
        (vec!["-c", "short", "-u", "x", "-r", rt, "-l", "journald"], "must be longer than 12 characters"),
    ];
    for (args, want) in cases {
        let out = std::process::Command::new(&mon)
            .args(&args)
            .env_remove("_OCI_SYNCPIPE")
            .env_remove("_OCI_STARTPIPE")
            .output()
            .unwrap();
        // conmon prints GLib's option-parsing error on stdout, everything else on stderr.
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(text.contains(want), "{args:?}: output {text:?} lacks {want:?}");
    }
}

#[test]
fn long_line_becomes_partial_records_and_small_frames() {
    let script = "sleep 0.3; head -c 20000 /dev/zero | tr '\\0' a; echo";
    let b = Bundle::new(&["sh", "-c", script], false);
    let cid = unique_id("longline");
    let (r, _g, _pid) = launch_created(Launch::create(&cid, &b));
    let c = connect_attach(&b.file("attach"));
    start(&cid);
    let frames = read_frames(&c, STEP, |_| false);
    assert_eq!(stream_text(&frames, 2), format!("{}\n", "a".repeat(20000)));
    assert!(frames.iter().all(|(_, d)| d.len() <= 8192), "attach payloads are at most 8192 bytes");
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
    let recs = parse_log(&std::fs::read_to_string(b.file("ctr.log")).unwrap());
    assert!(recs.len() >= 3, "a 20000-byte line needs at least 3 records");
    let (last, rest) = recs.split_last().unwrap();
    assert!(!last.partial && rest.iter().all(|r| r.partial), "P... then F");
    assert!(recs.iter().all(|r| r.content.len() <= 8192));
    let joined: String = recs.iter().map(|r| r.content.as_str()).collect();
    assert_eq!(joined, "a".repeat(20000));
}

#[test]
fn sync_mode_does_not_daemonize() {
    let b = Bundle::new(&["sh", "-c", "exit 3"], false);
    let cid = unique_id("syncmode");
    let _g = Cleanup { cid: cid.clone(), monitor_pidfile: None };
    let mut r = Launch::create(&cid, &b).arg("--sync").spawn();
    let msg = r.read_sync().expect("sync message");
    assert!(msg["data"].as_i64().unwrap() > 0);
    assert!(!b.file("conmon.pid").exists(), "--sync: only a forking parent writes the conmon pidfile");
    start(&cid);
    assert_eq!(r.wait_parent(), 3, "--sync: the monitor exits with the container status");
    assert_eq!(std::fs::read_to_string(b.file(&format!("exits/{cid}"))).unwrap(), "3");
}

fn fake_runtime(b: &Bundle, body: &str) -> std::path::PathBuf {
    let script = b.file("fake-runtime");
    std::fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script
}

#[test]
fn silent_runtime_failure() {
    let b = Bundle::new(&["true"], false);
    let cid = unique_id("silent");
    let mut l = Launch::create(&cid, &b);
    l.runtime = Some(fake_runtime(&b, "exit 1\n"));
    let mut r = l.spawn();
    assert_eq!(r.wait_parent(), 0);
    let msg = r.read_sync();
    if oxmon_only("conmon 2.1.6 writes nothing when the failed runtime printed nothing") {
        let msg = msg.expect("oxmon always reports a failure");
        assert_eq!(msg["data"], -1);
        assert!(msg["message"].as_str().unwrap().contains("exit status 1"), "{msg}");
    } else {
        assert_eq!(msg, None, "conmon 2.1.6 closes the sync pipe without a message");
    }
}

#[test]
fn runtime_without_terminal_setup_fails() {
    let b = Bundle::new(&["true"], true);
    let cid = unique_id("noterm");
    let mut l = Launch::create(&cid, &b).arg("-t");
    l.runtime = Some(fake_runtime(&b, "exit 0\n"));
    let mut r = l.spawn();
    assert_eq!(r.wait_parent(), 0);
    let msg = r.read_sync();
    if oxmon_only("conmon 2.1.6 exits without a sync message when no pty arrived") {
        let msg = msg.expect("failure message");
        assert_eq!(msg["data"], -1);
        assert_eq!(msg["message"], "Runtime did not set up terminal");
    } else {
        assert_eq!(msg, None);
    }
    assert!(!b.file(&format!("exits/{cid}")).exists());
}

#[test]
fn daemon_releases_podman_stdio() {
    use std::os::fd::AsFd;
    let b = Bundle::new(&["sleep", "100"], true);
    let cid = unique_id("stdio");
    let mut l = Launch::create(&cid, &b).arg("-t");
    l.piped_stdio = true;
    let guard = Cleanup { cid: cid.clone(), monitor_pidfile: l.conmon_pidfile.clone() };
    let mut r = l.spawn();
    let child = r.child.as_mut().unwrap();
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    assert_eq!(r.wait_parent(), 0);
    assert!(r.read_sync().unwrap()["data"].as_i64().unwrap() > 0);
    // Podman's cmd.Wait() returns only when every holder of its stdio pipes closed them.
    for (name, fd) in [("stdout", out.as_fd()), ("stderr", err.as_fd())] {
        let mut buf = [0u8; 4096];
        loop {
            let mut pfd = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
            let ready = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(5000u16)).unwrap();
            assert_eq!(ready, 1, "{name} must reach EOF while the container still runs");
            if nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&fd), &mut buf).unwrap() == 0 {
                break;
            }
        }
    }
    let mpid = r.monitor_pid().unwrap();
    assert!(pid_alive(mpid), "monitor still running");
    drop(guard);
    assert!(wait_pid_gone(mpid, STEP), "monitor exits after the container is deleted");
}
