//! Differential: the same bundles under Debian's runc and under the runtime
//! under test give the same stdout, exit code and state keys.

use integration::util::{exec, which, CMD_TIMEOUT};
use integration::{runtime_bin, skip, unique, Bundle, Out, Runtime};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// runc with its own private root.
struct Runc {
    bin: PathBuf,
    root: tempfile::TempDir,
    scratch: tempfile::TempDir,
    ids: Vec<String>,
}

impl Runc {
    fn new() -> Option<Runc> {
        let bin = which("runc")?;
        Some(Runc { bin, root: tempfile::tempdir().ok()?, scratch: tempfile::tempdir().ok()?, ids: Vec::new() })
    }
    fn run(&mut self, args: &[&str]) -> Out {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root.path()).args(args);
        exec(c, self.scratch.path(), CMD_TIMEOUT)
    }
    fn run_container(&mut self, id: &str, b: &Bundle) -> Out {
        self.ids.push(id.to_string());
        self.run(&["run", "--bundle", &b.path_str(), id])
    }
    fn state_dir(&self, id: &str) -> PathBuf {
        self.root.path().join(id)
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        for id in std::mem::take(&mut self.ids) {
            let _ = self.run(&["delete", "--force", &id]);
        }
    }
}

fn runc_or_skip(test: &str) -> Option<Runc> {
    let r = Runc::new();
    if r.is_none() {
        skip(test, "runc (the reference) is not installed");
    }
    r
}

/// Runs `args` under both runtimes, each on its own fresh bundle with the same config.
fn compare(test: &str, args: &[&str], edit: impl Fn(&mut Value)) {
    let Some(mut runc) = runc_or_skip(test) else {
        return;
    };
    let rt = Runtime::new();
    let mut b_ref = Bundle::new(args);
    let mut b_ut = Bundle::new(args);
    // Same config except the (unique) cgroup path.
    let (cg_ref, cg_ut) = (b_ref.cgroups_path(), b_ut.cgroups_path());
    b_ref.edit(|c| edit(c));
    b_ut.edit(|c| {
        edit(c);
        c["linux"]["cgroupsPath"] = Value::from(cg_ut.clone());
    });
    b_ref.edit(|c| c["linux"]["cgroupsPath"] = Value::from(cg_ref.clone()));
    let id = unique("diff");
    let want = runc.run_container(&id, &b_ref);
    let got = rt.run_container(&id, &b_ut, &[]);
    integration::leftovers::assert_clean(&runc.state_dir(&id), b_ref.path(), &b_ref.rootfs(), &b_ref.cgroups_path());
    rt.assert_clean(&id, &b_ut);
    got.assert_no_panic();
    assert_eq!(
        got.code(),
        want.code(),
        "exit code differs from runc ({}):\nrunc: {want}\nut: {got}",
        runtime_bin().display()
    );
    assert_eq!(got.stdout, want.stdout, "stdout differs from runc:\nrunc: {want}\nut: {got}");
}

#[test]
fn diff_echo_stdout() {
    compare("diff_echo_stdout", &["echo", "hello from a container"], |_| {});
}

#[test]
fn diff_exit_code_3() {
    compare("diff_exit_code_3", &["sh", "-c", "echo before; exit 3"], |_| {});
}

#[test]
fn diff_capabilities() {
    compare("diff_capabilities", &["sh", "-c", "cat /proc/self/status | grep Cap"], |_| {});
}

#[test]
fn diff_capabilities_non_root_user() {
    compare(
        "diff_capabilities_non_root_user",
        &["sh", "-c", "id; cat /proc/self/status | grep -E 'Cap|NoNewPrivs'"],
        |c| {
            c["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
        },
    );
}

#[test]
fn diff_hostname() {
    compare("diff_hostname", &["hostname"], |_| {});
}

#[test]
fn diff_ls_root() {
    compare("diff_ls_root", &["ls", "/"], |_| {});
}

#[test]
fn diff_ls_dev() {
    // No timestamps: the two runs may straddle a minute.
    compare("diff_ls_dev", &["sh", "-c", "stat -c '%n %F %a %u:%g %t:%T %N' /dev/* /dev/pts/*"], |_| {});
}

#[test]
fn diff_env() {
    compare("diff_env", &["env"], |_| {});
}

#[test]
fn diff_env_non_root_user_home() {
    compare("diff_env_non_root_user_home", &["env"], |c| {
        c["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    });
}

#[test]
fn diff_mounts() {
    // Mount points and types (options and sources carry host-specific values).
    compare("diff_mounts", &["sh", "-c", "awk '{print $2, $3}' /proc/self/mounts"], |_| {});
}

#[test]
fn diff_missing_binary_exit_code() {
    compare("diff_missing_binary_exit_code", &["no-such-binary"], |_| {});
}

fn state_keys(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn diff_state_keys_of_created_container() {
    let Some(mut runc) = runc_or_skip("diff_state_keys_of_created_container") else {
        return;
    };
    let rt = Runtime::new();
    for annotated in [false, true] {
        let mut b_ref = Bundle::new(&["sleep", "1000"]);
        let mut b_ut = Bundle::new(&["sleep", "1000"]);
        if annotated {
            for b in [&mut b_ref, &mut b_ut] {
                b.edit(|c| c["annotations"] = serde_json::json!({"k": "v"}));
            }
        }
        let id = unique("dstate");
        runc.ids.push(id.clone());
        runc.run(&["create", "--bundle", &b_ref.path_str(), &id]).assert_ok();
        rt.create(&id, &b_ut).assert_ok();
        let want_out = runc.run(&["state", &id]);
        let want: Value = serde_json::from_str(&want_out.stdout).expect("runc state JSON");
        let got = rt.state(&id);
        assert_eq!(state_keys(&got), state_keys(&want), "state keys differ from runc:\nrunc: {want}\nut: {got}");
        assert_eq!(got["status"], want["status"]);
        assert_eq!(got["ociVersion"].as_str().map(|s| &s[..2]), Some("1."));
        runc.run(&["delete", "--force", &id]).assert_ok();
        rt.delete_force(&id).assert_ok();
        rt.assert_clean(&id, &b_ut);
        integration::leftovers::assert_clean(
            &runc.state_dir(&id),
            b_ref.path(),
            &b_ref.rootfs(),
            &b_ref.cgroups_path(),
        );
    }
}

/// `spec` of the runtime under test matches runc's default config (ociVersion and hostname aside).
#[test]
fn diff_spec_default_matches_runc() {
    let Some(runc) = runc_or_skip("diff_spec_default_matches_runc") else {
        return;
    };
    let rt = Runtime::new();
    let gen = |bin: &std::path::Path, rootless: bool| -> Value {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Command::new(bin);
        c.arg("spec").current_dir(dir.path());
        if rootless {
            c.arg("--rootless");
        }
        exec(c, rt.scratch(), CMD_TIMEOUT).assert_ok();
        let mut v: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("ociVersion");
        // runc names the default hostname after itself; oxrun may do the same.
        let host = o.remove("hostname").unwrap_or(Value::Null);
        assert!(host.as_str().is_some_and(|h| !h.is_empty()), "spec sets a default hostname: {host}");
        v
    };
    for rootless in [false, true] {
        let want = gen(&runc.bin, rootless);
        let got = gen(rt.bin(), rootless);
        if rootless {
            // The mappings name the caller's ids: same shape, compared field by field above.
            assert_eq!(state_keys(&got["linux"]), state_keys(&want["linux"]), "rootless linux keys");
            assert_eq!(got["linux"]["namespaces"], want["linux"]["namespaces"]);
            assert_eq!(got["mounts"], want["mounts"], "rootless mounts");
        } else {
            assert_eq!(got, want, "spec differs from runc's");
        }
    }
}
