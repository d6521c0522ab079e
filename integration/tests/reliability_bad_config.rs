//! Issue 9, bad input: a table of hostile config.json edits. Each must fail `create` with one
//! clear error line naming the id (no panic, no hang) and leave nothing behind.

use integration::{unique, Bundle, Runtime};
use serde_json::{json, Value};

type Edit = fn(&mut Value);

/// Why a case is legal: the runtime-spec allows it and runc accepts it too.
fn legal(name: &str) -> Option<&'static str> {
    match name {
        "relative mount destination" => Some("runc resolves a relative destination against / with a warning"),
        "absurd cpu shares" => Some("the kernel clamps shares, and a negative v1 cfs quota means unlimited"),
        "huge env array" => Some("nothing limits the environment's size but the exec, which fits"),
        _ => None,
    }
}

fn cases() -> Vec<(&'static str, Edit)> {
    vec![
        ("missing process", |c| {
            c.as_object_mut().unwrap().remove("process");
        }),
        ("missing root", |c| {
            c.as_object_mut().unwrap().remove("root");
        }),
        ("missing ociVersion", |c| {
            c.as_object_mut().unwrap().remove("ociVersion");
        }),
        ("empty args", |c| c["process"]["args"] = json!([])),
        ("args not an array", |c| c["process"]["args"] = json!("sh")),
        ("uid a string", |c| c["process"]["user"]["uid"] = json!("root")),
        ("negative uid", |c| c["process"]["user"]["uid"] = json!(-1)),
        ("uid beyond u32", |c| c["process"]["user"]["uid"] = json!(1u64 << 40)),
        ("root is a number", |c| c["root"] = json!(7)),
        ("unknown namespace", |c| c["linux"]["namespaces"] = json!([{"type": "bogus"}])),
        ("duplicate namespace", |c| c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "pid"}])),
        ("namespace path missing", |c| {
            c["linux"]["namespaces"] = json!([{"type": "net", "path": "/nonexistent/ns/net"}])
        }),
        ("mount destination with ..", |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "../../../etc/escape", "type": "tmpfs", "source": "tmpfs"}))
        }),
        ("relative mount destination", |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "relative/dir", "type": "tmpfs", "source": "tmpfs"}))
        }),
        ("bind mount of a missing source", |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/mnt", "type": "bind", "source": "/nonexistent/src", "options": ["bind"]}))
        }),
        ("rootfs path with ..", |c| c["root"]["path"] = json!("../../../../nonexistent")),
        ("absurd memory limit", |c| c["linux"]["resources"]["memory"] = json!({"limit": -5})),
        ("memory limit a string", |c| c["linux"]["resources"]["memory"] = json!({"limit": "lots"})),
        ("absurd cpu shares", |c| c["linux"]["resources"]["cpu"] = json!({"shares": u64::MAX, "quota": -7})),
        ("absurd rlimit", |c| c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOPE", "hard": 1, "soft": 2}])),
        ("soft rlimit above hard", |c| {
            c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 20}])
        }),
        ("huge env array", |c| c["process"]["env"] = json!((0..100_000).map(|i| format!("V{i}")).collect::<Vec<_>>())),
        ("huge mounts array", |c| {
            c["mounts"] = json!((0..5_000)
                .map(|i| json!({"destination": format!("/m/../x{i}"), "type": "bogusfs", "source": "none"}))
                .collect::<Vec<_>>())
        }),
        ("sysctl outside its namespace", |c| c["linux"]["sysctl"] = json!({"kernel.nope/../../x": "1"})),
        ("uid map without user namespace", |c| {
            c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 0}])
        }),
        ("cwd relative", |c| c["process"]["cwd"] = json!("relative")),
        ("hook path relative", |c| c["hooks"] = json!({"createRuntime": [{"path": "relative-hook"}]})),
        ("hook timeout zero", |c| c["hooks"] = json!({"createRuntime": [{"path": "/bin/true", "timeout": 0}]})),
        ("negative hook timeout", |c| c["hooks"] = json!({"poststop": [{"path": "/bin/true", "timeout": -1}]})),
        ("relative poststop hook", |c| c["hooks"] = json!({"poststop": [{"path": "bin/true"}]})),
        ("unknown seccomp action", |c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_NOPE"})),
        (
            "seccomp syscall array huge and bogus",
            |c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": (0..10_000).map(|i| format!("nosuchcall{i}")).collect::<Vec<_>>(), "action": "SCMP_ACT_KILL_NOPE"}]}),
        ),
        ("cgroupsPath with ..", |c| c["linux"]["cgroupsPath"] = json!("/../../../escape")),
        ("linux a string", |c| c["linux"] = json!("yes")),
    ]
}

#[test]
fn hostile_configs_fail_clearly_and_leave_nothing() {
    let rt = Runtime::new();
    let mut accepted = Vec::new();
    for (name, edit) in cases() {
        let mut b = Bundle::new(&["true"]);
        b.edit(edit);
        let id = unique("hostile");
        let out = rt.create(&id, &b);
        out.assert_no_panic();
        if out.ok() {
            // A few are legal (the kernel decides later, or runc accepts them too); they must
            // still run and clean up. Every other case must be refused.
            accepted.push(name);
            rt.delete_force(&id).assert_ok();
        } else {
            assert!(legal(name).is_none(), "{name}: legal ({}) but refused: {out}", legal(name).unwrap_or(""));
            let err = out.stderr.trim();
            assert_eq!(err.lines().count(), 1, "{name}: one error line: {out}");
            assert!(err.contains(&id), "{name}: the error names the id: {out}");
            assert!(err.len() < 2000, "{name}: a clear (short) error, not a dump: {} bytes", err.len());
        }
        rt.assert_clean(&id, &b);
        assert!(!rt.state_dir(&id).exists(), "{name}: state dir left");
    }
    eprintln!("hostile configs accepted (legal, ran and cleaned up): {accepted:?}");
    let wrongly: Vec<_> = accepted.iter().filter(|n| legal(n).is_none()).collect();
    assert!(wrongly.is_empty(), "accepted but not legal: {wrongly:?}");
    let escape = std::path::Path::new("/sys/fs/cgroup/memory/escape");
    assert!(!escape.exists(), "a cgroupsPath with .. escaped its parent");
}
