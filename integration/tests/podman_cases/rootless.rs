//! Point 3: rootless Podman (an unprivileged user with subordinate ids set
//! up here) on the pair.

use integration::podman::{Options, Pair, Podman, IMAGE};
use integration::util::{exec, CMD_TIMEOUT};
use std::process::Command;

pub const USER: &str = "oxpodman";

/// Creates the user and its /etc/subuid and /etc/subgid ranges when missing.
pub fn ensure_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Command::new("id");
    c.arg("-u").arg(USER);
    if !exec(c, dir.path(), CMD_TIMEOUT).ok() {
        let mut c = Command::new("useradd");
        c.args(["-m", "-s", "/bin/sh", USER]);
        let out = exec(c, dir.path(), CMD_TIMEOUT);
        // A concurrent test run may have created it meanwhile.
        assert!(out.ok() || out.stderr.contains("already exists"), "useradd: {out}");
    }
    for f in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        if !text.lines().any(|l| l.starts_with(&format!("{USER}:"))) {
            use std::io::Write;
            let mut fh = std::fs::OpenOptions::new().append(true).create(true).open(f).expect("open subid file");
            writeln!(fh, "{USER}:400000:65536").expect("append subid range");
        }
    }
}

pub fn rootless_run_and_exec(pair: &str) {
    ensure_user();
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
