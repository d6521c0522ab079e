//! Point 1: `make install` (PREFIX, DESTDIR) installs oxrun, oxmon and the
//! containers.conf drop-in, and Podman 4.3.1 takes the drop-in: default
//! runtime oxrun, monitor oxmon. The drop-in is checked by a real Podman
//! through the test user's own drop-in directory
//! (~/.config/containers/containers.conf.d/, read by rootless Podman like
//! /etc/containers/containers.conf.d/), so the host's /etc is never touched.

use integration::podman::{home_of, oxmon_bin, Pair};
use integration::util::{exec, CMD_TIMEOUT};
use std::path::Path;
use std::process::Command;

const DROPIN: &str = "etc/containers/containers.conf.d/50-oxrun.conf";

pub fn make_install_and_dropin(pair: &str) {
    let p = Pair::get(pair);
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tmp = tempfile::Builder::new().prefix("oxrun-install-").tempdir().expect("tempdir");
    let t = tmp.path();
    // The Makefile installs from $(RELEASE_DIR)/oxrun and /oxmon.
    let rel = t.join("release");
    std::fs::create_dir_all(&rel).unwrap();
    std::os::unix::fs::symlink(&p.runtime, rel.join("oxrun")).unwrap();
    std::os::unix::fs::symlink(oxmon_bin(), rel.join("oxmon")).unwrap();
    let stage = t.join("stage");
    let make = |prefix: &str| {
        let mut c = Command::new("make");
        c.arg("-C").arg(&ws).args(["-o", "build", "install"]);
        c.arg(format!("RELEASE_DIR={}", rel.display()));
        c.arg(format!("DESTDIR={}", stage.display()));
        c.arg(format!("PREFIX={prefix}"));
        exec(c, t, CMD_TIMEOUT)
    };
    // Default PREFIX layout.
    make("/usr/local").assert_ok();
    for b in ["usr/local/bin/oxrun", "usr/local/bin/oxmon"] {
        let m = std::fs::metadata(stage.join(b)).unwrap_or_else(|e| panic!("{b}: {e}"));
        assert!(
            m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0,
            "{b} not executable"
        );
    }
    let conf = std::fs::read_to_string(stage.join(DROPIN)).expect("drop-in installed");
    assert!(conf.contains(r#"oxrun = ["/usr/local/bin/oxrun"]"#), "{conf}");
    assert!(conf.contains(r#"conmon_path = ["/usr/local/bin/oxmon"]"#), "{conf}");
    assert!(conf.contains(r#"runtime = "oxrun""#), "{conf}");
    // Another PREFIX: the paths follow it, DESTDIR does not leak into them.
    make("/opt/ox").assert_ok();
    let conf = std::fs::read_to_string(stage.join(DROPIN)).unwrap();
    assert!(conf.contains(r#"["/opt/ox/bin/oxrun"]"#) && conf.contains(r#"["/opt/ox/bin/oxmon"]"#), "{conf}");
    assert!(!conf.contains(&stage.display().to_string()), "DESTDIR leaked into the drop-in: {conf}");

    // Podman reads it: point the drop-in at the staged binaries and give it to the test user.
    let _user = crate::rootless::hold_user();
    let user = crate::rootless::USER;
    let home = home_of(user);
    let dropin_dir = Path::new(&home).join(".config/containers/containers.conf.d");
    std::fs::create_dir_all(&dropin_dir).unwrap();
    let staged_bin = stage.join("opt/ox/bin");
    let conf = conf.replace("/opt/ox/bin/", &format!("{}/", staged_bin.display()));
    let dropin = dropin_dir.join("50-oxrun.conf");
    std::fs::write(&dropin, conf).unwrap();
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _rm = Rm(dropin.clone());
    let xdg = t.join("xdg");
    // Rootless Podman's pause process (catatonit -P) runs with this private XDG_RUNTIME_DIR.
    struct KillUsing(std::path::PathBuf);
    impl Drop for KillUsing {
        fn drop(&mut self) {
            for pid in integration::podman::procs_using(&self.0) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
    let _kill = KillUsing(t.to_path_buf());
    std::fs::create_dir_all(&xdg).unwrap();
    for (path, mode) in [(t, 0o755), (stage.as_path(), 0o755), (xdg.as_path(), 0o700)] {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    let mut c = Command::new("chown");
    c.arg("-R").arg(format!("{user}:")).arg(&xdg).arg(&dropin_dir);
    exec(c, t, CMD_TIMEOUT).assert_ok();
    let mut c = Command::new("runuser");
    c.args(["-u", user, "--", "podman"])
        .arg("--root")
        .arg(xdg.join("root"))
        .arg("--runroot")
        .arg(xdg.join("runroot"))
        .args(["info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}} {{.Host.Conmon.Path}}"])
        .env_remove("CONTAINERS_CONF")
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &xdg)
        .current_dir(t);
    let out = exec(c, t, CMD_TIMEOUT);
    out.assert_ok();
    let want = format!("oxrun {0}/oxrun {0}/oxmon", staged_bin.display());
    assert_eq!(out.stdout.trim(), want, "Podman did not take the installed drop-in: {out}");
}
