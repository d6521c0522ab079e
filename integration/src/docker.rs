//! Docker (Debian's docker.io 20.10) running containers on oxrun: a private
//! `dockerd` configured with `"runtimes": {"oxrun": {"path": OXRUN_BIN}}`,
//! driven with Debian's docker CLI on a busybox image made by `docker import`.
//!
//! The CLI is always `/usr/bin/docker` (Debian's 20.10 client, matching the
//! daemon): this machine also has an unrelated `/usr/local/bin/docker` (a
//! static Docker 28.2 client) first in `PATH`.
//!
//! The daemon touches nothing of the host's: its data root, exec root,
//! socket, pid file, trust key and the containerd it starts live under one
//! temporary directory; `--iptables=false --ip-masq=false --ip-forward=false
//! --bridge=none` (no iptables rules, no sysctl, no `docker0`; containers run
//! with `--network none`); containers' cgroups go under a parent of their
//! own (`cgroup-parent`). dockerd runs in a private mount namespace (slave
//! propagation), so its overlay and shm mounts never show on the host; v1
//! controllers that are active but not mounted here (net_cls,net_prio on
//! this VM) are mounted in that namespace, as containerd 1.6's shim cannot
//! load a task's cgroup (and so report OOM kills) otherwise.
//!
//! A watchdog (the shell that owns that namespace) starts dockerd and reads
//! its stdin, a pipe only the test process holds: when the test process
//! ends, however it ends (a failed test, a panic, a kill), or [`Dockerd`] is
//! dropped, it removes every container, stops dockerd, kills any shim or
//! container process left, removes the cgroups and mounts and the directory.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::util::{cmdline_of, exec, poll_until, read_lossy, unique, wait_child, Out};

/// Debian's docker CLI (not `/usr/local/bin/docker`, see the module docs).
pub const DOCKER: &str = "/usr/bin/docker";
/// Debian's daemon.
pub const DOCKERD: &str = "/usr/sbin/dockerd";
/// docker.io's `--init` binary (a link to tini-static).
pub const DOCKER_INIT: &str = "/usr/bin/docker-init";
/// The image every test runs.
pub const IMAGE: &str = "oxbox:latest";
/// Deadline of one docker CLI command.
pub const DOCKER_TIMEOUT: Duration = Duration::from_secs(90);
/// The containerd namespace dockerd uses.
const CONTAINERD_NS: &str = "moby";

/// `Err(reason)` when docker.io (dockerd, the CLI, docker-init) or containerd
/// is not installed: the tests skip then. They never install it themselves:
/// on a host with systemd the package would start a system dockerd.
pub fn installed() -> Result<(), String> {
    for p in [DOCKER, DOCKERD, DOCKER_INIT] {
        if !Path::new(p).is_file() {
            return Err(format!("{p} missing: install Debian's docker.io (make deps)"));
        }
    }
    if crate::util::which("containerd").is_none() {
        return Err("containerd missing (apt-get install containerd)".into());
    }
    Ok(())
}

/// The watchdog: mounts the missing controllers, starts dockerd, waits for
/// EOF on stdin, then removes everything. Arguments: DIR CGROUP_PARENT
/// DOCKERD DOCKER CONTROLLER_SET...
const WATCHDOG: &str = r#"
D="$1"; CG="$2"; DOCKERD="$3"; DOCKER="$4"; shift 4
roots=""
for set in "$@"; do
  mp="$D/cgmnt-$set"
  mkdir -p "$mp" && mount -t cgroup -o "$set" cgroup "$mp" || exit 1
  roots="$roots $mp"
done
for r in /sys/fs/cgroup/*; do [ -f "$r/cgroup.procs" ] && roots="$roots $r"; done
"$DOCKERD" --config-file "$D/daemon.json" >"$D/dockerd.log" 2>&1 </dev/null &
DPID=$!
echo "$DPID" >"$D/dockerd.child"
cat >/dev/null
echo "watchdog: cleaning up $D"
ids=$(timeout 30 "$DOCKER" --config "$D/cli" -H "unix://$D/docker.sock" ps -aq 2>/dev/null)
[ -n "$ids" ] && timeout 60 "$DOCKER" --config "$D/cli" -H "unix://$D/docker.sock" rm -f $ids
kill -TERM "$DPID" 2>/dev/null
i=0
while kill -0 "$DPID" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
for r in $roots; do
  [ -f "$r/freezer.state" ] || continue
  find "$r$CG" -name freezer.state 2>/dev/null | while read -r f; do echo THAWED >"$f"; done
done
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  [ "$pid" = "$$" ] && continue
  if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$D/"; then kill -KILL "$pid" 2>/dev/null; fi
done
for r in $roots; do
  find "$r$CG" -name cgroup.procs 2>/dev/null | while read -r f; do
    for pid in $(cat "$f"); do kill -KILL "$pid" 2>/dev/null; done
  done
done
i=0
while [ $i -lt 100 ]; do
  left=0
  for r in $roots; do
    [ -d "$r$CG" ] || continue
    find "$r$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
    [ -d "$r$CG" ] && left=1
  done
  [ $left = 0 ] && break
  sleep 0.1; i=$((i+1))
done
awk '{print $5}' /proc/self/mountinfo | grep -F "$D" | sort -r | while read -r m; do umount -l "$m"; done
rm -rf "$D"
echo "watchdog: done"
"#;

/// The daemon.json of a private dockerd: everything under `dir`, no
/// iptables, ip forwarding or bridge, containers under `cgroup_parent`.
fn daemon_config(dir: &Path, oxrun: &Path, cgroup_parent: &str) -> serde_json::Map<String, serde_json::Value> {
    let d = dir.display();
    let conf = serde_json::json!({
        "runtimes": {"oxrun": {"path": oxrun}},
        "data-root": format!("{d}/data"),
        "exec-root": format!("{d}/exec"),
        "pidfile": format!("{d}/dockerd.pid"),
        "hosts": [format!("unix://{d}/docker.sock")],
        "deprecated-key-path": format!("{d}/key.json"),
        "iptables": false,
        "ip-masq": false,
        "ip-forward": false,
        "bridge": "none",
        "userland-proxy": false,
        "cgroup-parent": cgroup_parent,
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "storage-driver": "overlay2",
        "init-path": DOCKER_INIT,
        "log-level": "info"
    });
    match conf {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

/// True when `cgroup` exists in the v1 hierarchy of controller set `set`,
/// which this host does not mount: looked at through a mount of it in a
/// throw-away mount namespace.
fn unmounted_hierarchy_has(set: &str, cgroup: &str) -> bool {
    let script = r#"d=$(mktemp -d) || exit 2
mount -t cgroup -o "$1" cgroup "$d" || { rmdir "$d"; exit 2; }
r=1; [ -d "$d$2" ] && r=0
umount "$d"; rmdir "$d"; exit $r"#;
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", set, cgroup])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|st| st.code() == Some(0))
        .unwrap_or(false)
}

/// A private dockerd with [`IMAGE`] imported.
pub struct Dockerd {
    /// The oxrun binary registered as runtime `oxrun`.
    pub oxrun: PathBuf,
    dir: PathBuf,
    cgroup_parent: String,
    missing_controllers: Vec<String>,
    watchdog: Mutex<Option<(Child, ChildStdin)>>,
}

/// The dockerd every test of the process shares, started on first use. The
/// watchdog removes it when the process exits.
pub fn shared() -> &'static Dockerd {
    static SHARED: OnceLock<Dockerd> = OnceLock::new();
    SHARED.get_or_init(|| Dockerd::start(&crate::runtime::runtime_bin()))
}

impl Dockerd {
    /// Writes daemon.json, starts the watchdog (and so dockerd), waits for
    /// the API and imports [`IMAGE`].
    pub fn start(oxrun: &Path) -> Dockerd {
        Dockerd::start_with(oxrun, serde_json::Map::new())
    }

    /// Like [`Dockerd::start`], with `extra` keys added to daemon.json
    /// (e.g. `"default-runtime"`).
    pub fn start_with(oxrun: &Path, extra: serde_json::Map<String, serde_json::Value>) -> Dockerd {
        assert!(oxrun.is_file(), "{} not found (build oxrun or set OXRUN_BIN)", oxrun.display());
        // dockerd resolves a relative runtime path against its own cwd.
        let oxrun = &std::fs::canonicalize(oxrun).expect("canonical oxrun path");
        let dir = tempfile::Builder::new().prefix("oxdk-").tempdir().expect("tempdir").keep();
        std::fs::create_dir_all(dir.join("scratch")).expect("mkdir scratch");
        let cgroup_parent = format!("/{}", unique("oxdk"));
        let mut conf = daemon_config(&dir, oxrun, &cgroup_parent);
        conf.extend(extra);
        std::fs::write(dir.join("daemon.json"), serde_json::Value::Object(conf).to_string()).expect("daemon.json");
        let missing = crate::containerd::unmounted_v1_controllers();
        if !missing.is_empty() {
            crate::util::note(&format!(
                "NOTE docker: v1 controller(s) {} not mounted on this host; dockerd runs in a private mount namespace \
                 where they are (containerd 1.6's shim cannot load a container's cgroup otherwise: no OOMKilled, no stats)",
                missing.join(" ")
            ));
        }
        let log = std::fs::File::create(dir.join("watchdog.log")).expect("watchdog log");
        let mut child = Command::new("setsid")
            .args(["unshare", "--mount", "--propagation", "slave", "--", "sh", "-c", WATCHDOG, "sh"])
            .arg(&dir)
            .arg(&cgroup_parent)
            .args([DOCKERD, DOCKER])
            .args(&missing)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("spawn the dockerd watchdog");
        let stdin = child.stdin.take().expect("watchdog stdin");
        let dk = Dockerd {
            oxrun: oxrun.to_path_buf(),
            dir,
            cgroup_parent,
            missing_controllers: missing,
            watchdog: Mutex::new(Some((child, stdin))),
        };
        let ready = poll_until(Duration::from_secs(60), || {
            dk.watchdog_exited() || dk.raw(&["version"], Duration::from_secs(10)).ok()
        });
        assert!(
            ready && !dk.watchdog_exited(),
            "dockerd did not start; watchdog log:\n{}\n--- dockerd log (tail) ---\n{}",
            read_lossy(&dk.dir.join("watchdog.log")),
            dk.log_tail(40)
        );
        dk.import_image();
        dk
    }

    fn watchdog_exited(&self) -> bool {
        let mut g = self.watchdog.lock().unwrap_or_else(|e| e.into_inner());
        match g.as_mut() {
            Some((ch, _)) => !matches!(ch.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// `docker import` of the integration busybox rootfs as [`IMAGE`] (CMD sh).
    fn import_image(&self) {
        let rootfs = self.scratch().join("img-rootfs");
        crate::bundle::populate_rootfs(&rootfs);
        let tar = self.scratch().join("oxbox.tar");
        let mut c = Command::new("tar");
        c.args(["--numeric-owner", "--owner=0", "--group=0", "-C"]).arg(&rootfs).arg("-cf").arg(&tar).arg(".");
        exec(c, &self.scratch(), DOCKER_TIMEOUT).assert_ok();
        let t = tar.to_string_lossy().into_owned();
        self.ok(&["import", "--change", "CMD [\"sh\"]", &t, IMAGE]);
        let _ = std::fs::remove_dir_all(&rootfs);
        let _ = std::fs::remove_file(&tar);
    }

    /// Edits daemon.json with `edit` and makes dockerd reload it (SIGHUP, as
    /// `systemctl reload docker` does); waits until `docker info` shows it.
    pub fn reload_config(
        &self,
        edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
        applied: impl Fn(&Dockerd) -> bool,
    ) {
        let path = self.dir.join("daemon.json");
        let mut conf: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&read_lossy(&path)).expect("daemon.json is JSON");
        edit(&mut conf);
        std::fs::write(&path, serde_json::Value::Object(conf).to_string()).expect("write daemon.json");
        let pid = self.dockerd_pid();
        assert!(pid > 0, "dockerd is not running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGHUP)
            .expect("SIGHUP dockerd");
        assert!(
            poll_until(Duration::from_secs(20), || applied(self)),
            "dockerd did not reload daemon.json:\n{}",
            self.log_tail(20)
        );
    }

    /// The directory holding everything of this daemon.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where captured outputs and test files go.
    pub fn scratch(&self) -> PathBuf {
        self.dir.join("scratch")
    }

    /// The parent cgroup of every container (`/oxdk-...`).
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// The pid of dockerd (0 before it started or after it is gone).
    pub fn dockerd_pid(&self) -> i32 {
        read_lossy(&self.dir.join("dockerd.child")).trim().parse().unwrap_or(0)
    }

    /// dockerd's log so far (its managed containerd logs there too).
    pub fn log(&self) -> String {
        read_lossy(&self.dir.join("dockerd.log"))
    }

    /// The last `n` lines of dockerd's log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `/usr/bin/docker --config DIR/cli -H unix://DIR/docker.sock ARGS...`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCKER);
        c.arg("--config")
            .arg(self.dir.join("cli"))
            .arg("-H")
            .arg(format!("unix://{}", self.dir.join("docker.sock").display()))
            .args(args);
        c
    }

    fn raw(&self, args: &[&str], timeout: Duration) -> Out {
        exec(self.cmd(args), &self.scratch(), timeout)
    }

    /// Runs `docker ARGS...` with the default deadline.
    pub fn docker(&self, args: &[&str]) -> Out {
        self.raw(args, DOCKER_TIMEOUT)
    }

    /// Runs `docker ARGS...`; panics (with dockerd's log tail) unless it succeeds.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Out {
        let out = self.docker(args);
        assert!(out.ok(), "docker failed: {out}\n--- dockerd log (tail) ---\n{}", self.log_tail(30));
        out
    }

    /// `docker inspect -f FORMAT NAME`, trimmed.
    #[track_caller]
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).stdout.trim().to_string()
    }

    /// The `--root` the shim passes to every runtime, oxrun included:
    /// `<exec-root>/runtime-runc/moby`. docker 20.10 gives a runtime named by
    /// `"path"` the shim options of its default runtime (`Root:
    /// <exec-root>/runtime-runc`), and the shim appends containerd's
    /// namespace; so oxrun's and runc's state dirs share one root.
    pub fn runtime_root(&self) -> PathBuf {
        self.dir.join("exec/runtime-runc").join(CONTAINERD_NS)
    }

    /// The cgroup path of container `id` (full id): `<parent>/<id>`.
    pub fn cgroups_path(&self, id: &str) -> String {
        format!("{}/{id}", self.cgroup_parent)
    }

    /// Every hierarchy root: the host's and those mounted in dockerd's
    /// namespace (seen through `/proc/<dockerd>/root`).
    pub fn cgroup_roots(&self) -> Vec<PathBuf> {
        let mut v = crate::leftovers::cgroup_roots();
        let pid = self.dockerd_pid();
        if pid > 0 {
            for set in &self.missing_controllers {
                let mp = self.dir.join(format!("cgmnt-{set}"));
                let p = PathBuf::from(format!("/proc/{pid}/root")).join(mp.strip_prefix("/").unwrap_or(&mp));
                if p.join("cgroup.procs").exists() {
                    v.push(p);
                }
            }
        }
        v
    }

    /// Existing cgroup directories of container `id` in any hierarchy.
    pub fn cgroup_dirs(&self, id: &str) -> Vec<PathBuf> {
        let rel = self.cgroups_path(id);
        let rel = rel.trim_start_matches('/');
        self.cgroup_roots().into_iter().map(|r| r.join(rel)).filter(|p| p.is_dir()).collect()
    }

    /// Lines of dockerd's mountinfo (its private namespace) mentioning `needle`.
    pub fn mounts_mentioning(&self, needle: &str) -> Vec<String> {
        let pid = self.dockerd_pid();
        read_lossy(Path::new(&format!("/proc/{pid}/mountinfo")))
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    /// Live processes whose command line mentions `needle` (shims: `-id ID`).
    pub fn procs_mentioning(&self, needle: &str) -> Vec<(i32, String)> {
        let mut v = Vec::new();
        let me = std::process::id() as i32;
        let Ok(rd) = std::fs::read_dir("/proc") else { return v };
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cl = cmdline_of(pid);
            if pid != me && cl.iter().any(|a| a.contains(needle)) {
                v.push((pid, cl.join(" ")));
            }
        }
        v
    }

    /// What container `id` (full id) left behind after `docker rm`: the
    /// runtime's state dir, cgroups, mounts, shim processes.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut v = Vec::new();
        let st = self.runtime_root().join(id);
        if st.exists() {
            v.push(format!("runtime state dir {}", st.display()));
        }
        for d in self.cgroup_dirs(id) {
            v.push(format!("cgroup {}", d.display()));
        }
        for m in self.mounts_mentioning(id) {
            v.push(format!("mount {m}"));
        }
        for (pid, cl) in self.procs_mentioning(id) {
            v.push(format!("process {pid}: {cl}"));
        }
        v
    }

    /// Panics unless container `id` of `runtime` (named in the message) left
    /// nothing behind (polls 10 s: shims exit asynchronously).
    #[track_caller]
    pub fn assert_clean(&self, id: &str, runtime: &str) {
        let mut last = Vec::new();
        let clean = poll_until(Duration::from_secs(10), || {
            last = self.leftovers(id);
            last.is_empty()
        });
        assert!(clean, "[{runtime}] container {id} left behind:\n  {}", last.join("\n  "));
    }

    /// Everything of the whole daemon still present on the host: its
    /// directory, dockerd, containerd or shim processes mentioning it, its
    /// cgroup parent in the host's hierarchies, mounts mentioning it in the
    /// host's mount table. Empty once the watchdog is done.
    pub fn host_leftovers(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.dir.exists() {
            v.push(format!("directory {}", self.dir.display()));
        }
        let needle = self.dir.to_string_lossy().into_owned();
        for (pid, cl) in self.procs_mentioning(&needle) {
            v.push(format!("process {pid}: {cl}"));
        }
        for d in crate::leftovers::cgroup_dirs(&self.cgroup_parent) {
            v.push(format!("cgroup {}", d.display()));
        }
        for m in crate::leftovers::mounts_mentioning(&self.dir) {
            v.push(format!("mount {m}"));
        }
        for set in &self.missing_controllers {
            if unmounted_hierarchy_has(set, &self.cgroup_parent) {
                v.push(format!("cgroup {} in the unmounted {set} hierarchy", self.cgroup_parent));
            }
        }
        v
    }

    /// Closes the watchdog's stdin and waits (up to 2 min) for it to stop
    /// dockerd and remove everything. Returns the watchdog's exit status line.
    pub fn shutdown(&self) -> String {
        let taken = self.watchdog.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some((mut child, stdin)) = taken else {
            return "already shut down".into();
        };
        drop(stdin);
        let st = wait_child(&mut child, Duration::from_secs(120), "dockerd watchdog cleanup");
        format!("{st:?}")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// One test's container (by name) on one runtime; removed (`docker rm -f`)
/// on drop, so a failing test leaves no container in the shared daemon.
pub struct Ctr<'a> {
    /// The daemon.
    pub dk: &'a Dockerd,
    /// The container's name.
    pub name: String,
    /// `oxrun` or `runc`.
    pub runtime: &'a str,
}

impl<'a> Ctr<'a> {
    /// A unique name starting with `case`; nothing is created yet.
    pub fn new(dk: &'a Dockerd, runtime: &'a str, case: &str) -> Ctr<'a> {
        Ctr { dk, name: unique(case), runtime }
    }

    /// `docker run --name N --runtime R --network none FLAGS... IMAGE ARGS...`.
    pub fn run(&self, flags: &[&str], args: &[&str]) -> Out {
        let mut v = vec!["run", "--name", &self.name, "--runtime", self.runtime, "--network", "none"];
        v.extend_from_slice(flags);
        v.push(IMAGE);
        v.extend_from_slice(args);
        self.dk.docker(&v)
    }

    /// `run -d`, asserting success; waits until the container is running.
    #[track_caller]
    pub fn run_detached(&self, flags: &[&str], args: &[&str]) {
        let mut f = vec!["-d"];
        f.extend_from_slice(flags);
        let out = self.run(&f, args);
        assert!(out.ok(), "[{}] docker run -d: {out}\n{}", self.runtime, self.dk.log_tail(30));
        self.wait_status("running");
    }

    /// `docker exec FLAGS... N ARGS...`.
    pub fn exec(&self, flags: &[&str], args: &[&str]) -> Out {
        let mut v = vec!["exec"];
        v.extend_from_slice(flags);
        v.push(&self.name);
        v.extend_from_slice(args);
        self.dk.docker(&v)
    }

    /// `docker inspect -f FORMAT` of this container, trimmed.
    #[track_caller]
    pub fn inspect(&self, format: &str) -> String {
        self.dk.inspect(&self.name, format)
    }

    /// Polls `.State.Status` until it is `status` (30 s).
    #[track_caller]
    pub fn wait_status(&self, status: &str) {
        let mut last = String::new();
        let ok = poll_until(Duration::from_secs(30), || {
            last = self.dk.docker(&["inspect", "-f", "{{.State.Status}}", &self.name]).stdout.trim().to_string();
            last == status
        });
        assert!(ok, "[{}] {} never became {status} (last {last:?})\n{}", self.runtime, self.name, self.dk.log_tail(30));
    }

    /// The container's full id.
    pub fn id(&self) -> String {
        self.inspect("{{.Id}}")
    }

    /// The container's cgroup dir in the v1 hierarchy `ctrl` on the host.
    pub fn cgroup_file(&self, ctrl: &str, file: &str) -> std::path::PathBuf {
        std::path::Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(self.dk.cgroups_path(&self.id()).trim_start_matches('/'))
            .join(file)
    }

    /// Proves the container runs on this runtime: `<runtime> --root
    /// <exec-root>/runtime-runc/moby state <id>` reports it running, and the
    /// other runtime cannot read that state (each writes its own format).
    #[track_caller]
    pub fn assert_runtime_knows_it(&self) {
        let id = self.id();
        let out = runtime_cmd(self.dk, self.runtime, &["state", &id]);
        assert!(out.ok(), "[{}] the runtime does not know the container: {out}", self.runtime);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("state JSON");
        assert_eq!(v["id"].as_str(), Some(id.as_str()), "[{}] {out}", self.runtime);
        assert_eq!(v["status"].as_str(), Some("running"), "[{}] {out}", self.runtime);
        let other = if self.runtime == "oxrun" { "runc" } else { "oxrun" };
        let out = runtime_cmd(self.dk, other, &["state", &id]);
        assert!(!out.ok(), "[{}] {other} reads the container's state too: {out}", self.runtime);
    }

    /// `docker rm -f`, then asserts nothing of the container is left.
    #[track_caller]
    pub fn remove_and_check(&self) {
        let id = self.id();
        self.dk.ok(&["rm", "-f", &self.name]);
        self.dk.assert_clean(&id, self.runtime);
    }
}

impl Drop for Ctr<'_> {
    fn drop(&mut self) {
        // Nothing to remove once the daemon is shut down (its dir is gone).
        if self.dk.scratch().is_dir() {
            let _ = self.dk.docker(&["rm", "-f", &self.name]);
        }
    }
}

/// `<runtime binary> --root <the shim's root> ARGS...`.
pub fn runtime_cmd(dk: &Dockerd, runtime: &str, args: &[&str]) -> Out {
    let bin = if runtime == "oxrun" { dk.oxrun.clone() } else { crate::util::which("runc").expect("runc") };
    let mut c = std::process::Command::new(&bin);
    c.arg("--root").arg(dk.runtime_root()).args(args);
    crate::util::exec(c, &dk.scratch(), Duration::from_secs(20))
}
