//! The Makefile finds the binaries where cargo puts them: `$CARGO_TARGET_DIR` when it is set (a common
//! setting among Rust developers), else `target/`; oxrun under `x86_64-unknown-linux-musl/` there
//! when that Rust target is installed. Checked with `make -n` (nothing is built or run).
use std::path::Path;
use std::process::Command;

fn make_dry_run(target: &str, target_dir: Option<&str>) -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = Command::new("make");
    cmd.arg("-n").arg("-C").arg(&repo).arg(target).env_remove("CARGO_TARGET_DIR").env_remove("MAKEFLAGS");
    if let Some(dir) = target_dir {
        cmd.env("CARGO_TARGET_DIR", dir);
    }
    let out = cmd.output().expect("run make");
    assert!(out.status.success(), "make -n {target} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Where the Makefile's oxrun is under the cargo target directory `dir`: the musl build when the
/// Rust target is installed (the Makefile's own test), else the glibc one.
fn oxrun_under(dir: &str) -> String {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output().expect("run rustc");
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    if Path::new(&sysroot).join("lib/rustlib/x86_64-unknown-linux-musl/lib").is_dir() {
        format!("{dir}/x86_64-unknown-linux-musl/release/oxrun")
    } else {
        format!("{dir}/release/oxrun")
    }
}

#[test]
fn make_builds_and_uses_the_musl_oxrun_when_the_target_is_installed() {
    let want = oxrun_under("/elsewhere/tgt");
    for target in ["demo", "test-integration", "test-podman", "install", "bench", "test-vm"] {
        let plan = make_dry_run(target, Some("/elsewhere/tgt"));
        assert!(plan.contains(&want), "make {target} does not use {want}:\n{plan}");
    }
    let build = make_dry_run("build", Some("/elsewhere/tgt"));
    let builds_musl = build.contains("--target x86_64-unknown-linux-musl");
    assert_eq!(builds_musl, want.contains("musl"), "make build and the oxrun path disagree:\n{build}");
}

#[test]
fn make_honours_an_absolute_cargo_target_dir() {
    for target in ["demo", "test-integration", "test-shim", "test-podman", "install", "bench"] {
        let plan = make_dry_run(target, Some("/elsewhere/tgt"));
        assert!(plan.contains("/elsewhere/tgt/"), "make {target} does not use CARGO_TARGET_DIR:\n{plan}");
        for old in ["target/release/ox", "target/x86_64-unknown-linux-musl/"] {
            assert!(!plan.contains(old), "make {target} still names target/:\n{plan}");
        }
    }
}

#[test]
fn make_takes_a_relative_cargo_target_dir_from_the_repository_as_cargo_does() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let plan = make_dry_run("demo", Some("build-out"));
    let want = oxrun_under(&format!("{}/build-out", repo.display()));
    assert!(plan.contains(&want), "expected {want} in:\n{plan}");
}

#[test]
fn make_defaults_to_target() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let plan = make_dry_run("demo", None);
    let want = oxrun_under(&format!("{}/target", repo.display()));
    assert!(plan.contains(&want), "expected {want} in:\n{plan}");
}
