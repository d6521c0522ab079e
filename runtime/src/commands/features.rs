//! `features`: the runtime-spec features document, describing what this build really does.
use serde_json::{json, Value};

/// The mount options the plan understands (see plan::mounts).
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnoatime",
    "ratime",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

/// The features JSON.
pub fn features() -> Value {
    let mut caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    caps.sort();
    json!({
        "ociVersionMin": crate::spec::OCI_VERSION_MIN,
        "ociVersionMax": crate::spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": false },
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
            },
            "apparmor": { "enabled": true },
            "selinux": { "enabled": true },
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            // Schemata are refused and monitoring ignored (plan::checks::check_intel_rdt): not supported.
            "intelRdt": { "enabled": false, "schemata": false, "monitoring": false },
            "mountExtensions": { "idmap": { "enabled": true } },
            "netDevices": { "enabled": true }
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
            let m = Mount {
                destination: "/x".into(),
                kind: Some("tmpfs".into()),
                source: Some("tmpfs".into()),
                options: vec![opt.into()],
                ..Mount::default()
            };
            let op = plan_mount(&m, std::path::Path::new("/b")).unwrap();
            assert!(op.data.is_empty(), "{opt} was not taken as a mount flag");
        }
    }

    #[test]
    fn every_advertised_seccomp_item_compiles() {
        let f = features();
        let s = &f["linux"]["seccomp"];
        for action in s["actions"].as_array().unwrap() {
            assert!(crate::seccomp::parse_action(action.as_str().unwrap(), None).is_ok(), "{action}");
        }
        for op in s["operators"].as_array().unwrap() {
            let arg = crate::seccomp::ArgRule { index: 0, value: 1, value_two: 1, op: op.as_str().unwrap().into() };
            assert!(crate::seccomp::parse_arg(&arg).is_ok(), "{op}");
        }
        let profile = serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": s["archs"], "flags": s["supportedFlags"],
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }] });
        assert!(crate::seccomp::compile(&profile).is_ok());
    }

    #[test]
    fn every_advertised_memory_policy_mode_and_flag_is_planned() {
        let f = features();
        let m = &f["linux"]["memoryPolicy"];
        let plan = |mode: &str, flags: Vec<String>| {
            let nodes = (!matches!(mode, "MPOL_DEFAULT" | "MPOL_LOCAL")).then(|| "0".to_string());
            let linux = crate::spec::Linux {
                memory_policy: Some(crate::spec::MemoryPolicy { mode: mode.into(), nodes, flags }),
                ..Default::default()
            };
            crate::plan::attrs::plan_linux(&linux, &mut Default::default())
        };
        assert_eq!(m["modes"].as_array().unwrap().len(), 7);
        for mode in m["modes"].as_array().unwrap() {
            assert!(plan(mode.as_str().unwrap(), Vec::new()).is_ok(), "{mode}");
        }
        for flag in m["flags"].as_array().unwrap() {
            assert!(plan("MPOL_BIND", vec![flag.as_str().unwrap().into()]).is_ok(), "{flag}");
        }
    }

    /// A config with only `linux` set (and a network namespace), as `plan::build` sees it.
    fn plan_linux(edit: impl FnOnce(&mut crate::spec::Linux)) -> Result<(crate::plan::Plan, Vec<String>), String> {
        let mut linux = crate::spec::Linux {
            namespaces: vec![crate::spec::Namespace { kind: "network".into(), path: None }],
            ..Default::default()
        };
        edit(&mut linux);
        let spec = crate::spec::Spec {
            oci_version: "1.3.0".into(),
            process: Some(crate::spec::Process { args: vec!["sh".into()], cwd: "/".into(), ..Default::default() }),
            root: Some(crate::spec::Root { path: "rootfs".into(), readonly: false }),
            linux: Some(linux),
            ..Default::default()
        };
        crate::plan::build(&spec, std::path::Path::new("/b"), "c", Default::default(), &Default::default())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn net_devices_are_advertised_as_planned() {
        let f = features();
        let enabled = f["linux"]["netDevices"]["enabled"].as_bool().expect("linux.netDevices.enabled");
        let (plan, _) = plan_linux(|l| {
            l.net_devices.insert("eth9".into(), crate::spec::NetDevice { name: Some("ctr0".into()) });
        })
        .unwrap();
        let planned = plan
            .net_devices
            .is_some_and(|p| p.moves.iter().any(|m| m.host_name == "eth9" && m.container_name == "ctr0"));
        assert_eq!(
            enabled, planned,
            "features says netDevices enabled={enabled}, the plan moves the device: {planned}"
        );
    }

    #[test]
    fn intel_rdt_is_advertised_as_the_plan_treats_it() {
        let f = features();
        let rdt = &f["linux"]["intelRdt"];
        let flag = |k: &str| rdt[k].as_bool().unwrap_or_else(|| panic!("linux.intelRdt.{k}"));
        let rdt_config = |json: &str| {
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            plan_linux(move |l| l.intel_rdt = Some(value))
        };
        // enabled: the classic schema fields are applied, not refused.
        assert_eq!(
            flag("enabled"),
            rdt_config(r#"{"closID":"c","l3CacheSchema":"L3:0=ff","memBwSchema":"MB:0=50"}"#).is_ok()
        );
        assert_eq!(flag("schemata"), rdt_config(r#"{"closID":"c","schemata":["L3:0=ff"]}"#).is_ok());
        // monitoring: taken without the warning that says it is ignored.
        let monitored =
            rdt_config(r#"{"enableMonitoring":true}"#).is_ok_and(|(_, w)| !w.iter().any(|w| w.contains("intelRdt")));
        assert_eq!(flag("monitoring"), monitored);
    }

    #[test]
    fn the_memory_policy_list_is_the_specs_whole_list_and_nothing_else_plans() {
        let f = features();
        let m = &f["linux"]["memoryPolicy"];
        let names = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
        };
        let plan = |mode: &str, flags: Vec<String>| {
            plan_linux(|l| {
                l.memory_policy = Some(crate::spec::MemoryPolicy { mode: mode.into(), nodes: Some("0".into()), flags })
            })
        };
        // config-linux.md "Memory policy": every mode and flag the spec lists is advertised.
        for mode in [
            "MPOL_DEFAULT",
            "MPOL_BIND",
            "MPOL_INTERLEAVE",
            "MPOL_WEIGHTED_INTERLEAVE",
            "MPOL_PREFERRED",
            "MPOL_PREFERRED_MANY",
            "MPOL_LOCAL",
        ] {
            assert!(names(&m["modes"]).iter().any(|n| n == mode), "{mode} is not advertised");
        }
        for flag in ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"] {
            assert!(names(&m["flags"]).iter().any(|n| n == flag), "{flag} is not advertised");
        }
        // What is not advertised is refused, not silently taken.
        assert!(plan("MPOL_NOT_A_MODE", Vec::new()).is_err());
        assert!(plan("MPOL_BIND", vec!["MPOL_F_NOT_A_FLAG".into()]).is_err());
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
