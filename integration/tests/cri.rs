//! Issue 18, the kubelet's path: CRI calls, as the kubelet makes them, to
//! containerd 1.6's CRI plugin, which runs each pod on the runtime handler
//! named in RunPodSandbox (`runtime_handler`, what a RuntimeClass selects):
//! `oxrun` (runtime_type `io.containerd.runc.v2`, `BinaryName` = oxrun) and
//! `runc` as the reference. Every case runs once per handler, test names are
//! `<case>::oxrun` and `<case>::runc`.
//!
//! Each test starts a private containerd ([`CriContainerd`]: own config,
//! root, state, socket, network and mount namespaces, CNI bridge, a local
//! pause image built from catatonit) and ends with its shutdown, which must
//! leave no dir, mount, cgroup or process behind. Needs containerd, runc,
//! catatonit and containernetworking-plugins; without them the tests print
//! `SKIP <test>: <reason>`.
//!
//! Exec is also driven through containerd's streaming server (the URL the
//! Exec call returns, upgraded to a WebSocket with `v4.channel.k8s.io`, as
//! kubectl's path ends), and so is Attach; PortForward is not covered.

use std::time::{Duration, Instant};

use integration::cri::{api, container_config, websocket_stream, CriContainerd, IMAGE};
use integration::util::{poll_until, skip};
use integration::{rpc, runtime_bin};

integration::for_oxrun_and_runc!(pod_with_two_containers, stop_container_grace_period, attach_streams_output);

/// A started containerd with CRI, or `None` after printing why not.
fn setup(test: &str, handler: &str) -> Option<CriContainerd> {
    let name = format!("{test}::{handler}");
    if let Err(e) = integration::containerd::ensure_installed() {
        skip(&name, &e);
        return None;
    }
    let bin = runtime_bin();
    assert!(bin.is_file(), "oxrun binary {} not found (build it or set OXRUN_BIN)", bin.display());
    match CriContainerd::start(&bin) {
        Ok(c) => Some(c),
        Err(e) if e.contains("not installed") || e.contains("no CNI") => {
            skip(&name, &e);
            None
        }
        Err(e) => panic!("[{handler}] starting containerd with CRI: {e}"),
    }
}

/// Shuts containerd down and panics on anything left behind.
#[track_caller]
fn shutdown_clean(c: CriContainerd, handler: &str) {
    let left = c.shutdown();
    assert!(left.is_empty(), "[{handler}] left behind after shutdown:\n  {}", left.join("\n  "));
}

/// `readlink` of the namespaces of the container's own process.
fn ns_links(c: &CriContainerd, id: &str) -> (String, String, String) {
    let (code, out, err) = c
        .exec_sync(id, &["sh", "-c", "for n in net ipc pid; do readlink /proc/self/ns/$n; done"])
        .expect("ExecSync readlink");
    assert_eq!(code, 0, "readlink in {id}: {out}{err}");
    let l: Vec<String> = out.lines().map(str::to_string).collect();
    assert_eq!(l.len(), 3, "three namespace links expected: {out:?}");
    (l[0].clone(), l[1].clone(), l[2].clone())
}

/// RunPodSandbox on the handler; two containers sharing the pod's network
/// and IPC namespaces (seen from inside); ExecSync output and exit code;
/// Exec through the streaming server;
/// ListContainers and ContainerStatus; UpdateContainerResources read back
/// from the container's cgroup v1 files; CRI-format logs; StopPodSandbox and
/// RemovePodSandbox leaving nothing.
fn pod_with_two_containers(handler: &str) {
    let Some(c) = setup("pod_with_two_containers", handler) else {
        return;
    };
    let pod_name = format!("two-{handler}");
    let pod_cfg = c.pod_config(&pod_name);
    let pod = c.run_pod(&pod_cfg, handler).unwrap_or_else(|e| panic!("[{handler}] {e}"));

    // The pod runs on the handler asked for: its sandbox's state is in that
    // handler's runtime root.
    assert!(
        c.runtime_root(handler).join(&pod).is_dir(),
        "[{handler}] sandbox {pod} not in {} (wrong handler?)",
        c.runtime_root(handler).display()
    );
    let other = if handler == "oxrun" { "runc" } else { "oxrun" };
    assert!(!c.runtime_root(other).join(&pod).exists(), "[{handler}] sandbox also under {other}'s root");

    let log_cmd = "echo hello from $HOSTNAME; echo to stderr >&2; exec sleep 100000";
    let a =
        c.create_container(&pod, &pod_cfg, "a", &["sh", "-c", log_cmd]).unwrap_or_else(|e| panic!("[{handler}] {e}"));
    let b = c.create_container(&pod, &pod_cfg, "b", &["sleep", "100000"]).unwrap_or_else(|e| panic!("[{handler}] {e}"));
    for id in [&a, &b] {
        c.start_container(id).unwrap_or_else(|e| panic!("[{handler}] {e}"));
        assert!(c.runtime_root(handler).join(id).is_dir(), "[{handler}] container {id} not run by {handler}");
    }

    shared_namespaces(&c, handler, &pod, &a, &b);
    exec_sync_and_stream(&c, handler, &a);
    let log_path = list_and_status(&c, handler, &pod, &a);
    update_resources_read_back(&c, handler, &b);
    check_cri_log(&log_path, handler);

    // StopPodSandbox stops both containers; RemovePodSandbox removes all.
    rpc!(c.cri(), stop_pod_sandbox, api::StopPodSandboxRequest { pod_sandbox_id: pod.clone() })
        .unwrap_or_else(|e| panic!("[{handler}] {e}"));
    for id in [&a, &b] {
        let s = c.container_status(id).expect("ContainerStatus after StopPodSandbox");
        assert_eq!(s.state, api::ContainerState::ContainerExited as i32, "[{handler}] {id} after StopPodSandbox");
    }
    rpc!(c.cri(), remove_pod_sandbox, api::RemovePodSandboxRequest { pod_sandbox_id: pod.clone() })
        .unwrap_or_else(|e| panic!("[{handler}] {e}"));
    let ids = vec![a.clone(), b.clone()];
    let parent = c.pod_cgroup_parent(&pod_name);
    let mut left = Vec::new();
    let clean = poll_until(Duration::from_secs(10), || {
        left = c.pod_leftovers(handler, &pod, &ids, &parent);
        left.is_empty()
    });
    assert!(clean, "[{handler}] RemovePodSandbox left behind:\n  {}", left.join("\n  "));
    let pods = rpc!(c.cri(), list_pod_sandbox, api::ListPodSandboxRequest::default()).expect("ListPodSandbox");
    assert!(pods.items.is_empty(), "[{handler}] pods still listed: {:?}", pods.items);
    shutdown_clean(c, handler);
}

/// Both containers see the same network and IPC namespace (the pod's, with
/// its CNI address on eth0) and different PID namespaces.
fn shared_namespaces(c: &CriContainerd, handler: &str, pod: &str, a: &str, b: &str) {
    // Shared network and IPC namespaces, own PID namespaces, not the host's.
    let (net_a, ipc_a, pid_a) = ns_links(c, a);
    let (net_b, ipc_b, pid_b) = ns_links(c, b);
    assert_eq!(net_a, net_b, "[{handler}] containers of one pod must share the network namespace");
    assert_eq!(ipc_a, ipc_b, "[{handler}] containers of one pod must share the IPC namespace");
    assert_ne!(pid_a, pid_b, "[{handler}] pid namespace CONTAINER: each container has its own");
    let host_net = std::fs::read_link("/proc/self/ns/net").expect("host netns").to_string_lossy().into_owned();
    assert_ne!(net_a, host_net, "[{handler}] the pod must not be in the host's network namespace");
    // ... and it is the network namespace CNI set up: the pod IP is on eth0.
    let st = rpc!(
        c.cri(),
        pod_sandbox_status,
        api::PodSandboxStatusRequest { pod_sandbox_id: pod.to_string(), verbose: false }
    )
    .expect("PodSandboxStatus");
    let ip = st.status.and_then(|s| s.network).map(|n| n.ip).unwrap_or_default();
    assert!(ip.starts_with("10.88.0."), "[{handler}] pod IP from CNI expected, got {ip:?}");
    let (code, out, _) = c.exec_sync(b, &["ip", "-4", "addr", "show", "eth0"]).expect("ExecSync ip");
    assert!(code == 0 && out.contains(&format!("inet {ip}/")), "[{handler}] eth0 of b lacks {ip}: {out}");
}

/// ExecSync and the streamed Exec: output and exit codes.
fn exec_sync_and_stream(c: &CriContainerd, handler: &str, a: &str) {
    // ExecSync: stdout, stderr and exit code.
    let (code, out, err) = c.exec_sync(a, &["sh", "-c", "echo out; echo err >&2; exit 3"]).expect("ExecSync");
    assert_eq!((code, out.as_str(), err.as_str()), (3, "out\n", "err\n"), "[{handler}] ExecSync");
    // Exec through the streaming server (what `kubectl exec` reaches).
    let req = api::ExecRequest {
        container_id: a.to_string(),
        cmd: ["sh", "-c", "echo streamed; echo streamed-err >&2; exit 5"].map(String::from).to_vec(),
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let url = rpc!(c.cri(), exec, req).unwrap_or_else(|e| panic!("[{handler}] {e}")).url;
    let s = websocket_stream(&url, c.pid().expect("containerd pid")).unwrap_or_else(|e| panic!("[{handler}] {e}"));
    assert_eq!((s.stdout.as_str(), s.stderr.as_str()), ("streamed\n", "streamed-err\n"), "[{handler}] Exec stream");
    assert!(
        s.status.contains("Failure") && s.status.contains(r#""reason":"ExitCode","message":"5""#),
        "[{handler}] Exec status should carry exit code 5: {}",
        s.status
    );

    // A missing binary: the runtime's exec fails, the CRI call fails (as on
    // runc) with the runtime's reason.
    match c.exec_sync(a, &["/no/such/binary"]) {
        Err(e) => assert!(
            e.contains("/no/such/binary") && e.contains("no such file or directory"),
            "[{handler}] ExecSync error should name the binary and the reason: {e}"
        ),
        Ok(r) => panic!("[{handler}] ExecSync of a missing binary succeeded: {r:?}"),
    }
}

/// ListContainers of the pod and ContainerStatus of `a`; `a`'s log path.
fn list_and_status(c: &CriContainerd, handler: &str, pod: &str, a: &str) -> String {
    // ListContainers of the pod, ContainerStatus.
    let filter = api::ContainerFilter { pod_sandbox_id: pod.to_string(), ..Default::default() };
    let list =
        rpc!(c.cri(), list_containers, api::ListContainersRequest { filter: Some(filter) }).expect("ListContainers");
    let mut names: Vec<(String, i32)> = list
        .containers
        .iter()
        .map(|x| (x.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_default(), x.state))
        .collect();
    names.sort();
    let running = api::ContainerState::ContainerRunning as i32;
    assert_eq!(names, vec![("a".to_string(), running), ("b".to_string(), running)], "[{handler}] ListContainers");
    let s = c.container_status(a).expect("ContainerStatus");
    assert_eq!(s.state, running, "[{handler}] ContainerStatus state");
    assert!(s.started_at > 0 && s.finished_at == 0, "[{handler}] ContainerStatus times: {s:?}");
    assert_eq!(s.image.as_ref().map(|i| i.image.as_str()), Some(IMAGE), "[{handler}] ContainerStatus image");
    assert!(s.log_path.ends_with("a.log"), "[{handler}] log path {}", s.log_path);
    s.log_path
}

/// UpdateContainerResources, then the container reads its own cgroup v1
/// files (the values are ones no default has).
fn update_resources_read_back(c: &CriContainerd, handler: &str, id: &str) {
    let res = api::LinuxContainerResources {
        cpu_period: 100_000,
        cpu_quota: 37_000,
        cpu_shares: 333,
        memory_limit_in_bytes: 123 * 1024 * 1024,
        ..Default::default()
    };
    rpc!(
        c.cri(),
        update_container_resources,
        api::UpdateContainerResourcesRequest { container_id: id.into(), linux: Some(res), ..Default::default() }
    )
    .unwrap_or_else(|e| panic!("[{handler}] {e}"));
    let files = [
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", (123 * 1024 * 1024).to_string()),
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "37000".to_string()),
        ("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000".to_string()),
        ("/sys/fs/cgroup/cpu/cpu.shares", "333".to_string()),
    ];
    for (f, want) in files {
        let (code, out, err) = c.exec_sync(id, &["cat", f]).expect("ExecSync cat");
        assert_eq!(
            (code, out.trim()),
            (0, want.as_str()),
            "[{handler}] {f} inside after UpdateContainerResources: {err}"
        );
    }
}

/// The CRI log format: `<RFC3339Nano timestamp> <stream> <P|F> <line>`.
fn check_cri_log(path: &str, handler: &str) {
    let mut text = String::new();
    poll_until(Duration::from_secs(10), || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines().count() >= 2
    });
    let mut seen = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.splitn(4, ' ').collect();
        assert_eq!(f.len(), 4, "[{handler}] CRI log line {line:?}");
        assert!(is_rfc3339_nano(f[0]), "[{handler}] timestamp {:?} of {line:?}", f[0]);
        assert!(f[1] == "stdout" || f[1] == "stderr", "[{handler}] stream of {line:?}");
        assert_eq!(f[2], "F", "[{handler}] full-line tag of {line:?}");
        seen.push((f[1].to_string(), f[3].to_string()));
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![("stderr".into(), "to stderr".into()), ("stdout".into(), format!("hello from two-{handler}"))],
        "[{handler}] log lines of {path}"
    );
}

/// `2026-12-06T20:41:10.123456789Z` or with a `+01:00` offset.
fn is_rfc3339_nano(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let frac_end = 20 + s[20.min(s.len())..].bytes().take_while(u8::is_ascii_digit).count();
    b.len() > 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && frac_end > 20
        && (&s[frac_end..] == "Z" || (s.len() == frac_end + 6 && (b[frac_end] == b'+' || b[frac_end] == b'-')))
}

/// StopContainer with a grace period: a process that ignores SIGTERM is
/// killed (exit 137) once the grace period is over, not before; one that
/// exits on SIGTERM stops at once with its own exit code.
fn stop_container_grace_period(handler: &str) {
    let Some(c) = setup("stop_container_grace_period", handler) else {
        return;
    };
    let pod_cfg = c.pod_config(&format!("grace-{handler}"));
    let pod = c.run_pod(&pod_cfg, handler).unwrap_or_else(|e| panic!("[{handler}] {e}"));
    let ignores = "trap '' TERM; while :; do sleep 1; done";
    let obeys = "trap 'exit 7' TERM; while :; do sleep 0.1; done";
    let stubborn = c.create_container_with(&pod, &pod_cfg, container_config("stubborn", &["sh", "-c", ignores]));
    let stubborn = stubborn.unwrap_or_else(|e| panic!("[{handler}] {e}"));
    let polite = c.create_container_with(&pod, &pod_cfg, container_config("polite", &["sh", "-c", obeys]));
    let polite = polite.unwrap_or_else(|e| panic!("[{handler}] {e}"));
    for id in [&stubborn, &polite] {
        c.start_container(id).unwrap_or_else(|e| panic!("[{handler}] {e}"));
    }
    // The traps are set once the shell loops (ExecSync sees its children).
    std::thread::sleep(Duration::from_millis(500));

    let grace = 3;
    let t = Instant::now();
    rpc!(c.cri(), stop_container, api::StopContainerRequest { container_id: stubborn.clone(), timeout: grace })
        .unwrap_or_else(|e| panic!("[{handler}] {e}"));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(grace as u64) && took < Duration::from_secs(grace as u64 + 10),
        "[{handler}] StopContainer of a SIGTERM-ignoring process took {took:?} (grace {grace} s)"
    );
    let s = c.container_status(&stubborn).expect("ContainerStatus");
    assert_eq!(
        (s.state, s.exit_code),
        (api::ContainerState::ContainerExited as i32, 137),
        "[{handler}] killed after the grace period: {s:?}"
    );

    let t = Instant::now();
    rpc!(c.cri(), stop_container, api::StopContainerRequest { container_id: polite.clone(), timeout: 30 })
        .unwrap_or_else(|e| panic!("[{handler}] {e}"));
    let took = t.elapsed();
    assert!(took < Duration::from_secs(10), "[{handler}] a SIGTERM-obeying process took {took:?} to stop");
    let s = c.container_status(&polite).expect("ContainerStatus");
    assert_eq!(s.exit_code, 7, "[{handler}] exit code of the SIGTERM trap: {s:?}");

    for id in [&stubborn, &polite] {
        rpc!(c.cri(), remove_container, api::RemoveContainerRequest { container_id: id.to_string() })
            .unwrap_or_else(|e| panic!("[{handler}] {e}"));
    }
    c.stop_and_remove_pod(&pod).unwrap_or_else(|e| panic!("[{handler}] {e}"));
    shutdown_clean(c, handler);
}

/// Attach through the streaming server: what the container writes after the
/// attach arrives on the stdout and stderr channels, and the stream ends when
/// the container exits.
fn attach_streams_output(handler: &str) {
    let Some(c) = setup("attach_streams_output", handler) else {
        return;
    };
    let pod_cfg = c.pod_config(&format!("attach-{handler}"));
    let pod = c.run_pod(&pod_cfg, handler).unwrap_or_else(|e| panic!("[{handler}] {e}"));
    // Output only after a pause long enough for the attach to be in place.
    let cmd = "sleep 3; echo attached-out; echo attached-err >&2; exit 0";
    let id =
        c.create_container(&pod, &pod_cfg, "att", &["sh", "-c", cmd]).unwrap_or_else(|e| panic!("[{handler}] {e}"));
    c.start_container(&id).unwrap_or_else(|e| panic!("[{handler}] {e}"));
    let req = api::AttachRequest { container_id: id.clone(), stdout: true, stderr: true, ..Default::default() };
    let url = rpc!(c.cri(), attach, req).unwrap_or_else(|e| panic!("[{handler}] {e}")).url;
    let s = websocket_stream(&url, c.pid().expect("containerd pid")).unwrap_or_else(|e| panic!("[{handler}] {e}"));
    assert_eq!(
        (s.stdout.as_str(), s.stderr.as_str()),
        ("attached-out\n", "attached-err\n"),
        "[{handler}] Attach stream"
    );
    // The exit event reaches the CRI plugin a moment after the stream ends.
    let mut st = c.container_status(&id).expect("ContainerStatus");
    poll_until(Duration::from_secs(10), || {
        st = c.container_status(&id).expect("ContainerStatus");
        st.state == api::ContainerState::ContainerExited as i32
    });
    assert_eq!(
        (st.state, st.exit_code),
        (api::ContainerState::ContainerExited as i32, 0),
        "[{handler}] after the attached container exited: {st:?}"
    );
    c.stop_and_remove_pod(&pod).unwrap_or_else(|e| panic!("[{handler}] {e}"));
    shutdown_clean(c, handler);
}
