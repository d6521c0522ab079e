//! Point 3: run (--rm, -d, --name), exit codes, --init, stop/kill/restart/
//! wait/rm -f, pause/unpause, top, inspect states, healthchecks.

use integration::podman::{podman_for, IMAGE};
use integration::util::pid_alive;
use std::time::{Duration, Instant};

pub fn run_rm_name_and_default_ulimits(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    let out = pm.ok(&[
        "run",
        "--rm",
        "--name",
        "oxrm",
        IMAGE,
        "sh",
        "-c",
        "echo hello from $(hostname); cat /proc/self/limits",
    ]);
    assert!(out.stdout.contains("hello from "), "[{pair}] {out}");
    // default_ulimits from containers.conf reach the process.
    let lim = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert!(lim("Max open files").contains("1024 20000"), "[{pair}] nofile: {out}");
    assert!(lim("Max processes").contains("4096 4096"), "[{pair}] nproc: {out}");
    let all = pm.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!all.stdout.contains("oxrm"), "[{pair}] --rm left the container: {all}");
    // The name is free again.
    pm.ok(&["run", "--rm", "--name", "oxrm", "--network", "none", IMAGE, "true"]);
}

pub fn exit_codes_and_signals(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    for code in [0, 1, 3, 42, 255] {
        let out = pm.run(&["run", "--rm", "--network", "none", IMAGE, "sh", "-c", &format!("exit {code}")]);
        assert_eq!(out.code(), code, "[{pair}] {out}");
    }
    // Death by signal: SIGKILL from outside -> 137 everywhere (run, wait, inspect).
    let id = pm.run_d(&["--network", "none", IMAGE, "sleep", "1000"]);
    pm.ok(&["kill", "-s", "KILL", &id]);
    let w = pm.ok(&["wait", &id]);
    assert_eq!(w.stdout.trim(), "137", "[{pair}] wait: {w}");
    assert_eq!(pm.inspect(&id, "{{.State.ExitCode}}"), "137");
    // A process killed by a signal inside the container (not PID 1).
    let out = pm.run(&["run", "--rm", "--network", "none", IMAGE, "sh", "-c", "sh -c 'kill -TERM $$'; exit $?"]);
    assert_eq!(out.code(), 143, "[{pair}] {out}");
}

pub fn init_catatonit(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    let out = pm.ok(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo me=$$",
    ]);
    assert!(
        out.stdout.contains("podman-init") || out.stdout.contains("catatonit"),
        "[{pair}] PID 1 is not the init: {out}"
    );
    assert!(!out.stdout.contains("me=1\n"), "[{pair}] the command must not be PID 1: {out}");
    // With an init as PID 1, the command can die by a signal it sends itself.
    let out = pm.run(&["run", "--rm", "--init", "--network", "none", IMAGE, "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.code(), 143, "[{pair}] {out}");
    // And `podman stop` reaches a command that would ignore SIGTERM as PID 1.
    let id = pm.run_d(&["--init", "--network", "none", IMAGE, "sleep", "1000"]);
    let t = Instant::now();
    pm.ok(&["stop", "-t", "20", &id]);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "[{pair}] stop waited for the timeout: the init did not forward SIGTERM"
    );
    assert_eq!(pm.inspect(&id, "{{.State.ExitCode}}"), "143");
}

pub fn detached_stop_kill_restart_wait_rm(pair: &str) {
    let pm = podman_for(pair);
    let id = pm.run_d(&["--name", "oxd", "--network", "none", IMAGE, "sleep", "1000"]);
    let ps = pm.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.stdout.contains("oxd Up"), "[{pair}] {ps}");
    assert_eq!(pm.status("oxd"), "running");
    let pid = pm.pid("oxd");
    assert!(pid_alive(pid), "[{pair}] pid {pid} not alive");
    // stop: sleep as PID 1 ignores SIGTERM, so stop escalates to SIGKILL after -t.
    let t = Instant::now();
    pm.ok(&["stop", "-t", "1", "oxd"]);
    assert!(t.elapsed() < Duration::from_secs(15), "[{pair}] stop took {:?}", t.elapsed());
    assert_eq!(pm.status("oxd"), "exited");
    assert_eq!(pm.inspect("oxd", "{{.State.ExitCode}}"), "137");
    assert!(!pid_alive(pid), "[{pair}] process survived stop");
    // start again, then restart: a new process each time.
    pm.ok(&["start", "oxd"]);
    assert_eq!(pm.status("oxd"), "running");
    pm.assert_pair("oxd");
    let pid2 = pm.pid("oxd");
    pm.ok(&["restart", "-t", "0", "oxd"]);
    assert_eq!(pm.status("oxd"), "running");
    let pid3 = pm.pid("oxd");
    assert!(pid2 != pid3 && !pid_alive(pid2) && pid_alive(pid3), "[{pair}] restart: {pid2} -> {pid3}");
    pm.assert_pair("oxd");
    // kill with a named signal and wait for the exit code.
    let waiter = {
        let cmd = pm.cmd(&["wait", "oxd"]);
        std::thread::spawn(move || {
            let mut cmd = cmd;
            cmd.output().expect("podman wait")
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    pm.ok(&["kill", "--signal", "SIGKILL", "oxd"]);
    let w = waiter.join().expect("wait thread");
    assert_eq!(String::from_utf8_lossy(&w.stdout).trim(), "137", "[{pair}] podman wait: {w:?}");
    // rm -f on a running container.
    pm.ok(&["start", "oxd"]);
    let pid4 = pm.pid("oxd");
    pm.ok(&["rm", "-f", "-t", "0", "oxd"]);
    assert!(!pid_alive(pid4), "[{pair}] rm -f left the process");
    let all = pm.ok(&["ps", "-a", "-q"]);
    assert!(all.stdout.trim().is_empty(), "[{pair}] {all}");
    let _ = id;
}

pub fn stop_with_handler_exits_with_its_code(pair: &str) {
    let pm = podman_for(pair);
    let id = pm.run_d(&[
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    integration::util::wait_for(Duration::from_secs(10), "ready", || {
        pm.run(&["logs", &id]).stdout.contains("ready").then_some(())
    });
    let t = Instant::now();
    pm.ok(&["stop", "-t", "30", &id]);
    assert!(t.elapsed() < Duration::from_secs(10), "[{pair}] stop waited {:?}", t.elapsed());
    assert_eq!(pm.inspect(&id, "{{.State.ExitCode}}"), "7");
    assert!(pm.ok(&["logs", &id]).stdout.contains("got TERM"));
}

fn freezer_state(pid: i32) -> String {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let path = cg
        .lines()
        .find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, ctrl, p) = (it.next()?, it.next()?, it.next()?);
            ctrl.split(',').any(|c| c == "freezer").then(|| p.to_string())
        })
        .unwrap_or_default();
    std::fs::read_to_string(format!("/sys/fs/cgroup/freezer{path}/freezer.state"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

pub fn pause_unpause(pair: &str) {
    let pm = podman_for(pair);
    let id =
        pm.run_d(&["--network", "none", IMAGE, "sh", "-c", "while :; do date +%s%N > /tmp/tick; sleep 0.05; done"]);
    let pid = pm.pid(&id);
    pm.ok(&["pause", &id]);
    assert_eq!(pm.status(&id), "paused");
    assert_eq!(freezer_state(pid), "FROZEN", "[{pair}] freezer cgroup");
    let tick = |pm: &integration::podman::Podman| {
        let mnt = pm.ok(&["mount", &id]).stdout.trim().to_string();
        std::fs::read_to_string(format!("{mnt}/tmp/tick")).unwrap_or_default()
    };
    let a = tick(&pm);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(a, tick(&pm), "[{pair}] the paused container kept running");
    pm.ok(&["unpause", &id]);
    assert_eq!(pm.status(&id), "running");
    assert_eq!(freezer_state(pid), "THAWED");
    let b = tick(&pm);
    assert!(
        integration::util::poll_until(Duration::from_secs(3), || tick(&pm) != b),
        "[{pair}] the container did not resume"
    );
    pm.assert_pair(&id);
    pm.ok(&["unmount", &id]);
}

pub fn top(pair: &str) {
    let pm = podman_for(pair);
    let id = pm.run_d(&["--network", "none", IMAGE, "sh", "-c", "sleep 1001 & sleep 1002"]);
    let out = pm.ok(&["top", &id]);
    assert!(out.stdout.contains("sleep 1001") && out.stdout.contains("sleep 1002"), "[{pair}] {out}");
    let out = pm.ok(&["top", &id, "pid", "args"]);
    assert!(out.stdout.lines().any(|l| l.trim_start().starts_with("1 ")), "[{pair}] PID 1 missing: {out}");
}

pub fn inspect_states(pair: &str) {
    let pm = podman_for(pair);
    pm.ok(&["create", "--name", "oxst", "--network", "none", IMAGE, "sleep", "1000"]);
    assert_eq!(pm.status("oxst"), "created");
    // init: the runtime's create runs (oxrun state "created"), the process waits for start.
    pm.ok(&["init", "oxst"]);
    assert_eq!(pm.status("oxst"), "initialized");
    let pid = pm.pid("oxst");
    assert!(pid > 0 && pid_alive(pid), "[{pair}] no process after init");
    pm.assert_pair("oxst");
    pm.ok(&["start", "oxst"]);
    assert_eq!(pm.status("oxst"), "running");
    assert_eq!(pm.pid("oxst"), pid, "[{pair}] start must run the created process");
    assert_eq!(pm.inspect("oxst", "{{.State.Running}}"), "true");
    pm.ok(&["pause", "oxst"]);
    assert_eq!(pm.status("oxst"), "paused");
    assert_eq!(pm.inspect("oxst", "{{.State.Paused}}"), "true");
    pm.ok(&["unpause", "oxst"]);
    pm.ok(&["kill", "oxst"]);
    pm.ok(&["wait", "oxst"]);
    assert_eq!(pm.status("oxst"), "exited");
    assert_eq!(pm.inspect("oxst", "{{.State.Running}}"), "false");
    assert_eq!(pm.inspect("oxst", "{{.State.ExitCode}}"), "137");
    pm.ok(&["rm", "oxst"]);
}

pub fn healthcheck(pair: &str) {
    let pm = podman_for(pair);
    let id = pm.run_d(&[
        "--network",
        "none",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-retries",
        "1",
        IMAGE,
        "sleep",
        "1000",
    ]);
    let out = pm.run(&["healthcheck", "run", &id]);
    assert_eq!(out.code(), 1, "[{pair}] healthcheck must fail first: {out}");
    assert_eq!(pm.inspect(&id, "{{.State.Health.Status}}"), "unhealthy");
    pm.ok(&["exec", &id, "touch", "/tmp/ok"]);
    let out = pm.run(&["healthcheck", "run", &id]);
    assert_eq!(out.code(), 0, "[{pair}] {out}");
    assert_eq!(pm.inspect(&id, "{{.State.Health.Status}}"), "healthy");
    let log = pm.inspect(&id, "{{range .State.Health.Log}}{{.ExitCode}} {{end}}");
    assert!(log.starts_with("1 ") && log.ends_with('0'), "[{pair}] health log: {log}");
}
