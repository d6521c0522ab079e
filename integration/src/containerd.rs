//! containerd (Debian's 1.6) driving a runtime through its runc shim
//! (`io.containerd.runc.v2`, `ctr run --runc-binary`): a private containerd
//! (config.toml, root, state, socket and opt dirs under one tempdir, CRI
//! disabled), a busybox OCI image built from `/bin/busybox` and imported with
//! `ctr image import`, and `ctr` helpers with deadlines.
//!
//! Every `ctr` command runs in a unique namespace, so the containers' cgroups
//! (`/<namespace>/<id>` in every hierarchy) and shim sockets never collide
//! with another test's. [`Containerd`]'s `Drop` kills and removes every task,
//! container and image of the namespace, stops containerd, kills any shim
//! still serving its socket, unmounts what is left under its dirs and removes
//! them, so a failing test leaves nothing behind either.

use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use crate::leftovers::remove_cgroup_tree;
use crate::oci_layout::{self, go_arch, sha256_file, tar_layer, Layout};

use crate::util::{cmdline_of, exec, pid_alive, poll_until, unique, which, Out};

/// Deadline of one `ctr` command.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(60);

/// The image every test runs (busybox-static in an OCI image).
pub const IMAGE: &str = "docker.io/library/oxbox:latest";

/// The binaries every containerd test is generated for.
pub const BINARIES: [&str; 2] = ["oxrun", "runc"];

/// The runtime binary called `name`: `oxrun` is the binary under test
/// ([`crate::runtime::runtime_bin`]), `runc` is Debian's runc.
pub fn binary(name: &str) -> PathBuf {
    match name {
        "oxrun" => crate::runtime::runtime_bin(),
        "runc" => which("runc").unwrap_or_else(|| PathBuf::from("/usr/sbin/runc")),
        other => panic!("unknown binary {other:?}"),
    }
}

/// Installs Debian's containerd when `containerd`, `ctr` or the runc v2 shim
/// is missing (`apt-get install -y containerd`, once per process).
pub fn ensure_installed() -> Result<(), String> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let have = || which("containerd").is_some() && which("ctr").is_some() && which("containerd-shim-runc-v2").is_some();
    if have() {
        return Ok(());
    }
    let out = Command::new("apt-get")
        .args(["install", "-y", "-qq", "containerd"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("apt-get: {e}"))?;
    if !out.status.success() || !have() {
        return Err(format!("apt-get install -y containerd failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// Writes an OCI image layout tar (`oci-layout`, `index.json`, blobs: one
/// gzip layer with the integration busybox rootfs, the config and the
/// manifest) named [`IMAGE`] to `out`.
pub fn build_image(work: &Path, out: &Path) {
    build_busybox_image(work, out).unwrap_or_else(|e| panic!("building the test image: {e}"))
}

fn build_busybox_image(work: &Path, out: &Path) -> Result<(), String> {
    let rootfs = work.join("img-rootfs");
    crate::bundle::populate_rootfs(&rootfs);
    let layout = Layout::new(work, "img-layout")?;
    let layer_tar = work.join("layer.tar");
    tar_layer(work, &rootfs, &layer_tar)?;
    let diff_id = sha256_file(work, &layer_tar)?;
    let layer_gz = work.join("layer.tar.gz");
    let mut c = Command::new("sh");
    c.arg("-c").arg("gzip -n -c \"$1\" > \"$2\"").arg("sh").arg(&layer_tar).arg(&layer_gz);
    oci_layout::run(c, work)?;
    let layer = layout.add_file(&layer_gz)?;
    let config = layout.add_json(&serde_json::json!({
        "architecture": go_arch(),
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "WorkingDir": "/"
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        "history": [{"created_by": "oxrun integration tests"}]
    }))?;
    let tag = IMAGE.rsplit(':').next().unwrap_or("latest");
    let annotations =
        serde_json::json!({ "io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": tag });
    layout.finish(&config, vec![layer.descriptor("application/vnd.oci.image.layer.v1.tar+gzip")], annotations, out)?;
    let _ = std::fs::remove_dir_all(&rootfs);
    let _ = std::fs::remove_file(&layer_tar);
    let _ = std::fs::remove_file(&layer_gz);
    Ok(())
}

/// v1 controller sets (`net_cls,net_prio`) listed in `/proc/self/cgroup` whose
/// hierarchy is not mounted anywhere on this host.
pub fn unmounted_v1_controllers() -> Vec<String> {
    let mounted: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let rest = l.split(" - ").nth(1)?;
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.first() != Some(&"cgroup") {
                return None;
            }
            f.get(2).map(|s| s.to_string())
        })
        .flat_map(|o| o.split(',').map(str::to_string).collect::<Vec<_>>())
        .collect();
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(str::to_string))
        .filter(|set| !set.is_empty() && set.split(',').any(|c| !mounted.iter().any(|m| m == c)))
        .collect()
}

/// A private containerd for one runtime binary, with [`IMAGE`] imported.
pub struct Containerd {
    /// The runtime binary passed as `--runc-binary`.
    pub binary: PathBuf,
    /// The `ctr` namespace of this test.
    pub ns: String,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    child: Option<Child>,
    /// Cgroup hierarchies mounted in containerd's private mount namespace.
    private_cgroup_mounts: Vec<PathBuf>,
}

impl Containerd {
    /// Starts containerd (private socket, root, state; CRI disabled), waits
    /// for it to answer and imports [`IMAGE`].
    pub fn start(binary: &Path) -> Containerd {
        Containerd::start_with(binary, false)
    }

    /// Like [`Containerd::start`]; with `mount_missing_controllers`,
    /// containerd (and so its shims and the runtime) runs in a private mount
    /// namespace (slave propagation) where every v1 controller that is
    /// active but not mounted on this host ([`unmounted_v1_controllers`]) is
    /// mounted under the test dir: containerd 1.6's shim cannot load a
    /// task's cgroup (no `task metrics`) otherwise. Mounts made by containerd
    /// are then invisible to the test's leftover checks.
    pub fn start_with(binary: &Path, mount_missing_controllers: bool) -> Containerd {
        assert!(binary.is_file(), "runtime binary {} not found (build it or set OXRUN_BIN)", binary.display());
        let dir = tempfile::Builder::new().prefix("oxctd-").tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o711)).expect("chmod");
        for d in ["root", "state", "opt", "runc", "scratch"] {
            std::fs::create_dir_all(path.join(d)).expect("mkdir");
        }
        let p = path.display();
        let conf = format!(
            r#"version = 2
root = "{p}/root"
state = "{p}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{p}/c.sock"

[ttrpc]
  address = "{p}/c.sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{p}/opt"

[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "{p}/runc-v1"
"#
        );
        std::fs::write(path.join("config.toml"), conf).expect("config.toml");
        let log = std::fs::File::create(path.join("containerd.log")).expect("log");
        let containerd = which("containerd").unwrap_or_else(|| "containerd".into());
        let missing = if mount_missing_controllers { unmounted_v1_controllers() } else { Vec::new() };
        let mut private_cgroup_mounts = Vec::new();
        let mut cmd = if missing.is_empty() {
            Command::new(&containerd)
        } else {
            let mut script = String::from("set -e\n");
            for (i, ctrls) in missing.iter().enumerate() {
                let mp = path.join(format!("cgmnt{i}"));
                std::fs::create_dir_all(&mp).expect("mkdir cgroup mount point");
                private_cgroup_mounts.push(mp.clone());
                script.push_str(&format!("mount -t cgroup -o {ctrls} cgroup '{}'\n", mp.display()));
            }
            script.push_str("exec \"$0\" \"$@\"\n");
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "slave", "--", "sh", "-c", &script]).arg(&containerd);
            c
        };
        let child = cmd
            .arg("--config")
            .arg(path.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        let mut c = Containerd {
            binary: binary.to_path_buf(),
            ns: unique("oxt").replace('-', "_"),
            dir: Some(dir),
            path,
            child: Some(child),
            private_cgroup_mounts,
        };
        // ctr waits for the socket; containerd takes over 5 s to serve it under QEMU TCG (test VM).
        let ready = poll_until(Duration::from_secs(60), || {
            if let Some(ch) = c.child.as_mut() {
                if let Ok(Some(_)) = ch.try_wait() {
                    return true;
                }
            }
            c.raw_ctr(&["version"], CTR_TIMEOUT).ok()
        });
        let alive = matches!(c.child.as_mut().map(|ch| ch.try_wait()), Some(Ok(None)));
        assert!(ready && alive, "containerd did not start; log:\n{}", c.log());
        let tar = c.path.join("scratch/oxbox.tar");
        build_image(&c.path.join("scratch"), &tar);
        let t = tar.to_string_lossy().into_owned();
        c.ok(&["images", "import", &t]);
        c
    }

    /// The directory holding config, root, state, socket and scratch files.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// containerd's gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.path.join("c.sock")
    }

    /// The `--runc-root` every container of this test uses.
    pub fn runc_root(&self) -> PathBuf {
        self.path.join("runc")
    }

    /// The `--root` the shim passes to the binary: `<runc-root>/<namespace>`.
    pub fn runtime_root(&self) -> PathBuf {
        self.runc_root().join(&self.ns)
    }

    /// Where captured outputs go.
    pub fn scratch(&self) -> PathBuf {
        self.path.join("scratch")
    }

    /// containerd's own log so far.
    pub fn log(&self) -> String {
        crate::util::read_lossy(&self.path.join("containerd.log"))
    }

    /// The binary's basename (`oxrun`, `runc`).
    pub fn binary_name(&self) -> String {
        self.binary.file_name().unwrap_or_default().to_string_lossy().into_owned()
    }

    /// `ctr --address SOCK -n NS ARGS...` as a command.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(which("ctr").unwrap_or_else(|| "ctr".into()));
        c.arg("--address").arg(self.socket()).arg("--namespace").arg(&self.ns).args(args);
        c
    }

    fn raw_ctr(&self, args: &[&str], timeout: Duration) -> Out {
        exec(self.cmd(args), &self.scratch(), timeout)
    }

    /// Runs `ctr ARGS...` with the default deadline.
    pub fn ctr(&self, args: &[&str]) -> Out {
        self.raw_ctr(args, CTR_TIMEOUT)
    }

    /// Runs `ctr ARGS...` and panics (with containerd's log tail) unless it succeeds.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Out {
        let out = self.ctr(args);
        assert!(
            out.ok(),
            "[{}] ctr failed: {out}\n--- containerd log (tail) ---\n{}",
            self.binary_name(),
            self.log_tail(40)
        );
        out
    }

    /// The last `n` lines of containerd's log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The `ctr run` flags that select the runtime binary and its root.
    pub fn runtime_flags(&self) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            self.binary.to_string_lossy().into_owned(),
            "--runc-root".into(),
            self.runc_root().to_string_lossy().into_owned(),
        ]
    }

    /// `ctr run [runtime flags] FLAGS... IMAGE ID ARGS...` (foreground unless
    /// FLAGS has `-d`).
    pub fn run(&self, id: &str, flags: &[&str], args: &[&str]) -> Out {
        let rf = self.runtime_flags();
        let mut v: Vec<&str> = vec!["run"];
        v.extend(rf.iter().map(String::as_str));
        v.extend_from_slice(flags);
        v.push(IMAGE);
        v.push(id);
        v.extend_from_slice(args);
        self.ctr(&v)
    }

    /// Starts `ARGS` detached in container `id` (`ctr run -d --null-io`) and
    /// waits until its task is RUNNING.
    #[track_caller]
    pub fn run_detached(&self, id: &str, flags: &[&str], args: &[&str]) {
        let mut f = vec!["-d", "--null-io"];
        f.extend_from_slice(flags);
        let out = self.run(id, &f, args);
        assert!(
            out.ok(),
            "[{}] ctr run -d failed: {out}\n--- containerd log (tail) ---\n{}",
            self.binary_name(),
            self.log_tail(40)
        );
        self.wait_task_status(id, "RUNNING");
    }

    /// `(pid, status)` of task `id` from `ctr task ls`, if listed.
    pub fn task(&self, id: &str) -> Option<(i32, String)> {
        let out = self.ctr(&["task", "ls"]);
        out.stdout.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0] == id).then(|| (f[1].parse().unwrap_or(0), f[2].to_string()))
        })
    }

    /// Polls `ctr task ls` until task `id` has `status` (20 s).
    #[track_caller]
    pub fn wait_task_status(&self, id: &str, status: &str) {
        let mut last = None;
        let ok = poll_until(Duration::from_secs(20), || {
            last = self.task(id);
            last.as_ref().map(|(_, s)| s == status).unwrap_or(false)
        });
        assert!(ok, "[{}] task {id} never became {status} (last: {last:?})\n{}", self.binary_name(), self.log_tail(30));
    }

    /// The cgroup path containerd gives container `id` (ctr's default).
    pub fn cgroups_path(&self, id: &str) -> String {
        format!("/{}/{}", self.ns, id)
    }

    /// What container `id` left behind after its task and container were
    /// deleted: its runtime state dir, cgroup dirs, mounts of its rootfs,
    /// its task bundle and processes (a shim serving it).
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut v = Vec::new();
        let st = self.runtime_root().join(id);
        if st.exists() {
            v.push(format!("runtime state dir {}", st.display()));
        }
        for d in crate::leftovers::cgroup_dirs(&self.cgroups_path(id)) {
            v.push(format!("cgroup {}", d.display()));
        }
        for r in self.private_cgroup_roots() {
            let d = r.join(&self.ns).join(id);
            if d.is_dir() {
                v.push(format!("cgroup {} (containerd's mount namespace)", d.display()));
            }
        }
        let bundle = self.path.join("state/io.containerd.runtime.v2.task").join(&self.ns).join(id);
        if bundle.exists() {
            v.push(format!("task bundle {}", bundle.display()));
        }
        for m in crate::leftovers::mounts_mentioning(&bundle) {
            v.push(format!("mount {m}"));
        }
        for pid in self.shim_pids() {
            let cl = cmdline_of(pid);
            if cl.iter().any(|a| a == id) {
                v.push(format!("shim {pid}: {}", cl.join(" ")));
            }
        }
        v
    }

    /// Panics unless container `id` left nothing behind (waits up to 10 s:
    /// the shim exits asynchronously).
    #[track_caller]
    pub fn assert_clean(&self, id: &str) {
        let mut last = Vec::new();
        let clean = poll_until(Duration::from_secs(10), || {
            last = self.leftovers(id);
            last.is_empty()
        });
        assert!(clean, "[{}] container {id} left behind:\n  {}", self.binary_name(), last.join("\n  "));
    }

    /// The hierarchies mounted in containerd's private mount namespace, seen
    /// through `/proc/<containerd>/root` (empty once containerd is gone).
    pub fn private_cgroup_roots(&self) -> Vec<PathBuf> {
        let Some(pid) = self.child.as_ref().map(|c| c.id()) else {
            return Vec::new();
        };
        self.private_cgroup_mounts
            .iter()
            .map(|mp| PathBuf::from(format!("/proc/{pid}/root")).join(mp.strip_prefix("/").unwrap_or(mp)))
            .filter(|p| p.join("cgroup.procs").exists())
            .collect()
    }

    /// Shim processes serving this containerd (their `-address` is our socket).
    pub fn shim_pids(&self) -> Vec<i32> {
        let sock = self.socket().to_string_lossy().into_owned();
        let mut v = Vec::new();
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cl = cmdline_of(pid);
                if cl.first().map(|a| a.contains("containerd-shim")).unwrap_or(false) && cl.iter().any(|a| a == &sock) {
                    v.push(pid);
                }
            }
        }
        v
    }

    /// Kills and deletes every task and container of the namespace and
    /// removes its images (best effort).
    pub fn remove_all(&self) {
        let t = Duration::from_secs(20);
        let ids: Vec<String> = self
            .raw_ctr(&["containers", "ls", "-q"], t)
            .stdout
            .lines()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        for id in &ids {
            let _ = self.raw_ctr(&["task", "resume", id], t);
            let _ = self.raw_ctr(&["task", "kill", "--all", "--signal", "SIGKILL", id], t);
            let _ = self.raw_ctr(&["task", "delete", "--force", id], t);
            let _ = self.raw_ctr(&["containers", "delete", id], t);
        }
        let _ = self.raw_ctr(&["images", "rm", IMAGE], t);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.remove_all();
            // The namespace's cgroups in hierarchies only containerd's mount
            // namespace has (reachable while containerd lives).
            for r in self.private_cgroup_roots() {
                remove_cgroup_tree(&r.join(&self.ns));
            }
        }
        let shims = self.shim_pids();
        stop_private_containerd(self.child.take(), shims, &self.path, &self.ns, self.dir.take());
    }
}

/// Stops a test's private containerd (SIGTERM, then SIGKILL after 10 s), then what outlives it:
/// its shims (SIGKILL; their containers die with them, the shim being their subreaper), the
/// mounts under its directory `path` (deepest first), the cgroup `cgroup_name` in every
/// hierarchy, and the directory.
pub(crate) fn stop_private_containerd(
    child: Option<Child>,
    shims: Vec<i32>,
    path: &Path,
    cgroup_name: &str,
    dir: Option<tempfile::TempDir>,
) {
    if let Some(mut ch) = child {
        let _ = kill(Pid::from_raw(ch.id() as i32), Signal::SIGTERM);
        if !poll_until(Duration::from_secs(10), || matches!(ch.try_wait(), Ok(Some(_)))) {
            let _ = ch.kill();
            let _ = ch.wait();
        }
    }
    for pid in shims {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = poll_until(Duration::from_secs(2), || !pid_alive(pid));
    }
    let needle = path.to_string_lossy().into_owned();
    let mut mps: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|mp| mp.starts_with(&needle))
        .collect();
    mps.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for mp in mps {
        let _ = umount2(mp.as_str(), MntFlags::MNT_DETACH);
    }
    for root in crate::leftovers::cgroup_roots() {
        remove_cgroup_tree(&root.join(cgroup_name));
    }
    if let Some(d) = dir {
        let p = d.path().to_path_buf();
        if d.close().is_err() {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}
