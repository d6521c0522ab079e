//! config.json → a plan: plain data that says every step of building the container.
//!
//! Pure code: no syscalls, so every rule here is unit-tested without root. The init process gets
//! the plan as a copy of the parent's memory (it is forked after the plan is built), so the config
//! is parsed exactly once.
pub mod attrs;
pub mod cgroups;
pub mod checks;
pub mod confine;
pub mod error;
pub mod host;
pub mod mounts;
pub mod namespaces;
pub mod netdev;
pub mod process;

use crate::spec::{ConsoleSize, Hooks, Linux, Process, Spec};
pub use error::{BuildError, PlanError, Reason};
pub use host::Host;
pub use mounts::{DeviceNode, MountOp, MountSource, RecursiveAttr, RootPropagation};
pub use namespaces::{NamespacePlan, NsKind};
pub use process::{CapPlan, RlimitOp};
use std::path::{Path, PathBuf};

/// Options of `create`/`run` that shape the plan.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub console_socket: bool,
    /// `run` in the foreground: the caller's stdio is the container's, no console socket needed.
    pub foreground: bool,
    /// --systemd-cgroup (or `--cgroup-manager systemd`): systemd makes the cgroups, a scope.
    pub systemd_cgroup: bool,
    /// `--cgroup-manager disabled` (crun's flag, passed by Podman for --cgroups=disabled): no
    /// cgroup is created or joined; the container stays in the caller's.
    pub no_cgroups: bool,
}

/// What init does as the container's process.
#[derive(Debug, Clone, Default)]
pub struct ProcessPlan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub umask: Option<u32>,
    pub additional_gids: Vec<u32>,
    pub caps: CapPlan,
    pub rlimits: Vec<RlimitOp>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
    pub console_size: Option<ConsoleSize>,
    /// The container's compiled seccomp filter.
    pub seccomp: Option<crate::seccomp::Program>,
    /// The LSM labels the process is exec'd with (those the host enforces).
    pub labels: crate::lsm::ExecLabels,
    /// ioPriority, scheduler, execCPUAffinity, personality, memoryPolicy.
    pub attrs: attrs::ProcessAttrs,
}

/// The whole plan of one container.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub readonly_root: bool,
    pub namespaces: NamespacePlan,
    pub mounts: Vec<MountOp>,
    pub devices: Vec<DeviceNode>,
    pub root_propagation: RootPropagation,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// (path under /proc/sys, value)
    pub sysctl: Vec<(String, String)>,
    /// `linux.netDevices`: host network devices the runtime moves into the container's netns.
    pub net_devices: Option<netdev::NetDevicePlan>,
    pub cgroups: crate::cgroups::CgroupPlan,
    pub process: ProcessPlan,
    pub hooks: Hooks,
    /// The config's annotations: part of the state every hook reads on stdin.
    pub annotations: std::collections::BTreeMap<String, String>,
    pub options: CreateOptions,
    /// What state.json keeps of the config for later commands.
    pub record: ConfigRecord,
}

/// The parts of config.json that state.json keeps as written, for the commands after create.
#[derive(Debug, Clone, Default)]
pub struct ConfigRecord {
    pub oci_version: String,
    /// The hooks as written: `start` runs poststart and `delete` poststop from them.
    pub hooks: Option<Hooks>,
    /// `linux.seccomp`: `exec` gives its processes the container's filter.
    pub seccomp: Option<serde_json::Value>,
}

/// Builds the plan for `host`; `Err` names the offending field. Warnings (unknown capabilities,
/// resources without effect here) are returned beside the plan.
pub fn build(
    spec: &Spec,
    bundle: &Path,
    id: &str,
    options: CreateOptions,
    host: &Host,
) -> Result<(Plan, Vec<String>), BuildError> {
    let (mut plan, mut warnings) = plan_config(spec, bundle, id, options)?;
    let linux = spec.linux();
    let no_process = Process::default();
    let process = spec.process.as_ref().unwrap_or(&no_process);
    warnings.extend(confine::confine(&mut plan.process, process, linux.seccomp.as_ref(), host.lsms, "process")?);
    confine::label_mounts(&mut plan.mounts, linux.mount_label.as_deref(), host.lsms, &mut warnings);
    let (cgroups, cgroup_warnings) = cgroups::plan_cgroups(spec, id, &plan.options, host, &plan.devices)?;
    plan.cgroups = cgroups;
    warnings.extend(cgroup_warnings);
    Ok((plan, warnings))
}

/// The plan of what config.json alone decides.
fn plan_config(spec: &Spec, bundle: &Path, id: &str, options: CreateOptions) -> Result<(Plan, Vec<String>), PlanError> {
    let mut warnings = Vec::new();
    // REQUIRED by the runtime-spec (runc does not check it; the spec wins over runc here).
    if spec.oci_version.is_empty() {
        return Err(PlanError::new("ociVersion", Reason::Required));
    }
    warnings.extend(checks::check_oci_version(&spec.oci_version)?);
    warnings.extend(checks::check_intel_rdt(spec.linux.as_ref().and_then(|l| l.intel_rdt.as_ref()))?);
    let process = spec.process.as_ref().ok_or_else(|| PlanError::new("process", Reason::Required))?;
    check_args_and_cwd(process)?;
    let rootfs = spec.rootfs_path(bundle).map_err(|_| PlanError::new("root.path", Reason::Required))?;
    let linux = spec.linux();
    let namespaces = NamespacePlan::from_spec(&linux)?;
    check_terminal(process.terminal, &options)?;
    for (field, name) in [("hostname", &spec.hostname), ("domainname", &spec.domainname)] {
        if name.as_deref().is_some_and(|h| !h.is_empty()) && !namespaces.has(NsKind::Uts) {
            return Err(PlanError::rule(field, format!("unable to set {field} without a private UTS namespace")));
        }
    }
    let mounts = spec.mounts.iter().map(|m| mounts::plan_mount(m, bundle)).collect::<Result<Vec<_>, _>>()?;
    let devices = mounts::plan_devices(&linux.devices)?;
    let net_devices = netdev::plan_net_devices(&linux.net_devices, &namespaces)?;
    let sysctl = linux
        .sysctl
        .iter()
        .map(|(k, v)| plan_sysctl(k, &namespaces).map(|path| (path, v.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut process_plan, cap_warnings) = process_plan(process)?;
    attrs::plan_linux(&linux, &mut process_plan.attrs)?;
    warnings.extend(cap_warnings);
    for p in linux.masked_paths.iter().chain(&linux.readonly_paths) {
        if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
            let field = if linux.masked_paths.contains(p) { "linux.maskedPaths" } else { "linux.readonlyPaths" };
            return Err(PlanError::rule(field, format!("masked or readonly path {p:?} must be absolute without '..'")));
        }
    }
    let root_propagation = mounts::root_propagation(linux.rootfs_propagation.as_deref())?;
    check_root_without_mount_namespace(spec, &linux, &namespaces)?;
    if options.no_pivot && matches!(linux.rootfs_propagation.as_deref(), Some("private" | "rprivate")) {
        // runc's rule: without pivot_root the old root stays reachable under the new one.
        return Err(PlanError::rule(
            "linux.rootfsPropagation",
            "rootfsPropagation of [r]private is not safe without pivot_root",
        ));
    }
    let mut hooks = spec.hooks.clone().unwrap_or_default();
    inherit_process_env(&mut hooks.start_container, &process.env);
    check_hooks(&hooks)?;
    let plan = Plan {
        id: id.to_string(),
        bundle: bundle.to_path_buf(),
        rootfs,
        readonly_root: spec.root.as_ref().is_some_and(|r| r.readonly),
        namespaces,
        mounts,
        devices,
        root_propagation,
        masked_paths: linux.masked_paths.clone(),
        readonly_paths: linux.readonly_paths.clone(),
        hostname: spec.hostname.clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname.clone().filter(|h| !h.is_empty()),
        sysctl,
        net_devices,
        cgroups: crate::cgroups::CgroupPlan::default(),
        process: process_plan,
        hooks,
        annotations: spec.annotations.clone(),
        options,
        record: ConfigRecord {
            oci_version: spec.oci_version.clone(),
            hooks: spec.hooks.clone(),
            seccomp: linux.seccomp.clone(),
        },
    };
    Ok((plan, warnings))
}

/// Without a mount namespace the container shares the runtime's mount table (the runtime-spec
/// allows it, and runc and crun run such containers chrooted into the rootfs, the mounts made
/// under it). What would have to change mounts that are not the container's own is refused, as
/// runc refuses masked and read-only paths there: a read-only root (a remount of the mount that
/// holds the bundle) and a rootfs propagation (a change to the runtime's own mounts).
fn check_root_without_mount_namespace(
    spec: &Spec,
    linux: &crate::spec::Linux,
    ns: &NamespacePlan,
) -> Result<(), PlanError> {
    if ns.has(NsKind::Mount) {
        return Ok(());
    }
    if !linux.masked_paths.is_empty() || !linux.readonly_paths.is_empty() {
        return Err(PlanError::rule(
            "linux.maskedPaths",
            "maskedPaths and readonlyPaths need a mount namespace (unable to restrict paths in the runtime's mount table)",
        ));
    }
    if spec.root.as_ref().is_some_and(|r| r.readonly) {
        return Err(PlanError::rule(
            "root.readonly",
            "root.readonly needs a mount namespace (it would remount the runtime's own mount of the rootfs)",
        ));
    }
    if linux.rootfs_propagation.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(PlanError::rule(
            "linux.rootfsPropagation",
            "rootfsPropagation needs a mount namespace (it would change the runtime's own mounts)",
        ));
    }
    Ok(())
}

/// The runtime-spec's MUSTs for hooks, checked at create so a bad poststop hook is not first
/// noticed at delete: an absolute path, and a timeout greater than zero when one is set.
fn check_hooks(hooks: &crate::spec::Hooks) -> Result<(), PlanError> {
    let all = [
        ("prestart", &hooks.prestart),
        ("createRuntime", &hooks.create_runtime),
        ("createContainer", &hooks.create_container),
        ("startContainer", &hooks.start_container),
        ("poststart", &hooks.poststart),
        ("poststop", &hooks.poststop),
    ];
    for (kind, list) in all {
        for h in list.iter() {
            if !h.path.starts_with('/') {
                let sentence = format!("{kind} hook path {:?} must be absolute", h.path);
                return Err(PlanError::rule(format!("hooks.{kind}"), sentence));
            }
            if let Some(t) = h.timeout.filter(|t| *t <= 0) {
                let sentence = format!("{kind} hook {}: timeout {t} must be greater than zero", h.path);
                return Err(PlanError::rule(format!("hooks.{kind}"), sentence));
            }
        }
    }
    Ok(())
}

/// The runtime-spec's MUSTs on every Process (config.json's, or `exec --process`'s): args not
/// empty, an absolute cwd.
pub fn check_args_and_cwd(process: &crate::spec::Process) -> Result<(), PlanError> {
    if process.args.is_empty() {
        return Err(PlanError::new("process.args", Reason::Empty));
    }
    if !process.cwd.starts_with('/') {
        return Err(PlanError::new("process.cwd", Reason::NotAbsolute(process.cwd.clone())));
    }
    Ok(())
}

/// Turns a runtime-spec Process into what init (or an exec'd process) applies; warnings name
/// unknown capabilities.
pub fn process_plan(process: &crate::spec::Process) -> Result<(ProcessPlan, Vec<String>), PlanError> {
    let supported = caps::runtime::thread_all_supported();
    let caps = CapPlan::from_spec(process.capabilities.as_ref(), &supported);
    let warnings =
        caps.unknown.iter().map(|name| format!("ignoring unknown or unavailable capability {name:?}")).collect();
    let plan = ProcessPlan {
        args: process.args.clone(),
        env: process.env.clone(),
        cwd: process.cwd.clone(),
        uid: process.user.uid,
        gid: process.user.gid,
        umask: process.user.umask,
        additional_gids: process.user.additional_gids.clone(),
        caps,
        rlimits: process::plan_rlimits(&process.rlimits)?,
        no_new_privileges: process.no_new_privileges,
        oom_score_adj: process.oom_score_adj,
        terminal: process.terminal,
        console_size: process.console_size,
        seccomp: None,
        labels: Default::default(),
        attrs: attrs::plan_process(process)?,
    };
    Ok((plan, warnings))
}

/// An exec'd process's plan: `process` (`exec --process`'s, or the container's with runc's
/// flags), the container's personality and memory policy from `linux`, `seccomp` (the container's
/// filter) and the LSM labels that apply on `lsms`, as at create.
pub fn exec_process(
    process: &Process,
    linux: &Linux,
    seccomp: Option<&serde_json::Value>,
    lsms: crate::lsm::HostLsms,
) -> Result<(ProcessPlan, Vec<String>), BuildError> {
    let (mut plan, mut warnings) = process_plan(process)?;
    attrs::plan_linux(linux, &mut plan.attrs)?;
    warnings.extend(confine::confine(&mut plan, process, seccomp, lsms, "exec")?);
    Ok((plan, warnings))
}

/// runc's terminal rules: a detached terminal container needs a console socket (a foreground
/// `run` relays the pty itself); a console socket without a terminal is a mistake.
fn check_terminal(terminal: bool, options: &CreateOptions) -> Result<(), PlanError> {
    if terminal && !options.console_socket && !options.foreground {
        return Err(PlanError::rule(
            "process.terminal",
            "cannot allocate tty if oxrun will detach without setting console socket",
        ));
    }
    if !terminal && options.console_socket {
        return Err(PlanError::rule("process.terminal", "cannot use console socket if process.terminal is false"));
    }
    Ok(())
}

/// Checks that a sysctl belongs to a namespace the container owns and returns its /proc/sys path.
pub fn plan_sysctl(key: &str, ns: &NamespacePlan) -> Result<String, PlanError> {
    if key.is_empty()
        || key.contains('/') && key.contains('.')
        || key.split(['.', '/']).any(|c| c.is_empty() || c == "..")
    {
        return Err(PlanError::invalid("linux.sysctl", format!("invalid sysctl {key:?}")));
    }
    let path = key.replace('.', "/");
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let allowed = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        ns.has(NsKind::Ipc)
    } else if key.starts_with("net.") {
        ns.has(NsKind::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        ns.has(NsKind::Uts)
    } else {
        false
    };
    if !allowed {
        return Err(PlanError::invalid(
            "linux.sysctl",
            format!("sysctl {key:?} is not in a namespace the container owns"),
        ));
    }
    Ok(format!("/proc/sys/{path}"))
}

/// startContainer hooks run in the container just before the program, with its environment
/// (runc's init has set the process's env by then); a hook's own `env` still replaces it.
fn inherit_process_env(hooks: &mut [crate::spec::Hook], env: &[String]) {
    for hook in hooks.iter_mut().filter(|h| h.env.is_empty()) {
        hook.env = env.to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Linux, Namespace, Process, Root};

    /// The typed plan, as the tests read it.
    fn build(spec: &Spec, bundle: &Path, id: &str, options: CreateOptions) -> Result<(Plan, Vec<String>), String> {
        super::build(spec, bundle, id, options, &Host::default()).map_err(|e| e.to_string())
    }

    fn spec() -> Spec {
        Spec {
            oci_version: "1.0.2".into(),
            process: Some(Process { args: vec!["sh".into()], cwd: "/".into(), ..Process::default() }),
            root: Some(Root { path: "rootfs".into(), readonly: false }),
            linux: Some(Linux {
                namespaces: ["pid", "mount", "ipc", "uts", "network"]
                    .iter()
                    .map(|k| Namespace { kind: k.to_string(), path: None })
                    .collect(),
                ..Linux::default()
            }),
            ..Spec::default()
        }
    }

    #[test]
    fn a_minimal_spec_plans() {
        let (plan, warnings) = build(&spec(), Path::new("/b"), "c1", CreateOptions::default()).unwrap();
        assert_eq!(plan.rootfs, PathBuf::from("/b/rootfs"));
        assert_eq!(plan.devices.len(), 6);
        assert!(warnings.is_empty());
    }

    #[test]
    fn the_host_and_the_record_are_part_of_the_plan() {
        let mut s = spec();
        s.process.as_mut().unwrap().apparmor_profile = Some("p".into());
        s.linux.as_mut().unwrap().seccomp = Some(serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW" }));
        s.linux.as_mut().unwrap().cgroups_path = Some("/x/y".into());
        let refused = super::build(&s, Path::new("/b"), "c", CreateOptions::default(), &Host::default());
        assert!(matches!(refused, Err(BuildError::Lsm(_))), "{refused:?}");
        let apparmor = Host { lsms: crate::lsm::HostLsms { apparmor: true, selinux: false }, ..Host::default() };
        let (plan, _) = super::build(&s, Path::new("/b"), "c", CreateOptions::default(), &apparmor).unwrap();
        assert_eq!(plan.process.labels.apparmor_profile.as_deref(), Some("p"));
        assert!(plan.process.seccomp.is_some());
        assert_eq!(plan.cgroups.path, "/x/y");
        assert_eq!(plan.record.oci_version, "1.0.2");
        assert!(plan.record.seccomp.is_some());
    }

    #[test]
    fn terminal_rules_match_runc() {
        let mut s = spec();
        s.process.as_mut().unwrap().terminal = true;
        assert!(build(&s, Path::new("/b"), "c", CreateOptions::default()).is_err());
        let with_socket = CreateOptions { console_socket: true, ..CreateOptions::default() };
        assert!(build(&s, Path::new("/b"), "c", with_socket.clone()).is_ok());
        assert!(build(&spec(), Path::new("/b"), "c", with_socket).is_err());
        // A foreground `run` relays the pty itself.
        let foreground = CreateOptions { foreground: true, ..CreateOptions::default() };
        assert!(build(&s, Path::new("/b"), "c", foreground).is_ok());
    }

    #[test]
    fn sysctls_must_belong_to_owned_namespaces() {
        let (plan, _) = build(&spec(), Path::new("/b"), "c", CreateOptions::default()).unwrap();
        let ns = &plan.namespaces;
        assert_eq!(plan_sysctl("net.ipv4.ip_forward", ns).unwrap(), "/proc/sys/net/ipv4/ip_forward");
        assert!(plan_sysctl("kernel.shm_rmid_forced", ns).is_ok());
        assert!(plan_sysctl("kernel.panic", ns).is_err());
        assert!(plan_sysctl("net/../../x", ns).is_err());
        let none = NamespacePlan::default();
        assert!(plan_sysctl("net.ipv4.ip_forward", &none).is_err());
    }

    #[test]
    fn hostname_needs_uts() {
        let mut s = spec();
        s.hostname = Some("h".into());
        s.linux.as_mut().unwrap().namespaces.retain(|n| n.kind != "uts");
        assert!(build(&s, Path::new("/b"), "c", CreateOptions::default()).unwrap_err().contains("UTS"));
    }

    #[test]
    fn without_a_mount_namespace_only_what_touches_the_runtimes_own_mounts_is_refused() {
        let no_mnt = || {
            let mut s = spec();
            s.linux.as_mut().unwrap().namespaces.retain(|n| n.kind != "mount");
            s
        };
        let (plan, _) = build(&no_mnt(), Path::new("/b"), "c", CreateOptions::default()).unwrap();
        assert!(!plan.namespaces.has(NsKind::Mount));
        let mut s = no_mnt();
        s.linux.as_mut().unwrap().masked_paths = vec!["/proc/kcore".into()];
        assert!(build(&s, Path::new("/b"), "c", CreateOptions::default()).unwrap_err().contains("maskedPaths"));
        let mut s = no_mnt();
        s.linux.as_mut().unwrap().readonly_paths = vec!["/proc/sys".into()];
        assert!(build(&s, Path::new("/b"), "c", CreateOptions::default()).unwrap_err().contains("readonlyPaths"));
        let mut s = no_mnt();
        s.root.as_mut().unwrap().readonly = true;
        assert!(build(&s, Path::new("/b"), "c", CreateOptions::default()).unwrap_err().contains("root.readonly"));
        let mut s = no_mnt();
        s.linux.as_mut().unwrap().rootfs_propagation = Some("shared".into());
        assert!(build(&s, Path::new("/b"), "c", CreateOptions::default()).unwrap_err().contains("rootfsPropagation"));
        // With a mount namespace all of these are fine.
        let mut s = spec();
        s.root.as_mut().unwrap().readonly = true;
        s.linux.as_mut().unwrap().masked_paths = vec!["/proc/kcore".into()];
        s.linux.as_mut().unwrap().rootfs_propagation = Some("shared".into());
        assert!(build(&s, Path::new("/b"), "c", CreateOptions::default()).is_ok());
    }

    #[test]
    fn private_root_propagation_needs_pivot_root_as_in_runc() {
        let no_pivot = CreateOptions { no_pivot: true, ..CreateOptions::default() };
        for (value, ok) in
            [("private", false), ("rprivate", false), ("slave", true), ("shared", true), ("unbindable", true)]
        {
            let mut s = spec();
            s.linux.as_mut().unwrap().rootfs_propagation = Some(value.into());
            assert_eq!(build(&s, Path::new("/b"), "c", no_pivot.clone()).is_ok(), ok, "{value}");
            assert!(build(&s, Path::new("/b"), "c", CreateOptions::default()).is_ok(), "{value}");
        }
    }

    #[test]
    fn the_specs_musts_on_version_and_hooks_are_checked() {
        let mut s = spec();
        s.oci_version.clear();
        assert_eq!(build(&s, Path::new("/b"), "c", CreateOptions::default()).unwrap_err(), "ociVersion is required");
        let hook = |path: &str, timeout| crate::spec::Hook { path: path.into(), timeout, ..Default::default() };
        for (h, want) in [
            (hook("rel", None), Some("poststop hook path \"rel\" must be absolute")),
            (hook("/bin/true", Some(0)), Some("poststop hook /bin/true: timeout 0 must be greater than zero")),
            (hook("/bin/true", Some(-3)), Some("poststop hook /bin/true: timeout -3 must be greater than zero")),
            (hook("/bin/true", Some(1)), None),
            (hook("/bin/true", None), None),
        ] {
            let mut s = spec();
            s.hooks = Some(crate::spec::Hooks { poststop: vec![h], ..Default::default() });
            assert_eq!(build(&s, Path::new("/b"), "c", CreateOptions::default()).err().as_deref(), want);
        }
    }

    #[test]
    fn empty_args_and_relative_cwd_are_rejected() {
        let mut s = spec();
        s.process.as_mut().unwrap().args.clear();
        assert!(build(&s, Path::new("/b"), "c", CreateOptions::default()).is_err());
        let mut s = spec();
        s.process.as_mut().unwrap().cwd = "tmp".into();
        assert!(build(&s, Path::new("/b"), "c", CreateOptions::default()).is_err());
    }

    #[test]
    fn start_container_hooks_without_env_get_the_process_env() {
        use crate::spec::Hook;
        let mut hooks = vec![
            Hook { path: "/a".into(), ..Hook::default() },
            Hook { path: "/b".into(), env: vec!["OWN=1".into()], ..Hook::default() },
        ];
        inherit_process_env(&mut hooks, &["PATH=/bin".into(), "X=y".into()]);
        assert_eq!(hooks[0].env, ["PATH=/bin", "X=y"]);
        assert_eq!(hooks[1].env, ["OWN=1"], "a hook's own env wins");
    }
}
