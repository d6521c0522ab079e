//! Options of conmon ≥ 2.2 that oxmon implements beyond conmon 2.1: log rotation
//! (`--log-rotate`, `--log-max-files`, `--log-global-size-max` over rotated files), journald
//! labels (`--log-label`, `--log-tag`, `--no-container-partial-message`),
//! `--log-allowlist-dir`, the 0640 log mode, strict `ctl` input and `--help`.
//!
//! conmon 2.1.6 lacks most of these: such tests print why and run only against oxmon; where
//! 2.1.6 has a defined (older) behaviour, that behaviour is asserted instead.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use shim_tests::stub::{self, bind_stub};
use shim_tests::*;

/// Runs `args` in a fresh busybox container with extra monitor flags; returns the bundle once
/// the container exited 0.
fn run_logged(args: &[&str], flags: &[&str]) -> Bundle {
    let b = Bundle::new(args, false);
    run_in(&b, flags);
    b
}

fn run_in(b: &Bundle, flags: &[&str]) {
    let cid = unique_id("newer");
    let mut l = Launch::create(&cid, b);
    l.args.extend(flags.iter().map(|f| f.to_string()));
    let (r, _g, _pid) = launch_created(l);
    start(&cid);
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0", "{}", r.stderr_text());
}

fn backup(path: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

/// Joins P…F records into lines (the first line may be the tail of a dropped one).
fn assemble(recs: &[Record]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for r in recs {
        cur.push_str(&r.content);
        if !r.partial {
            lines.push(std::mem::take(&mut cur));
        }
    }
    lines
}

/// Largest record: an 8192-byte chunk + 45 bytes of prefix + the newline of a P record.
const MAX_RECORD: u64 = 8192 + 46;

fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
}

#[test]
fn rotation_10mib_64k_files_3_kept() {
    if !oxmon_only("conmon 2.1.6 has no --log-rotate/--log-max-files (it truncates)") {
        return;
    }
    const N: usize = 68_000;
    const LIMIT: u64 = 64 * 1024;
    // Line i is "i-" plus 0..300 pad bytes; every 7919th is 20000 bytes (several P records).
    // Lengths vary so that records straddle the 64 KiB boundary at many offsets.
    let script = format!(
        "BEGIN {{ pad = \"abcdefghij\"; while (length(pad) < 20000) pad = pad pad; \
         for (i = 1; i <= {N}; i++) {{ len = (i % 7919 == 0) ? 20000 : (i * 37) % 301; \
         printf \"%d-%s\\n\", i, substr(pad, 1, len) }} }}"
    );
    let pad = "abcdefghij".repeat(2001);
    let len_of = |i: usize| if i.is_multiple_of(7919) { 20000 } else { (i * 37) % 301 };
    let expected = |i: usize| format!("{i}-{}", &pad[..len_of(i)]);
    let total: usize = (1..=N).map(|i| expected(i).len() + 1).sum();
    assert!(total >= 10 << 20, "the container writes at least 10 MiB ({total})");
    let b = Bundle::new(&["awk", &script], false);
    std::os::unix::fs::symlink("busybox", b.file("rootfs/bin/awk")).unwrap();
    let limit = LIMIT.to_string();
    run_in(&b, &["--log-size-max", &limit, "--log-rotate", "--log-max-files", "3"]);
    let log = b.file("ctr.log");
    assert!(!backup(&log, 4).exists(), "only 3 rotated files are kept");
    let files = [backup(&log, 3), backup(&log, 2), backup(&log, 1), log.clone()];
    let mut recs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let meta = std::fs::metadata(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let size = meta.len();
        assert!(size <= LIMIT + MAX_RECORD, "{} is {size} bytes", f.display());
        assert!(size <= LIMIT, "oxmon rotates before a record would pass the limit: {}", f.display());
        if i < 3 {
            assert!(size > LIMIT - MAX_RECORD, "{} rotated early at {size} bytes", f.display());
        }
        assert_eq!(meta.permissions().mode() & 0o777, 0o640 & !umask(), "{}", f.display());
        // Every file holds whole records only: it parses on its own.
        let text = std::fs::read_to_string(f).unwrap();
        recs.extend(parse_log(&text));
    }
    assert!(recs.iter().all(|r| r.stream == "stdout"));
    let lines = assemble(&recs);
    // The first line may be the tail of a line whose head was in a dropped file.
    let kept = &lines[1..];
    let first: usize = kept[0].split('-').next().unwrap().parse().expect("line number");
    for (k, line) in kept.iter().enumerate() {
        assert_eq!(*line, expected(first + k), "line {k} after {first}: duplicated, split or missing");
    }
    assert_eq!(first + kept.len() - 1, N, "the newest lines are all present");
    eprintln!("kept lines {first}..={N} in 4 files");
}

#[test]
fn rotation_counts_existing_file_across_restarts() {
    if !oxmon_only("conmon 2.1.6 has no --log-rotate (and restarts count from 0)") {
        return;
    }
    let mut b = Bundle::new(&["true"], false);
    let log = b.file("ctr.log");
    for run in 1..=3 {
        let script = format!("for i in $(seq 1 60); do echo run{run}-line-$i; done");
        b.config["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        b.save();
        run_in(&b, &["--log-size-max", "4096", "--log-rotate", "--log-max-files", "2"]);
        for f in [log.clone(), backup(&log, 1), backup(&log, 2)] {
            let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            assert!(size <= 4096, "run {run}: {} is {size} bytes", f.display());
        }
    }
    let mut recs = Vec::new();
    for f in [backup(&log, 2), backup(&log, 1), log.clone()] {
        recs.extend(parse_log(&std::fs::read_to_string(&f).unwrap_or_default()));
    }
    let lines = assemble(&recs);
    let last: Vec<_> = lines.iter().filter(|l| l.starts_with("run3-")).cloned().collect();
    let want: Vec<_> = (1..=60).map(|i| format!("run3-line-{i}")).collect();
    assert_eq!(last, want, "the last run is complete, in order, without duplicates");
}

#[test]
fn global_size_max_caps_all_rotated_files() {
    if !oxmon_only("conmon 2.1.6 cannot rotate, so there is no total over several files") {
        return;
    }
    let b = run_logged(
        &["seq", "1", "3000"],
        &["--log-size-max", "2000", "--log-rotate", "--log-max-files", "50", "--log-global-size-max", "10000"],
    );
    let log = b.file("ctr.log");
    let mut files: Vec<_> = (1..=50).rev().map(|n| backup(&log, n)).filter(|p| p.exists()).collect();
    files.push(log);
    let mut total = 0;
    let mut recs = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        total += text.len();
        assert!(text.len() <= 2000);
        recs.extend(parse_log(&text));
    }
    assert!(total <= 10000, "all files together hold {total} bytes, cap 10000");
    assert!(total > 10000 - 50, "output stops only when the next record does not fit: {total}");
    let nums: Vec<usize> = assemble(&recs).iter().map(|l| l.parse().unwrap()).collect();
    let want: Vec<usize> = (1..=nums.len()).collect();
    assert_eq!(nums, want, "a gapless prefix of the output is kept");
    assert!(files.len() >= 4, "the cap spans rotated files: {files:?}");
}

#[test]
fn log_file_mode() {
    let b = run_logged(&["echo", "hi"], &[]);
    let mode = std::fs::metadata(b.file("ctr.log")).unwrap().permissions().mode() & 0o777;
    let want =
        if oxmon_only("conmon 2.1.6 creates the log 0600; conmon 2.2 and oxmon use 0640") { 0o640 } else { 0o600 };
    assert_eq!(mode, want & !umask(), "log file mode {mode:o}");
}

/// Runs the monitor with only a command line (no pipes); returns (success, stdout+stderr).
fn run_cli(args: &[String]) -> (bool, String) {
    let out = Command::new(monitor_bin())
        .args(args)
        .env_remove("_OCI_SYNCPIPE")
        .env_remove("_OCI_STARTPIPE")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn base_args(cid: &str, log: &Path) -> Vec<String> {
    let rt = runtime_bin().display().to_string();
    ["-c", cid, "-u", cid, "-r", &rt, "-l", &format!("k8s-file:{}", log.display())]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn allowlist_refuses_paths_outside() {
    if !oxmon_only("conmon 2.1.6 has no --log-allowlist-dir") {
        return;
    }
    let b = Bundle::new(&["echo", "inside"], false);
    let allowed = b.file("logs");
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(allowed.join("sub")).unwrap();
    std::os::unix::fs::symlink(outside.path(), allowed.join("evil-dir")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("target.log"), allowed.join("evil-file")).unwrap();
    let allow = ["--log-allowlist-dir".to_string(), allowed.display().to_string()];
    let cases = [
        (allowed.join("../escaped.log"), b.file("escaped.log"), "outside every --log-allowlist-dir"),
        (allowed.join("sub/../../escaped.log"), b.file("escaped.log"), "outside every --log-allowlist-dir"),
        (allowed.join("evil-dir/ctr.log"), outside.path().join("ctr.log"), "outside every --log-allowlist-dir"),
        (allowed.join("evil-file"), outside.path().join("target.log"), "Cannot resolve log path"),
        (allowed.clone(), allowed.clone(), "outside every --log-allowlist-dir"),
    ];
    for (log, created, want) in &cases {
        let mut args = base_args("allowlistcid-0123456789", log);
        args.extend(allow.iter().cloned());
        let (ok, text) = run_cli(&args);
        assert!(!ok, "{} must be refused", log.display());
        assert!(text.contains(want), "{}: {text:?} lacks {want:?}", log.display());
        assert!(created == &allowed || !created.exists(), "nothing was created at {}", created.display());
    }
    // As Podman runs it: the refusal also arrives on the sync pipe, and nothing starts.
    let cid = unique_id("allowlist");
    let mut l = Launch::create(&cid, &b);
    l.args.retain(|a| !a.starts_with("k8s-file:"));
    l.args.push(format!("k8s-file:{}", allowed.join("evil-dir/ctr.log").display()));
    l.args.extend(allow.iter().cloned());
    let _g = Cleanup { cid: cid.clone(), monitor_pidfile: None };
    let mut r = l.spawn();
    assert_eq!(r.wait_parent(), 1, "refused before daemonizing");
    let msg = r.read_sync().expect("an error message on the sync pipe");
    assert_eq!(msg["data"], -1, "{msg}");
    assert!(msg["message"].as_str().unwrap().contains("--log-allowlist-dir"), "{msg}");
    assert!(!runtime(&["state", &cid]).0, "no container was created");
    assert!(!b.file("conmon.pid").exists());
    // Allowed: the allowlist entry is itself a symlink, the log path has `..` inside it.
    std::os::unix::fs::symlink(&allowed, b.file("alias")).unwrap();
    let alias = b.file("alias").display().to_string();
    let good = format!("k8s-file:{}", allowed.join("sub/../ctr.log").display());
    let cid = unique_id("allowlist-ok");
    let mut l = Launch::create(&cid, &b);
    l.args.retain(|a| !a.starts_with("k8s-file:"));
    l.args.extend([good, "--log-allowlist-dir".into(), alias]);
    let (r, _g2, _pid) = launch_created(l);
    start(&cid);
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
    let recs = parse_log(&std::fs::read_to_string(allowed.join("ctr.log")).unwrap());
    assert_eq!(recs.iter().map(|r| r.content.as_str()).collect::<Vec<_>>(), vec!["inside"]);
}

#[test]
fn invalid_log_options_are_refused() {
    if !oxmon_only("conmon 2.1.6 has no --log-label/--log-rotate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ctr.log");
    // conmon HEAD's words (ctr_logging.c, cli.c).
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["-l", "journald", "--log-label", "lower=x"],
            "Container label names must contain only uppercase letters, numbers and underscore (in 'lower=x')",
        ),
        (vec!["-l", "journald", "--log-label", "NOVALUE"], "none or more than one '=' present in 'NOVALUE'"),
        (vec!["-l", "journald", "--log-label", "A=b=c"], "none or more than one '=' present in 'A=b=c'"),
        (vec!["-l", "journald", "--log-label", "=x"], "no LABEL present in '=x'"),
        (vec!["--log-label", "A=b"], "k8s-file doesn't support --log-label"),
        (vec!["--log-rotate", "--log-max-files", "0"], "log-max-files must be at least 1 when log-rotate is enabled"),
        (vec!["--log-max-files", "-1"], "log-max-files must be non-negative"),
    ];
    for (extra, want) in cases {
        let mut args = base_args("optionscid-0123456789", &log);
        args.extend(extra.iter().map(|s| s.to_string()));
        let (ok, text) = run_cli(&args);
        assert!(!ok && text.contains(want), "{extra:?}: {text:?} lacks {want:?}");
    }
    assert!(!log.exists(), "refused before the log is opened");
}

const BASE_FLAGS: &[&str] = &[
    "--api-version",
    "-b, --bundle",
    "-c, --cid",
    "-P, --conmon-pidfile",
    "-p, --container-pidfile",
    "-u, --cuuid",
    "-e, --exec",
    "--exec-attach",
    "--exec-process-spec",
    "--exit-command",
    "--exit-command-arg",
    "--exit-delay",
    "--exit-dir",
    "--leave-stdin-open",
    "--log-level",
    "-l, --log-path",
    "--log-size-max",
    "--log-global-size-max",
    "--log-tag",
    "-n, --name",
    "--no-new-keyring",
    "--no-pivot",
    "--no-sync-log",
    "-0, --persist-dir",
    "--replace-listen-pid",
    "--restore",
    "-r, --runtime",
    "--runtime-arg",
    "--runtime-opt",
    "--sdnotify-socket",
    "--socket-dir-path",
    "-i, --stdin",
    "--sync",
    "--syslog",
    "-s, --systemd-cgroup",
    "-t, --terminal",
    "-T, --timeout",
    "--version",
    "--full-attach",
    "--seccomp-notify-socket",
    "--seccomp-notify-plugins",
    "-h, --help",
];
const NEW_FLAGS: &[&str] = &[
    "--log-label",
    "--log-rotate",
    "--log-max-files",
    "--log-allowlist-dir",
    "--no-container-partial-message",
    "--pidfile",
    "--restore-arg",
];

#[test]
fn help_lists_every_flag_on_one_line() {
    let out = Command::new(monitor_bin()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Usage:\n  "), "{text}");
    let mut flags = BASE_FLAGS.to_vec();
    if oxmon_only("conmon 2.1.6 lacks the 2.2 log flags and hides its deprecated aliases") {
        flags.extend(NEW_FLAGS);
    }
    for flag in flags {
        let lines: Vec<_> =
            text.lines().filter(|l| l.strip_prefix("  ").is_some_and(|r| r.starts_with(&format!("{flag} ")))).collect();
        assert_eq!(lines.len(), 1, "{flag} must be listed once: {lines:?}");
        let desc = lines[0][2 + flag.len()..].trim_start();
        assert!(desc.len() > 3, "{flag} has a description: {:?}", lines[0]);
    }
}

#[test]
fn journald_labels_tag_and_no_partial_flag() {
    if !oxmon_only("conmon 2.1.6 has no --log-label/--no-container-partial-message") {
        return;
    }
    let Some(stub) = bind_stub(stub::JOURNAL_SOCKET) else { return };
    let b = Bundle::new(&["sh", "-c", "echo one; echo two >&2; printf partial"], false);
    let cid = unique_id("labels");
    let mut l = Launch::create(&cid, &b);
    l.args.retain(|a| !a.starts_with("k8s-file:") && a != "-l");
    l.args.extend(
        ["-l", "journald", "--log-tag", "tg", "--log-label", "APP=web", "--log-label", "TEAM_2=a b c"]
            .map(String::from),
    );
    l.args.push("--no-container-partial-message".into());
    let (r, _g, _pid) = launch_created(l);
    start(&cid);
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
    let entries: Vec<_> = stub
        .drain()
        .iter()
        .map(|d| stub::decode_journal(d))
        .filter(|e| e.get("CONTAINER_ID_FULL").map(|v| v.as_slice()) == Some(cid.as_bytes()))
        .collect();
    let msgs: Vec<_> = entries.iter().map(|e| String::from_utf8_lossy(&e["MESSAGE"]).into_owned()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    for want in ["one\n", "two\n", "partial"] {
        assert!(msgs.iter().any(|m| m == want), "{want:?} in {msgs:?}");
    }
    for e in &entries {
        assert_eq!(e["APP"], b"web", "label as a journal field named exactly as given");
        assert_eq!(e["TEAM_2"], b"a b c", "the value is everything after the '='");
        assert_eq!(e["CONTAINER_TAG"], b"tg");
        assert_eq!(e["SYSLOG_IDENTIFIER"], b"tg");
        assert_eq!(e["CONTAINER_NAME"], format!("name-{cid}").into_bytes());
        assert!(!e.contains_key("CONTAINER_PARTIAL_MESSAGE"), "--no-container-partial-message: {e:?}");
    }
}

#[test]
fn ctl_refuses_bad_terminal_sizes() {
    let script = "read a; stty size; read b; stty size; read c; stty size";
    // conmon 2.1.6 keeps the old limits; the checks below follow conmon HEAD's ctrl.c.
    let b = Bundle::new(&["sh", "-c", script], true);
    let cid = unique_id("ctlsize");
    let ox = oxmon_only("conmon 2.1.6 casts any ctl size to unsigned short (65561 rows become 25)");
    let stub = if ox { bind_stub(stub::SYSLOG_SOCKET) } else { None };
    let mut l = Launch::create(&cid, &b).arg("-t");
    if stub.is_some() {
        l = l.arg("--syslog");
    }
    let (r, _g, _pid) = launch_created(l);
    let c = connect_attach(&b.file("attach"));
    start(&cid);
    let step = |ctl: &str, input: &[u8], want: &str| {
        write_ctl(b.path(), ctl);
        std::thread::sleep(Duration::from_millis(300));
        send_input(&c, input);
        let f = read_frames(&c, STEP, |f| stream_text(f, 2).contains(want));
        assert!(stream_text(&f, 2).contains(want), "after {ctl:?}: {:?}", stream_text(&f, 2));
    };
    step("1 40 100\n", b"a\r", "40 100");
    // conmon HEAD (ctrl.c): sscanf("%d %d %d"), both sizes within 0..=1000, types 1 and 2 only.
    let bad = ["1 -5 80", "1 1001 80", "1 65561 80", "1 24", "9 1 1", "hello"];
    if ox {
        // One write with many lines: all refused, the size stays.
        let all: String = bad.iter().map(|l| format!("{l}\n")).collect();
        step(&all, b"b\r", "40 100");
    } else {
        step("1 65561 80\n", b"b\r", "25 80");
    }
    if ox {
        // As conmon HEAD's sscanf: what follows the third number is ignored.
        step("1 24 70 7\n", b"c\r", "24 70");
    } else {
        step("1 33 111\n", b"c\r", "33 111");
    }
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
    let Some(stub) = stub else { return };
    let logged = stub.drain_text();
    let count = |words: &str| logged.iter().filter(|m| m.starts_with("<12>") && m.contains(words)).count();
    assert_eq!(count("Invalid window size: "), 3, "-5, 1001 and 65561 rows are out of range: {logged:?}");
    assert!(
        logged.iter().any(|m| m.contains("Invalid window size: 65561x80 (must be between 0 and 1000)")),
        "{logged:?}"
    );
    assert_eq!(count("Invalid control message format"), 2, "'1 24' and 'hello': {logged:?}");
    assert_eq!(count("Invalid control message type: 9"), 1, "{logged:?}");
}
