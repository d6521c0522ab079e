//! `features`: the runtime-spec features document, describing what this build really does.
use serde_json::{json, Value};

/// The mount options the plan understands (see plan::mounts).
pub const MOUNT_OPTIONS: &[&str] = &[
    "async", "atime", "bind", "dev", "diratime", "dirsync", "exec", "mand", "noatime", "nodev", "nodiratime", "noexec",
    "nomand", "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "relatime", "remount",
    "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid", "sync",
    "unbindable",
];

/// The features JSON.
pub fn features() -> Value {
    let mut caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    caps.sort();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false },
            "seccomp": { "enabled": false },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": false } }
        },
        "annotations": {
            "org.opencontainers.oxrun.version": env!("CARGO_PKG_VERSION")
        },
        "potentiallyUnsafeConfigAnnotations": []
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::mounts::plan_mount;
    use crate::spec::Mount;

    #[test]
    fn every_advertised_mount_option_is_understood_by_the_plan() {
        for opt in features()["mountOptions"].as_array().unwrap() {
            let opt = opt.as_str().unwrap();
            let m = Mount { destination: "/x".into(), kind: Some("tmpfs".into()), source: Some("tmpfs".into()), options: vec![opt.into()], ..Mount::default() };
            let op = plan_mount(&m, std::path::Path::new("/b")).unwrap();
            assert!(op.data.is_empty(), "{opt} was not taken as a mount flag");
        }
    }

    #[test]
    fn every_advertised_namespace_and_capability_parses() {
        let f = features();
        for ns in f["linux"]["namespaces"].as_array().unwrap() {
            assert!(crate::plan::NsKind::parse(ns.as_str().unwrap()).is_some());
        }
        for c in f["linux"]["capabilities"].as_array().unwrap() {
            assert!(c.as_str().unwrap().parse::<caps::Capability>().is_ok());
        }
    }
}
