//! The properties the fuzz targets check, shared with the deterministic smoke test
//! (tests/smoke.rs). Each function must never panic, whatever the input; a panic is a bug.
#![forbid(unsafe_code)]
use oxmon::logs::k8s_file::{format_record, split_lines};
use oxmon::logs::Stream;
use std::path::Path;

/// config.json bytes → serde parse → `oxrun::plan::build`: an error or a plan, never a panic.
pub fn config_plan(data: &[u8]) {
    let Ok(spec) = serde_json::from_slice::<oxrun::spec::Spec>(data) else { return };
    let bundle = Path::new("/nonexistent-fuzz-bundle");
    // Planned for two made-up hosts (the planner reads nothing of the real one): the default
    // and a pure cgroup v2 host.
    let v2 = oxrun::plan::Host { resources: oxrun::cgroups::resources::Host::v2(), ..Default::default() };
    for host in [oxrun::plan::Host::default(), v2] {
        let _ = oxrun::plan::build(&spec, bundle, "fuzz", oxrun::plan::CreateOptions::default(), &host);
    }
}

/// The monitor's command line (NUL-separated arguments): options or an error, never a panic.
pub fn monitor_cli(data: &[u8]) {
    let args: Vec<String> = data.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    if let Ok(opts) = oxmon::cli::parse(args) {
        let _ = oxmon::logs::parse_drivers(&opts);
        let _ = oxmon::logs::k8s_limits(&opts);
    }
}

/// Bytes written to the ctl/winsz FIFOs, in arbitrary chunks: lines are at most 200 bytes and
/// contain no newline; accepted sizes are within 0..=1000 (conmon HEAD's limits).
pub fn ctl_fifo(data: &[u8]) {
    let mut lb = oxmon::ctl::LineBuf::default();
    let chunk = 1 + data.first().copied().unwrap_or(0) as usize % 64;
    for part in data.chunks(chunk) {
        for line in lb.feed(part) {
            assert!(!line.contains('\n'));
            assert!(line.chars().count() <= 200 + 64, "line longer than the buffer allows: {}", line.len());
            if let Ok(oxmon::ctl::CtlMsg::Resize { rows, cols }) = oxmon::ctl::parse_ctl_line(&line) {
                assert!(rows <= 1000 && cols <= 1000, "{line:?} gave {rows}x{cols}");
            }
            if let Ok((rows, cols)) = oxmon::ctl::parse_winsz_line(&line) {
                assert!(rows <= 1000 && cols <= 1000, "{line:?} gave {rows}x{cols}");
            }
        }
    }
}

/// The k8s-file record writer: for any output, split in arbitrary reads, every record is
/// `<ts> <stream> <P|F> <line>\n` with no other newline, its size is what `record_size` says, and
/// the records' contents put back together are exactly the output.
pub fn k8s_file(data: &[u8]) {
    let ts = "2026-11-29T18:00:00.000000000+00:00";
    let chunk = 1 + data.first().copied().unwrap_or(0) as usize % 97;
    let mut out = Vec::new();
    let mut rebuilt = Vec::new();
    for part in data.chunks(chunk) {
        for (line, partial) in split_lines(part) {
            let before = out.len();
            format_record(&mut out, ts, Stream::Stdout, line, partial);
            let rec = &out[before..];
            assert_eq!(rec.len() as i64, oxmon::logs::k8s_file::record_size(line.len(), partial), "record size");
            assert_eq!(rec.last(), Some(&b'\n'));
            assert_eq!(rec.iter().filter(|&&b| b == b'\n').count(), 1, "one newline per record");
            let head = format!("{ts} stdout {} ", if partial { 'P' } else { 'F' });
            assert!(rec.starts_with(head.as_bytes()));
            let body = &rec[head.len()..rec.len() - 1];
            rebuilt.extend_from_slice(body);
            if !partial {
                rebuilt.push(b'\n');
            }
        }
    }
    assert_eq!(rebuilt, data, "records reassemble to the output");
}
