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
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("hook stdin is not state JSON ({e}): {text:?}"));
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
    b.set_hooks("startContainer", json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo start-hook-ran > /hook-ran"]}]));
    let id = unique("rtt-clone3");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    assert!(out.stdout.contains("start-hook-ran"), "the startContainer hook must have run: {out}");
    rt.assert_clean(&id, &b);
}
