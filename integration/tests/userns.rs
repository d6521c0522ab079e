//! User namespaces and rootless operation: id maps seen from the host, an unprivileged user
//! running `spec --rootless` bundles, and several ranges through newuidmap/newgidmap.
use integration::test_user::{TestUser, UserSpec};
use integration::{unique, Bundle, Runtime};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

const USER: &str = "oxrun-rootless";
/// The subordinate range the test gives the user when useradd did not (for newuidmap).
const SUB_START: u32 = 300000;

/// The first subordinate id range of the user in /etc/subuid or /etc/subgid.
fn sub_start(file: &str) -> u32 {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{USER}:"))?.split(':').next()?.parse().ok())
        .expect("the user has a subordinate range")
}

/// The unprivileged test user (held for the test; removed after the last test if this run made
/// it) and its runtime dir.
fn test_user() -> (TestUser, PathBuf) {
    let user = TestUser::acquire(UserSpec { name: USER, home: false, sub_start: SUB_START });
    let xdg = user.runtime_dir();
    (user, xdg)
}

/// `setpriv` to the test user, with only XDG_RUNTIME_DIR and PATH set.
fn as_user(uid: u32, gid: u32, xdg: &Path, cwd: &Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid", &uid.to_string(), "--regid", &gid.to_string(), "--clear-groups", "--"]);
    c.env_clear().env("XDG_RUNTIME_DIR", xdg).env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").current_dir(cwd);
    c
}

/// A bundle owned by the user whose config comes from `spec --rootless` run as that user.
fn rootless_bundle(rt: &Runtime, uid: u32, gid: u32, xdg: &Path, args: &[&str]) -> Bundle {
    let mut b = Bundle::new(args);
    let cfg = b.path().join("config.json");
    std::fs::remove_file(&cfg).unwrap();
    nix::unistd::chown(b.path(), Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(gid))).unwrap();
    let mut spec = as_user(uid, gid, xdg, b.path());
    spec.arg(rt.bin()).arg("spec").arg("--rootless");
    rt.exec(spec).assert_ok();
    let text = std::fs::read_to_string(&cfg).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(args);
    b.edit(|c| *c = config);
    b
}

#[test]
fn user_namespace_maps_container_root_to_a_host_uid() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "30"]);
    b.edit(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "user" }));
        c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 200000, "size": 65536 }]);
        c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 200000, "size": 65536 }]);
        // A cgroup namespace-less v1 mount of the host's tree is not permitted to the mapped root.
        let mounts: Vec<serde_json::Value> =
            c["mounts"].as_array().unwrap().iter().filter(|m| m["type"] != "cgroup").cloned().collect();
        c["mounts"] = json!(mounts);
    });
    let id = unique("userns");
    rt.create_start(&id, &b);
    let pid = rt.pid(&id);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid_line.split_whitespace().skip(1).all(|u| u == "200000"), "host view of container root: {uid_line}");
    let out = rt.run(&["exec", &id, "id", "-u"]);
    assert_eq!(out.stdout.trim(), "0", "inside, it is root: {out}");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn rootless_run_by_an_unprivileged_user() {
    let rt = Runtime::new();
    let (user, xdg) = test_user();
    let (uid, gid) = (user.uid, user.gid);
    let b = rootless_bundle(
        &rt,
        uid,
        gid,
        &xdg,
        &["sh", "-c", "id -u; cat /proc/self/uid_map; touch /proc/x 2>/dev/null; echo ok"],
    );
    let id = unique("rootless");
    let mut run = as_user(uid, gid, &xdg, b.path());
    run.arg(rt.bin()).args(["run", &id]);
    let out = rt.exec(run);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map, ["0", &uid.to_string(), "1"], "{out}");
    assert!(!xdg.join("oxrun").join(&id).exists(), "run removes its state");
    rt.assert_clean(&id, &b);
}

#[test]
fn rootless_state_lives_in_the_users_runtime_dir_and_lifecycle_works() {
    let rt = Runtime::new();
    let (user, xdg) = test_user();
    let (uid, gid) = (user.uid, user.gid);
    let b = rootless_bundle(&rt, uid, gid, &xdg, &["sleep", "30"]);
    let id = unique("rootless-lc");
    let user = |args: &[&str]| {
        let mut c = as_user(uid, gid, &xdg, b.path());
        c.arg(rt.bin()).args(args);
        rt.exec(c)
    };
    user(&["create", &id]).assert_ok();
    assert!(xdg.join("oxrun").join(&id).join("state.json").is_file(), "state must be under $XDG_RUNTIME_DIR/oxrun");
    user(&["start", &id]).assert_ok();
    let out = user(&["exec", &id, "id", "-u"]);
    assert_eq!(out.stdout.trim(), "0", "{out}");
    user(&["kill", &id, "KILL"]).assert_ok();
    user(&["delete", "--force", &id]).assert_ok();
    assert!(!xdg.join("oxrun").join(&id).exists());
    rt.assert_clean(&id, &b);
}

#[test]
fn rootless_with_several_ranges_uses_newuidmap() {
    if Command::new("newuidmap").arg("--help").output().is_err() && !Path::new("/usr/bin/newuidmap").exists() {
        integration::util::note(
            "SKIP rootless_with_several_ranges_uses_newuidmap: newuidmap (package uidmap) is not installed",
        );
        return;
    }
    let rt = Runtime::new();
    let (user, xdg) = test_user();
    let (uid, gid) = (user.uid, user.gid);
    let mut b = rootless_bundle(&rt, uid, gid, &xdg, &["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map"]);
    b.edit(|c| {
        c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }, { "containerID": 1, "hostID": sub_start("/etc/subuid"), "size": 65536 }]);
        c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": gid, "size": 1 }, { "containerID": 1, "hostID": sub_start("/etc/subgid"), "size": 65536 }]);
    });
    let id = unique("rootless-sub");
    let mut run = as_user(uid, gid, &xdg, b.path());
    run.arg(rt.bin()).args(["run", &id]);
    let out = rt.exec(run);
    out.assert_ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    let sub = sub_start("/etc/subuid").to_string();
    assert!(words.windows(3).any(|w| w == ["1", sub.as_str(), "65536"]), "the second range must be mapped: {out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn idmapped_bind_mount_shows_the_mapped_owner() {
    let rt = Runtime::new();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("f"), "x").unwrap();
    nix::unistd::chown(&src.path().join("f"), Some(nix::unistd::Uid::from_raw(0)), Some(nix::unistd::Gid::from_raw(0)))
        .unwrap();
    let mut b = Bundle::new(&["sh", "-c", "stat -c '%u:%g' /idmapped/f /plain/f; touch /ro/f 2>/dev/null; echo ro=$?"]);
    let maps = |host: u32| json!([{ "containerID": 0, "hostID": host, "size": 1 }]);
    b.add_mount(json!({ "destination": "/idmapped", "type": "bind", "source": src.path(), "options": ["rbind"], "uidMappings": maps(1000), "gidMappings": maps(2000) }));
    b.add_mount(json!({ "destination": "/ro", "type": "bind", "source": src.path(), "options": ["rbind", "ro"], "uidMappings": maps(1000), "gidMappings": maps(2000) }));
    b.add_mount(json!({ "destination": "/plain", "type": "bind", "source": src.path(), "options": ["rbind"] }));
    let id = unique("idmap");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1000:2000", "owner 0 on disk appears as the mapped ids: {out}");
    assert_eq!(lines[1], "0:0", "the plain bind mount is unchanged: {out}");
    assert_eq!(lines[2], "ro=1", "an idmapped mount honours ro: {out}");
    let meta = std::fs::metadata(src.path().join("f")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 0, "the host file keeps its owner");
    rt.assert_clean(&id, &b);
}

/// A user the tests create is removed again with all it left (users are host state: issue
/// guide, "the host is left as found"): its processes, home, runtime dir and subordinate ids.
#[test]
fn a_test_user_made_by_the_tests_is_removed_again() {
    let name = "oxrun-usertest";
    if integration::test_user::exists(name) {
        integration::util::note(&format!("SKIP a_test_user_made_by_the_tests_is_removed_again: user {name} exists already (an interrupted earlier run; remove it with userdel -r {name})"));
        return;
    }
    let user = TestUser::acquire(UserSpec { name, home: true, sub_start: 500000 });
    let home = integration::podman::home_of(name);
    assert!(home != "/" && Path::new(&home).is_dir(), "useradd -m made the home {home}");
    for file in ["/etc/subuid", "/etc/subgid"] {
        assert_eq!(integration::test_user::subid_lines(file, name).len(), 1, "{file}");
    }
    let xdg = user.runtime_dir();
    let shm = Path::new("/dev/shm/oxrun-usertest-lock");
    std::fs::write(shm, "").unwrap();
    nix::unistd::chown(shm, Some(nix::unistd::Uid::from_raw(user.uid)), None).unwrap();
    let mut sleeper = Command::new("setpriv")
        .args(["--reuid", &user.uid.to_string(), "--regid", &user.gid.to_string(), "--clear-groups", "sleep", "1000"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !integration::test_user::pids_of(user.uid).contains(&(sleeper.id() as i32)) {
        assert!(std::time::Instant::now() < deadline, "setpriv did not switch to uid {}", user.uid);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(user);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = sleeper.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = sleeper.kill();
            panic!("the user's process was not killed when the user was removed");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the user's process was killed: {status}"
    );
    assert!(!integration::test_user::exists(name), "the user is gone");
    assert!(!Path::new(&home).exists(), "its home {home} is gone");
    assert!(!xdg.exists(), "its runtime dir {} is gone", xdg.display());
    assert!(!shm.exists(), "its file in /dev/shm (as rootless Podman's lock) is gone");
    for file in ["/etc/subuid", "/etc/subgid"] {
        assert!(integration::test_user::subid_lines(file, name).is_empty(), "{file} still names {name}");
    }
}
