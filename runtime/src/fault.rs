//! Test-only stop points in the create sequence (reliability tests).
//!
//! Built with the `fault-injection` feature and run with `OXRUN_FAULT=<name>` (or
//! `OXRUN_FAULT=<name>:stop`), [`point`] SIGKILLs the process (or SIGSTOPs it, so a test can
//! inspect the half-done state and kill it itself) when `name` is reached. Without the feature
//! [`point`] is an empty inline function: release builds carry neither the names nor the check.

/// The stop points of `create`, in order (the reliability tests iterate over them).
pub const CREATE_POINTS: &[&str] = &[
    "after-state-dir",
    "after-cgroups",
    "after-exec-fifo",
    "after-spawn",
    "after-id-maps",
    "after-cgroup-join",
    "after-continue",
    "after-ready",
    "after-state-json",
    "after-pid-file",
];

/// Stops or kills this process if `OXRUN_FAULT` names `name` (fault-injection builds only).
#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    let Ok(want) = std::env::var("OXRUN_FAULT") else { return };
    let (point, action) = want.split_once(':').unwrap_or((want.as_str(), "kill"));
    if point != name {
        return;
    }
    let signal = if action == "stop" { libc::SIGSTOP } else { libc::SIGKILL };
    let _ = oxsys::kill(std::process::id() as i32, signal);
}

/// Compiled to nothing without the `fault-injection` feature.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}

/// Whether this binary was built with stop points.
pub const ENABLED: bool = cfg!(feature = "fault-injection");
