//! AppArmor (issue 16), in the test VM (`make test-vm`: Debian's kernel enables AppArmor, the
//! image has apparmor_parser): a small test profile loaded for the test, applied by oxrun to the
//! container's init and to `oxrun exec`'d processes (`process.apparmorProfile`), checked from
//! `/proc/self/attr/current` inside the container and from the host, and enforced (a path the
//! profile denies cannot be read). An unknown profile fails `run` with one clear error line and
//! leaves nothing behind. Where AppArmor is not enabled every test skips with its reason.

use integration::bundle::Bundle;
use integration::runtime::Runtime;
use integration::skip;
use integration::util::{exec, unique, which};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `Some(apparmor_parser)` when AppArmor is enabled here and its parser installed.
fn apparmor(test: &str) -> Option<PathBuf> {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").unwrap_or_default();
    if enabled.trim() != "Y" {
        skip(test, "AppArmor is not enabled in this kernel (runs in the test VM: make test-vm)");
        return None;
    }
    let parser = which("apparmor_parser");
    if parser.is_none() {
        skip(test, "apparmor_parser is not installed (Debian's apparmor package)");
    }
    parser
}

/// A test profile loaded into the kernel; removed again on drop.
struct Profile {
    name: String,
    file: tempfile::NamedTempFile,
    parser: PathBuf,
}

impl Profile {
    /// Loads profile `oxrun-test-…`: everything allowed but reading `/oxdeny`.
    fn load(parser: &Path) -> Profile {
        let name = unique("oxrun-test");
        let text = format!(
            "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  capability,\n  network,\n  \
             mount,\n  umount,\n  pivot_root,\n  signal,\n  ptrace,\n  unix,\n  deny /oxdeny r,\n}}\n"
        );
        let file = tempfile::Builder::new().prefix("oxrun-aa-").tempfile().expect("profile file");
        std::fs::write(file.path(), text).expect("write profile");
        let p = Profile { name, file, parser: parser.to_path_buf() };
        let mut c = Command::new(&p.parser);
        c.arg("-r").arg(p.file.path());
        exec(c, Path::new("/tmp"), Duration::from_secs(60)).assert_ok();
        p
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let mut c = Command::new(&self.parser);
        c.arg("-R").arg(self.file.path());
        let _ = exec(c, Path::new("/tmp"), Duration::from_secs(60));
    }
}

/// The label a process confined by `profile` reports: `NAME (enforce)`.
fn label(profile: &str) -> String {
    format!("{profile} (enforce)")
}

#[test]
fn profile_applies_to_init_and_exec() {
    let Some(parser) = apparmor("profile_applies_to_init_and_exec") else { return };
    let profile = Profile::load(&parser);
    let rt = Runtime::new();
    let id = unique("aa");
    let mut b = Bundle::new(&["sh", "-c", "cat /proc/self/attr/current > /init-label; exec sleep 300"]);
    let prof = profile.name.clone();
    b.edit(|c| c["process"]["apparmorProfile"] = serde_json::json!(prof));
    std::fs::write(b.rootfs().join("oxdeny"), "secret\n").expect("write /oxdeny");
    rt.create_start(&id, &b);
    let want = label(&profile.name);
    let init_label = b.rootfs().join("init-label");
    let seen = integration::util::poll_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&init_label).is_ok_and(|s| s.ends_with('\n'))
    });
    assert!(seen, "init never wrote its label");
    assert_eq!(std::fs::read_to_string(&init_label).unwrap_or_default().trim(), want, "init's label (from inside)");
    let pid = rt.pid(&id);
    let host_view = std::fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap_or_default();
    assert_eq!(host_view.trim_end_matches(['\n', '\0']), want, "init's label (from the host)");
    let out = rt.run(&["exec", &id, "cat", "/proc/self/attr/current"]);
    assert!(out.ok(), "exec: {out}");
    assert_eq!(out.stdout.trim_end_matches(['\n', '\0']), want, "the exec'd process's label: {out}");
    let out = rt.run(&["exec", &id, "cat", "/oxdeny"]);
    assert!(!out.ok() && out.stderr.contains("Permission denied"), "the profile is not enforced: {out}");
    rt.kill(&id, "KILL").assert_ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn unknown_profile_fails_with_one_line() {
    let Some(_parser) = apparmor("unknown_profile_fails_with_one_line") else { return };
    let rt = Runtime::new();
    let id = unique("aa-unknown");
    let mut b = Bundle::new(&["true"]);
    let prof = unique("oxrun-no-such-profile");
    let p = prof.clone();
    b.edit(|c| c["process"]["apparmorProfile"] = serde_json::json!(p));
    let out = rt.run_container(&id, &b, &[]);
    assert!(!out.ok(), "run with an unknown profile succeeded: {out}");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one error line: {out}");
    assert!(lines[0].contains(&prof), "the error does not name the profile: {out}");
    rt.assert_clean(&id, &b);
}
