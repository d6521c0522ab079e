//! containerd's config (CRI with the two handlers), the CNI config, and
//! containerd started in namespaces of its own.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::PAUSE_IMAGE;
use crate::containerd::unmounted_v1_controllers;
use crate::util::which;

/// Where Debian's containernetworking-plugins puts the CNI plugins.
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";

pub fn config_toml(p: &Path, oxrun: &Path, runc: &Path) -> String {
    let p = p.display();
    let handler = |name: &str, bin: &Path| {
        format!(
            r#"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}.options]
      BinaryName = "{bin}"
      Root = "{p}/rt/{name}"
      SystemdCgroup = false
"#,
            bin = bin.display()
        )
    };
    format!(
        r#"version = 2
root = "{p}/root"
state = "{p}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

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
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{p}/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
{}{}"#,
        handler("oxrun", oxrun),
        handler("runc", runc)
    )
}

/// A bridge in containerd's own network namespace, host-local IPAM with its
/// data under the temp dir; no masquerading, no gateway, no iptables. The
/// test sends no traffic: the address only shows the pod has its network.
pub fn cni_conflist(p: &Path) -> String {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "oxcri",
        "plugins": [{
            "type": "bridge",
            "bridge": "oxcri0",
            "isGateway": false,
            "ipMasq": false,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "10.88.0.0/24"}]],
                "dataDir": p.join("cni/ipam").to_string_lossy()
            }
        }]
    })
    .to_string()
}

/// `unshare --net --mount --propagation slave` running a script that sets up
/// containerd's namespaces (see the module doc), then execs containerd.
pub fn spawn_containerd(path: &Path) -> Result<Child, String> {
    // A tmpfs over the dir when it exists on the host, else over its parent
    // (never creating a dir on the host: mkdir is not namespaced).
    let mut script = String::from("set -e\nip link set lo up\n");
    for (dir, parent) in [("/run/containerd", "/run"), ("/var/lib/cni", "/var/lib")] {
        script.push_str(&format!(
            "if [ -d {dir} ]; then mount -t tmpfs -o mode=0711,size=16m oxcri {dir}; \
             else mount -t tmpfs -o mode=0755,size=16m oxcri {parent}; fi\n"
        ));
    }
    for (i, ctrls) in unmounted_v1_controllers().iter().enumerate() {
        let mp = path.join(format!("cgmnt{i}"));
        std::fs::create_dir_all(&mp).map_err(|e| format!("mkdir {}: {e}", mp.display()))?;
        script.push_str(&format!("mount -t cgroup -o {ctrls} cgroup '{}'\n", mp.display()));
    }
    script.push_str("exec \"$0\" \"$@\"\n");
    let log = std::fs::File::create(path.join("containerd.log")).map_err(|e| format!("containerd.log: {e}"))?;
    let log2 = log.try_clone().map_err(|e| format!("dup log: {e}"))?;
    Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "slave", "--", "sh", "-c", &script])
        .arg(which("containerd").unwrap_or_else(|| "containerd".into()))
        .arg("--config")
        .arg(path.join("config.toml"))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("spawn containerd: {e}"))
}
