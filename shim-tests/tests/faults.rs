//! Issue 9, faults around the monitor: the engine (this test, playing Podman) gone during create,
//! start and attach; the log file's filesystem full; the monitor itself killed. The OOM case
//! (oom file and 137) is `lifecycle::oom_kill_is_reported`.

use std::path::Path;
use std::time::Duration;

use shim_tests::stub::{self, bind_stub};
use shim_tests::*;

/// The engine dies right after launching the monitor: it never reads the sync pipe and its end of
/// the sync and start pipes close. The container is still created, runs, and its exit is recorded.
#[test]
fn engine_gone_during_create_exit_code_still_recorded() {
    let b = Bundle::new(&["sh", "-c", "sleep 0.3; exit 3"], false);
    let cid = unique_id("engdie-create");
    let l = Launch::create(&cid, &b);
    let _g = Cleanup { cid: cid.clone(), monitor_pidfile: l.conmon_pidfile.clone() };
    let Running { sync, start, child, .. } = l.spawn();
    drop(sync);
    drop(start);
    let mut child = child.expect("monitor parent");
    let _ = child.wait();
    let pid = wait_file(&b.file("pidfile"), STEP);
    assert!(pid.trim().parse::<i32>().is_ok_and(|p| p > 0), "container created: {pid:?}");
    let exit_file = b.file(&format!("exits/{cid}"));
    if !is_oxmon() {
        // conmon 2.1.6: writing the container pid to the closed sync pipe fails (EPIPE) and conmon
        // exits; the container stays created with nobody to record its exit (podman #15557).
        let mpid: i32 = wait_file(&b.file("conmon.pid"), STEP).trim().parse().unwrap();
        assert!(wait_pid_gone(mpid, STEP), "conmon gives up when the engine is gone during create");
        let (_, state) = runtime(&["state", &cid]);
        assert!(state.contains("\"created\""), "the container is left created: {state}");
        assert!(!exit_file.exists());
        eprintln!("SKIP engine_gone_during_create (exit code part): conmon exits on EPIPE from the sync pipe; oxmon carries on");
        return;
    }
    shim_tests::start(&cid);
    assert_eq!(wait_file(&exit_file, STEP), "3");
}

/// The engine dies after the create handshake, before `start` returns (its pipes close).
#[test]
fn engine_gone_during_start_exit_code_still_recorded() {
    let b = Bundle::new(&["sh", "-c", "echo started; sleep 0.3; exit 4"], false);
    let cid = unique_id("engdie-start");
    let (r, _g, pid) = launch_created(Launch::create(&cid, &b));
    let mpid = r.monitor_pid();
    drop(r);
    shim_tests::start(&cid);
    assert!(pid > 0);
    assert_eq!(wait_file(&b.file(&format!("exits/{cid}")), STEP), "4");
    if let Some(m) = mpid {
        assert!(wait_pid_gone(m, STEP), "monitor exits after recording the exit");
    }
    assert!(read_or_empty(&b.file("ctr.log")).contains("started"));
}

/// The engine drops an attach connection abruptly while output flows (as a killed Podman would).
#[test]
fn engine_gone_during_attach_container_keeps_running() {
    let script = "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); sleep 0.005; done; echo last-line; exit 5";
    let b = Bundle::new(&["sh", "-c", script], false);
    let cid = unique_id("engdie-attach");
    let (r, _g, _pid) = launch_created(Launch::create(&cid, &b));
    let sock = connect_attach(&b.file("attach"));
    shim_tests::start(&cid);
    let frames = read_frames(&sock, STEP, |f| stream_text(f, 2).contains("line-5"));
    assert!(stream_text(&frames, 2).contains("line-5"), "attach saw output");
    // An abrupt close with unread data queued.
    drop(sock);
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "5");
    let log = read_or_empty(&b.file("ctr.log"));
    assert!(log.contains("last-line"), "output after the engine left is still logged");
    assert_eq!(log.matches(" line-").count(), 200, "no line lost after the detach");
}

/// The monitor is SIGKILLed while the container runs: the runtime still knows the container's
/// state, and no exit code is invented (no exit file, never "0").
#[test]
fn monitor_killed_runtime_still_knows_state() {
    let b = Bundle::new(&["sleep", "1000"], false);
    let cid = unique_id("mondie");
    let (r, _g, pid) = launch_created(Launch::create(&cid, &b));
    shim_tests::start(&cid);
    let mpid = r.monitor_pid().expect("monitor pid");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(mpid), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(wait_pid_gone(mpid, STEP));
    let (ok, out) = runtime(&["state", &cid]);
    assert!(ok && out.contains("\"running\""), "running after the monitor died: {out}");
    assert!(pid_alive(pid as i32), "the container outlives its monitor");
    let (ok, out) = runtime(&["kill", &cid, "KILL"]);
    assert!(ok, "{out}");
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let (_, out) = runtime(&["state", &cid]);
        if out.contains("\"stopped\"") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never stopped: {out}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (ok, out) = runtime(&["delete", &cid]);
    assert!(ok, "{out}");
    assert!(!b.file(&format!("exits/{cid}")).exists(), "nobody recorded an exit code, so there must be no exit file");
}

/// A small tmpfs for the log; unmounted on drop.
struct SmallFs(std::path::PathBuf);
impl SmallFs {
    fn mount(dir: &Path, size: &str) -> SmallFs {
        std::fs::create_dir_all(dir).unwrap();
        // The mount(8) tool: this crate's nix has no "mount" feature (and its manifest is not ours).
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(ok.success(), "mount tmpfs on {}", dir.display());
        SmallFs(dir.to_path_buf())
    }
}
impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

struct LogFull {
    text: String,
    stderr: String,
}

/// The log's filesystem fills up while the container writes; space returns later. Asserts the
/// monitor keeps running and records the exit code; returns the log and the monitor's stderr.
fn run_with_full_log_fs(tag: &str, extra_args: &[&str]) -> LogFull {
    // 2000 lines (~130 KiB of records) into 64 KiB of free space, then a pause in which the test
    // frees space, then a marker line.
    let script = "i=0; while [ $i -lt 2000 ]; do echo fill-$i-xxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; sleep 1.5; echo after-space; exit 7";
    let b = Bundle::new(&["sh", "-c", script], false);
    let cid = unique_id(tag);
    let fs = SmallFs::mount(&b.file("logfs"), "256k");
    let filler = fs.0.join("filler");
    std::fs::write(&filler, vec![0u8; 192 * 1024]).unwrap();
    let mut l = Launch::create(&cid, &b);
    l.args.splice(0..0, extra_args.iter().map(|a| a.to_string()));
    let log = fs.0.join("ctr.log");
    let last = l.args.len() - 1;
    l.args[last] = format!("k8s-file:{}", log.display());
    let (r, _g, _pid) = launch_created(l);
    shim_tests::start(&cid);
    std::thread::sleep(Duration::from_millis(700));
    let mpid = r.monitor_pid().expect("monitor pid");
    assert!(pid_alive(mpid), "monitor survives a full log filesystem: {}", r.stderr_text());
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "7", "exit recorded despite the full disk");
    LogFull { text: read_or_empty(&log), stderr: r.stderr_text() }
}

/// Lines of a k8s-file log that are not `<rfc3339> <stream> <P|F> <text>`.
fn bad_records(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            let mut f = l.splitn(4, ' ');
            let ts = f.next().unwrap_or("");
            let stream = f.next().unwrap_or("");
            let tag = f.next().unwrap_or("");
            !(shim_tests::records::valid_timestamp(ts)
                && matches!(stream, "stdout" | "stderr")
                && matches!(tag, "P" | "F"))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn log_filesystem_full_monitor_survives_and_records_exit() {
    let r = run_with_full_log_fs("logfull", &[]);
    let fills = r.text.matches(" fill-").count();
    let resumed = r.text.contains("after-space");
    let bad = bad_records(&r.text);
    eprintln!(
        "{}: {fills} of 2000 lines kept, resumed after space returned: {resumed}, {} malformed records {:?}; stderr: {:?}",
        if is_oxmon() { "oxmon" } else { "conmon" },
        bad.len(),
        bad.iter().take(2).collect::<Vec<_>>(),
        r.stderr.trim()
    );
    assert!(fills > 0, "something was logged before the disk filled");
    assert!(fills < 2000, "the disk really was full (the test must exercise ENOSPC)");
    // Both monitors resume once there is space again (conmon 2.1.6 too: it ignores write errors).
    assert!(resumed, "logging resumes once space returns");
}

/// On ENOSPC a monitor must not leave half a record that the next record continues (conmon 2.1.6
/// sometimes does, depending on where the disk fills): oxmon cuts a failed batch off again.
/// Before that cut this test failed on oxmon with lines like `…:09.02026-11-29T… stdout F after-space`.
#[test]
fn log_filesystem_full_never_leaves_a_malformed_record() {
    if !is_oxmon() {
        eprintln!("NOTE: skipping log_filesystem_full_never_leaves_a_malformed_record: conmon 2.1.6 sometimes leaves half a record that the next one continues");
        return;
    }
    let r = run_with_full_log_fs("logfull-strict", &[]);
    let bad = bad_records(&r.text);
    assert!(bad.is_empty(), "malformed records after ENOSPC: {bad:?}");
}

/// The monitor reports what a full disk cost (conmon reports through syslog with `--syslog`; a
/// stub bound at /dev/log receives it): a warning when writes start failing, and, once the log can
/// be written again, the exact number of record bytes lost. The count is checked against the log:
/// the fill records missing from it add up to the bytes reported.
/// Checked: with the report on recovery removed from oxmon's k8s writer (leaving only the one at
/// exit) this test fails: "each episode of failed writes ends with a report" (left 0, right 1).
#[test]
fn log_filesystem_full_drops_are_reported_exactly() {
    let Some(syslog) = bind_stub(stub::SYSLOG_SOCKET) else { return };
    let syslog = syslog.collect_in_background();
    let r = run_with_full_log_fs("logfull-report", &["--syslog"]);
    let logged = syslog.stop();
    // conmon words it "failed to write …" or "failed to flush buffer to log", oxmon names the log.
    let ours: Vec<&String> = logged.iter().filter(|m| m.contains("logfs/ctr.log") || m.contains("failed to")).collect();
    eprintln!("syslog: {} messages, first {:?}, last {:?}", ours.len(), ours.first(), ours.last());
    assert!(!ours.is_empty(), "the failing log writes are reported: {logged:?}");
    if !oxmon_only("conmon 2.1.6 warns about each failed write but never says how much was lost") {
        return;
    }
    assert!(ours.iter().any(|m| m.contains("write failed") && m.contains("No space left on device")), "{ours:?}");
    let reported: Vec<u64> = ours
        .iter()
        .filter_map(|m| m.split(" bytes of records were dropped while").next().filter(|_| m.contains("dropped while")))
        .filter_map(|head| head.rsplit(' ').next()?.parse().ok())
        .collect();
    // A nearly full disk can take a small batch after refusing a large one: each episode of
    // failures starts with a warning and ends with its count.
    let episodes = ours.iter().filter(|m| m.contains("write failed")).count();
    assert_eq!(
        reported.len(),
        episodes,
        "each episode of failed writes ends with a report of its dropped bytes: {ours:?}"
    );
    let records = parse_log(&r.text);
    if records.iter().any(|rec| rec.partial) {
        eprintln!("NOTE: a fill line was split into partial records; the exact count is not checked");
        return;
    }
    let kept: std::collections::HashSet<&str> = records.iter().map(|rec| rec.content.as_str()).collect();
    let sample = r.text.lines().find(|l| l.contains(" fill-")).expect("a fill record");
    let prefix = sample.len() - sample.split(" F ").nth(1).unwrap().len();
    let missing: u64 = (0..2000)
        .map(|i| format!("fill-{i}-xxxxxxxxxxxxxxxxxxxx"))
        .filter(|line| !kept.contains(line.as_str()))
        .map(|line| (prefix + line.len() + 1) as u64)
        .sum();
    assert!(missing > 0, "the disk really was full");
    assert_eq!(
        reported.iter().sum::<u64>(),
        missing,
        "bytes reported as dropped = bytes of the fill records missing from the log"
    );
}
