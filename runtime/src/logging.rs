//! `--log` and `--log-format`: runc's log contract.
//!
//! json is one object per line with `level`, `msg` and `time` (RFC 3339), the shape Podman and
//! containerd parse. A failure writes exactly one `error` line there and the same message to stderr.
//! Without `--log`, stderr is the log, as in runc: each line carries its level
//! (`time="…" level=error msg="…"`, or the JSON object with `--log-format json`), so that tools
//! reading stderr tell a failure from a success.
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where and how log lines are written.
#[derive(Debug)]
pub struct Logger {
    file: Option<File>,
    json: bool,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging once per process. A log file that cannot be opened is reported on stderr and
/// logging falls back to stderr.
pub fn init(path: Option<&Path>, json: bool, debug: bool) {
    let file = path.and_then(|p| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(p)
            .map_err(|e| {
                let msg = format!("open log file {}: {e}", p.display());
                let line = format_line("error", &crate::errno_text::glibc_wording(&msg), SystemTime::now(), json);
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            })
            .ok()
    });
    let _ = LOGGER.set(Logger { file, json, debug });
}

fn logger() -> Option<&'static Logger> {
    LOGGER.get()
}

/// Logs an error: one line to the log file and the message on stderr, or, without a log file,
/// one log line with `level=error` on stderr.
pub fn error(msg: &str) {
    let msg = &crate::errno_text::glibc_wording(msg);
    write_file("error", msg);
    write_stderr("error", msg, &format!("oxrun: {msg}\n"));
}

/// Logs a warning: to the log file when one is set, and to stderr.
pub fn warn(msg: &str) {
    let msg = &crate::errno_text::glibc_wording(msg);
    write_file("warning", msg);
    write_stderr("warning", msg, &format!("oxrun: warning: {msg}\n"));
}

/// Logs a debug line when `--debug` is set (to stderr without a log file).
pub fn debug(msg: &str) {
    let msg = &crate::errno_text::glibc_wording(msg);
    if logger().is_some_and(|l| l.debug) && !write_file("debug", msg) {
        write_stderr("debug", msg, "");
    }
}

/// Writes the line to the log file; false when there is none.
fn write_file(level: &str, msg: &str) -> bool {
    let Some(logger) = logger() else { return false };
    let Some(mut file) = logger.file.as_ref() else { return false };
    let line = format_line(level, msg, SystemTime::now(), logger.json);
    // One write(2) per line: with O_APPEND concurrent writers never interleave inside a line.
    let _ = file.write_all(line.as_bytes());
    true
}

/// Writes to stderr: a log line (runc's shape) when stderr is the log, else `plain`. A closed
/// stderr is no reason to fail or panic.
fn write_stderr(level: &str, msg: &str, plain: &str) {
    let text = match logger() {
        Some(l) if l.file.is_some() => plain.to_string(),
        l => format_line(level, msg, SystemTime::now(), l.is_some_and(|l| l.json)),
    };
    if !text.is_empty() {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// Formats one log line.
pub fn format_line(level: &str, msg: &str, now: SystemTime, json: bool) -> String {
    let time = rfc3339(now);
    if json {
        let obj = serde_json::json!({ "level": level, "msg": msg, "time": time });
        format!("{obj}\n")
    } else {
        format!("time=\"{time}\" level={level} msg={}\n", serde_json::Value::from(msg))
    }
}

/// RFC 3339 UTC time with nanoseconds, e.g. `2026-11-29T17:00:00.123456789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_709_210_096, 5);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.000000005Z");
    }

    #[test]
    fn json_line_has_the_three_keys_and_escapes() {
        let line = format_line("error", "bad \"quote\"\n", UNIX_EPOCH, true);
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "bad \"quote\"\n");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000000000Z");
    }
}
