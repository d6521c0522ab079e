//! Demands of the runtime-spec that the OCI runtime-tools validation suite checks and runc 1.1.5
//! does not meet: `delete` of a created container, the status in the state hooks get, seccomp
//! profiles that deny what a runtime might use after loading them, memory.kernelTCP and
//! memory.checkBeforeUpdate. Each test quotes the spec text it checks.
use integration::{unique, Bundle, Runtime};
use serde_json::{json, Value};
use std::path::Path;

/// A profile that allows every syscall except `names`, which fail with EPERM (the default
/// errno of SCMP_ACT_ERRNO).
fn allow_all_but(names: &[&str]) -> Value {
    json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{ "names": names, "action": "SCMP_ACT_ERRNO" }] })
}

/// runtime.md#delete: "Attempting to delete a container that is not stopped MUST generate an
/// error." A created container is not stopped; runtime-tools also checks that the failed delete
/// "MUST have no effect on the container". runc 1.1.5 (and crun) kill and delete it instead.
#[test]
fn delete_of_a_created_container_is_an_error_and_leaves_it() {
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let id = unique("rtt-del");
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid(&id);
    let out = rt.delete(&id);
    assert!(!out.ok(), "delete of a created container must fail: {out}");
    assert!(out.stderr.contains("created"), "the error names the state: {out}");
    assert_eq!(rt.status(&id), "created", "a refused delete has no effect on the container");
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "init {pid} must still be alive");
    // It still starts and runs to the end, then deletes normally.
    rt.start(&id).assert_ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// `delete --force` (what Podman calls, and what `ctr task delete --force` reaches after its
/// kill) still removes a created container.
#[test]
fn delete_force_removes_a_created_container() {
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let id = unique("rtt-delf");
    rt.create(&id, &b).assert_ok();
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// A host hook that saves its stdin to `<dir>/<kind>.json`.
fn record_hook(dir: &Path, kind: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/{kind}.json", dir.display())], "timeout": 10})
}

fn status_in(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("hook output {} missing: {e}", p.display()));
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("hook stdin is not state JSON ({e}): {text:?}"));
    v["status"].as_str().unwrap_or_default().to_string()
}

/// state.md: `creating` is "the container is being created (step 2 in the lifecycle)";
/// `created` is "the runtime has finished the create operation (after step 2 in the
/// lifecycle), and the container process has neither exited nor executed the user-specified
/// program". prestart, createRuntime and createContainer hooks run at steps 3-5 and
/// startContainer at step 7 (runtime.md#lifecycle): all see `created`. poststart runs after the
/// program started (`running`), poststop after it stopped (`stopped`). runc 1.1.5 sends
/// `creating` to the first three.
#[test]
fn hooks_see_the_status_of_their_lifecycle_step() {
    let rt = Runtime::new();
    let out_dir = tempfile::tempdir().unwrap();
    let o = out_dir.path();
    let mut b = Bundle::new(&["sleep", "2"]);
    for kind in ["prestart", "createRuntime", "createContainer", "poststart", "poststop"] {
        b.set_hooks(kind, json!([record_hook(o, kind)]));
    }
    // startContainer runs in the container: its files resolve in the rootfs.
    b.set_hooks("startContainer", json!([{"path": "/bin/sh", "args": ["sh", "-c", "cat > /startContainer.json"]}]));
    let id = unique("rtt-hookst");
    rt.create(&id, &b).assert_ok();
    for kind in ["prestart", "createRuntime", "createContainer"] {
        assert_eq!(status_in(&o.join(format!("{kind}.json"))), "created", "{kind}");
    }
    rt.start(&id).assert_ok();
    assert_eq!(status_in(&b.rootfs().join("startContainer.json")), "created", "startContainer");
    assert_eq!(status_in(&o.join("poststart.json")), "running", "poststart");
    rt.kill(&id, "KILL").assert_ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).assert_ok();
    assert_eq!(status_in(&o.join("poststop.json")), "stopped", "poststop");
    rt.assert_clean(&id, &b);
}

/// config-linux.md#seccomp: the profile applies to the container process; the runtime has no
/// licence to fail because the profile denies a syscall the runtime would like to use itself.
/// runtime-tools' linux_seccomp profile is "allow everything but getcwd"; runc 1.1.5 fails it
/// ("failed to verify if current working directory is safe"). The process (echo) needs no getcwd.
fn getcwd_denied_runs(no_new_privileges: bool) {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["echo", "seccomp-ok"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = allow_all_but(&["getcwd"]);
        c["process"]["noNewPrivileges"] = json!(no_new_privileges);
        c["process"]["cwd"] = json!("/tmp");
    });
    let id = unique("rtt-getcwd");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    assert!(out.stdout.contains("seccomp-ok"), "the process must run: {out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn a_profile_denying_getcwd_runs_with_no_new_privileges() {
    getcwd_denied_runs(true);
}

/// Without no_new_privs the filter needs CAP_SYS_ADMIN to load, which the process here does not
/// keep: the runtime must still do its own checks first.
#[test]
fn a_profile_denying_getcwd_runs_without_no_new_privileges() {
    getcwd_denied_runs(false);
}

/// config.md#createcontainer-hooks / startContainer: "The startContainer hooks MUST be called
/// as part of the start operation before the container process is executed". A profile that
/// denies clone3 with EPERM but allows clone (runtime-tools' default profile, Docker's before
/// 20.10) must not keep them from running: the runtime starts them after loading the filter.
#[test]
fn start_container_hooks_run_under_a_profile_denying_clone3() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["cat", "/hook-ran"]);
    b.edit(|c| c["linux"]["seccomp"] = allow_all_but(&["clone3"]));
    b.set_hooks(
        "startContainer",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo start-hook-ran > /hook-ran"]}]),
    );
    let id = unique("rtt-clone3");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    assert!(out.stdout.contains("start-hook-ran"), "the startContainer hook must have run: {out}");
    rt.assert_clean(&id, &b);
}

/// The container's file `file` in the first cgroup hierarchy that has it.
fn cgroup_file(b: &Bundle, file: &str) -> Option<std::path::PathBuf> {
    let rel = b.cgroups_path().trim_start_matches('/').to_string();
    integration::leftovers::cgroup_roots().into_iter().map(|r| r.join(&rel).join(file)).find(|p| p.exists())
}

fn read_u64(p: &Path) -> u64 {
    std::fs::read_to_string(p).unwrap_or_default().trim().parse().unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// config-linux.md#memory: "kernelTCP (int64, OPTIONAL, NOT RECOMMENDED) - sets hard limit for
/// kernel TCP buffer memory in bytes". cgroup v1 has memory.kmem.tcp.limit_in_bytes (cgroup v2
/// has no such limit). runc 1.1.5 ignores kernelTCP.
#[test]
fn kernel_tcp_limit_is_set_on_cgroup_v1() {
    if !Path::new("/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes").exists() {
        integration::skip(
            "kernel_tcp_limit_is_set_on_cgroup_v1",
            "no cgroup v1 memory.kmem.tcp.limit_in_bytes on this host",
        );
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    // runtime-tools' value: a multiple of the page size (the kernel rounds the limit down to one).
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({"kernelTCP": 50593792}));
    let id = unique("rtt-ktcp");
    rt.create(&id, &b).assert_ok();
    let f = cgroup_file(&b, "memory.kmem.tcp.limit_in_bytes")
        .expect("the container's memory cgroup has memory.kmem.tcp.limit_in_bytes");
    assert_eq!(read_u64(&f), 50593792, "{}", f.display());
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// config-linux.md#memory (1.3): "checkBeforeUpdate (bool, OPTIONAL) - enables checking if a new
/// memory limit is lower than the current usage during update, and if so, rejecting the new
/// limit." runc 1.1.5 ignores it (runc 1.2 checks on cgroup v2).
#[test]
fn update_with_check_before_update_refuses_a_limit_below_usage() {
    let rt = Runtime::new();
    // 8 MiB of page cache charged to the container's memory cgroup, then idle.
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "dd if=/dev/zero of=/tmp/fill bs=1048576 count=8 2>/dev/null; echo filled > /tmp/done; sleep 1000",
    ]);
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 268435456}));
    let id = unique("rtt-cbu");
    rt.create_start(&id, &b);
    integration::util::wait_for(std::time::Duration::from_secs(10), "the container to fill its page cache", || {
        b.rootfs().join("tmp/done").exists().then_some(())
    });
    let (usage_file, limit_file) = match cgroup_file(&b, "memory.usage_in_bytes") {
        Some(u) => (u, cgroup_file(&b, "memory.limit_in_bytes").expect("memory.limit_in_bytes")),
        None => (
            cgroup_file(&b, "memory.current").expect("memory.current"),
            cgroup_file(&b, "memory.max").expect("memory.max"),
        ),
    };
    let usage = read_u64(&usage_file);
    assert!(usage >= 4 << 20, "the container's usage should be over 4 MiB: {usage}");
    let update = |limit: u64| {
        let f = rt.scratch().join(format!("resources-{limit}.json"));
        std::fs::write(&f, json!({"memory": {"limit": limit, "checkBeforeUpdate": true}}).to_string()).unwrap();
        rt.run(&["update", "--resources", &f.to_string_lossy(), &id])
    };
    let below = (usage / 2) & !4095;
    let out = update(below);
    assert!(!out.ok(), "a limit of {below} below the usage {usage} must be refused: {out}");
    assert_eq!(read_u64(&limit_file), 268435456, "a refused update leaves the limit");
    let above = (usage * 4) & !4095;
    update(above).assert_ok();
    assert_eq!(read_u64(&limit_file), above, "a limit above the usage is set");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// The same for a process `exec` starts in the container (runtime.md#exec runs it with the
/// container's seccomp profile): the runtime's cwd check happens before the filter is loaded,
/// also for an exec'd process without no_new_privs (the container's own has it, so create
/// succeeds before the fix as well).
#[test]
fn exec_under_a_profile_denying_getcwd_runs() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = allow_all_but(&["getcwd"]);
        c["process"]["noNewPrivileges"] = json!(true);
    });
    let id = unique("rtt-execcwd");
    rt.create_start(&id, &b);
    let mut process = integration::bundle::base_spec()["process"].clone();
    process["terminal"] = json!(false);
    process["args"] = json!(["echo", "exec-ok"]);
    process["cwd"] = json!("/tmp");
    process["noNewPrivileges"] = json!(false);
    let f = rt.scratch().join("process.json");
    std::fs::write(&f, process.to_string()).unwrap();
    let out = rt.run(&["exec", "--process", &f.to_string_lossy(), &id]);
    out.assert_ok();
    assert!(out.stdout.contains("exec-ok"), "the exec'd process must run: {out}");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// config.md#posix-platform-hooks: "timeout (int, OPTIONAL) is the number of seconds before
/// aborting the hook". A startContainer hook (started by init with fork, see above) that
/// outlives its timeout is killed and `start` reports the failure.
#[test]
fn a_start_container_hook_past_its_timeout_fails_start() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.set_hooks("startContainer", json!([{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]));
    let id = unique("rtt-sctmo");
    rt.create(&id, &b).assert_ok();
    let t0 = std::time::Instant::now();
    let out = rt.start(&id);
    assert!(t0.elapsed() < std::time::Duration::from_secs(10), "the hook must be killed at its timeout: {out}");
    if !integration::is_runc() {
        // runc 1.1.5's start exits 0 when init fails before exec (see start_failures.rs).
        assert!(!out.ok() && out.stderr.contains("timed out"), "start reports the timeout: {out}");
    }
    rt.wait_status(&id, "stopped");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// Loading a filter without no_new_privs needs CAP_SYS_ADMIN, which the runtime now holds until
/// the load, also for a non-root process (after setuid, only its permitted set is kept). The
/// process gets exactly process.capabilities (config.md#linux-process), none here: checked on
/// init itself while the container is `created` (execve would recompute a non-root process's
/// sets anyway, and startContainer hooks run from init in that state), and in the program.
#[test]
fn a_non_root_process_runs_after_a_late_filter_load_without_no_new_privileges() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["grep", "-E", "^Cap(Prm|Eff|Amb)", "/proc/self/status"]);
    b.edit(|c| {
        c["linux"]["seccomp"] = allow_all_but(&["getcwd"]);
        c["process"]["noNewPrivileges"] = json!(false);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] =
            json!({"bounding": ["CAP_KILL"], "effective": [], "permitted": [], "inheritable": [], "ambient": []});
        c["process"]["cwd"] = json!("/tmp");
    });
    let id = unique("rtt-capsadm");
    let created = rt.create(&id, &b);
    created.assert_ok();
    let status = std::fs::read_to_string(format!("/proc/{}/status", rt.pid(&id))).expect("init's status");
    let check = |text: &str, whose: &str| {
        for set in ["CapPrm", "CapEff", "CapAmb"] {
            let line = text
                .lines()
                .find(|l| l.starts_with(set))
                .unwrap_or_else(|| panic!("no {set} line for {whose}: {text}"));
            assert!(line.ends_with("0000000000000000"), "{whose}: {set} must be empty: {line}");
        }
    };
    check(&status, "init waiting for start");
    rt.start(&id).assert_ok();
    rt.wait_status(&id, "stopped");
    check(&created.stdout_now(), "the program");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}
