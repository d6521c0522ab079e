//! Issue 18: Docker (Debian's docker.io 20.10) running containers on oxrun,
//! registered in daemon.json as `"runtimes": {"oxrun": {"path": OXRUN_BIN}}`,
//! with Debian's runc (`--runtime runc`) as the reference: every case runs
//! once per runtime, test names are `<case>::oxrun` and `<case>::runc`.
//!
//! One private dockerd serves the whole file ([`integration::docker::shared`]:
//! own data root, exec root, socket, pid file and containerd; no iptables,
//! no bridge; containers use `--network none`), driven with `/usr/bin/docker`
//! on an image made by `docker import` of the busybox rootfs. Each case
//! removes its containers and checks that nothing of them is left (runtime
//! state dir, cgroups, mounts, shim); a watchdog removes the daemon and
//! everything of it when the test process ends, whatever the outcome
//! (`watchdog_leaves_nothing` checks that on a daemon of its own).
//! Skipped with `SKIP <test>: <reason>` when docker.io is not installed.

use std::time::{Duration, Instant};

use integration::docker::{installed, runtime_cmd, shared, Ctr, Dockerd, IMAGE};
use integration::util::{note, poll_until, skip, unique, Out};

integration::for_oxrun_and_runc!(
    run_output_and_exit_codes,
    detached_and_logs,
    exec_and_exec_tty,
    top_lists_the_processes,
    pause_and_unpause,
    update_read_back_inside,
    stop_with_timeout,
    read_only_and_tmpfs,
    user_and_groups,
    cap_drop_all,
    bind_volume,
    restart_on_failure,
    init_is_docker_init,
    oom_killed,
);

/// The shared dockerd, or `None` (after printing why) when docker.io is missing.
fn setup(test: &str, runtime: &str) -> Option<&'static Dockerd> {
    if let Err(e) = installed() {
        skip(&format!("{test}::{runtime}"), &e);
        return None;
    }
    if runtime == "runc" && integration::util::which("runc").is_none() {
        skip(&format!("{test}::{runtime}"), "runc is not installed");
        return None;
    }
    Some(shared())
}

#[track_caller]
fn assert_code(dk: &Dockerd, runtime: &str, out: &Out, code: i32) {
    assert_eq!(out.code(), code, "[{runtime}] wrong exit code: {out}\n{}", dk.log_tail(20));
}

/// Foreground `docker run`: stdout and stderr come back separately, the exit
/// code is the process's (0, 3), 127 for a command that does not exist in
/// the image and 126 for one that is not executable (dockerd maps the
/// runtime's create error by its words: "no such file or directory",
/// "executable file not found", "permission denied"), 137 for a container
/// killed by SIGKILL.
fn run_output_and_exit_codes(rt: &str) {
    let Some(dk) = setup("run_output_and_exit_codes", rt) else {
        return;
    };
    let c = Ctr::new(dk, rt, "codes");
    let out = c.run(&[], &["sh", "-c", "echo to-stdout; echo to-stderr >&2"]);
    assert_code(dk, rt, &out, 0);
    assert_eq!(out.stdout.trim(), "to-stdout", "[{rt}] {out}");
    assert!(out.stderr.contains("to-stderr") && !out.stdout.contains("to-stderr"), "[{rt}] {out}");
    assert_eq!(c.inspect("{{.HostConfig.Runtime}}"), rt);
    c.remove_and_check();

    let out = c.run(&["--rm"], &["sh", "-c", "exit 3"]);
    assert_code(dk, rt, &out, 3);

    let out = c.run(&["--rm"], &["/no/such/binary"]);
    assert_code(dk, rt, &out, 127);

    let out = c.run(&["--rm"], &["/etc/passwd"]);
    assert_code(dk, rt, &out, 126);

    // PID 1 cannot SIGKILL itself (the kernel ignores it for a namespace's
    // init): `docker kill` does, and `docker wait` reports 137.
    c.run_detached(&[], &["sleep", "1000"]);
    dk.ok(&["kill", "--signal", "KILL", &c.name]);
    let out = dk.ok(&["wait", &c.name]);
    assert_eq!(out.stdout.trim(), "137", "[{rt}] {out}");
    assert_eq!(c.inspect("{{.State.ExitCode}} {{.State.OOMKilled}}"), "137 false");
    c.remove_and_check();
}

/// `run -d` + `docker logs`: the output written by a detached container
/// reaches the json-file log, stdout and stderr apart.
fn detached_and_logs(rt: &str) {
    let Some(dk) = setup("detached_and_logs", rt) else {
        return;
    };
    let c = Ctr::new(dk, rt, "logs");
    c.run_detached(&[], &["sh", "-c", "echo line-one; echo line-two >&2; exec sleep 1000"]);
    c.assert_runtime_knows_it();
    let mut out = None;
    let ok = poll_until(Duration::from_secs(10), || {
        let o = dk.ok(&["logs", &c.name]);
        let done = o.stdout.contains("line-one") && o.stderr.contains("line-two");
        out = Some(o);
        done
    });
    let out = out.expect("logs ran");
    assert!(ok, "[{rt}] logs lack the lines: {out}");
    assert!(!out.stdout.contains("line-two"), "[{rt}] stderr in stdout: {out}");
    assert_eq!(c.inspect("{{.State.Running}}"), "true");
    c.remove_and_check();
}

/// `docker exec`: output and exit code of a process in the running
/// container; `exec -t` gives it a terminal.
fn exec_and_exec_tty(rt: &str) {
    let Some(dk) = setup("exec_and_exec_tty", rt) else {
        return;
    };
    let c = Ctr::new(dk, rt, "exec");
    c.run_detached(&[], &["sleep", "1000"]);
    c.assert_runtime_knows_it();
    let out = c.exec(&[], &["sh", "-c", "echo in-exec; cat /proc/1/cmdline; exit 5"]);
    assert_code(dk, rt, &out, 5);
    assert!(out.stdout.contains("in-exec") && out.stdout.contains("sleep"), "[{rt}] {out}");
    let out = c.exec(&["-t"], &["sh", "-c", "tty; exit 4"]);
    assert_code(dk, rt, &out, 4);
    assert!(out.stdout.contains("/dev/pts/"), "[{rt}] exec -t has no terminal: {out}");
    let out = c.exec(&[], &["sh", "-c", "tty"]);
    assert!(!out.stdout.contains("/dev/pts/"), "[{rt}] exec without -t has a terminal: {out}");
    c.remove_and_check();
}

/// `docker top`: dockerd asks the runtime for the container's pids (`ps`).
fn top_lists_the_processes(rt: &str) {
    let Some(dk) = setup("top_lists_the_processes", rt) else {
        return;
    };
    let c = Ctr::new(dk, rt, "top");
    c.run_detached(&[], &["sh", "-c", "sleep 1001 & sleep 1002 & wait"]);
    let mut out = None;
    let ok = poll_until(Duration::from_secs(10), || {
        let o = dk.ok(&["top", &c.name]);
        let done = o.stdout.contains("sleep 1001") && o.stdout.contains("sleep 1002");
        out = Some(o);
        done
    });
    let out = out.expect("top ran");
    assert!(ok, "[{rt}] top lacks the sleeps: {out}");
    assert_eq!(out.stdout.lines().count(), 4, "[{rt}] header + 3 processes expected: {out}");
    c.remove_and_check();
}

/// `pause`/`unpause`: the freezer cgroup is FROZEN, then THAWED, and the
/// container keeps running.
fn pause_and_unpause(rt: &str) {
    let Some(dk) = setup("pause_and_unpause", rt) else {
        return;
    };
    let c = Ctr::new(dk, rt, "pause");
    c.run_detached(&[], &["sleep", "1000"]);
    let freezer = c.cgroup_file("freezer", "freezer.state");
    dk.ok(&["pause", &c.name]);
    c.wait_status("paused");
    let st = std::fs::read_to_string(&freezer).unwrap_or_default();
    assert_eq!(st.trim(), "FROZEN", "[{rt}] {}", freezer.display());
    dk.ok(&["unpause", &c.name]);
    c.wait_status("running");
    let st = std::fs::read_to_string(&freezer).unwrap_or_default();
    assert_eq!(st.trim(), "THAWED", "[{rt}] {}", freezer.display());
    let out = c.exec(&[], &["echo", "alive"]);
    assert!(out.ok() && out.stdout.contains("alive"), "[{rt}] exec after unpause: {out}");
    c.remove_and_check();
}

/// `docker update --memory --pids-limit --cpus`, read back inside the
/// container through its cgroup mounts (v1 files on this host).
fn update_read_back_inside(rt: &str) {
    let Some(dk) = setup("update_read_back_inside", rt) else {
        return;
    };
    let c = Ctr::new(dk, rt, "update");
    c.run_detached(&[], &["sleep", "1000"]);
    c.assert_runtime_knows_it();
    dk.ok(&["update", "--memory", "64m", "--memory-swap", "64m", "--pids-limit", "99", "--cpus", "0.5", &c.name]);
    let files = "/sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max \
                 /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us";
    let out = c.exec(&[], &["sh", "-c", &format!("cat {files}")]);
    assert!(out.ok(), "[{rt}] {out}");
    let got: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(got, ["67108864", "99", "50000", "100000"], "[{rt}] {out}");
    assert_eq!(
        c.inspect("{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}"),
        "67108864 99 500000000"
    );
    c.remove_and_check();
}

/// `docker stop -t 2`: a PID 1 that ignores SIGTERM (no handler) is killed
/// after the timeout (137, about 2 s); one that traps SIGTERM exits with its
/// own code at once.
fn stop_with_timeout(rt: &str) {
    let Some(dk) = setup("stop_with_timeout", rt) else {
        return;
    };
    let c = Ctr::new(dk, rt, "stop");
    c.run_detached(&[], &["sleep", "1000"]);
    let t0 = Instant::now();
    dk.ok(&["stop", "-t", "2", &c.name]);
    let took = t0.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(12), "[{rt}] stop took {took:?}");
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "137", "[{rt}]");
    c.remove_and_check();

    c.run_detached(&[], &["sh", "-c", "trap 'exit 42' TERM; sleep 1000 & wait"]);
    let t0 = Instant::now();
    dk.ok(&["stop", "-t", "20", &c.name]);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(10), "[{rt}] stop of a trapping process took {took:?}");
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "42", "[{rt}]");
    c.remove_and_check();
}

/// `--read-only` makes the root read-only; `--tmpfs /tmp` is a writable
/// tmpfs with the options given.
fn read_only_and_tmpfs(rt: &str) {
    let Some(dk) = setup("read_only_and_tmpfs", rt) else {
        return;
    };
    let c = Ctr::new(dk, rt, "ro");
    let script = "touch /rootfile 2>/dev/null && echo root-writable; \
                  echo x > /tmp/f && echo tmp-writable; grep ' /tmp ' /proc/mounts";
    let out = c.run(&["--read-only", "--tmpfs", "/tmp:rw,size=1m,mode=1777"], &["sh", "-c", script]);
    assert_code(dk, rt, &out, 0);
    assert!(!out.stdout.contains("root-writable"), "[{rt}] root is writable: {out}");
    assert!(out.stdout.contains("tmp-writable"), "[{rt}] /tmp not writable: {out}");
    let tmp = out.stdout.lines().find(|l| l.contains(" /tmp ")).unwrap_or_default();
    assert!(tmp.starts_with("tmpfs /tmp tmpfs rw") && tmp.contains("size=1024k"), "[{rt}] /tmp mount: {out}");
    c.remove_and_check();
}

/// `--user 1000:1000 --group-add 2000`: the process's ids.
fn user_and_groups(rt: &str) {
    let Some(dk) = setup("user_and_groups", rt) else { return };
    let c = Ctr::new(dk, rt, "user");
    let out = c.run(&["--user", "1000:1000", "--group-add", "2000"], &["sh", "-c", "id -u; id -g; id -G"]);
    assert_code(dk, rt, &out, 0);
    let l: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(l.first().copied(), Some("1000"), "[{rt}] {out}");
    assert_eq!(l.get(1).copied(), Some("1000"), "[{rt}] {out}");
    let groups: Vec<&str> = l.get(2).copied().unwrap_or_default().split_whitespace().collect();
    assert!(groups.contains(&"2000"), "[{rt}] supplementary group missing: {out}");
    c.remove_and_check();
}

/// `--cap-drop ALL`: every capability set is empty, so root cannot chown.
fn cap_drop_all(rt: &str) {
    let Some(dk) = setup("cap_drop_all", rt) else { return };
    let c = Ctr::new(dk, rt, "caps");
    let script = "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status; touch /f; chown 1 /f && echo chown-ok";
    let out = c.run(&["--cap-drop", "ALL"], &["sh", "-c", script]);
    let caps: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("Cap")).collect();
    assert_eq!(caps.len(), 5, "[{rt}] {out}");
    for l in caps {
        assert!(l.ends_with("0000000000000000"), "[{rt}] capability left: {l}\n{out}");
    }
    assert!(!out.stdout.contains("chown-ok"), "[{rt}] chown worked without CAP_CHOWN: {out}");
    c.remove_and_check();
}

/// `-v host:/data` (read-write, then `:ro`): a file written inside shows on
/// the host; the read-only volume refuses writes.
fn bind_volume(rt: &str) {
    let Some(dk) = setup("bind_volume", rt) else { return };
    let c = Ctr::new(dk, rt, "vol");
    let host = dk.scratch().join(unique("vol"));
    std::fs::create_dir_all(&host).expect("mkdir volume");
    std::fs::write(host.join("from-host"), "hello\n").expect("write");
    let v = format!("{}:/data", host.display());
    let out = c.run(&["-v", &v], &["sh", "-c", "cat /data/from-host; echo inside > /data/from-container"]);
    assert_code(dk, rt, &out, 0);
    assert!(out.stdout.contains("hello"), "[{rt}] {out}");
    assert_eq!(std::fs::read_to_string(host.join("from-container")).unwrap_or_default(), "inside\n");
    c.remove_and_check();
    let v = format!("{}:/data:ro", host.display());
    let out = c.run(&["-v", &v], &["sh", "-c", "echo x > /data/nope"]);
    assert_ne!(out.code(), 0, "[{rt}] wrote to a read-only volume: {out}");
    assert!(!host.join("nope").exists(), "[{rt}] file written through :ro");
    c.remove_and_check();
    let _ = std::fs::remove_dir_all(&host);
}

/// `--restart on-failure:2`: dockerd restarts the failing container twice
/// (three runs, counted in a volume), then leaves it exited.
fn restart_on_failure(rt: &str) {
    let Some(dk) = setup("restart_on_failure", rt) else {
        return;
    };
    let c = Ctr::new(dk, rt, "restart");
    let host = dk.scratch().join(unique("restart"));
    std::fs::create_dir_all(&host).expect("mkdir");
    let v = format!("{}:/data", host.display());
    let out = c.run(&["-d", "--restart", "on-failure:2", "-v", &v], &["sh", "-c", "echo run >> /data/runs; exit 1"]);
    assert!(out.ok(), "[{rt}] {out}");
    let mut last = String::new();
    let ok = poll_until(Duration::from_secs(30), || {
        last = c.inspect("{{.RestartCount}} {{.State.Status}}");
        last == "2 exited"
    });
    assert!(ok, "[{rt}] restarts: last {last:?}\n{}", dk.log_tail(30));
    std::thread::sleep(Duration::from_millis(1500));
    let runs = std::fs::read_to_string(host.join("runs")).unwrap_or_default();
    assert_eq!(runs.lines().count(), 3, "[{rt}] runs: {runs:?}");
    assert_eq!(c.inspect("{{.RestartCount}} {{.State.ExitCode}}"), "2 1");
    c.remove_and_check();
    let _ = std::fs::remove_dir_all(&host);
}

/// `--init`: PID 1 is docker.io's docker-init (tini), the command its child;
/// a SIGTERM reaches the command (tini forwards it), so `stop` is quick.
fn init_is_docker_init(rt: &str) {
    let Some(dk) = setup("init_is_docker_init", rt) else {
        return;
    };
    let c = Ctr::new(dk, rt, "init");
    c.run_detached(&["--init"], &["sleep", "1000"]);
    let out = c.exec(&[], &["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/1/status | grep PPid"]);
    assert!(out.stdout.starts_with("/sbin/docker-init -- sleep 1000"), "[{rt}] PID 1: {out}");
    let t0 = Instant::now();
    dk.ok(&["stop", "-t", "20", &c.name]);
    assert!(t0.elapsed() < Duration::from_secs(10), "[{rt}] tini did not forward SIGTERM");
    assert_eq!(c.inspect("{{.State.ExitCode}}"), "143", "[{rt}] sleep killed by SIGTERM through tini");
    c.remove_and_check();
}

/// A process over its `--memory 8m` limit (no swap) is killed by the OOM
/// killer: exit 137 and `.State.OOMKilled` true (from the shim's OOM event).
/// The process first sleeps 0.3 s: for one OOM-killed right after start the
/// OOM event races the exit in containerd 1.6 (containerd/containerd#8180),
/// with runc too (here 1 in 20 runc runs and 1 in about 25 oxrun runs showed
/// `OOMKilled false` without the sleep; none in 25 each with it). On a loaded
/// machine the race still shows (CI saw one `false` for oxrun), so up to three
/// containers run: each must exit 137, and one must be reported OOM-killed; a
/// runtime whose OOM never reaches the shim fails all three.
fn oom_killed(rt: &str) {
    let Some(dk) = setup("oom_killed", rt) else { return };
    let mut seen = Vec::new();
    for attempt in 1..=3 {
        let c = Ctr::new(dk, rt, "oom");
        let out = c.run(
            &["--memory", "8m", "--memory-swap", "8m"],
            &["sh", "-c", "sleep 0.3; exec dd if=/dev/zero of=/dev/null bs=64M count=1"],
        );
        assert_code(dk, rt, &out, 137);
        let mut last = String::new();
        let ok = poll_until(Duration::from_secs(10), || {
            last = c.inspect("{{.State.OOMKilled}}");
            last == "true"
        });
        c.remove_and_check();
        if ok {
            if attempt > 1 {
                note(&format!("oom_killed::{rt}: OOMKilled true on attempt {attempt} (containerd#8180 race before)"));
            }
            return;
        }
        seen.push(last);
    }
    panic!("[{rt}] OOMKilled in three runs: {seen:?}\n{}", dk.log_tail(30));
}

/// Docker's spec mounts `/sys/fs/cgroup` with `ro,nosuid,noexec,nodev`; on a v1 host runc
/// gives each per-hierarchy bind mount all four flags, and so does oxrun.
/// oxrun gave them only `ro` until this test found it (rootfs.rs `mount_cgroups`).
mod cgroup_submounts_nosuid_nodev_noexec {
    #[test]
    fn oxrun() {
        super::cgroup_submounts_nosuid_nodev_noexec("oxrun")
    }
    #[test]
    fn runc() {
        super::cgroup_submounts_nosuid_nodev_noexec("runc")
    }
}

fn cgroup_submounts_nosuid_nodev_noexec(rt: &str) {
    let Some(dk) = setup("cgroup_submounts_nosuid_nodev_noexec", rt) else {
        return;
    };
    let c = Ctr::new(dk, rt, "cgmnt");
    let out = c.run(&[], &["grep", " /sys/fs/cgroup/", "/proc/self/mounts"]);
    assert_code(dk, rt, &out, 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(!lines.is_empty(), "[{rt}] no cgroup mounts: {out}");
    for l in lines {
        let opts: Vec<&str> = l.split_whitespace().nth(3).unwrap_or_default().split(',').collect();
        for want in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(opts.contains(&want), "[{rt}] {want} missing: {l}");
        }
    }
    c.remove_and_check();
}

/// Docker runs every runtime with runc's state root (see
/// `Dockerd::runtime_root`), so oxrun's and runc's state dirs sit side by
/// side: `oxrun list` lists its own containers and skips runc's dirs (exit
/// 0), `runc list` lists its own (warning about oxrun's). Docker never runs
/// `list`; this shows the shared root is harmless to both.
#[test]
fn oxrun_and_runc_share_the_state_root() {
    let Some(dk) = setup("oxrun_and_runc_share_the_state_root", "runc") else {
        return;
    };
    let ox = Ctr::new(dk, "oxrun", "share");
    let rc = Ctr::new(dk, "runc", "share");
    ox.run_detached(&[], &["sleep", "1000"]);
    rc.run_detached(&[], &["sleep", "1000"]);
    let (ox_id, rc_id) = (ox.id(), rc.id());
    assert!(dk.runtime_root().join(&ox_id).is_dir() && dk.runtime_root().join(&rc_id).is_dir());
    let out = runtime_cmd(dk, "oxrun", &["list", "-q"]);
    assert!(out.ok(), "{out}");
    assert!(out.stdout.lines().any(|l| l == ox_id) && !out.stdout.contains(&rc_id), "oxrun list: {out}");
    let out = runtime_cmd(dk, "runc", &["list", "-q"]);
    assert!(out.ok(), "{out}");
    assert!(out.stdout.lines().any(|l| l == rc_id) && !out.stdout.contains(&ox_id), "runc list: {out}");
    ox.remove_and_check();
    rc.remove_and_check();
}

/// `"default-runtime": "oxrun"` in daemon.json (a daemon of its own): `docker
/// info` names it, a container started without `--runtime` runs on oxrun;
/// setting it back to `"runc"` and reloading dockerd (SIGHUP) makes runc the
/// default again, as the README says.
#[test]
fn default_runtime_oxrun() {
    if let Err(e) = installed() {
        skip("default_runtime_oxrun", &e);
        return;
    }
    let mut extra = serde_json::Map::new();
    extra.insert("default-runtime".into(), "oxrun".into());
    let dk = Dockerd::start_with(&integration::runtime_bin(), extra);
    let default = |dk: &Dockerd| dk.docker(&["info", "--format", "{{.DefaultRuntime}}"]).stdout.trim().to_string();
    assert_eq!(default(&dk), "oxrun");
    let runtimes = dk.ok(&["info", "--format", "{{json .Runtimes}}"]).stdout;
    let runtimes: serde_json::Value = serde_json::from_str(&runtimes).expect("runtimes JSON");
    assert_eq!(runtimes["oxrun"]["path"].as_str(), Some(dk.oxrun.to_str().expect("utf-8 path")), "{runtimes}");
    let c = Ctr::new(&dk, "oxrun", "dflt");
    let out = dk.ok(&["run", "-d", "--name", &c.name, "--network", "none", IMAGE, "sleep", "1000"]);
    assert!(out.ok());
    c.wait_status("running");
    assert_eq!(c.inspect("{{.HostConfig.Runtime}}"), "oxrun");
    c.assert_runtime_knows_it();
    c.remove_and_check();
    dk.reload_config(
        |conf| {
            conf.insert("default-runtime".into(), "runc".into());
        },
        |dk| default(dk) == "runc",
    );
    let c = Ctr::new(&dk, "runc", "dflt");
    dk.ok(&["run", "-d", "--name", &c.name, "--network", "none", IMAGE, "sleep", "1000"]);
    c.wait_status("running");
    assert_eq!(c.inspect("{{.HostConfig.Runtime}}"), "runc");
    c.assert_runtime_knows_it();
    c.remove_and_check();
    let status = dk.shutdown();
    let left = dk.host_leftovers();
    assert!(left.is_empty(), "the watchdog ({status}) left:\n  {}", left.join("\n  "));
}

/// The watchdog of a daemon of its own: with a running (and a paused)
/// container, closing the watchdog's stdin (what the end of the test process
/// does) stops dockerd and leaves no process, cgroup, mount, directory,
/// network device or iptables rule of it.
#[test]
fn watchdog_leaves_nothing() {
    if let Err(e) = installed() {
        skip("watchdog_leaves_nothing", &e);
        return;
    }
    let links_before = net_devices();
    let dk = Dockerd::start(&integration::runtime_bin());
    let name = unique("guard");
    let out = dk.ok(&["run", "-d", "--name", &name, "--runtime", "oxrun", "--network", "none", IMAGE, "sleep", "1000"]);
    let id = out.stdout.trim().to_string();
    let paused = unique("guard-p");
    dk.ok(&["run", "-d", "--name", &paused, "--runtime", "runc", "--network", "none", IMAGE, "sleep", "1000"]);
    dk.ok(&["pause", &paused]);
    assert!(!dk.cgroup_dirs(&id).is_empty(), "container cgroup missing");
    assert!(!dk.procs_mentioning(&id).is_empty(), "no shim for the container");
    assert!(dk.dockerd_pid() > 0);
    let dockerd = dk.dockerd_pid();
    let before = dk.host_leftovers();
    assert!(before.iter().any(|l| l.starts_with("cgroup ")), "the check sees no cgroup: {before:?}");
    if !integration::containerd::unmounted_v1_controllers().is_empty() {
        // oxrun places the container in every hierarchy dockerd's namespace mounts.
        assert!(before.iter().any(|l| l.contains("unmounted")), "the check misses the hidden hierarchy: {before:?}");
    }
    let status = dk.shutdown();
    assert!(!integration::util::pid_alive(dockerd), "dockerd {dockerd} still running");
    let left = dk.host_leftovers();
    assert!(left.is_empty(), "the watchdog ({status}) left:\n  {}", left.join("\n  "));
    let links_after = net_devices();
    assert!(
        !links_after.iter().any(|l| l.starts_with("docker") || l.starts_with("veth") && !links_before.contains(l)),
        "network devices: before {links_before:?}, after {links_after:?}"
    );
    let rules = std::process::Command::new("iptables-save")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(!rules.contains("DOCKER"), "iptables has DOCKER rules:\n{rules}");
    note(&format!("watchdog_leaves_nothing: dockerd {dockerd} and everything of it removed ({status})"));
}

fn net_devices() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}
