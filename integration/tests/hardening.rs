//! Adversarial tests for the runtime CVEs in shared/reference/hardening.md.
//!
//! How each was checked against a weakened build is said at the test: the weakening was done by
//! hand (a patched binary), not in CI.
use integration::{unique, Bundle, Runtime};
use serde_json::json;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;

fn sha_of(path: &std::path::Path) -> Vec<u8> {
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).unwrap();
    buf
}

/// CVE-2019-5736: a process running the runtime's code inside the container (init before start)
/// must not lead to a writable handle on the host binary, even after it stopped running it.
/// Weakened build check: with the re-exec guard disabled (`_OXRUN_EXE_GUARDED=1`), the reopen
/// below succeeds (the host binary is writable through the kept O_PATH handle) and the test fails.
#[test]
fn runtime_binary_cannot_be_reopened_for_writing_through_init_exe() {
    if integration::is_runc() {
        eprintln!("SKIP runtime_binary_cannot_be_reopened_for_writing_through_init_exe: runc 1.1.5 uses a memfd clone, checked by its own suite");
        return;
    }
    let rt = Runtime::new();
    let before = sha_of(rt.bin());
    let b = Bundle::new(&["sleep", "30"]);
    let id = unique("exe");
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid(&id);
    // Keep a handle on whatever init runs, as an attacker with ptrace rights would.
    let handle = std::fs::OpenOptions::new().custom_flags(libc::O_PATH).read(true).open(format!("/proc/{pid}/exe")).unwrap();
    rt.start(&id).assert_ok();
    let reopen = std::fs::OpenOptions::new().append(true).open(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&handle)));
    match reopen {
        Ok(_) => panic!("the runtime's binary was reopened for writing through init's exe"),
        Err(e) => assert!(
            matches!(e.raw_os_error(), Some(libc::EROFS) | Some(libc::ETXTBSY) | Some(libc::EPERM) | Some(libc::EACCES)),
            "unexpected error {e}"
        ),
    }
    assert_eq!(sha_of(rt.bin()), before, "host binary changed");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// Init is non-dumpable until it execs: a process in the container (here an exec'd shell, root but
/// without CAP_SYS_PTRACE) cannot read init's /proc files while the container is `created`.
/// Weakened build check: without `set_dumpable(false)` in init, `cat /proc/1/environ` succeeds.
#[test]
fn init_is_not_readable_from_the_container_before_start() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "30"]);
    let id = unique("dump");
    rt.create(&id, &b).assert_ok();
    let out = rt.run(&["exec", &id, "sh", "-c", "cat /proc/1/environ >/dev/null 2>&1; echo environ=$?; ls -l /proc/1/exe >/dev/null 2>&1; echo exe=$?"]);
    out.assert_ok();
    assert!(out.stdout.contains("environ=1"), "init's environ must not be readable: {out}");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// CVE-2024-21626: a directory fd leaked into the runtime must not become the container's cwd.
/// Weakened build check: without the cwd check (getcwd after chdir) and the in-root resolution
/// of cwd, the container starts in the host's /sys/fs/cgroup.
#[test]
fn leaked_fd_cannot_be_used_as_cwd() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "ls -d /sys/fs/cgroup/memory/.. 2>/dev/null; pwd"]);
    b.edit(|c| c["process"]["cwd"] = json!("/proc/self/fd/7"));
    let id = unique("fdleak");
    rt.track(&id);
    // The shell opens fd 7 without close-on-exec, as a careless caller would.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("exec 7</sys/fs/cgroup; exec \"$0\" --root \"$1\" run --bundle \"$2\" \"$3\"")
        .arg(rt.bin())
        .arg(rt.root())
        .arg(b.path())
        .arg(&id);
    let out = rt.exec(cmd);
    out.assert_fail().assert_no_panic();
    assert!(!out.stdout.contains("/sys/fs/cgroup"), "the container saw the host through the leaked fd: {out}");
    rt.assert_clean(&id, &b);
}

/// Every fd the runtime holds is close-on-exec: the container process gets only 0, 1, 2.
#[test]
fn no_runtime_fd_reaches_the_container() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "ls /proc/self/fd"]);
    let id = unique("fds");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("exec 9</etc/hostname; exec \"$0\" --root \"$1\" run --bundle \"$2\" \"$3\"")
        .arg(rt.bin())
        .arg(rt.root())
        .arg(b.path())
        .arg(&id);
    rt.track(&id);
    let out = rt.exec(cmd);
    out.assert_ok();
    let fds: Vec<&str> = out.stdout.split_whitespace().collect();
    // 0, 1, 2 and the fd `ls` itself opens for /proc/self/fd.
    assert!(fds.len() <= 4 && !fds.contains(&"9"), "unexpected fds in the container: {fds:?}");
    rt.assert_clean(&id, &b);
}

/// CVE-2019-19921 class: /proc as a symlink in the rootfs is refused, and the host is untouched.
#[test]
fn proc_as_a_symlink_is_refused() {
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let target = tempfile::tempdir().unwrap();
    std::fs::remove_dir_all(b.rootfs().join("proc")).ok();
    symlink(target.path(), b.rootfs().join("proc")).unwrap();
    let id = unique("procsym");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_fail().assert_no_panic();
    assert_eq!(std::fs::read_dir(target.path()).unwrap().count(), 0, "something was mounted or written at the symlink target");
    assert!(integration::leftovers::mounts_mentioning(target.path()).is_empty());
    rt.assert_clean(&id, &b);
}

/// CVE-2025-31133: masking uses /dev/null only if it is the real 1:3 character device; a regular
/// file in its place fails the create instead of exposing the masked path's target.
/// Weakened build check: without the fstat check the create succeeds and /proc/kcore-like masked
/// paths are bound to the planted file.
#[test]
fn masked_paths_need_a_real_dev_null() {
    if integration::is_runc() {
        eprintln!("SKIP masked_paths_need_a_real_dev_null: runc 1.1.5 predates the fix");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    // No /dev tmpfs: the rootfs's own /dev is used, where we plant a regular file as /dev/null.
    b.edit(|c| {
        let mounts: Vec<serde_json::Value> = c["mounts"].as_array().unwrap().iter().filter(|m| m["destination"] != "/dev" && m["destination"] != "/dev/pts" && m["destination"] != "/dev/shm" && m["destination"] != "/dev/mqueue").cloned().collect();
        c["mounts"] = json!(mounts);
        c["linux"]["maskedPaths"] = json!(["/proc/kcore", "/etc/hostname"]);
    });
    std::fs::create_dir_all(b.rootfs().join("dev")).unwrap();
    std::fs::write(b.rootfs().join("dev/null"), "planted").unwrap();
    std::fs::write(b.rootfs().join("etc/hostname"), "secret").unwrap();
    let id = unique("devnull");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_fail().assert_no_panic();
    assert!(out.stderr.contains("/dev/null"), "the error should name /dev/null: {out}");
    rt.assert_clean(&id, &b);
}

/// CVE-2022-29162 class: inheritable and ambient capabilities stay empty unless the spec asks.
#[test]
fn inheritable_and_ambient_are_empty_unless_asked() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "grep -E 'CapInh|CapAmb' /proc/self/status"]);
    b.edit(|c| {
        let caps = json!(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        c["process"]["capabilities"] = json!({ "bounding": caps, "effective": caps, "permitted": caps });
    });
    let id = unique("capinh");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    assert!(out.stdout.contains("CapInh:\t0000000000000000") && out.stdout.contains("CapAmb:\t0000000000000000"), "{out}");
    rt.assert_clean(&id, &b);
}

/// An AppArmor profile that cannot be applied fails the create (the container must not run
/// unconfined); an SELinux label on a host without SELinux is a warning.
#[test]
fn lsm_requests_without_the_lsm() {
    if std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.trim() == "Y") {
        eprintln!("SKIP lsm_requests_without_the_lsm: AppArmor is enabled on this host");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["process"]["apparmorProfile"] = json!("oxrun-test-profile"));
    let id = unique("apparmor");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_fail().assert_no_panic();
    assert!(out.stderr.to_lowercase().contains("apparmor"), "{out}");
    rt.assert_clean(&id, &b);
    if integration::is_runc() {
        return;
    }
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0"));
    let id = unique("selinux");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    assert!(out.stderr.contains("selinuxLabel"), "a warning must say the label is ignored: {out}");
    rt.assert_clean(&id, &b);
}
