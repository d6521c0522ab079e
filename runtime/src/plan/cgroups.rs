//! The container's cgroups, planned for the host: the path (cgroupsPath or the default, or where
//! systemd puts the scope), the resource writes for the host's hierarchies, and with
//! --systemd-cgroup the scope's properties. `create` applies it (`cgroups::create`,
//! `cgroups::scope::prepare`).
use super::{CreateOptions, DeviceNode, Host};
use crate::cgroups::{self, systemd, CgroupError, CgroupPlan, Manager, ScopePlan};
use crate::spec::{DeviceRule, Resources, Spec};

/// The cgroup plan and the warnings for resources that are accepted but have no effect here.
pub fn plan_cgroups(
    spec: &Spec,
    id: &str,
    options: &CreateOptions,
    host: &Host,
    devices: &[DeviceNode],
) -> Result<(CgroupPlan, Vec<String>), CgroupError> {
    let linux = spec.linux();
    let path = match linux.cgroups_path.as_deref().filter(|p| !p.is_empty()) {
        None if !options.systemd_cgroup => host.cgroups.default_path(id, host.rootless),
        named => cgroups::cgroup_path(named, id, options.systemd_cgroup)?,
    };
    let none = Resources::default();
    let res = linux.resources.as_ref().unwrap_or(&none);
    // The container's own device nodes stay allowed, as runc does.
    let own = default_allowed_devices(devices);
    let resources = cgroups::plan_resources(&host.resources, res, &own)?;
    let mut warnings = resources.warnings.clone();
    let manager = if options.no_cgroups {
        Manager::Disabled
    } else if options.systemd_cgroup {
        let unit = systemd::parse_path(linux.cgroups_path.as_deref().unwrap_or(""), id)?;
        let mut res = res.clone();
        if !res.devices.is_empty() {
            res.devices.extend(own);
        }
        // PIDs is filled in when init exists.
        let v2 = host.cgroups.is_v2_only();
        let (properties, scope_warnings) =
            systemd::properties(&unit, 0, &res, &spec.annotations, v2, &host.proc_devices)?;
        warnings.extend(scope_warnings);
        Manager::Systemd(ScopePlan { unit, properties })
    } else {
        Manager::Cgroupfs
    };
    Ok((CgroupPlan { path, resources, manager, optional: host.rootless }, warnings))
}

/// The device rules runc always allows after the spec's: the container's nodes, /dev/console,
/// ptys, tun.
pub fn default_allowed_devices(nodes: &[DeviceNode]) -> Vec<DeviceRule> {
    let rule = |kind: char, major: i64, minor: Option<i64>| DeviceRule {
        allow: true,
        kind: Some(kind.to_string()),
        major: Some(major),
        minor,
        access: Some("rwm".into()),
    };
    let mut out: Vec<DeviceRule> =
        nodes.iter().filter(|n| n.kind != 'p').map(|n| rule(n.kind, n.major as i64, Some(n.minor as i64))).collect();
    out.push(rule('c', 5, Some(1)));
    out.push(rule('c', 136, None));
    out.push(rule('c', 5, Some(2)));
    out.push(rule('c', 10, Some(200)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Linux, Memory};

    fn spec(cgroups_path: Option<&str>, resources: Option<Resources>) -> Spec {
        Spec {
            linux: Some(Linux { cgroups_path: cgroups_path.map(str::to_string), resources, ..Linux::default() }),
            ..Spec::default()
        }
    }

    fn v2_host() -> Host {
        Host { resources: cgroups::resources::Host::v2(), ..Host::default() }
    }

    #[test]
    fn the_path_is_the_default_the_spec_s_or_the_scope_s() {
        let plain = CreateOptions::default();
        let (p, _) = plan_cgroups(&spec(None, None), "c1", &plain, &v2_host(), &[]).unwrap();
        assert_eq!(p.path, "/c1");
        assert!(matches!(p.manager, Manager::Cgroupfs));
        let (p, _) = plan_cgroups(&spec(Some("/a/b"), None), "c1", &plain, &v2_host(), &[]).unwrap();
        assert_eq!(p.path, "/a/b");
        assert!(plan_cgroups(&spec(Some("/a/../b"), None), "c1", &plain, &v2_host(), &[]).is_err());
        assert!(plan_cgroups(&spec(Some("a.slice:p:n"), None), "c1", &plain, &v2_host(), &[]).is_err());
        let systemd = CreateOptions { systemd_cgroup: true, ..CreateOptions::default() };
        let (p, _) = plan_cgroups(&spec(Some("a.slice:p:n"), None), "c1", &systemd, &v2_host(), &[]).unwrap();
        assert_eq!(p.path, "/a.slice/p-n.scope");
        let Manager::Systemd(scope) = &p.manager else { panic!("{:?}", p.manager) };
        assert_eq!(scope.unit.unit, "p-n.scope");
        let disabled = CreateOptions { no_cgroups: true, ..CreateOptions::default() };
        let (p, _) = plan_cgroups(&spec(None, None), "c1", &disabled, &v2_host(), &[]).unwrap();
        assert!(matches!(p.manager, Manager::Disabled));
    }

    #[test]
    fn rootless_on_pure_v2_defaults_beside_the_callers_cgroup() {
        let own = "0::/user.slice/user-1000.slice/user@1000.service/user.slice/podman-9.scope\n";
        let layout = cgroups::Layout::parse("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", own);
        let host = Host { cgroups: layout, rootless: true, ..v2_host() };
        let plain = CreateOptions::default();
        let (p, _) = plan_cgroups(&spec(None, None), "c1", &plain, &host, &[]).unwrap();
        assert_eq!(p.path, "/user.slice/user-1000.slice/user@1000.service/user.slice/c1");
        assert!(p.optional, "rootless: run without a cgroup when even that one is not writable");
        let (p, _) = plan_cgroups(&spec(Some("/a/b"), None), "c1", &plain, &host, &[]).unwrap();
        assert_eq!(p.path, "/a/b", "a named cgroupsPath is kept");
    }

    #[test]
    fn resources_become_writes_for_the_hosts_hierarchies() {
        let res =
            Resources { memory: Some(Memory { limit: Some(1 << 20), ..Memory::default() }), ..Resources::default() };
        let (p, _) =
            plan_cgroups(&spec(None, Some(res.clone())), "c", &CreateOptions::default(), &v2_host(), &[]).unwrap();
        assert!(p.resources.writes.iter().any(|w| w.file == "memory.max" && w.value == "1048576"), "{p:?}");
        let v1 = Host { resources: cgroups::resources::Host::v1(false), rootless: true, ..Host::default() };
        let (p, _) = plan_cgroups(&spec(None, Some(res)), "c", &CreateOptions::default(), &v1, &[]).unwrap();
        assert!(p.resources.writes.iter().any(|w| w.file == "memory.limit_in_bytes"), "{p:?}");
        assert!(p.optional, "rootless: a cgroup that cannot be made is skipped");
    }

    #[test]
    fn own_device_nodes_stay_allowed_but_not_fifos() {
        let node =
            |kind, major, minor| DeviceNode { path: "/dev/x".into(), kind, major, minor, mode: 0o666, uid: 0, gid: 0 };
        let rules = default_allowed_devices(&[node('c', 1, 3), node('p', 0, 0)]);
        assert_eq!(rules.len(), 5);
        assert_eq!((rules[0].major, rules[0].minor), (Some(1), Some(3)));
    }
}
