//! Kubernetes' path to a runtime: the kubelet speaks CRI to containerd's CRI
//! plugin, which runs the runtime handler a RuntimeClass names. Here a
//! private containerd (Debian's 1.6) serves CRI on a unix socket in a temp
//! dir, with two handlers of type `io.containerd.runc.v2`: `oxrun`
//! (`BinaryName` = the oxrun under test) and `runc` (Debian's runc).
//!
//! containerd runs in namespaces of its own (`unshare --net --mount
//! --propagation slave`): its CNI bridge and the pods' veths live in a
//! network namespace that dies with it; tmpfs mounts over `/run/containerd`
//! (shim sockets, fifos) and over `/var/lib/cni` (libcni's result cache; over
//! `/var/lib` when that dir does not exist on the host, so it is never
//! created) keep those files off the host; v1 controllers active but not
//! mounted on the host are mounted in there (the shim loads every
//! hierarchy). Root, state, runtime roots, CNI config, IPAM data, pod logs
//! and netns pins are all under the temp dir. Pods get cgroup parents under
//! `/<cgroup_root>` (cgroupfs driver, as a kubelet with `cgroupDriver:
//! cgroupfs` passes `/kubepods/...`). `restrict_oom_score_adj`: this machine
//! has no CAP_SYS_RESOURCE, so the pause container's -998 (what containerd
//! asks for a sandbox) could not be written by any runtime.
//!
//! [`CriContainerd::shutdown`] (and `Drop`, when a test fails) removes every
//! pod through CRI, stops containerd, kills any shim still serving its
//! socket, unmounts, removes the cgroup root in every hierarchy and the temp
//! dir, then reports anything that is still there.

mod client;
mod image;
mod inspect;
mod setup;
mod stream;

pub use client::{api, CriClient, CALL_TIMEOUT};
pub use stream::{websocket_stream, StreamOutput};

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::containerd::{build_image, CTR_TIMEOUT};
use crate::leftovers::{kill_cgroup_tree, remove_cgroup_tree};
use crate::util::{cmdline_of, exec, pid_alive, poll_until, unique, which, Out};
use setup::{cni_conflist, config_toml, spawn_containerd, CNI_BIN_DIR};

/// The container image (busybox-static, `Cmd: sh`).
pub const IMAGE: &str = crate::containerd::IMAGE;
/// The sandbox image containerd's `sandbox_image` names.
pub const PAUSE_IMAGE: &str = "localhost/oxrun-test/pause:1";
/// The containerd namespace the CRI plugin uses.
pub const K8S_NS: &str = "k8s.io";
/// The runtime handlers every CRI test runs on.
pub const HANDLERS: [&str; 2] = ["oxrun", "runc"];

/// A private containerd serving CRI, with both images imported.
pub struct CriContainerd {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    child: Option<Child>,
    client: Option<CriClient>,
    /// Top of every pod's cgroup parent (no leading slash).
    pub cgroup_root: String,
}

impl CriContainerd {
    /// Starts containerd with CRI and the `oxrun` (= `oxrun_bin`) and `runc`
    /// handlers, connects, and imports [`IMAGE`] and [`PAUSE_IMAGE`].
    pub fn start(oxrun_bin: &Path) -> Result<CriContainerd, String> {
        let runc = which("runc").ok_or("runc is not installed")?;
        for tool in ["containerd", "ctr", "containerd-shim-runc-v2", "unshare", "ip"] {
            which(tool).ok_or(format!("{tool} is not installed"))?;
        }
        if !Path::new(CNI_BIN_DIR).join("bridge").is_file() {
            return Err(format!("no CNI bridge plugin in {CNI_BIN_DIR} (apt-get install containernetworking-plugins)"));
        }
        let dir = tempfile::Builder::new().prefix("oxcri-").tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let path = dir.path().to_path_buf();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o711))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
        for d in ["root", "state", "opt", "scratch", "logs", "cni/net.d", "cni/ipam", "rt/oxrun", "rt/runc"] {
            std::fs::create_dir_all(path.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
        }
        std::fs::write(path.join("config.toml"), config_toml(&path, oxrun_bin, &runc))
            .map_err(|e| format!("write config.toml: {e}"))?;
        std::fs::write(path.join("cni/net.d/10-oxcri.conflist"), cni_conflist(&path))
            .map_err(|e| format!("write CNI config: {e}"))?;
        let cgroup_root = unique("oxcri").replace('-', "_");
        let child = spawn_containerd(&path)?;
        let mut c = CriContainerd { dir: Some(dir), path, child: Some(child), client: None, cgroup_root };
        c.wait_ready()?;
        c.import_images()?;
        Ok(c)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let sock = self.socket();
        let up = poll_until(Duration::from_secs(30), || {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|ch| ch.try_wait()) {
                return true;
            }
            sock.exists()
        });
        let alive = matches!(self.child.as_mut().map(|ch| ch.try_wait()), Some(Ok(None)));
        if !up || !alive {
            return Err(format!("containerd did not start; log:\n{}", self.log_tail(40)));
        }
        let client = CriClient::connect(&sock)?;
        let mut last = String::new();
        let ok = poll_until(Duration::from_secs(20), || {
            match crate::rpc!(client, version, api::VersionRequest::default()) {
                Ok(v) => v.runtime_api_version == "v1",
                Err(e) => {
                    last = e;
                    false
                }
            }
        });
        if !ok {
            return Err(format!("CRI Version never answered v1 ({last}); log:\n{}", self.log_tail(40)));
        }
        self.client = Some(client);
        Ok(())
    }

    fn import_images(&self) -> Result<(), String> {
        let scratch = self.scratch();
        let busybox = scratch.join("oxbox.tar");
        build_image(&scratch, &busybox);
        let pause = scratch.join("pause.tar");
        image::build_pause_image(&scratch, PAUSE_IMAGE, &pause)?;
        for tar in [&busybox, &pause] {
            let out = self.ctr(&["images", "import", &tar.to_string_lossy()]);
            if !out.ok() {
                return Err(format!("ctr images import: {out}"));
            }
            let _ = std::fs::remove_file(tar);
        }
        // The CRI plugin learns about images imported through ctr from events.
        for name in [IMAGE, PAUSE_IMAGE] {
            let seen = poll_until(Duration::from_secs(20), || {
                let req = api::ImageStatusRequest { image: Some(image_spec(name)), verbose: false };
                matches!(crate::image_rpc!(self.cri(), image_status, req), Ok(r) if r.image.is_some())
            });
            if !seen {
                return Err(format!("CRI ImageStatus never listed {name}"));
            }
        }
        Ok(())
    }

    /// The connected CRI client.
    pub fn cri(&self) -> &CriClient {
        self.client.as_ref().expect("CRI client")
    }

    /// containerd's gRPC (and CRI) socket.
    pub fn socket(&self) -> PathBuf {
        self.path.join("c.sock")
    }

    /// The temp dir holding everything of this containerd.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Scratch space for files the test writes.
    pub fn scratch(&self) -> PathBuf {
        self.path.join("scratch")
    }

    /// containerd's pid (it runs in its own network and mount namespaces).
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// The `Root` the shim passes to handler `handler`'s binary (`--root`
    /// is this joined with the namespace).
    pub fn runtime_root(&self, handler: &str) -> PathBuf {
        self.path.join("rt").join(handler).join(K8S_NS)
    }

    /// `ctr --address SOCK -n k8s.io ARGS...`.
    pub fn ctr(&self, args: &[&str]) -> Out {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(self.socket()).args(["--namespace", K8S_NS]).args(args);
        exec(c, &self.scratch(), CTR_TIMEOUT)
    }

    /// The last `n` lines of containerd's log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = crate::util::read_lossy(&self.path.join("containerd.log"));
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// A pod config as the kubelet sends it (cgroupfs driver): cgroup parent
    /// `/<cgroup_root>/pod_<name>`, log dir under the temp dir, the pod's own
    /// network and IPC namespaces, a PID namespace per container.
    pub fn pod_config(&self, name: &str) -> api::PodSandboxConfig {
        let log_dir = self.path.join("logs").join(name);
        let _ = std::fs::create_dir_all(&log_dir);
        api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: name.into(),
                uid: format!("uid-{name}"),
                namespace: "oxrun-tests".into(),
                attempt: 0,
            }),
            hostname: name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect(),
            log_directory: log_dir.to_string_lossy().into_owned(),
            linux: Some(api::LinuxPodSandboxConfig {
                cgroup_parent: self.pod_cgroup_parent(name),
                security_context: Some(api::LinuxSandboxSecurityContext {
                    namespace_options: Some(pod_namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The cgroup parent of pod `name` (absolute cgroup path).
    pub fn pod_cgroup_parent(&self, name: &str) -> String {
        format!("/{}/pod_{}", self.cgroup_root, name.replace('-', "_"))
    }

    /// RunPodSandbox of `config` on `handler`; the pod id.
    pub fn run_pod(&self, config: &api::PodSandboxConfig, handler: &str) -> Result<String, String> {
        let req = api::RunPodSandboxRequest { config: Some(config.clone()), runtime_handler: handler.into() };
        let r = crate::rpc!(self.cri(), run_pod_sandbox, req)
            .map_err(|e| format!("{e}\n--- containerd log (tail) ---\n{}", self.log_tail(30)))?;
        Ok(r.pod_sandbox_id)
    }

    /// CreateContainer `name` running `command` in pod `pod` (log file
    /// `<name>.log` in the pod's log dir); the container id.
    pub fn create_container(
        &self,
        pod: &str,
        pod_config: &api::PodSandboxConfig,
        name: &str,
        command: &[&str],
    ) -> Result<String, String> {
        let config = container_config(name, command);
        self.create_container_with(pod, pod_config, config)
    }

    /// CreateContainer with a full container config.
    pub fn create_container_with(
        &self,
        pod: &str,
        pod_config: &api::PodSandboxConfig,
        config: api::ContainerConfig,
    ) -> Result<String, String> {
        let req = api::CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(config),
            sandbox_config: Some(pod_config.clone()),
        };
        let r = crate::rpc!(self.cri(), create_container, req)
            .map_err(|e| format!("{e}\n--- containerd log (tail) ---\n{}", self.log_tail(30)))?;
        Ok(r.container_id)
    }

    /// StartContainer.
    pub fn start_container(&self, id: &str) -> Result<(), String> {
        let req = api::StartContainerRequest { container_id: id.into() };
        crate::rpc!(self.cri(), start_container, req)
            .map(|_| ())
            .map_err(|e| format!("{e}\n--- containerd log (tail) ---\n{}", self.log_tail(30)))
    }

    /// ExecSync of `cmd` in container `id`: (exit code, stdout, stderr).
    pub fn exec_sync(&self, id: &str, cmd: &[&str]) -> Result<(i32, String, String), String> {
        let req = api::ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: 30,
        };
        let r = crate::rpc!(self.cri(), exec_sync, req)?;
        Ok((
            r.exit_code,
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        ))
    }

    /// ContainerStatus of `id`.
    pub fn container_status(&self, id: &str) -> Result<api::ContainerStatus, String> {
        let req = api::ContainerStatusRequest { container_id: id.into(), verbose: false };
        crate::rpc!(self.cri(), container_status, req)?
            .status
            .ok_or_else(|| format!("ContainerStatus of {id}: no status"))
    }

    /// Stops and removes pod `pod` (its containers go with it).
    pub fn stop_and_remove_pod(&self, pod: &str) -> Result<(), String> {
        crate::rpc!(self.cri(), stop_pod_sandbox, api::StopPodSandboxRequest { pod_sandbox_id: pod.into() })?;
        crate::rpc!(self.cri(), remove_pod_sandbox, api::RemovePodSandboxRequest { pod_sandbox_id: pod.into() })?;
        Ok(())
    }

    /// Removes every pod, stops containerd and its shims, unmounts, removes
    /// the cgroup root and the temp dir; returns what is still there.
    pub fn shutdown(mut self) -> Vec<String> {
        let dir = self.path.clone();
        let cgroup_root = self.cgroup_root.clone();
        let pid = self.pid();
        self.teardown();
        let mut v = Vec::new();
        if dir.exists() {
            v.push(format!("dir {}", dir.display()));
        }
        for m in crate::leftovers::mounts_mentioning(&dir) {
            v.push(format!("host mount {m}"));
        }
        for d in crate::leftovers::cgroup_dirs(&cgroup_root) {
            v.push(format!("cgroup {}", d.display()));
        }
        if let Some(pid) = pid.filter(|p| pid_alive(*p)) {
            v.push(format!("containerd {pid} still running"));
        }
        let needle = dir.to_string_lossy().into_owned();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if cmdline_of(p).iter().any(|a| a.contains(&needle)) {
                v.push(format!("process {p}: {}", cmdline_of(p).join(" ")));
            }
        }
        v
    }

    fn remove_all_pods(&self) {
        let Some(client) = self.client.as_ref() else {
            return;
        };
        let Ok(pods) = crate::rpc!(client, list_pod_sandbox, api::ListPodSandboxRequest::default()) else {
            return;
        };
        for p in pods.items {
            let _ = self.stop_and_remove_pod(&p.id);
        }
    }

    fn teardown(&mut self) {
        if self.child.is_some() {
            self.remove_all_pods();
        }
        self.client = None;
        // Whatever CRI could not remove: kill it by cgroup, then remove the
        // cgroups (those in containerd's private hierarchies while it lives).
        // (`cgroup_root` is never empty: an empty one would name the roots.)
        let roots = if self.cgroup_root.is_empty() { Vec::new() } else { self.cgroup_roots() };
        for r in &roots {
            kill_cgroup_tree(&r.join(&self.cgroup_root));
        }
        let _ = poll_until(Duration::from_secs(5), || {
            for r in &roots {
                remove_cgroup_tree(&r.join(&self.cgroup_root));
            }
            roots.iter().all(|r| !r.join(&self.cgroup_root).exists())
        });
        // Shims outlive containerd; with the last one go containerd's
        // network and mount namespaces.
        let shims = self.shim_pids();
        crate::containerd::stop_private_containerd(
            self.child.take(),
            shims,
            &self.path,
            &self.cgroup_root,
            self.dir.take(),
        );
    }
}

impl Drop for CriContainerd {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Network and IPC shared by the pod, a PID namespace per container (what
/// the kubelet sends for a pod without `shareProcessNamespace`).
pub fn pod_namespaces() -> api::NamespaceOption {
    api::NamespaceOption {
        network: api::NamespaceMode::Pod as i32,
        pid: api::NamespaceMode::Container as i32,
        ipc: api::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// An image reference as CRI takes it.
pub fn image_spec(name: &str) -> api::ImageSpec {
    api::ImageSpec { image: name.into(), ..Default::default() }
}

/// A container config running `command` from [`IMAGE`], logging to
/// `<name>.log` in the pod's log dir.
pub fn container_config(name: &str, command: &[&str]) -> api::ContainerConfig {
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata { name: name.into(), attempt: 0 }),
        image: Some(image_spec(IMAGE)),
        command: command.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}.log"),
        linux: Some(api::LinuxContainerConfig {
            security_context: Some(api::LinuxContainerSecurityContext {
                namespace_options: Some(pod_namespaces()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        labels: HashMap::from([("oxrun-test".to_string(), name.to_string())]),
        ..Default::default()
    }
}
