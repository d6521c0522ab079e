//! Exit command, persist dir, timeout, signal forwarding, OOM, passthrough.

use std::time::{Duration, Instant};

use shim_tests::*;

fn make_script(path: &std::path::Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn exit_command_runs_after_exit_file_and_delay() {
    let b = Bundle::new(&["sh", "-c", "exit 7"], false);
    let cid = unique_id("exitcmd");
    let exit_file = b.file(&format!("exits/{cid}"));
    let marker = b.file("marker");
    let script = b.file("exit-command.sh");
    make_script(
        &script,
        &format!(
            "sleep 0.3\n{{ echo \"args:$*\"; echo \"exitfile:$(cat {})\"; }} > {m}.tmp && mv {m}.tmp {m}\n",
            exit_file.display(),
            m = marker.display()
        ),
    );
    let l = Launch::create(&cid, &b)
        .arg("--exit-command")
        .arg(script.to_str().unwrap())
        .arg("--exit-command-arg")
        .arg("container")
        .arg("--exit-command-arg")
        .arg("cleanup two")
        .arg("--exit-delay")
        .arg("1");
    let (r, _g, _pid) = launch_created(l);
    start(&cid);
    let code = wait_file(&exit_file, STEP);
    let seen = Instant::now();
    assert_eq!(code, "7");
    assert!(!marker.exists(), "exit command must wait --exit-delay after the exit file");
    let mpid = r.monitor_pid().unwrap();
    assert!(wait_pid_gone(mpid, STEP), "monitor exits after its exit command");
    assert!(seen.elapsed() >= Duration::from_millis(900), "exit delay honoured");
    let text = std::fs::read_to_string(&marker).expect("monitor waited for the exit command");
    assert_eq!(text, "args:container cleanup two\nexitfile:7\n");
}

#[test]
fn persist_dir_gets_exit_file() {
    let b = Bundle::new(&["sh", "-c", "exit 4"], false);
    let cid = unique_id("persist");
    let persist = b.file("persist");
    std::fs::create_dir_all(&persist).unwrap();
    let l = Launch::create(&cid, &b).arg("--persist-dir").arg(persist.to_str().unwrap());
    let (r, _g, _pid) = launch_created(l);
    start(&cid);
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "4");
    assert_eq!(std::fs::read_to_string(persist.join("exit")).unwrap(), "4");
    assert!(!persist.join("oom").exists(), "no oom file without an OOM kill");
}

#[test]
fn create_timeout_kills_container() {
    let b = Bundle::new(&["sleep", "100"], false);
    let cid = unique_id("timeout");
    let l = Launch::create(&cid, &b).arg("--timeout=1");
    let (r, _g, pid) = launch_created(l);
    start(&cid);
    let t0 = Instant::now();
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "-1", "timed-out status");
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(wait_pid_gone(pid as i32, STEP), "container process was killed");
}

#[test]
fn sigterm_is_forwarded_to_the_container() {
    let script = "trap 'exit 42' TERM; while true; do sleep 0.1; done";
    let b = Bundle::new(&["sh", "-c", script], false);
    let cid = unique_id("sigterm");
    let (r, _g, _pid) = launch_created(Launch::create(&cid, &b));
    start(&cid);
    std::thread::sleep(Duration::from_millis(300));
    let mpid = r.monitor_pid().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(mpid), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "42");
}

/// Removes, at the end of a test, the cgroup parent `name` from every hierarchy where it did not
/// exist before (the runtime makes missing parents; the host is left as found).
struct CgroupParentGuard(Vec<std::path::PathBuf>);

impl CgroupParentGuard {
    fn new(name: &str) -> Self {
        // v1: one hierarchy per directory of /sys/fs/cgroup; v2: /sys/fs/cgroup is the hierarchy.
        let roots = std::fs::read_dir("/sys/fs/cgroup")
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect::<Vec<_>>())
            .unwrap_or_default();
        let made = roots
            .into_iter()
            .chain(std::iter::once(std::path::PathBuf::from("/sys/fs/cgroup")))
            .map(|root| root.join(name))
            .filter(|p| !p.exists())
            .collect();
        CgroupParentGuard(made)
    }
}

impl Drop for CgroupParentGuard {
    fn drop(&mut self) {
        // The container's own cgroup below may still be going away (an OOM-killed process
        // exiting): retry for a while.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        self.0.retain(|dir| std::fs::remove_dir(dir).is_err() && dir.exists());
        while !self.0.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            self.0.retain(|dir| std::fs::remove_dir(dir).is_err() && dir.exists());
        }
        for dir in &self.0 {
            eprintln!("NOTE: could not remove the cgroup parent {} this test caused", dir.display());
        }
    }
}

#[test]
fn oom_kill_is_reported() {
    let _parent = CgroupParentGuard::new("shimtests");
    let mut b = Bundle::new(&["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"], false);
    let cid = unique_id("oom");
    b.config["linux"]["resources"] = serde_json::json!({"memory": {"limit": 33554432}});
    b.config["linux"]["cgroupsPath"] = serde_json::json!(format!("/shimtests/{cid}"));
    b.save();
    let persist = b.file("persist");
    let cwd = b.file("cwd");
    std::fs::create_dir_all(&persist).unwrap();
    std::fs::create_dir_all(&cwd).unwrap();
    let mut l = Launch::create(&cid, &b).arg("--persist-dir").arg(persist.to_str().unwrap());
    l.cwd = Some(cwd.clone());
    let (r, _g, _pid) = launch_created(l);
    start(&cid);
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "137", "OOM-killed status");
    let reason = "conmon 2.1.6 only sees the cgroup v1 eventfd while its loop runs, so it can miss an \
                  OOM that ends the container, and it writes ./oom (cwd) instead of <bundle>/oom";
    if oxmon_only(reason) {
        for dir in [&persist, &b.path().to_path_buf()] {
            let meta = std::fs::metadata(dir.join("oom")).expect("oom file in persist dir and bundle");
            assert_eq!(meta.len(), 0, "oom file is empty");
        }
    } else {
        assert!(!b.file("oom").exists(), "conmon 2.1.6 never writes <bundle>/oom");
        for f in [persist.join("oom"), cwd.join("oom")] {
            if let Ok(meta) = std::fs::metadata(&f) {
                assert_eq!(meta.len(), 0, "{} is empty", f.display());
            }
        }
        if !persist.join("oom").exists() {
            eprintln!("NOTE: conmon missed this OOM event (the known eventfd/exit race)");
        }
    }
}

#[test]
fn passthrough_hands_stdio_to_the_container() {
    let b = Bundle::new(&["sh", "-c", "echo passthrough-out; echo passthrough-err >&2"], false);
    let cid = unique_id("pass");
    let mut l = Launch::create(&cid, &b);
    l.args = vec!["--full-attach".into(), "-l".into(), "passthrough".into()];
    let (r, _g, _pid) = launch_created(l);
    assert!(!b.file("attach").exists(), "no attach socket in passthrough mode");
    assert!(!b.file("ctl").exists(), "no ctl fifo in passthrough mode");
    start(&cid);
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
    let out = r.stderr_text();
    assert!(out.contains("passthrough-out") && out.contains("passthrough-err"), "{out:?}");
}

#[test]
fn sdnotify_proxy_forwards_ready_and_watchdog_only() {
    use nix::sys::socket::{bind, sendto, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let b = Bundle::new(&["sleep", "100"], false);
    let cid = unique_id("notify");
    let host_path = b.file("host-notify.sock");
    let host = socket(AddressFamily::Unix, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None).unwrap();
    bind(host.as_raw_fd(), &UnixAddr::new(&host_path).unwrap()).unwrap();
    // conmon 2.1.6 needs <bundle>/notify to exist already.
    std::fs::create_dir_all(b.file("notify")).unwrap();
    let l = Launch::create(&cid, &b).arg(&format!("--sdnotify-socket={}", host_path.display()));
    let (r, _g, _pid) = launch_created(l);
    let proxy = b.file("notify/notify.sock");
    let meta = std::fs::metadata(&proxy).expect("notify socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o777);
    start(&cid);
    let c = socket(AddressFamily::Unix, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None).unwrap();
    let to = UnixAddr::new(&proxy).unwrap();
    for msg in [&b"STATUS=x\nREADY=1\nMAINPID=5\n"[..], b"STATUS=only", b"WATCHDOG=1"] {
        sendto(c.as_raw_fd(), msg, &to, MsgFlags::empty()).unwrap();
    }
    let mut got = Vec::new();
    while let Ok(Some(p)) = recv_packet(&host, Duration::from_millis(700)) {
        got.push(String::from_utf8(p).unwrap());
    }
    assert_eq!(got, vec!["READY=1", "WATCHDOG=1"]);
    let (ok, out) = runtime(&["kill", &cid, "9"]);
    assert!(ok, "{out}");
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "137");
}
