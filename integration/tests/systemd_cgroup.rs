//! `--systemd-cgroup`: the container's cgroup is a transient systemd scope created over D-Bus.
//!
//! This host has no systemd, so the tests run oxrun against a real dbus-daemon on a private
//! socket with a stand-in for systemd on it (integration/src/systemd_standin.rs), reached through
//! DBUS_SYSTEM_BUS_ADDRESS. What they prove is oxrun's side of the conversation and its cgroup
//! work around it; that real systemd accepts the same call is what the skipped live test would
//! show.

use integration::dbus_wire::V;
use integration::leftovers::cgroup_roots;
use integration::systemd_standin::{Behaviour, Call, PrivateBus, StandIn};
use integration::util::poll_until;
use integration::{is_runc, skip, unique, Bundle, Out, Runtime};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// The tests that make scopes under /system.slice run one at a time, so one test's cleanup
/// never removes a slice directory the other still uses.
static SLICE: Mutex<()> = Mutex::new(());

/// Removes on drop the system.slice directories that did not exist when it was made (real
/// systemd keeps that slice; here oxrun and the stand-in create it).
struct SliceGuard(Vec<PathBuf>);

impl SliceGuard {
    fn new() -> SliceGuard {
        SliceGuard(cgroup_roots().into_iter().map(|r| r.join("system.slice")).filter(|d| !d.exists()).collect())
    }
}

impl Drop for SliceGuard {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn unsupported() -> Option<&'static str> {
    if is_runc() {
        return Some("runc refuses --systemd-cgroup without systemd running (/run/systemd/system)");
    }
    if !Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        return Some("no cgroup v1 memory hierarchy (the stand-in models systemd on a v1 host)");
    }
    if Command::new("dbus-daemon").arg("--version").output().is_err() {
        return Some("dbus-daemon is not installed");
    }
    None
}

/// What each scope test holds: its turn at /system.slice, the slice guard and a private bus.
struct SdHost {
    bus: PrivateBus,
    _slices: SliceGuard,
    _serial: std::sync::MutexGuard<'static, ()>,
}

/// The fixture of a scope test, or None (with the skip printed) where it cannot run.
fn sd_host(test: &str) -> Option<SdHost> {
    if let Some(why) = unsupported() {
        skip(test, why);
        return None;
    }
    let serial = SLICE.lock().unwrap_or_else(|e| e.into_inner());
    let slices = SliceGuard::new();
    Some(SdHost { bus: PrivateBus::start(), _slices: slices, _serial: serial })
}

/// `<bin> --root R --systemd-cgroup args...` with the system bus at `bus`.
fn sd(rt: &Runtime, bus: &str, args: &[&str]) -> Out {
    let mut c = rt.cmd(&["--systemd-cgroup"]);
    c.args(args).env("DBUS_SYSTEM_BUS_ADDRESS", bus);
    rt.exec(c)
}

fn sd_create(rt: &Runtime, bus: &str, id: &str, b: &Bundle) -> Out {
    rt.track(id);
    sd(rt, bus, &["create", "--bundle", &b.path_str(), id])
}

/// A bundle whose cgroupsPath is "system.slice:oxtest:<id>", and the scope's cgroup path.
fn scope_bundle(id: &str, args: &[&str]) -> (Bundle, String) {
    let mut b = Bundle::new(args);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(format!("system.slice:oxtest:{id}"));
        c["linux"]["resources"]["memory"] = json!({"limit": 67108864});
        c["annotations"] = json!({"org.systemd.property.TimeoutStopUSec": "uint64 5000000"});
    });
    (b, format!("/system.slice/oxtest-{id}.scope"))
}

fn scope_dirs(path: &str) -> Vec<PathBuf> {
    integration::leftovers::cgroup_dirs(path)
}

/// A create that failed left neither its state directory nor a scope directory.
#[track_caller]
fn assert_nothing_left(rt: &Runtime, id: &str, path: &str) {
    assert!(!rt.state_dir(id).exists(), "no state may remain");
    assert!(scope_dirs(path).is_empty(), "no cgroup may remain: {:?}", scope_dirs(path));
}

fn calls_named(s: &StandIn, member: &str) -> Vec<Call> {
    s.calls().into_iter().filter(|c| c.member == member).collect()
}

#[test]
fn scope_is_created_joined_limited_and_stopped() {
    let Some(host) = sd_host("scope_is_created_joined_limited_and_stopped") else { return };
    let bus = &host.bus;
    let standin = StandIn::start(&bus.address, Behaviour::default());
    let rt = Runtime::new();
    let id = unique("sd");
    let (b, path) = scope_bundle(&id, &["sleep", "1000"]);
    let unit = format!("oxtest-{id}.scope");
    sd_create(&rt, &bus.address, &id, &b).assert_ok();
    let pid = rt.pid(&id);

    // What systemd was asked for.
    let starts = calls_named(&standin, "StartTransientUnit");
    assert_eq!(starts.len(), 1, "one StartTransientUnit: {:?}", standin.calls());
    assert_eq!(starts[0].args[0], V::S(unit.clone()));
    assert_eq!(starts[0].args[1], V::S("replace".into()));
    let props = starts[0].properties();
    assert_eq!(props.get("PIDs"), Some(&V::A(vec![V::U(pid as u32)])), "{props:?}");
    assert_eq!(props.get("Delegate"), Some(&V::B(true)));
    assert_eq!(props.get("Slice"), Some(&V::S("system.slice".into())));
    assert_eq!(props.get("MemoryLimit"), Some(&V::T(67108864)), "v1 host: MemoryLimit, not MemoryMax");
    assert_eq!(props.get("DefaultDependencies"), Some(&V::B(false)));
    assert_eq!(props.get("TimeoutStopUSec"), Some(&V::T(5_000_000)), "org.systemd.property.* passes through");
    assert!(props.get("Description").and_then(V::text).is_some_and(|d| d.contains(&unit)), "{props:?}");

    // Where init is: the scope in every mounted hierarchy, including those systemd leaves to
    // the runtime (the stand-in, like systemd on v1, does not touch cpuset and freezer).
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let dirs = scope_dirs(&path);
    assert!(dirs.len() >= 6, "scope directories: {dirs:?}");
    for d in &dirs {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "pid {pid} not in {}: {procs:?}\n{own}",
            d.display()
        );
    }
    for key in ["memory", "freezer", "cpuset", "pids", "name=systemd"] {
        assert!(
            own.lines()
                .any(|l| l.split(':').nth(1).is_some_and(|k| k.split(',').any(|c| c == key)) && l.ends_with(&path)),
            "{key} must be at {path}: {own}"
        );
    }
    assert!(own.lines().any(|l| l.starts_with("0::") && l.ends_with(&path)), "cgroup2: {own}");
    let limit = std::fs::read_to_string(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")).unwrap();
    assert_eq!(limit.trim(), "67108864");

    sd(&rt, &bus.address, &["start", &id]).assert_ok();
    assert_eq!(rt.status(&id), "running");
    sd(&rt, &bus.address, &["delete", "--force", &id]).assert_ok();
    let stops = calls_named(&standin, "StopUnit");
    assert_eq!(stops.len(), 1, "delete stops the unit: {:?}", standin.calls());
    assert_eq!(stops[0].args, vec![V::S(unit.clone()), V::S("replace".into())]);
    assert!(standin.units().is_empty(), "the unit is gone: {:?}", standin.units());
    assert!(scope_dirs(&path).is_empty(), "no scope directory may remain: {:?}", scope_dirs(&path));
    rt.assert_clean(&id, &b);
}

#[test]
fn no_bus_is_one_clear_error_and_nothing_is_left() {
    if let Some(why) = unsupported() {
        return skip("no_bus_is_one_clear_error_and_nothing_is_left", why);
    }
    let rt = Runtime::new();
    let id = unique("sdnobus");
    let (b, path) = scope_bundle(&id, &["true"]);
    let nowhere = rt.scratch().join("no-such-bus");
    let out = sd_create(&rt, &format!("unix:path={}", nowhere.display()), &id, &b);
    let line = Out::one_error_line(&out);
    assert!(
        line.contains(&format!("oxtest-{id}.scope"))
            && line.contains("connect to D-Bus")
            && line.contains("no-such-bus"),
        "{out}"
    );
    assert_nothing_left(&rt, &id, &path);
}

#[test]
fn bus_without_systemd_is_one_clear_error() {
    let Some(host) = sd_host("bus_without_systemd_is_one_clear_error") else { return };
    let bus = &host.bus;
    let rt = Runtime::new();
    let id = unique("sdnosd");
    let (b, path) = scope_bundle(&id, &["true"]);
    let line = Out::one_error_line(&sd_create(&rt, &bus.address, &id, &b));
    assert!(
        line.contains(&format!("oxtest-{id}.scope")) && line.contains("org.freedesktop.DBus.Error.ServiceUnknown"),
        "{line}"
    );
    assert_nothing_left(&rt, &id, &path);
}

#[test]
fn systemd_errors_and_failed_jobs_name_the_unit_and_leave_nothing() {
    let Some(host) = sd_host("systemd_errors_and_failed_jobs_name_the_unit_and_leave_nothing") else { return };
    let bus = &host.bus;
    // UnitExists on every try: oxrun resets the unit and retries once, as runc does, then fails.
    let exists = ("org.freedesktop.systemd1.UnitExists".to_string(), "Unit is there already.".to_string());
    {
        let standin = StandIn::start(&bus.address, Behaviour { start_error: Some(exists), ..Behaviour::default() });
        let rt = Runtime::new();
        let id = unique("sdexists");
        let (b, path) = scope_bundle(&id, &["true"]);
        let line = Out::one_error_line(&sd_create(&rt, &bus.address, &id, &b));
        assert!(
            line.contains(&format!("oxtest-{id}.scope"))
                && line.contains("UnitExists")
                && line.contains("Unit is there already."),
            "{line}"
        );
        let members: Vec<String> = standin.calls().into_iter().map(|c| c.member).collect();
        assert_eq!(
            members,
            ["StartTransientUnit", "ResetFailedUnit", "StartTransientUnit"],
            "retry once after a reset"
        );
        assert_nothing_left(&rt, &id, &path);
    }
    // The start job fails: the unit exists (failed), so oxrun stops it.
    let standin = StandIn::start(&bus.address, Behaviour { start_result: "failed".into(), ..Behaviour::default() });
    let rt = Runtime::new();
    let id = unique("sdfailed");
    let (b, path) = scope_bundle(&id, &["true"]);
    let line = Out::one_error_line(&sd_create(&rt, &bus.address, &id, &b));
    assert!(
        // Without --log the line is runc's text form, where quotes in msg="…" are escaped.
        line.contains(&format!("oxtest-{id}.scope"))
            && (line.contains("\"failed\"") || line.contains("\\\"failed\\\"")),
        "{line}"
    );
    let members: Vec<String> = standin.calls().into_iter().map(|c| c.member).collect();
    assert_eq!(members.first().map(String::as_str), Some("StartTransientUnit"));
    assert!(members.iter().any(|m| m == "StopUnit"), "the failed unit is stopped: {members:?}");
    assert!(standin.units().is_empty(), "{:?}", standin.units());
    assert_nothing_left(&rt, &id, &path);
}

/// systemd collects a scope whose processes are gone; delete must accept NoSuchUnit and still
/// remove the directories.
#[test]
fn delete_after_systemd_dropped_the_unit() {
    let Some(host) = sd_host("delete_after_systemd_dropped_the_unit") else { return };
    let bus = &host.bus;
    let standin = StandIn::start(&bus.address, Behaviour::default());
    let rt = Runtime::new();
    let id = unique("sdgone");
    let (b, path) = scope_bundle(&id, &["sleep", "1000"]);
    let unit = format!("oxtest-{id}.scope");
    sd_create(&rt, &bus.address, &id, &b).assert_ok();
    standin.forget(&unit);
    sd(&rt, &bus.address, &["delete", "--force", &id]).assert_ok();
    assert_eq!(calls_named(&standin, "StopUnit").len(), 1);
    assert!(scope_dirs(&path).is_empty(), "{:?}", scope_dirs(&path));
    rt.assert_clean(&id, &b);
}

/// The stand-in itself, checked with systemd's own client library: busctl (sd-bus) reads its
/// replies, errors and scopes as it would systemd's.
#[test]
fn standin_answers_busctl_as_systemd_would() {
    if Command::new("busctl").arg("--version").output().is_err() {
        return skip("standin_answers_busctl_as_systemd_would", "busctl is not installed");
    }
    let Some(host) = sd_host("standin_answers_busctl_as_systemd_would") else { return };
    let bus = &host.bus;
    let _standin = StandIn::start(&bus.address, Behaviour::default());
    let busctl = |args: &[&str]| {
        let mut c = Command::new("busctl");
        c.arg(format!("--address={}", bus.address))
            .args(["call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"])
            .args(args);
        c.output().expect("run busctl")
    };
    let out = busctl(&["StopUnit", "ss", "nosuch.scope", "replace"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unit nosuch.scope not loaded."), "{out:?}");
    let mut child = Command::new("sleep").arg("100").spawn().expect("spawn sleep");
    let pid = child.id().to_string();
    let unit = format!("busctl-{}.scope", unique("u"));
    let out = busctl(&[
        "StartTransientUnit",
        "ssa(sv)a(sa(sv))",
        &unit,
        "replace",
        "2",
        "Slice",
        "s",
        "system.slice",
        "PIDs",
        "au",
        "1",
        &pid,
        "0",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "o \"/org/freedesktop/systemd1/job/1\"", "{out:?}");
    let path = format!("/system.slice/{unit}");
    // busctl returns with the reply; the job (moving the pid) runs after it, as in systemd.
    let procs_file = format!("/sys/fs/cgroup/memory{path}/cgroup.procs");
    let moved = poll_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&procs_file).unwrap_or_default().lines().any(|l| l.trim() == pid)
    });
    assert!(moved, "the stand-in moves the pid into {procs_file}");
    let out = busctl(&["StopUnit", "ss", &unit, "replace"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "o \"/org/freedesktop/systemd1/job/2\"", "{out:?}");
    assert!(poll_until(Duration::from_secs(5), || scope_dirs(&path).is_empty()), "{:?}", scope_dirs(&path));
    let _ = child.kill();
    let _ = child.wait();
}

/// Against the host's own systemd: needs systemd as PID 1, which this machine does not have.
#[test]
fn live_systemd() {
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if pid1.trim() != "systemd" || !Path::new("/run/systemd/system").is_dir() {
        return skip("live_systemd", &format!("needs a live systemd as PID 1 (PID 1 here is {:?}, /run/systemd/system absent); the stand-in tests cover oxrun's side only", pid1.trim()));
    }
    if is_runc() {
        return skip("live_systemd", "written for oxrun's error output");
    }
    let rt = Runtime::new();
    let id = unique("sdlive");
    let (b, path) = scope_bundle(&id, &["sleep", "1000"]);
    let bus =
        std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| "unix:path=/run/dbus/system_bus_socket".into());
    sd_create(&rt, &bus, &id, &b).assert_ok();
    let pid = rt.pid(&id);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.lines().any(|l| l.ends_with(&path)), "{own}");
    sd(&rt, &bus, &["delete", "--force", &id]).assert_ok();
    assert!(scope_dirs(&path).is_empty(), "{:?}", scope_dirs(&path));
}
