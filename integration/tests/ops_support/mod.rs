//! Helpers shared by exec.rs and operate.rs: a running busybox container and the
//! commands that operate on it.
#![allow(dead_code)]

use integration::util::{wait_for, Out};
use integration::{unique, Bundle, Runtime};
use std::path::PathBuf;
use std::time::Duration;

/// A started container whose init sleeps; force-deleted (and checked clean) by [`Running::finish`].
pub struct Running {
    pub rt: Runtime,
    pub b: Bundle,
    pub id: String,
}

impl Running {
    /// Creates and starts `b` (its args should keep it running).
    #[track_caller]
    pub fn start(b: Bundle, prefix: &str) -> Running {
        let rt = Runtime::new();
        let id = unique(prefix);
        rt.create_start(&id, &b);
        rt.wait_status(&id, "running");
        Running { rt, b, id }
    }

    /// A busybox container running `sleep 1000` with the bundle edited by `f`.
    #[track_caller]
    pub fn sleeping(prefix: &str, f: impl FnOnce(&mut serde_json::Value)) -> Running {
        let mut b = Bundle::new(&["sleep", "1000"]);
        b.edit(f);
        Running::start(b, prefix)
    }

    /// `exec flags... <id> cmd...`, waiting for it.
    pub fn exec(&self, flags: &[&str], cmd: &[&str]) -> Out {
        self.rt.run(&exec_args(flags, &self.id, cmd))
    }

    /// The container's init pid (host view).
    #[track_caller]
    pub fn pid(&self) -> i32 {
        self.rt.pid(&self.id)
    }

    /// A path in the scratch directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.rt.scratch().join(name)
    }

    /// Force-deletes the container and asserts nothing is left behind.
    #[track_caller]
    pub fn finish(self) {
        self.rt.delete_force(&self.id).assert_ok();
        self.rt.assert_clean(&self.id, &self.b);
    }
}

/// `["exec", flags..., id, cmd...]`.
pub fn exec_args<'a>(flags: &[&'a str], id: &'a str, cmd: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["exec"];
    v.extend_from_slice(flags);
    v.push(id);
    v.extend_from_slice(cmd);
    v
}

/// Reads a pid file written by the runtime (waits up to 10 s for it).
#[track_caller]
pub fn read_pid_file(p: &std::path::Path) -> i32 {
    wait_for(Duration::from_secs(10), "pid file", || std::fs::read_to_string(p).ok()?.trim().parse().ok())
}

#[allow(unused_imports)] // not every test binary that includes ops_support reads /proc status
pub use integration::util::status_field;

/// The namespace link target of `/proc/<pid>/ns/<kind>`.
pub fn ns_link(pid: i32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Exactly one non-empty stderr line, naming `id` (not asserted for runc, whose logrus
/// lines do not name the container).
#[track_caller]
pub fn assert_one_error_line(out: &Out, id: &str) {
    out.assert_fail().assert_no_panic();
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if integration::is_runc() {
        integration::note(&format!("[runc reference, not asserted] {:?}: {lines:?}", out.cmdline));
        return;
    }
    assert_eq!(lines.len(), 1, "exactly one error line expected: {out}");
    assert!(lines[0].contains(id), "the error must name {id:?}: {out}");
}

/// A user namespace for the container (container ids 0.. mapped to host 100000..), and no
/// cgroup mount (not permitted from an unprivileged user namespace).
pub fn with_userns(c: &mut serde_json::Value) {
    with_userns_at(c, 100000);
}

/// A user namespace mapping container ids 0..65536 to `host_id`...
pub fn with_userns_at(c: &mut serde_json::Value, host_id: u32) {
    let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
    ns.retain(|n| n["type"] != "user");
    ns.push(serde_json::json!({"type": "user"}));
    let map = serde_json::json!([{"containerID": 0, "hostID": host_id, "size": 65536}]);
    c["linux"]["uidMappings"] = map.clone();
    c["linux"]["gidMappings"] = map;
    c["mounts"].as_array_mut().expect("mounts").retain(|m| m["type"] != "cgroup");
}
