//! oxmon: a conmon-compatible container monitor (drop-in for conmon 2.1.x as used by Podman).
//! Every system call that needs `unsafe` lives in oxsys (`oxsys::monitor_io` and the crate root).
#![forbid(unsafe_code)]

pub mod child;
pub mod cli;
pub mod ctl;
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

use std::sync::atomic::{AtomicBool, Ordering};

static SYSLOG: AtomicBool = AtomicBool::new(false);

fn diag(level: char, prio: u8, msg: &str) {
    eprintln!("[conmon:{level}]: {msg}");
    if SYSLOG.load(Ordering::Relaxed) {
        use nix::sys::socket::{sendto, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
        use std::os::fd::AsRawFd;
        if let (Ok(s), Ok(addr)) = (
            socket(AddressFamily::Unix, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None),
            UnixAddr::new("/dev/log"),
        ) {
            let line = format!("<{prio}>conmon: {msg}");
            // Never block the monitor on a syslog daemon that does not read (a full queue).
            let _ = sendto(s.as_raw_fd(), line.as_bytes(), &addr, MsgFlags::MSG_DONTWAIT);
        }
    }
}

/// Prints an error diagnostic (`[conmon:e]: ...`), also to syslog with `--syslog`.
pub fn error(msg: &str) {
    diag('e', 11, msg);
}

/// Prints a warning diagnostic (`[conmon:w]: ...`).
pub fn warn(msg: &str) {
    diag('w', 12, msg);
}

/// Entry point of the `oxmon` binary; returns the process exit code.
pub fn run() -> i32 {
    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            error(&format!("option parsing failed: {e}"));
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
    SYSLOG.store(opts.syslog, Ordering::Relaxed);
    oxsys::monitor_io::init_timezone();
    match lifecycle::main(opts) {
        Ok(code) => code,
        Err(e) => {
            error(&e.to_string());
            1
        }
    }
}
