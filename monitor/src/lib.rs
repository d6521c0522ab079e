//! oxmon: a conmon-compatible container monitor (drop-in for conmon 2.1.x as used by Podman).
//! Every system call that needs `unsafe` lives in oxsys (`oxsys::monitor_io` and the crate root).
#![forbid(unsafe_code)]

pub mod child;
pub mod cli;
pub mod ctl;
pub mod diag;
pub mod event_loop;
pub mod exit;
pub mod io;
pub mod lifecycle;
pub mod logs;
pub mod notify;
pub mod oom;
mod os_error;
pub mod runtime_cmd;
pub mod setup;
pub mod sync_pipe;
pub mod timefmt;

// oom.rs (owned elsewhere for now) still calls `crate::warn`; everything else uses `diag::`.
pub(crate) use diag::warn;

/// Entry point of the `oxmon` binary; returns the process exit code.
pub fn run() -> i32 {
    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            diag::error(&format!("option parsing failed: {e}"));
            return 1;
        }
    };
    if opts.version {
        print!("{}", cli::version_text());
        return 0;
    }
    if opts.help {
        let prog = std::env::args().next().unwrap_or_default();
        let prog = std::path::Path::new(&prog).file_name().map(|n| n.to_string_lossy().into_owned());
        print!("{}", cli::help_text(prog.as_deref().unwrap_or("oxmon")));
        return 0;
    }
    diag::set_syslog(opts.syslog);
    diag::set_debug(matches!(opts.log_level.as_deref().and_then(cli::validate_log_level), Some("debug" | "trace")));
    // No tzset here: the first k8s-file timestamp's localtime_r reads the timezone (glibc
    // initialises it on first use), so a monitor whose container never writes never maps
    // libc's timezone and stdio code (part of its RSS).
    match lifecycle::main(opts) {
        Ok(code) => code,
        Err(e) => {
            diag::error(&e.to_string());
            1
        }
    }
}
