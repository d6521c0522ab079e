//! oxmon: a conmon-compatible container monitor (work in progress).

/// Entry point of the `oxmon` binary; returns the process exit code.
pub fn run() -> i32 {
    eprintln!("oxmon: not implemented yet");
    1
}
