//! Point 4: the create sequence — namespaces, joining by path, pid file,
//! no exec before start, clean failure.

use integration::util::{cmdline_of, exec, pid_alive, wait_for, which, CMD_TIMEOUT};
use integration::{skip, unique, Bundle, Runtime};
use std::process::Command;
use std::time::Duration;

fn ns_link(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
}

/// OCI namespace type -> /proc/<pid>/ns entry.
fn proc_name(ty: &str) -> &str {
    match ty {
        "network" => "net",
        "mount" => "mnt",
        other => other,
    }
}

#[test]
fn new_namespaces_pid_mount_uts_ipc_network_cgroup() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let types = ["pid", "mount", "uts", "ipc", "network", "cgroup"];
    for t in types {
        b.set_namespace(t, None);
    }
    let id = unique("ns");
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid(&id).to_string();
    for t in types {
        let (theirs, ours) = (ns_link(&pid, proc_name(t)), ns_link("self", proc_name(t)));
        assert!(!theirs.is_empty(), "cannot read {t} ns of {pid}");
        assert_ne!(theirs, ours, "container must have its own {t} namespace");
    }
    // pid 1 inside
    rt.start(&id).assert_ok();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap_or_default().to_string();
    assert!(
        nspid.trim_end().ends_with("\t1") || nspid.trim_end().ends_with(" 1"),
        "init is pid 1 in its pid ns: {nspid}"
    );
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn namespaces_not_listed_are_shared_with_the_host() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] == "mount" || n["type"] == "pid");
        c.as_object_mut().unwrap().remove("hostname");
    });
    let id = unique("nsh");
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid(&id).to_string();
    for ns in ["net", "uts", "ipc"] {
        assert_eq!(ns_link(&pid, ns), ns_link("self", ns), "{ns} must be the host's");
    }
    assert_ne!(ns_link(&pid, "mnt"), ns_link("self", "mnt"));
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn time_namespace() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.set_namespace("time", None);
    let id = unique("tns");
    let out = rt.create(&id, &b);
    out.assert_ok();
    let pid = rt.pid(&id).to_string();
    assert_ne!(ns_link(&pid, "time"), ns_link("self", "time"), "container must have its own time namespace");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn user_namespace_with_mappings() {
    let rt = Runtime::new();
    let mut b =
        Bundle::new(&["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; echo userns-ok; sleep 1000"]);
    b.set_namespace("user", None);
    b.edit(|c| {
        c["linux"]["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        // A v1 cgroup mount is not permitted from an unprivileged user namespace.
        c["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "cgroup");
    });
    let id = unique("userns");
    let c = rt.create(&id, &b);
    c.assert_ok();
    let pid = rt.pid(&id).to_string();
    assert_ne!(ns_link(&pid, "user"), ns_link("self", "user"));
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap_or_default();
    let fields: Vec<&str> = map.split_whitespace().collect();
    assert_eq!(fields, ["0", "100000", "65536"], "uid_map: {map}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or_default();
    assert!(uid_line.split_whitespace().nth(1) == Some("100000"), "host view of container root: {uid_line}");
    rt.start(&id).assert_ok();
    let text = wait_for(Duration::from_secs(10), "userns output", || {
        let t = c.stdout_now();
        t.contains("userns-ok").then_some(t)
    });
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["0", "100000", "65536"]), "{text}");
    assert!(lines.contains(&"0"), "root inside: {text}");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

struct NetNs(String);
impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

#[test]
fn join_network_namespace_by_path() {
    if which("ip").is_none() {
        skip("join_network_namespace_by_path", "iproute2 `ip` not installed");
        return;
    }
    let rt = Runtime::new();
    let name = unique("oxns");
    let mut c = Command::new("ip");
    c.args(["netns", "add", &name]);
    exec(c, rt.scratch(), CMD_TIMEOUT).assert_ok();
    let _g = NetNs(name.clone());
    let path = format!("/var/run/netns/{name}");
    let want = std::fs::metadata(&path).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).expect("netns file");
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.set_namespace("network", Some(&path));
    let id = unique("join");
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid(&id).to_string();
    assert_eq!(ns_link(&pid, "net"), format!("net:[{want}]"), "container must join {path}");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
    assert!(std::path::Path::new(&path).exists(), "the joined namespace must survive the container");
}

#[test]
fn join_uts_namespace_of_another_container() {
    let rt = Runtime::new();
    let mut a = Bundle::new(&["sleep", "1000"]);
    a.edit(|c| c["hostname"] = serde_json::json!("alpha-host"));
    let ida = unique("nsa");
    rt.create(&ida, &a).assert_ok();
    let pida = rt.pid(&ida).to_string();
    let mut b = Bundle::new(&["hostname"]);
    b.set_namespace("uts", Some(&format!("/proc/{pida}/ns/uts")));
    b.edit(|c| {
        c.as_object_mut().unwrap().remove("hostname");
    });
    let idb = unique("nsb");
    let cb = rt.create(&idb, &b);
    cb.assert_ok();
    let pidb = rt.pid(&idb).to_string();
    assert_eq!(ns_link(&pidb, "uts"), ns_link(&pida, "uts"));
    rt.start(&idb).assert_ok();
    rt.wait_status(&idb, "stopped");
    assert_eq!(cb.stdout_now().trim(), "alpha-host");
    rt.delete(&idb).assert_ok();
    rt.assert_clean(&idb, &b);
    rt.delete_force(&ida).assert_ok();
    rt.assert_clean(&ida, &a);
}

#[test]
fn pid_file_is_written_when_create_returns() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("pidf");
    let pidfile = rt.scratch().join("ctr.pid");
    rt.create_with(&id, &b, &["--pid-file", pidfile.to_str().unwrap()]).assert_ok();
    let text = std::fs::read_to_string(&pidfile).expect("pid file must exist as soon as create exits");
    let pid: i32 = text.trim().parse().unwrap_or_else(|_| panic!("pid file holds a number: {text:?}"));
    assert_eq!(pid, rt.pid(&id));
    assert!(pid_alive(pid));
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn created_process_has_not_execed_until_start() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "4242"]);
    let id = unique("noexec");
    rt.create(&id, &b).assert_ok();
    let pid = rt.pid(&id);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rt.status(&id), "created");
    let before = cmdline_of(pid);
    assert_ne!(before, ["sleep", "4242"], "the user's command must not run before start");
    rt.start(&id).assert_ok();
    wait_for(Duration::from_secs(10), "exec of the user's command", || {
        (cmdline_of(pid) == ["sleep", "4242"]).then_some(())
    });
    assert_eq!(rt.status(&id), "running");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn create_failure_leaves_nothing_behind() {
    let rt = Runtime::new();
    let b = Bundle::new(&["/bin/does-not-exist"]);
    let id = unique("fail");
    let pidfile = rt.scratch().join("f.pid");
    let out = rt.create_with(&id, &b, &["--pid-file", pidfile.to_str().unwrap()]);
    out.assert_fail().assert_no_panic();
    rt.assert_clean(&id, &b);
    rt.run(&["state", &id]).assert_fail();
}
