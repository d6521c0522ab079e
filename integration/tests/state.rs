//! Point 3: container state on disk and as printed by `state`.

use integration::leftovers::cgroup_roots;
use integration::util::pid_alive;
use integration::{unique, Bundle, Runtime};
use serde_json::Value;
use std::time::Duration;

const KEYS: [&str; 8] = ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"];

fn assert_state_shape(v: &Value, id: &str, b: &Bundle) {
    for k in KEYS {
        assert!(v.get(k).is_some(), "state lacks {k}: {v}");
    }
    assert_eq!(v["id"], id);
    assert!(v["ociVersion"].as_str().unwrap_or_default().starts_with("1."), "{v}");
    assert_eq!(v["bundle"], b.path_str().as_str());
    assert_eq!(v["rootfs"], b.rootfs().to_string_lossy().as_ref());
    let created = v["created"].as_str().unwrap_or_default();
    assert!(created.len() >= 20 && &created[4..5] == "-" && &created[10..11] == "T", "created not RFC 3339: {created}");
    assert!(v["owner"].is_string(), "{v}");
}

#[test]
fn state_lifecycle_created_running_stopped() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("st");
    rt.create(&id, &b).assert_ok();
    assert!(rt.state_dir(&id).join("state.json").is_file(), "<root>/<id>/state.json must exist");
    let v = rt.state(&id);
    assert_state_shape(&v, &id, &b);
    assert_eq!(v["status"], "created");
    let pid = v["pid"].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0 && pid_alive(pid), "created container has a live init pid: {v}");
    rt.start(&id).assert_ok();
    let v = rt.state(&id);
    assert_eq!(v["status"], "running");
    assert_eq!(v["pid"].as_i64().unwrap_or(0) as i32, pid, "pid is stable across start");
    rt.kill(&id, "KILL").assert_ok();
    rt.wait_status(&id, "stopped");
    let v = rt.state(&id);
    assert_state_shape(&v, &id, &b);
    assert_eq!(v["pid"], 0, "stopped container reports pid 0: {v}");
    rt.delete(&id).assert_ok();
    assert!(!rt.state_dir(&id).exists());
    rt.run(&["state", &id]).assert_fail().assert_no_panic();
    rt.assert_clean(&id, &b);
}

#[test]
fn state_reports_paused_when_cgroup_is_frozen() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("frz");
    rt.create_start(&id, &b);
    let freezer = cgroup_roots()
        .into_iter()
        .find(|r| r.join("freezer.state").exists() || r.ends_with("freezer"))
        .map(|r| r.join(b.cgroups_path().trim_start_matches('/')).join("freezer.state"));
    let Some(freezer) = freezer.filter(|p| p.exists()) else {
        integration::skip("state_reports_paused_when_cgroup_is_frozen", "no v1 freezer cgroup for the container");
        return;
    };
    std::fs::write(&freezer, "FROZEN").expect("freeze");
    integration::util::wait_for(Duration::from_secs(5), "frozen", || {
        (std::fs::read_to_string(&freezer).unwrap_or_default().trim() == "FROZEN").then_some(())
    });
    let st = rt.status(&id);
    std::fs::write(&freezer, "THAWED").expect("thaw");
    assert_eq!(st, "paused");
    rt.wait_status(&id, "running");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn state_shows_annotations() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["annotations"] = serde_json::json!({"org.oxrun.test": "value-1", "other": "x"}));
    let id = unique("ann");
    rt.create(&id, &b).assert_ok();
    let v = rt.state(&id);
    assert_eq!(v["annotations"]["org.oxrun.test"], "value-1", "{v}");
    assert_eq!(v["annotations"]["other"], "x", "{v}");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn bad_ids_are_rejected_without_touching_the_root() {
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    for id in ["a/b", "..", "", "../escape", "x/../../y"] {
        let out = rt.create(id, &b);
        out.assert_fail().assert_no_panic();
        let entries: Vec<_> =
            std::fs::read_dir(rt.root()).map(|r| r.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        assert!(entries.is_empty(), "bad id {id:?} created {entries:?}");
        assert!(!rt.root().parent().unwrap().join("escape").exists());
    }
    rt.assert_clean("never-created", &b);
}

#[test]
fn list_shows_status_of_each_container() {
    let rt = Runtime::new();
    let b1 = Bundle::new(&["sleep", "1000"]);
    let b2 = Bundle::new(&["sleep", "1000"]);
    let (a, z) = (unique("la"), unique("lz"));
    rt.create(&a, &b1).assert_ok();
    rt.create_start(&z, &b2);
    let j = rt.run(&["list", "--format", "json"]);
    j.assert_ok();
    let v: Value = serde_json::from_str(&j.stdout).expect("json");
    let find = |id: &str| v.as_array().unwrap().iter().find(|e| e["id"] == id).cloned().unwrap_or(Value::Null);
    assert_eq!(find(&a)["status"], "created", "{v}");
    assert_eq!(find(&z)["status"], "running", "{v}");
    assert!(find(&z)["pid"].as_i64().unwrap_or(0) > 0);
    rt.delete_force(&a).assert_ok();
    rt.delete_force(&z).assert_ok();
    rt.assert_clean(&a, &b1);
    rt.assert_clean(&z, &b2);
}
