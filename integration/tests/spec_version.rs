//! Issue 15, defect 10 and the runtime-spec 1.3.0 version: config.md says `ociVersion` MUST be in
//! SemVer 2.0.0 format; the runtime reports the version it implements in `features`, `--version`
//! and the state (runtime.md: "the version of the Open Container Initiative Runtime
//! Specification with which the state complies").

use integration::{unique, Bundle, Runtime};
use serde_json::Value;

const IMPLEMENTED: &str = "1.3.0";

/// An ociVersion that is not SemVer is refused at create: one error line naming the field,
/// non-zero exit, and nothing left behind. (runc 1.1.5 takes any string; crun 1.8.1 refuses
/// everything but 1.0.x with "unknown version specified"; the spec's MUST wins here.)
#[test]
fn a_non_semver_oci_version_is_refused_at_create() {
    let rt = Runtime::new();
    for bad in ["1.0", "foo", "v1.0.2", "1.0.2.3", "01.0.0"] {
        let mut b = Bundle::new(&["true"]);
        b.edit(|c| c["ociVersion"] = Value::from(bad));
        let id = unique("ver-bad");
        let line = rt.create(&id, &b).one_error_line();
        assert!(line.contains("ociVersion") && line.contains(bad), "{bad}: {line}");
        rt.assert_clean(&id, &b);
    }
}

/// A valid SemVer version outside [ociVersionMin, ociVersionMax] runs (as runc runs it), with a
/// warning that says so; a version inside runs without one.
#[test]
fn versions_outside_the_implemented_range_run_with_a_warning() {
    let rt = Runtime::new();
    for (version, warns) in [("1.4.0", true), ("1.0.2", false), (IMPLEMENTED, false), ("1.2.1-rc.1", false)] {
        let mut b = Bundle::new(&["echo", "ran"]);
        b.edit(|c| c["ociVersion"] = Value::from(version));
        let id = unique("ver-ok");
        let out = rt.run_container(&id, &b, &[]);
        out.assert_ok();
        assert!(out.stdout_now().contains("ran"), "{version}: {out}");
        assert_eq!(out.stderr.contains("outside the versions"), warns, "{version}: {out}");
        rt.delete_force(&id);
        rt.assert_clean(&id, &b);
    }
}

/// features' ociVersionMax, `--version`'s spec line and the state's ociVersion say 1.3.0, also
/// for a container whose config says 1.0.2 (runc prints its own spec version in the state too).
#[test]
fn the_implemented_version_is_1_3_0_everywhere() {
    let rt = Runtime::new();
    let f: Value = serde_json::from_str(&rt.run(&["features"]).assert_ok().stdout).expect("features JSON");
    assert_eq!(f["ociVersionMax"], IMPLEMENTED, "{f}");
    assert_eq!(f["ociVersionMin"], "1.0.0", "{f}");
    let v = rt.run(&["--version"]);
    assert!(v.assert_ok().stdout.lines().any(|l| l == format!("spec: {IMPLEMENTED}")), "{v}");
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|c| c["ociVersion"] = Value::from("1.0.2"));
    let id = unique("ver-state");
    rt.create(&id, &b).assert_ok();
    assert_eq!(rt.state(&id)["ociVersion"], IMPLEMENTED);
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// linux.intelRdt on a runtime without Intel RDT support: schemata it would have to apply are
/// refused at create with one line naming the field and nothing left behind (runc 1.1.5 on this
/// host: "intelRdt.l3CacheSchema is specified in config, but Intel RDT/CAT is not enabled");
/// a closID alone runs with a warning (runc runs it silently).
#[test]
fn intel_rdt_is_refused_clearly_where_it_would_have_to_act() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["linux"]["intelRdt"] = serde_json::json!({ "closID": "oxt", "l3CacheSchema": "L3:0=ff" }));
    let id = unique("rdt-bad");
    let line = rt.create(&id, &b).one_error_line();
    assert!(line.contains("intelRdt.l3CacheSchema"), "{line}");
    rt.assert_clean(&id, &b);
    let mut b = Bundle::new(&["echo", "ran"]);
    b.edit(|c| c["linux"]["intelRdt"] = serde_json::json!({ "closID": "oxt" }));
    let id = unique("rdt-clos");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    assert!(out.stdout_now().contains("ran") && out.stderr.contains("intelRdt ignored"), "{out}");
    rt.delete_force(&id);
    rt.assert_clean(&id, &b);
}
