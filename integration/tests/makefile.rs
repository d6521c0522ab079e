//! The Makefile finds the binaries where cargo puts them: `$CARGO_TARGET_DIR` when it is set (a common
//! setting among Rust developers), else `target/`. Checked with `make -n` (nothing is built or run).
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

#[test]
fn make_honours_an_absolute_cargo_target_dir() {
    for target in ["demo", "test-integration", "test-shim", "test-podman", "install", "bench"] {
        let plan = make_dry_run(target, Some("/elsewhere/tgt"));
        assert!(plan.contains("/elsewhere/tgt/release/ox"), "make {target} does not use CARGO_TARGET_DIR:\n{plan}");
        assert!(!plan.contains("target/release/ox"), "make {target} still names target/:\n{plan}");
    }
}

#[test]
fn make_takes_a_relative_cargo_target_dir_from_the_repository_as_cargo_does() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let plan = make_dry_run("demo", Some("build-out"));
    let want = format!("{}/build-out/release/oxrun", repo.display());
    assert!(plan.contains(&want), "expected {want} in:\n{plan}");
}

#[test]
fn make_defaults_to_target() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let plan = make_dry_run("demo", None);
    let want = format!("{}/target/release/oxrun", repo.display());
    assert!(plan.contains(&want), "expected {want} in:\n{plan}");
}
