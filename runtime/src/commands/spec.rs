//! `spec`: writes a default config.json, the same one runc writes (hostname aside).
use crate::error::Error;
use serde_json::{json, Value};
use std::path::Path;

/// The default config, optionally made rootless (user namespace mapping the caller to root, no
/// network namespace, sysfs bound from the host, no device cgroup rules).
pub fn default_spec(rootless: bool, uid: u32, gid: u32) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = json!({
        "ociVersion": crate::spec::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "oxrun",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [{ "type": "pid" }, { "type": "network" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if rootless {
        make_rootless(&mut spec, uid, gid);
    }
    spec
}

fn make_rootless(spec: &mut Value, uid: u32, gid: u32) {
    let linux = &mut spec["linux"];
    linux.as_object_mut().expect("object").remove("resources");
    linux["uidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
    linux["gidMappings"] = json!([{ "containerID": 0, "hostID": gid, "size": 1 }]);
    let ns = linux["namespaces"].as_array_mut().expect("array");
    ns.retain(|n| n["type"] != "network");
    ns.push(json!({ "type": "user" }));
    for m in spec["mounts"].as_array_mut().expect("array") {
        if m["destination"] == "/dev/pts" {
            m["options"].as_array_mut().expect("array").retain(|o| o != "gid=5");
        }
        if m["destination"] == "/sys" {
            *m = json!({ "destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"] });
        }
    }
}

/// Writes `<bundle>/config.json`; an existing file is not overwritten.
pub fn write_spec(bundle: &Path, rootless: bool) -> Result<(), Error> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(Error::SpecExists);
    }
    let spec = default_spec(rootless, nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    let text = serde_json::to_string_pretty(&spec).expect("spec serializes");
    std::fs::write(&path, text + "\n").map_err(|e| Error::from(oxsys::SysError::at("write", path, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_as_a_spec_and_plans() {
        let v = default_spec(false, 0, 0);
        let spec: crate::spec::Spec = serde_json::from_value(v).unwrap();
        let opts = crate::plan::CreateOptions { console_socket: true, ..Default::default() };
        let (plan, warnings) = crate::plan::build(&spec, Path::new("/b"), "c", opts, &Default::default()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(plan.namespaces.is_new(crate::plan::NsKind::Network));
    }

    #[test]
    fn rootless_spec_maps_the_caller_and_drops_the_network_namespace() {
        let v = default_spec(true, 1000, 1001);
        let spec: crate::spec::Spec = serde_json::from_value(v).unwrap();
        let linux = spec.linux.unwrap();
        assert_eq!(linux.uid_mappings[0].host_id, 1000);
        assert_eq!(linux.gid_mappings[0].host_id, 1001);
        assert!(linux.namespaces.iter().any(|n| n.kind == "user"));
        assert!(!linux.namespaces.iter().any(|n| n.kind == "network"));
        assert!(linux.resources.is_none());
    }
}
