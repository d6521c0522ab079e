//! OCI bundle builder: a busybox rootfs and a config.json derived from `runc spec`.

use serde_json::{json, Value};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::leftovers;
use crate::util::{exec, unique, which, CMD_TIMEOUT};

/// Host busybox (Debian busybox-static) copied into every rootfs.
pub const BUSYBOX: &str = "/bin/busybox";

pub use crate::leftovers::CGROUP_PARENT;

/// A bundle directory: `config.json` + `rootfs/`, removed on drop after the
/// container's processes, mounts and cgroups are cleaned (best effort).
pub struct Bundle {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    /// The configuration; call [`Bundle::save`] after editing.
    pub config: Value,
    /// Dropped after the bundle's own cleanup (fields drop after `Drop::drop`).
    _host_cgroups: Arc<HostCgroupsGuard>,
}

/// The host's cgroup state before the first of the live bundles of this process; when the last
/// one is gone, the controllers enabled and the parent cgroups made since are taken back.
struct HostCgroupsGuard(leftovers::HostCgroups);

/// The live guard; its lock also orders a restore before the next snapshot.
static HOST_CGROUPS: Mutex<Weak<HostCgroupsGuard>> = Mutex::new(Weak::new());

impl HostCgroupsGuard {
    /// The guard all live bundles share, made (taking the snapshot) when there is none.
    fn shared() -> Arc<HostCgroupsGuard> {
        let mut cur = HOST_CGROUPS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = cur.upgrade() {
            return g;
        }
        let g = Arc::new(HostCgroupsGuard(leftovers::HostCgroups::snapshot()));
        *cur = Arc::downgrade(&g);
        g
    }
}

impl Drop for HostCgroupsGuard {
    fn drop(&mut self) {
        let _no_snapshot_meanwhile = HOST_CGROUPS.lock().unwrap_or_else(|e| e.into_inner());
        self.0.restore();
    }
}

fn applets() -> &'static Vec<String> {
    static A: OnceLock<Vec<String>> = OnceLock::new();
    A.get_or_init(|| {
        let out = Command::new(BUSYBOX).arg("--list").output().expect("run busybox --list (install busybox-static)");
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
    })
}

/// The default configuration as printed by `runc spec` (the reference runtime);
/// when runc is missing, by `spec` of the runtime under test.
pub fn base_spec() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(|| {
        let bin = which("runc").unwrap_or_else(crate::under_test::runtime_bin);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(&bin);
        cmd.arg("spec").current_dir(dir.path());
        let out = exec(cmd, dir.path(), CMD_TIMEOUT);
        out.assert_ok();
        let text = std::fs::read_to_string(dir.path().join("config.json")).expect("spec wrote config.json");
        serde_json::from_str(&text).expect("spec output is JSON")
    })
}

impl Bundle {
    /// A bundle running `args` (PATH lookup inside the busybox rootfs), no
    /// terminal, writable rootfs, and a unique `linux.cgroupsPath`.
    pub fn new(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new().prefix("oxrun-bundle-").tempdir().expect("bundle tempdir");
        let path = dir.path().to_path_buf();
        // Readable by anyone: user-namespaced containers must traverse it.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod bundle");
        let rootfs = path.join("rootfs");
        populate_rootfs(&rootfs);
        let mut config = base_spec().clone();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["root"]["readonly"] = json!(false);
        config["linux"]["cgroupsPath"] = json!(format!("{CGROUP_PARENT}/{}", unique("cg")));
        let b = Bundle { dir: Some(dir), path, config, _host_cgroups: HostCgroupsGuard::shared() };
        b.save();
        b
    }

    /// The bundle directory (absolute).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bundle directory as a string.
    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// The rootfs directory (absolute).
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }

    /// `linux.cgroupsPath` of this bundle.
    pub fn cgroups_path(&self) -> String {
        self.config["linux"]["cgroupsPath"].as_str().unwrap_or_default().to_string()
    }

    /// Writes `config.json`.
    pub fn save(&self) {
        let text = serde_json::to_string_pretty(&self.config).expect("serialize config");
        std::fs::write(self.path.join("config.json"), text).expect("write config.json");
    }

    /// Replaces `process.args` and saves.
    pub fn set_args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self.save();
        self
    }

    /// Edits the config with `f`, then saves.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.save();
        self
    }

    /// Adds a namespace entry (optionally joining `path`), replacing one of the same type.
    pub fn set_namespace(&mut self, ty: &str, path: Option<&str>) -> &mut Self {
        self.edit(|c| {
            let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces array");
            ns.retain(|n| n["type"] != ty);
            let mut e = json!({ "type": ty });
            if let Some(p) = path {
                e["path"] = json!(p);
            }
            ns.push(e);
        })
    }

    /// Appends a mount.
    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.edit(|c| c["mounts"].as_array_mut().expect("mounts array").push(m))
    }

    /// Sets `hooks.<kind>` to a list of hooks.
    pub fn set_hooks(&mut self, kind: &str, hooks: Value) -> &mut Self {
        self.edit(|c| {
            if !c["hooks"].is_object() {
                c["hooks"] = json!({});
            }
            c["hooks"][kind] = hooks;
        })
    }
}

/// Builds a busybox rootfs at `rootfs`.
pub fn populate_rootfs(rootfs: &Path) {
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/user", "mnt", "run", "var"] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir rootfs dir");
    }
    for d in ["", "bin", "etc", "proc", "sys", "dev", "root", "home", "mnt", "run", "var"] {
        let _ = std::fs::set_permissions(rootfs.join(d), std::fs::Permissions::from_mode(0o755));
    }
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copy busybox (install busybox-static)");
    std::fs::set_permissions(rootfs.join("bin/busybox"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for a in applets() {
        let name = a.rsplit('/').next().unwrap_or(a);
        if name == "busybox" {
            continue;
        }
        let link = rootfs.join("bin").join(name);
        if !link.exists() {
            symlink("busybox", &link).expect("applet symlink");
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .expect("passwd");
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\nextra:x:2000:user\nnogroup:x:65534:\n")
        .expect("group");
    std::fs::write(rootfs.join("etc/hostname"), "bundle\n").expect("hostname");
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let rootfs = self.rootfs();
        let cg = self.cgroups_path();
        let clean = leftovers::force_cleanup(&self.path, &rootfs, &cg);
        if let Some(dir) = self.dir.take() {
            if clean {
                drop(dir);
            } else {
                // Never recurse into a directory that may still hold bind mounts of host paths.
                let kept = dir.keep();
                crate::util::note(&format!("bundle {} kept: mounts still present", kept.display()));
            }
        }
    }
}
