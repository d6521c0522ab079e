//! Point 3: --cap-drop/--cap-add, --read-only, --user, seccomp (Podman's
//! default profile, a custom profile, unconfined), no-new-privileges.
//!
//! The seccomp cases check enforcement, not just the config: they fail
//! until oxrun applies `linux.seccomp`.

use integration::podman::{podman_for, IMAGE};
use integration::util::status_field;

fn cap_eff(pm: &integration::podman::Podman, extra: &[&str]) -> u64 {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "cat", "/proc/self/status"]);
    let out = pm.ok(&args);
    u64::from_str_radix(&status_field(&out.stdout, "CapEff"), 16).unwrap_or_else(|_| panic!("CapEff: {out}"))
}

pub fn capabilities(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    const CHOWN: u64 = 1 << 0;
    const NET_ADMIN: u64 = 1 << 12;
    const SYS_ADMIN: u64 = 1 << 21;
    let default = cap_eff(&pm, &[]);
    assert!(
        default & CHOWN != 0 && default & NET_ADMIN == 0 && default & SYS_ADMIN == 0,
        "[{pair}] default caps {default:x}"
    );
    assert_eq!(cap_eff(&pm, &["--cap-drop", "ALL"]), 0, "[{pair}] --cap-drop ALL");
    let dropped = cap_eff(&pm, &["--cap-drop", "CHOWN"]);
    assert_eq!(dropped, default & !CHOWN, "[{pair}] --cap-drop CHOWN");
    let added = cap_eff(&pm, &["--cap-add", "NET_ADMIN"]);
    assert_eq!(added, default | NET_ADMIN, "[{pair}] --cap-add NET_ADMIN");
    // Enforcement.
    let out = pm.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cap-drop",
        "CHOWN",
        IMAGE,
        "sh",
        "-c",
        "touch /tmp/f && chown 1000 /tmp/f",
    ]);
    assert!(!out.ok() && out.stderr.contains("Operation not permitted"), "[{pair}] chown without CAP_CHOWN: {out}");
    pm.ok(&["run", "--rm", "--network", "none", IMAGE, "sh", "-c", "touch /tmp/f && chown 1000 /tmp/f"]);
    pm.ok(&["run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN", IMAGE, "ip", "link", "set", "lo", "down"]);
}

pub fn read_only_and_user(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    let out = pm.run(&["run", "--rm", "--network", "none", "--read-only", IMAGE, "sh", "-c", "touch /x"]);
    assert!(!out.ok() && out.stderr.contains("Read-only file system"), "[{pair}] {out}");
    // Podman keeps /tmp, /run, /var/tmp writable (tmpfs) under --read-only.
    pm.ok(&["run", "--rm", "--network", "none", "--read-only", IMAGE, "sh", "-c", "touch /tmp/x /run/x"]);
    let out = pm.ok(&["run", "--rm", "--network", "none", "--user", "1000:1000", IMAGE, "id"]);
    assert!(out.stdout.starts_with("uid=1000(user) gid=1000(user)"), "[{pair}] {out}");
    let out = pm.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "nobody",
        IMAGE,
        "sh",
        "-c",
        "id -u; grep CapEff /proc/self/status",
    ]);
    assert!(out.stdout.starts_with("65534\n"), "[{pair}] {out}");
    assert!(
        out.stdout.contains("CapEff:\t0000000000000000"),
        "[{pair}] a non-root user keeps no effective caps: {out}"
    );
    let out = pm.run(&["run", "--rm", "--network", "none", "--user", "1000", IMAGE, "touch", "/root/x"]);
    assert!(!out.ok(), "[{pair}] user 1000 wrote to /root: {out}");
}

pub fn seccomp_default_profile(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    let out = pm.ok(&["run", "--rm", "--network", "none", IMAGE, "cat", "/proc/self/status"]);
    assert_eq!(
        status_field(&out.stdout, "Seccomp"),
        "2",
        "[{pair}] Podman's default seccomp profile is not applied: {out}"
    );
    let filters: u32 = status_field(&out.stdout, "Seccomp_filters").parse().unwrap_or(0);
    assert!(filters >= 1, "[{pair}] no seccomp filter: {out}");
    // Enforcement of the default profile: it denies swapon(2) with EPERM even
    // with CAP_SYS_ADMIN. Unconfined, the same call reaches the kernel and
    // fails otherwise (an empty file is no swap area).
    let swapon = |extra: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "none", "--cap-add", "SYS_ADMIN"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[IMAGE, "sh", "-c", "touch /tmp/s; swapon /tmp/s"]);
        pm.run(&a)
    };
    let free = swapon(&["--security-opt", "seccomp=unconfined"]);
    assert!(!free.ok() && !free.stderr.contains("Operation not permitted"), "[{pair}] control run: {free}");
    let out = swapon(&[]);
    assert!(!out.ok(), "[{pair}] {out}");
    assert!(
        out.stderr.contains("Operation not permitted"),
        "[{pair}] swapon must be denied (EPERM) by the default profile: {out}"
    );
}

pub fn seccomp_custom_profile_denies_mkdir(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    let profile = pm.scratch().join("deny-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .expect("write profile");
    let opt = format!("seccomp={}", profile.display());
    let out = pm.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        &opt,
        IMAGE,
        "sh",
        "-c",
        "touch /tmp/file && mkdir /tmp/dir",
    ]);
    assert!(!out.ok(), "[{pair}] mkdir succeeded under a profile that denies it: {out}");
    assert!(out.stderr.contains("Operation not permitted"), "[{pair}] mkdir must fail with EPERM: {out}");
    // Control: without the profile the same command works.
    pm.ok(&["run", "--rm", "--network", "none", IMAGE, "sh", "-c", "touch /tmp/file && mkdir /tmp/dir"]);
}

pub fn seccomp_unconfined(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    let out = pm.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        IMAGE,
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(status_field(&out.stdout, "Seccomp"), "0", "[{pair}] {out}");
}

pub fn no_new_privileges(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    let out = pm.ok(&["run", "--rm", "--network", "none", IMAGE, "cat", "/proc/self/status"]);
    assert_eq!(status_field(&out.stdout, "NoNewPrivs"), "0", "[{pair}] {out}");
    let out = pm.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        "no-new-privileges",
        IMAGE,
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(status_field(&out.stdout, "NoNewPrivs"), "1", "[{pair}] {out}");
}
