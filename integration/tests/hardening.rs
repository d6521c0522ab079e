//! Adversarial tests for the runtime CVEs in shared/reference/hardening.md.
//!
//! Each test says how it was checked against a weakened build ("Checked: ..."): the weakening was
//! applied by hand to a copy of the sources, built as a separate binary and run with OXRUN_BIN;
//! none of it is in the tree or in CI.
use integration::console::ConsoleSocket;
use integration::leftovers::mounts_mentioning;
use integration::{note, unique, Bundle, Runtime};
use serde_json::json;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn sha_of(path: &std::path::Path) -> Vec<u8> {
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).unwrap();
    buf
}

/// CVE-2019-5736: a process running the runtime's code inside the container (init before start)
/// must not lead to a writable handle on the host binary, even after it stopped running it.
/// Checked: with `ensure_protected_exe` (runtime/src/exe_guard.rs) returning at once, this test fails
/// with "the runtime's binary was reopened for writing through init's exe".
#[test]
fn runtime_binary_cannot_be_reopened_for_writing_through_init_exe() {
    if integration::is_runc() {
        integration::util::note("SKIP runtime_binary_cannot_be_reopened_for_writing_through_init_exe: runc 1.1.5 uses a memfd clone, checked by its own suite");
        return;
    }
    let rt = Runtime::new();
    let before = sha_of(rt.bin());
    let b = Bundle::new(&["sleep", "30"]);
    let id = unique("exe");
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid(&id);
    // Keep a handle on whatever init runs, as an attacker with ptrace rights would.
    let handle =
        std::fs::OpenOptions::new().custom_flags(libc::O_PATH).read(true).open(format!("/proc/{pid}/exe")).unwrap();
    rt.start(&id).assert_ok();
    let reopen = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&handle)));
    match reopen {
        Ok(_) => panic!("the runtime's binary was reopened for writing through init's exe"),
        Err(e) => assert!(
            matches!(
                e.raw_os_error(),
                Some(libc::EROFS) | Some(libc::ETXTBSY) | Some(libc::EPERM) | Some(libc::EACCES)
            ),
            "unexpected error {e}"
        ),
    }
    assert_eq!(sha_of(rt.bin()), before, "host binary changed");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// Init is non-dumpable until it execs: a process in the container (here an exec'd shell, root but
/// without CAP_SYS_PTRACE) cannot read init's /proc files while the container is `created`.
/// Checked: with `set_dumpable(false)` removed from init.rs `setup`, this test fails with "init's
/// environ must not be readable" (the shell printed environ=0 exe=0).
#[test]
fn init_is_not_readable_from_the_container_before_start() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "30"]);
    let id = unique("dump");
    rt.create(&id, &b).assert_ok();
    let out = rt.run(&[
        "exec",
        &id,
        "sh",
        "-c",
        "cat /proc/1/environ >/dev/null 2>&1; echo environ=$?; ls -l /proc/1/exe >/dev/null 2>&1; echo exe=$?",
    ]);
    out.assert_ok();
    assert!(out.stdout.contains("environ=1"), "init's environ must not be readable: {out}");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// CVE-2024-21626: a directory fd leaked into the runtime must not become the cwd of the container
/// (`run` with cwd=/proc/self/fd/7) or of an exec'd process (`exec --cwd` at a symlink to it).
/// Checked: with the getcwd check removed from init.rs `apply_process`, this test fails in its exec
/// part ("exec ran in the host directory behind the leaked fd": it listed the host's
/// /sys/fs/cgroup); with that check and the "create cwd" error in init.rs `setup` both removed, it
/// fails in its run part ("command unexpectedly succeeded", stdout /sys/fs/cgroup/memory/..). With
/// only the "create cwd" error removed it passes: the getcwd check still refuses the cwd.
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
    // exec, with --cwd a symlink to the leaked fd: exec resolves no cwd inside the root, so only
    // the getcwd check stands between the process and the host directory.
    let b = Bundle::new(&["sleep", "30"]);
    symlink("/proc/self/fd/7", b.rootfs().join("cwdlink")).unwrap();
    let id = unique("fdleak-exec");
    rt.create_start(&id, &b);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("exec 7</sys/fs/cgroup; exec \"$0\" --root \"$1\" exec --cwd /cwdlink \"$2\" sh -c 'echo ran-in; ls'")
        .arg(rt.bin())
        .arg(rt.root())
        .arg(&id);
    let out = rt.exec(cmd);
    out.assert_fail().assert_no_panic();
    assert!(!out.stdout.contains("ran-in"), "exec ran in the host directory behind the leaked fd: {out}");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// Every fd the runtime holds is close-on-exec: the container process gets only 0, 1, 2.
/// Checked: with the close_range call removed from init.rs `exec_now`, this test fails with
/// "unexpected fds in the container: [\"0\", \"1\", \"10\", \"2\", \"251\", \"3\", \"9\"]".
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
/// Checked: with RESOLVE_NO_SYMLINKS and the is_dir check for proc/sysfs targets removed from
/// rootfs.rs `apply_mount`, this test fails with "command unexpectedly succeeded" (the container
/// ran).
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
    assert_eq!(
        std::fs::read_dir(target.path()).unwrap().count(),
        0,
        "something was mounted or written at the symlink target"
    );
    assert!(integration::leftovers::mounts_mentioning(target.path()).is_empty());
    rt.assert_clean(&id, &b);
}

/// CVE-2025-31133: masking uses /dev/null only if it is the real 1:3 character device; a regular
/// file in its place fails the create instead of exposing the masked path's target.
/// Checked: with the 1:3 character-device check removed from rootfs.rs `mask_paths`, this test
/// fails with "command unexpectedly succeeded".
#[test]
fn masked_paths_need_a_real_dev_null() {
    if integration::is_runc() {
        integration::util::note("SKIP masked_paths_need_a_real_dev_null: runc 1.1.5 predates the fix");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    // No /dev tmpfs: the rootfs's own /dev is used, where we plant a regular file as /dev/null.
    b.edit(|c| {
        let mounts: Vec<serde_json::Value> = c["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| {
                m["destination"] != "/dev"
                    && m["destination"] != "/dev/pts"
                    && m["destination"] != "/dev/shm"
                    && m["destination"] != "/dev/mqueue"
            })
            .cloned()
            .collect();
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
/// Checked: with the inheritable set given the permitted mask in init.rs `apply_process`, this test
/// fails with stdout "CapInh:\t0000000000000421".
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
    assert!(
        out.stdout.contains("CapInh:\t0000000000000000") && out.stdout.contains("CapAmb:\t0000000000000000"),
        "{out}"
    );
    rt.assert_clean(&id, &b);
}

/// An AppArmor profile that cannot be applied fails the create (the container must not run
/// unconfined); an SELinux label on a host without SELinux is a warning.
/// Checked: with both AppArmor errors of create.rs `check_lsm` turned into a warning, this test
/// fails with "command unexpectedly succeeded" (stderr: the warning only).
#[test]
fn lsm_requests_without_the_lsm() {
    if std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.trim() == "Y") {
        integration::util::note("SKIP lsm_requests_without_the_lsm: AppArmor is enabled on this host");
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

/// (mount point, fstype, source) of every mount in `/proc/<pid>/mountinfo`: the mounts the process
/// sees, with mount points as seen from its root (mounts outside its root are not listed).
fn mounts_of(pid: i32) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split_whitespace().nth(4)?.to_string();
            let mut r = right.split_whitespace();
            Some((point, r.next()?.to_string(), r.next()?.to_string()))
        })
        .collect()
}

/// A bundle whose rootfs provides /dev itself: no tmpfs on /dev, but devpts still on /dev/pts.
fn bundle_with_own_dev(args: &[&str]) -> Bundle {
    let mut b = Bundle::new(args);
    b.edit(|c| {
        let mounts: Vec<serde_json::Value> =
            c["mounts"].as_array().unwrap().iter().filter(|m| m["destination"] != "/dev").cloned().collect();
        c["mounts"] = json!(mounts);
    });
    b
}

/// Sets a flag when dropped, so a racing thread stops even when the test body panics.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// CVE-2021-30465: a path component of a mount target swapped by a racing rename (a directory,
/// then a symlink to a host directory outside the rootfs) must never lead the mount out of the
/// rootfs. Every create that succeeds has the tmpfs inside the container (at /race/a/b, or at the
/// symlink's target resolved inside the root); every create that fails names the mount and leaves
/// nothing; the host directory keeps only its empty `b` and is never mounted on.
/// Checked: (1) as runc before the fix — resolve inside the root, then mount(2) onto the resolved
/// path as a string, re-resolved by the kernel (rootfs.rs `apply_mount`: `tpath` from readlink of
/// the fd) — this test fails with "create N: the tmpfs must be inside the container ...; it is at
/// []" (the mount went to the host directory and was lost with the old root), at N = 1, 21, 8, 14,
/// 27 and 40 in six runs, so the race is won well inside the bound; (2) with `resolve_in_root`
/// following symlinks on the host (path join plus mkdir -p), it fails the same way at once.
/// On the real build no create has failed so far (0 failures in each run, 105 to 150 creates per
/// run), so the assertions of the failure branch have never run.
#[test]
fn mount_target_swapped_by_a_racing_rename_stays_inside_the_rootfs() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "30"]);
    let canary = tempfile::Builder::new().prefix("oxrun-canary-").tempdir().unwrap();
    let tag = unique("oxrace");
    b.add_mount(
        json!({"destination": "/race/a/b", "type": "tmpfs", "source": tag, "options": ["nosuid", "nodev", "size=64k"]}),
    );
    // The host directory has a `b` already, so a mount that escapes needs no mkdir to land there.
    std::fs::create_dir(canary.path().join("b")).unwrap();
    let race = b.rootfs().join("race");
    std::fs::create_dir_all(race.join("a/b")).unwrap();
    symlink(canary.path(), race.join("a.swap")).unwrap();
    // The real directory keeps the mount when the racer renames it to a.swap.
    let inside = ["/race/a/b".to_string(), "/race/a.swap/b".to_string(), format!("{}/b", canary.path().display())];
    let (stop, swaps) = (AtomicBool::new(false), AtomicU64::new(0));
    let (mut created, mut failed) = (0, 0);
    let mut landed = std::collections::BTreeMap::<String, u32>::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let flags = nix::fcntl::RenameFlags::RENAME_EXCHANGE;
                nix::fcntl::renameat2(None, &race.join("a"), None, &race.join("a.swap"), flags)
                    .expect("swap a and a.swap");
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        });
        let _stop = StopOnDrop(&stop);
        let deadline = Instant::now() + Duration::from_secs(10);
        while created + failed < 150 && Instant::now() < deadline {
            let id = unique("race");
            let out = rt.create(&id, &b);
            if out.ok() {
                created += 1;
                let ours: Vec<String> =
                    mounts_of(rt.pid(&id)).into_iter().filter(|m| m.2 == tag).map(|m| m.0).collect();
                assert!(
                    ours.len() == 1 && inside.contains(&ours[0]),
                    "create {created}: the tmpfs must be inside the container, at one of {inside:?}; it is at {ours:?}"
                );
                *landed.entry(ours[0].clone()).or_default() += 1;
                rt.delete_force(&id).assert_ok();
            } else {
                failed += 1;
                out.assert_no_panic();
                assert!(out.stderr.contains("/race/a/b"), "a failed create must name the mount: {out}");
            }
            rt.assert_clean(&id, &b);
            assert!(mounts_mentioning(canary.path()).is_empty(), "a mount appeared on the host directory");
            let entries = |p: &Path| std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>();
            assert_eq!(entries(canary.path()), ["b"], "something was created in the host directory");
            assert!(entries(&canary.path().join("b")).is_empty(), "something was created in the host directory");
        }
    });
    note(&format!(
        "mount race: {created} creates (tmpfs at {landed:?}), {failed} clean failures, {} swaps",
        swaps.load(Ordering::Relaxed)
    ));
    assert!(created > 0, "no create succeeded while racing: the test checked nothing");
}

/// CVE-2025-52565: /dev/console in a rootfs that provides its own /dev is a symlink (to a host
/// file by absolute path, or to a file of the rootfs): the create fails with one error line naming
/// /dev/console, and neither file is mounted over or written. oxrun refuses rather than following
/// or replacing the symlink, as runc does (it opens the mount target O_NOFOLLOW).
/// Checked: with /dev/console resolved following symlinks inside the root (RESOLVE_NO_SYMLINKS
/// dropped in console.rs `bind_console`), and with HEAD's behaviour (the bind silently skipped),
/// this test fails with "command unexpectedly succeeded", for each of the two targets run alone.
#[test]
fn dev_console_as_a_symlink_is_refused() {
    let rt = Runtime::new();
    let host = tempfile::Builder::new().prefix("oxrun-canary-").tempdir().unwrap();
    let host_file = host.path().join("console");
    std::fs::write(&host_file, "host-canary").unwrap();
    for target in [host_file.to_string_lossy().into_owned(), "/etc/console-target".to_string()] {
        let mut b = bundle_with_own_dev(&["sh", "-c", "echo started"]);
        b.edit(|c| c["process"]["terminal"] = json!(true));
        std::fs::write(b.rootfs().join("etc/console-target"), "rootfs-file").unwrap();
        symlink(&target, b.rootfs().join("dev/console")).unwrap();
        let sock = ConsoleSocket::bind(rt.scratch());
        let id = unique("console");
        let out = rt.create_with(&id, &b, &["--console-socket", &sock.path_str()]);
        out.assert_fail().assert_no_panic();
        assert!(
            out.stderr.contains("/dev/console") && out.stderr.contains("symlink"),
            "/dev/console -> {target}: the error must say why: {out}"
        );
        if !integration::is_runc() {
            assert_eq!(out.stderr.lines().filter(|l| !l.trim().is_empty()).count(), 1, "one error line: {out}");
        }
        assert_eq!(std::fs::read_to_string(&host_file).unwrap(), "host-canary", "host file written");
        assert_eq!(std::fs::read_to_string(b.rootfs().join("etc/console-target")).unwrap(), "rootfs-file");
        assert!(mounts_mentioning(host.path()).is_empty(), "a mount appeared on the host file");
        rt.assert_clean(&id, &b);
    }
}

/// CVE-2025-52565 and runc CVE-2026-41579 class: /dev/pts in a rootfs that provides its own /dev
/// is a symlink (to /tmp, or to a host directory by absolute path). The devpts mount is resolved
/// inside the rootfs: the container gets a working pty from a devpts mounted at the symlink's
/// target inside its own root, and the host directory stays empty and unmounted.
/// Checked: with `resolve_in_root` following symlinks on the host, this test fails with "command
/// failed" for each target run alone: the host path gave "open /dev/ptmx: No such file or
/// directory" (devpts went onto the host directory), /tmp gave "the other process closed the
/// channel" (devpts went over the host's /tmp, hiding the bundle).
#[test]
fn dev_pts_as_a_symlink_keeps_devpts_inside_the_rootfs() {
    let rt = Runtime::new();
    let host = tempfile::Builder::new().prefix("oxrun-canary-").tempdir().unwrap();
    for target in [host.path().to_string_lossy().into_owned(), "/tmp".to_string()] {
        let mut b = bundle_with_own_dev(&["sh", "-c", "echo pty-ok"]);
        b.edit(|c| c["process"]["terminal"] = json!(true));
        std::fs::remove_dir_all(b.rootfs().join("dev/pts")).ok();
        symlink(&target, b.rootfs().join("dev/pts")).unwrap();
        let sock = ConsoleSocket::bind(rt.scratch());
        let id = unique("ptslink");
        let out = rt.create_with(&id, &b, &["--console-socket", &sock.path_str()]);
        out.assert_ok();
        let master = sock.receive(Duration::from_secs(10)).expect("pty master over the console socket");
        // /dev/console is a bind of the pty, on devpts too.
        let devpts: Vec<String> = mounts_of(rt.pid(&id))
            .into_iter()
            .filter(|m| m.1 == "devpts" && m.0 != "/dev/console")
            .map(|m| m.0)
            .collect();
        assert_eq!(
            devpts,
            std::slice::from_ref(&target),
            "/dev/pts -> {target}: devpts must be mounted at the target inside the root"
        );
        rt.start(&id).assert_ok();
        let text = master.read_all(Duration::from_secs(10));
        assert!(text.contains("pty-ok"), "/dev/pts -> {target}: {text:?}");
        rt.wait_status(&id, "stopped");
        rt.delete(&id).assert_ok();
        rt.assert_clean(&id, &b);
        assert!(mounts_mentioning(host.path()).is_empty(), "a mount appeared on the host directory");
        assert_eq!(std::fs::read_dir(host.path()).unwrap().count(), 0, "something was created in the host directory");
    }
}

/// CVE-2025-52881: a sysctl file overmounted with a bind of another procfs file (here the UTS
/// namespace's hostname, harmless to the host) passes a plain fstatfs check. The runtime must
/// refuse the write or write the real file: the container's hostname stays the spec's.
/// Checked: with rootfs.rs `write_sysctls` opening the path and checking only fstatfs (the code
/// before the procfs helper), this test fails with "the sysctl write went through the overmount"
/// (the container's hostname was "redirected").
#[test]
fn sysctl_write_is_not_redirected_by_an_overmount() {
    let rt = Runtime::new();
    let host_hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut b = Bundle::new(&["uname", "-n"]);
    b.edit(|c| {
        c["hostname"] = json!("ctr-host");
        c["linux"]["sysctl"] = json!({"kernel.domainname": "redirected"});
    });
    b.add_mount(json!({"destination": "/proc/sys/kernel/domainname", "type": "bind", "source": "/proc/sys/kernel/hostname", "options": ["bind"]}));
    let id = unique("sysctl");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_no_panic();
    if out.ok() {
        assert_eq!(out.stdout.trim(), "ctr-host", "the sysctl write went through the overmount: {out}");
    } else {
        assert!(out.stderr.contains("kernel/domainname"), "the error must name the sysctl: {out}");
    }
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), host_hostname, "host hostname changed");
    rt.assert_clean(&id, &b);
}

/// CVE-2019-5736, when no protected view can be made: `create` refuses with one line naming the
/// step and the binary, and leaves nothing. As `nobody`, with a copy of the binary that user may
/// execute but not read, the bind and overlay views are refused (not root) and the sealed copy
/// cannot read the file.
#[test]
fn unprotectable_binary_fails_with_one_line_naming_the_step() {
    if integration::is_runc() {
        integration::util::note("SKIP unprotectable_binary_fails_with_one_line_naming_the_step: oxrun's guard only");
        return;
    }
    let rt = Runtime::new();
    let dir = rt.scratch().join(unique("unreadable"));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("oxrun");
    std::fs::copy(rt.bin(), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o711)).unwrap();
    for d in [dir.as_path(), rt.scratch()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let state = dir.join("state");
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(&bin).arg("--root").arg(&state);
    cmd.args(["create", "--bundle", "/nonexistent", "x"]);
    let out = rt.exec(cmd);
    assert_eq!(out.status.code(), Some(1), "{out}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {out}");
    assert!(lines[0].contains("CVE-2019-5736") && lines[0].contains("copy into a sealed memfd"), "{out}");
    assert!(lines[0].contains(&bin.display().to_string()), "names the binary: {out}");
    assert!(!state.exists(), "nothing left behind: {out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
