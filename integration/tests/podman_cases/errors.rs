//! Point 2: runtime errors reach the Podman user with the runtime's own
//! message, classified by its text (127 not found, 126 permission, 125 other).
//! Podman reads the runtime's `--log` file as ONE JSON object; when that
//! fails it falls back to text relayed by the monitor, so the message must
//! come through clean (no JSON or logrus fragments).

use integration::podman::{podman_for, Podman, IMAGE};
use integration::Out;

fn assert_clean_message(pm: &Podman, out: &Out, needle: &str) {
    let p = &pm.pair;
    let err_line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("Error:"))
        .unwrap_or_else(|| panic!("[{}] no `Error:` line: {out}", p.name));
    assert!(
        err_line.contains(&format!("{}: ", p.runtime_name())),
        "[{}] the error must name the runtime: {out}",
        p.name
    );
    assert!(err_line.contains(needle), "[{}] the error must carry the runtime's message ({needle:?}): {out}", p.name);
    for junk in ["{\"", "\"msg\"", "level=", "runtime stderr", "no logs from conmon"] {
        assert!(!err_line.contains(junk), "[{}] raw log/relay text {junk:?} in the error: {out}", p.name);
    }
}

pub fn not_found_is_127(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    let out = pm.run(&["run", "--rm", "--network", "none", IMAGE, "/nonexistent"]);
    assert_eq!(out.code(), 127, "[{pair}] {out}");
    assert_clean_message(&pm, &out, "/nonexistent");
    assert!(out.stderr.to_lowercase().contains("no such file or directory"), "[{pair}] {out}");
    // A PATH lookup that finds nothing.
    let out = pm.run(&["run", "--rm", "--network", "none", IMAGE, "no-such-command"]);
    assert_eq!(out.code(), 127, "[{pair}] {out}");
    assert_clean_message(&pm, &out, "no-such-command");
    assert!(out.stderr.contains("executable file not found in $PATH"), "[{pair}] {out}");
}

pub fn permission_denied_is_126(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    // /etc/passwd is not executable: execve fails with EACCES.
    let out = pm.run(&["run", "--rm", "--network", "none", IMAGE, "/etc/passwd"]);
    assert_eq!(out.code(), 126, "[{pair}] {out}");
    assert_clean_message(&pm, &out, "ermission denied");
}

/// Podman 4.3.1 gives a generic runtime failure exit code 126 too (the
/// `OCI runtime error` class; runc and crun behave the same), not 125:
/// 125 is for errors in Podman itself.
pub fn other_runtime_error_is_oci_runtime_error(pair: &str) {
    let pm = podman_for(pair);
    pm.assert_pair_sentinel();
    // Podman accepts the value; the kernel refuses it (EINVAL) when the runtime writes it.
    let out = pm.run(&["run", "--rm", "--network", "none", "--sysctl", "kernel.msgmax=abc", IMAGE, "true"]);
    assert_eq!(out.code(), 126, "[{pair}] {out}");
    assert!(out.stderr.contains("Error: OCI runtime error: "), "[{pair}] generic class: {out}");
    assert_clean_message(&pm, &out, "msgmax");
    assert!(out.stderr.to_lowercase().contains("invalid argument"), "[{pair}] {out}");
    assert!(pm.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty(), "[{pair}] --rm container left behind");
}
