//! Point 3: rootless Podman (an unprivileged user with subordinate ids set
//! up here) on the pair.

use integration::podman::{Options, Pair, Podman, IMAGE};
use integration::test_user::{TestUser, UserSpec};

pub const USER: &str = "oxpodman";

/// Holds the test user for a test: created (with a home and subordinate ids) when missing, and
/// removed again after the last test of this run that holds it if this run created it.
pub fn hold_user() -> TestUser {
    TestUser::acquire(UserSpec { name: USER, home: true, sub_start: 400000 })
}

pub fn rootless_run_and_exec(pair: &str) {
    let _user = hold_user();
    let pm = Podman::with(Pair::get(pair), Options { rootless: Some(USER.to_string()), ..Default::default() });
    let out = pm.run(&["run", "--rm", "--network", "none", IMAGE, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    assert!(out.ok(), "[{pair}] rootless `podman run` failed: {out}");
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("0"), "[{pair}] {out}");
    let uid = std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{USER}:x:")).map(|r| r.split(':').next().unwrap_or("").to_string()))
        .unwrap_or_default();
    let first_map: Vec<String> = lines.next().unwrap_or_default().split_whitespace().map(str::to_string).collect();
    assert_eq!(
        first_map.get(..2).map(|v| v.to_vec()),
        Some(vec!["0".to_string(), uid.clone()]),
        "[{pair}] uid 0 must map to {USER} ({uid}): {out}"
    );
    let id = pm.run_d(&["--network", "none", IMAGE, "sleep", "1000"]);
    let out = pm.ok(&["exec", &id, "sh", "-c", "echo in-exec; id -u"]);
    assert_eq!(out.stdout, "in-exec\n0\n", "[{pair}] {out}");
    let pid = pm.pid(&id);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let host_uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap_or("")
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    assert_eq!(host_uid, uid, "[{pair}] the container's root must be {USER} on the host");
    pm.ok(&["stop", "-t", "0", &id]);
    assert_eq!(pm.inspect(&id, "{{.State.ExitCode}}"), "137");
}
