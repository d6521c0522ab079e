//! containerd and Docker with systemd as their cgroup manager (issue 16), in the test VM (`make
//! test-vm`: systemd as PID 1 on pure cgroup v2), each running oxrun and, for comparison, runc:
//! - containerd: its runc shim (`io.containerd.runc.v2`) with the runtime options `BinaryName` and
//!   `SystemdCgroup = true` (what `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]`
//!   sets for CRI; `ctr run --runc-binary --runc-systemd-cgroup` sets the same options, the
//!   private containerd having CRI disabled);
//! - Docker: a private dockerd with `"exec-opts": ["native.cgroupdriver=systemd"]`.
//!
//! Each runs a container with a memory limit, reads it back from its systemd scope (`systemctl
//! show -p MemoryMax`) and from /sys/fs/cgroup, execs into it (the exec'd process shares init's
//! cgroup), kills and deletes it and checks that neither the unit nor the cgroup is left.
//! Elsewhere (a v1 or hybrid host, no systemd) every test skips with its reason.

use integration::containerd::{self, Containerd};
use integration::docker::{self, Ctr, Dockerd};
use integration::skip;
use integration::util::{production_host, unit_prop};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

integration::for_oxrun_and_runc!(containerd_systemd_cgroup, docker_systemd_driver);

/// 64 MiB, the memory limit every container gets.
const LIMIT: &str = "67108864";

/// The cgroup (the `0::` line of /proc/PID/cgroup) of `pid` as seen from the host.
fn cgroup_of(pid: i32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or_default().to_string()
}

fn cgroup_dir(cgroup: &str) -> std::path::PathBuf {
    Path::new("/sys/fs/cgroup").join(cgroup.trim_start_matches('/'))
}

/// Checks the running container's scope `unit` (in system.slice) holds `pid` and has the limit,
/// in systemd's properties and in the kernel's memory.max.
#[track_caller]
fn assert_scope(name: &str, unit: &str, pid: i32) {
    let cgroup = cgroup_of(pid);
    assert_eq!(cgroup, format!("/system.slice/{unit}"), "[{name}] container init {pid} is not in its scope");
    assert_eq!(unit_prop(unit, "ActiveState"), "active", "[{name}] {unit} not active");
    assert_eq!(unit_prop(unit, "MemoryMax"), LIMIT, "[{name}] {unit}'s MemoryMax");
    let p = cgroup_dir(&cgroup).join("memory.max");
    let v = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("[{name}] read {}: {e}", p.display()));
    assert_eq!(v.trim(), LIMIT, "[{name}] {}", p.display());
}

/// Checks (for 10 s: systemd stops a scope asynchronously) that `unit` is gone: not loaded, and
/// its cgroup removed.
#[track_caller]
fn assert_unit_gone(name: &str, unit: &str) {
    let dir = cgroup_dir(&format!("/system.slice/{unit}"));
    let mut last = String::new();
    let gone = integration::util::poll_until(Duration::from_secs(10), || {
        last = format!("LoadState={} ActiveState={}", unit_prop(unit, "LoadState"), unit_prop(unit, "ActiveState"));
        last == "LoadState=not-found ActiveState=inactive" && !dir.exists()
    });
    assert!(
        gone,
        "[{name}] {unit} left behind after delete: {last}, cgroup {} exists: {}",
        dir.display(),
        dir.exists()
    );
}

/// An exec'd process's `/proc/self/cgroup` and init's (`/proc/1/cgroup` in the container's pid
/// namespace), as printed by `cat` in the container: equal when exec joined init's cgroup.
#[track_caller]
fn assert_same_cgroup_as_init(name: &str, out: &integration::Out) {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.len() == 2 && lines[0] == lines[1] && lines[0].starts_with("0::"), "[{name}] exec's cgroup: {out}");
}

fn containerd_systemd_cgroup(name: &str) {
    let test = format!("containerd_systemd_cgroup::{name}");
    if !production_host(&test) {
        return;
    }
    if let Err(e) = containerd::ensure_installed() {
        return skip(&test, &e);
    }
    let bin = containerd::binary(name);
    if !bin.is_file() {
        assert_ne!(name, "oxrun", "{} not found (build oxrun or set OXRUN_BIN)", bin.display());
        return skip(&test, "runc is not installed");
    }
    let c = Containerd::start(&bin);
    let id = "sd";
    // runc's systemd cgroupsPath `slice:prefix:name` is the scope `prefix-name.scope` in `slice`.
    let unit = format!("{}-{id}.scope", c.ns);
    let cg = format!("system.slice:{}:{id}", c.ns);
    c.run_detached(id, &["--runc-systemd-cgroup", "--cgroup", &cg, "--memory-limit", LIMIT], &["sleep", "300"]);
    let (pid, _) = c.task(id).expect("task listed");
    assert_scope(name, &unit, pid);
    let out = c.ok(&["task", "exec", "--exec-id", "e1", id, "cat", "/proc/self/cgroup", "/proc/1/cgroup"]);
    assert_same_cgroup_as_init(name, &out);
    c.ok(&["task", "kill", "--signal", "SIGKILL", id]);
    c.wait_task_status(id, "STOPPED");
    c.ok(&["task", "delete", id]);
    assert_unit_gone(name, &unit);
    c.ok(&["containers", "delete", id]);
    c.assert_clean(id);
}

/// The private dockerd (systemd cgroup driver) every Docker test of this process shares; its
/// watchdog removes it when the process exits.
fn dockerd() -> &'static Dockerd {
    static SHARED: OnceLock<Dockerd> = OnceLock::new();
    SHARED.get_or_init(|| {
        let mut extra = serde_json::Map::new();
        extra.insert("exec-opts".into(), serde_json::json!(["native.cgroupdriver=systemd"]));
        // With the systemd driver the parent is a slice (the harness's default is a cgroupfs path).
        extra.insert("cgroup-parent".into(), serde_json::json!("system.slice"));
        Dockerd::start_with(&integration::runtime::runtime_bin(), extra)
    })
}

fn docker_systemd_driver(name: &str) {
    let test = format!("docker_systemd_driver::{name}");
    if !production_host(&test) {
        return;
    }
    if let Err(e) = docker::installed() {
        return skip(&test, &e);
    }
    let dk = dockerd();
    let info = dk.ok(&["info", "-f", "{{.CgroupDriver}} {{.CgroupVersion}}"]);
    assert_eq!(info.stdout.trim(), "systemd 2", "dockerd's cgroup driver: {info}");
    let ctr = Ctr::new(dk, name, "sdrv");
    ctr.run_detached(&["--memory", "64m"], &["sleep", "300"]);
    ctr.assert_runtime_knows_it();
    let id = ctr.id();
    let unit = format!("docker-{id}.scope");
    let pid: i32 = ctr.inspect("{{.State.Pid}}").parse().expect("State.Pid");
    assert_scope(name, &unit, pid);
    let out = ctr.exec(&[], &["cat", "/proc/self/cgroup", "/proc/1/cgroup"]);
    assert!(out.ok(), "[{name}] docker exec: {out}");
    assert_same_cgroup_as_init(name, &out);
    let out = ctr.exec(&[], &["cat", "/sys/fs/cgroup/memory.max"]);
    assert_eq!(out.stdout.trim(), LIMIT, "[{name}] memory.max seen in the container: {out}");
    ctr.remove_and_check();
    assert_unit_gone(name, &unit);
}
