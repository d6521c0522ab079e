//! Which runtime binary the tests run (`OXRUN_BIN`), apart from how they run it (runtime.rs).

use std::path::PathBuf;

/// The runtime binary under test: `$OXRUN_BIN`, else `<workspace>/target/release/oxrun`.
pub fn runtime_bin() -> PathBuf {
    match std::env::var_os("OXRUN_BIN") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/oxrun")),
    }
}

/// The basename of the binary under test ("oxrun", "runc", ...).
pub fn runtime_name() -> String {
    runtime_bin().file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// True when the binary under test is runc (the reference), whose error
/// output format (logrus lines) differs from oxrun's.
pub fn is_runc() -> bool {
    runtime_name() == "runc"
}
