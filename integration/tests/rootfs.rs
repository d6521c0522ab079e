//! Point 5: the root filesystem — root.path, readonly, mounts, symlink
//! containment, devices, --no-pivot, masked / readonly paths, hostname,
//! domainname, sysctl.

use integration::leftovers::mounts_mentioning;
use integration::{unique, Bundle, Out, Runtime};
use serde_json::json;
use std::os::unix::fs::symlink;

/// Runs `script` with sh in the foreground; asserts success and a clean exit.
#[track_caller]
fn sh(rt: &Runtime, b: &mut Bundle, script: &str) -> Out {
    b.set_args(&["sh", "-c", script]);
    let id = unique("rfs");
    let out = rt.run_container(&id, b, &[]);
    rt.assert_clean(&id, b);
    out.assert_ok();
    out
}

#[test]
fn root_path_relative_and_absolute() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    std::fs::write(b.rootfs().join("marker"), "rel").unwrap();
    assert_eq!(b.config["root"]["path"], "rootfs");
    let out = sh(&rt, &mut b, "cat /marker; echo; ls /");
    assert!(out.stdout.starts_with("rel"), "{out}");
    assert!(out.stdout.lines().any(|l| l == "bin"), "{out}");
    let abs = b.rootfs().to_string_lossy().into_owned();
    b.edit(|c| c["root"]["path"] = json!(abs));
    let out = sh(&rt, &mut b, "cat /marker");
    assert_eq!(out.stdout.trim(), "rel");
}

/// The cgroup mount's options reach every hierarchy mounted below /sys/fs/cgroup on a v1 or
/// hybrid host, as runc gives them: a bind of the host's cgroup directory carries none of
/// ro/nosuid/nodev/noexec by itself (Docker found oxrun giving only `ro`).
#[test]
fn cgroup_hierarchies_get_the_mounts_flags() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/sys/fs/cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "ro"]);
            }
        }
    });
    let out = sh(&rt, &mut b, "grep ' /sys/fs/cgroup' /proc/self/mounts");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(!lines.is_empty(), "no cgroup mounts: {out}");
    for l in lines {
        // runc leaves the tmpfs at /sys/fs/cgroup itself writable; the spec's `ro` asks for it.
        if integration::is_runc() && l.split_whitespace().nth(1) == Some("/sys/fs/cgroup") {
            continue;
        }
        let opts: Vec<&str> = l.split_whitespace().nth(3).unwrap_or_default().split(',').collect();
        for want in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(opts.contains(&want), "{want} missing: {l}");
        }
    }
}

#[test]
fn root_readonly() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["root"]["readonly"] = json!(true));
    let out = sh(&rt, &mut b, "touch /newfile 2>&1; echo rc=$?; touch /tmp/x 2>&1; echo tmp=$?");
    assert!(out.stdout.contains("Read-only file system"), "{out}");
    assert!(!out.stdout.contains("rc=0"), "{out}");
    assert!(!b.rootfs().join("newfile").exists());
}

#[test]
fn bind_mount_readonly() {
    let rt = Runtime::new();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("data.txt"), "host-data").unwrap();
    let mut b = Bundle::new(&["true"]);
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": host.path(), "options": ["rbind", "ro"]}));
    let out = sh(&rt, &mut b, "cat /data/data.txt; echo; touch /data/new 2>&1; echo rc=$?");
    assert!(out.stdout.starts_with("host-data"), "{out}");
    assert!(out.stdout.contains("Read-only file system"), "{out}");
    assert!(!host.path().join("new").exists());
    assert!(mounts_mentioning(host.path()).is_empty(), "bind mount leaked to the host");
}

#[test]
fn tmpfs_with_size_and_mode() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.add_mount(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "size=1m", "mode=1770"]}));
    let out = sh(&rt, &mut b, "stat -c %a /scratch; grep ' /scratch ' /proc/self/mountinfo");
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("1770"), "{out}");
    let mi = lines.next().unwrap_or_default();
    assert!(mi.contains(" - tmpfs ") && mi.contains("size=1024k") && mi.contains("nosuid"), "{out}");
}

#[test]
fn proc_sysfs_devpts_mqueue_cgroup_mounts() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    let out = sh(&rt, &mut b, "cat /proc/self/mounts");
    let find = |dest: &str, ty: &str| {
        out.stdout.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 2 && f[1] == dest && f[2] == ty
        })
    };
    assert!(find("/proc", "proc"), "{out}");
    assert!(find("/sys", "sysfs"), "{out}");
    assert!(find("/dev/pts", "devpts"), "{out}");
    assert!(find("/dev/mqueue", "mqueue"), "{out}");
    assert!(find("/dev/shm", "tmpfs"), "{out}");
    assert!(
        out.stdout.lines().any(|l| l.split_whitespace().nth(1).is_some_and(|d| d.starts_with("/sys/fs/cgroup"))
            && (l.contains(" cgroup ") || l.contains(" cgroup2 "))),
        "a cgroup filesystem under /sys/fs/cgroup: {out}"
    );
}

#[test]
fn relative_mount_destination_is_under_root() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.add_mount(json!({"destination": "reldir", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]}));
    let out = sh(&rt, &mut b, "grep ' /reldir ' /proc/self/mounts");
    assert!(out.stdout.contains("tmpfs"), "{out}");
}

#[test]
fn mount_through_symlink_stays_inside_rootfs() {
    let rt = Runtime::new();
    let host = tempfile::Builder::new().prefix("oxrun-host-target-").tempdir().unwrap();
    std::fs::write(host.path().join("keep"), "untouched").unwrap();
    let mut b = Bundle::new(&["true"]);
    symlink(host.path(), b.rootfs().join("evil")).unwrap();
    b.add_mount(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]}));
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("payload"), "x").unwrap();
    b.add_mount(json!({"destination": "/evil/sub", "type": "bind", "source": src.path(), "options": ["rbind"]}));
    b.set_args(&[
        "sh",
        "-c",
        "ls /evil/sub; echo written > /evil/inside; echo mounts=$(grep -c oxrun-host-target /proc/self/mounts); echo done",
    ]);
    let id = unique("evil");
    let out = rt.run_container(&id, &b, &[]);
    rt.assert_clean(&id, &b);
    let entries: Vec<String> = std::fs::read_dir(host.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["keep"], "the host directory behind the symlink must be untouched");
    assert_eq!(std::fs::read_to_string(host.path().join("keep")).unwrap(), "untouched");
    assert!(mounts_mentioning(host.path()).is_empty(), "mount escaped to the host path");
    assert!(!out.stdout.contains("keep"), "the container must not see the host dir: {out}");
    // runc resolves the symlink inside the rootfs and mounts there: the container runs.
    out.assert_ok();
    assert!(out.stdout.contains("done"), "{out}");
    assert!(out.stdout.lines().any(|l| l == "payload"), "the bind mount must be visible at /evil/sub: {out}");
    assert!(out.stdout.contains("mounts=2"), "both mounts live inside the container's root: {out}");
}

#[test]
fn default_devices_and_dev_symlinks() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    let script = "for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo char:$d; done; \
                  for l in fd stdin stdout stderr ptmx; do echo link:$l=$(readlink /dev/$l); done; \
                  head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok";
    let out = sh(&rt, &mut b, script);
    for d in ["null", "zero", "full", "random", "urandom", "tty"] {
        assert!(out.stdout.lines().any(|l| l == format!("char:{d}")), "/dev/{d} must be a char device: {out}");
    }
    for (l, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        assert!(out.stdout.lines().any(|x| x == format!("link:{l}={target}")), "/dev/{l} -> {target}: {out}");
    }
    assert!(out.stdout.contains("null-ok"), "{out}");
}

#[test]
fn linux_devices_creates_requested_device() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
            "fileMode": 438, "uid": 0, "gid": 0}]);
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}));
    });
    let out = sh(&rt, &mut b, "stat -c '%F %t:%T %a' /dev/mynull; echo hi > /dev/mynull && echo write-ok");
    let first = out.stdout.lines().next().unwrap_or_default();
    assert_eq!(first, "character special file 1:3 666", "{out}");
    assert!(out.stdout.contains("write-ok"), "{out}");
}

#[test]
fn no_pivot_runs_the_container() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "cat /etc/hostname; ls /"]);
    let id = unique("nopiv");
    let out = rt.run_container(&id, &b, &["--no-pivot"]);
    out.assert_ok();
    assert!(out.stdout.starts_with("bundle"), "must see the bundle rootfs: {out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn masked_paths() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    std::fs::create_dir(b.rootfs().join("secret")).unwrap();
    std::fs::write(b.rootfs().join("secret/key"), "s3cr3t").unwrap();
    std::fs::write(b.rootfs().join("secret-file"), "s3cr3t").unwrap();
    b.edit(|c| {
        let m = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        m.push(json!("/secret"));
        m.push(json!("/secret-file"));
    });
    let out = sh(
        &rt,
        &mut b,
        "echo kcore=$(head -c 16 /proc/kcore | wc -c); echo dir=$(ls -A /secret | wc -l); \
                              echo file=$(cat /secret-file | wc -c)",
    );
    assert!(out.stdout.contains("kcore=0"), "/proc/kcore must read empty: {out}");
    assert!(out.stdout.contains("dir=0"), "masked dir must look empty: {out}");
    assert!(out.stdout.contains("file=0"), "masked file must read empty: {out}");
    assert_eq!(std::fs::read_to_string(b.rootfs().join("secret/key")).unwrap(), "s3cr3t");
}

#[test]
fn readonly_paths() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    std::fs::create_dir(b.rootfs().join("rodir")).unwrap();
    b.edit(|c| c["linux"]["readonlyPaths"].as_array_mut().unwrap().push(json!("/rodir")));
    let out = sh(
        &rt,
        &mut b,
        "touch /rodir/x 2>&1; echo rc=$?; echo 1 > /proc/sys/kernel/shm_rmid_forced 2>&1; \
                              echo sys=$?; touch /tmp/ok && echo tmp-ok",
    );
    assert!(out.stdout.contains("Read-only file system"), "{out}");
    assert!(!out.stdout.contains("rc=0") && !out.stdout.contains("sys=0"), "{out}");
    assert!(out.stdout.contains("tmp-ok"), "{out}");
}

#[test]
fn hostname() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["hostname"] = json!("ctr-host"));
    let out = sh(&rt, &mut b, "hostname; cat /proc/sys/kernel/hostname");
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["ctr-host", "ctr-host"], "{out}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "ctr-host", "the host's hostname must not change");
}

/// `domainname` (OCI runtime-spec 1.1). runc 1.1.5 ignores it: oxrun-specific.
#[test]
fn domainname() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["domainname"] = json!("ctr.example"));
    let out = sh(&rt, &mut b, "cat /proc/sys/kernel/domainname");
    assert_eq!(out.stdout.trim(), "ctr.example", "{out}");
    let host = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    assert_ne!(host.trim(), "ctr.example", "the host's domainname must not change");
}

#[test]
fn sysctl_applies_inside_container_namespaces() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_shm = std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap();
    let want_fwd = if host_fwd.trim() == "1" { "0" } else { "1" };
    let want_shm = if host_shm.trim() == "1" { "0" } else { "1" };
    b.edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": want_fwd, "kernel.shm_rmid_forced": want_shm}));
    let out = sh(&rt, &mut b, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced");
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), [want_fwd, want_shm], "{out}");
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(), host_fwd, "host value changed");
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap(), host_shm, "host value changed");
}
