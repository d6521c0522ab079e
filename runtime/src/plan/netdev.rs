//! `linux.netDevices` → which host network devices move into which network namespace, under which
//! names. Pure: the names are checked by the kernel's own rules (`dev_valid_name` and the `%d`
//! template of `dev_alloc_name` in net/core/dev.c) so a bad config fails before anything moves.
use super::{NamespacePlan, NsKind, PlanError};
use crate::spec::NetDevice;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// IFNAMSIZ: a name and its terminating NUL fit in 16 bytes.
const IFNAMSIZ: usize = 16;

/// The network namespace the devices move into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsTarget {
    /// The one created for the container (init's `/proc/PID/ns/net`).
    New,
    /// One the container joins by path.
    Joined(PathBuf),
}

/// One device to move: found by `host_name` in the runtime's namespace, named `container_name`
/// (possibly a `%d` template the kernel completes) in the container's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDeviceMove {
    pub host_name: String,
    pub container_name: String,
}

/// Every device to move, in the config's key order, and where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevicePlan {
    pub target: NetnsTarget,
    pub moves: Vec<NetDeviceMove>,
}

/// Plans `linux.netDevices`; `None` when there is nothing to move. Refused: devices without a
/// network namespace of the container's (they would stay in the runtime's), a name the kernel
/// would refuse, a host name that is a template, and two devices given the same name inside.
pub fn plan_net_devices(
    devices: &BTreeMap<String, NetDevice>,
    ns: &NamespacePlan,
) -> Result<Option<NetDevicePlan>, PlanError> {
    if devices.is_empty() {
        return Ok(None);
    }
    let target = if ns.is_new(NsKind::Network) {
        NetnsTarget::New
    } else if let Some((_, path)) = ns.join.iter().find(|(k, _)| *k == NsKind::Network) {
        NetnsTarget::Joined(path.clone())
    } else {
        return Err(PlanError::invalid(
            "linux.netDevices",
            "needs a network namespace: unable to move network devices without one",
        ));
    };
    let mut moves: Vec<NetDeviceMove> = Vec::new();
    for (host_name, device) in devices {
        let bad_host_name =
            |why| PlanError::invalid("linux.netDevices", format!("invalid network device name {host_name:?}: {why}"));
        check_name(host_name).map_err(bad_host_name)?;
        if host_name.contains('%') {
            return Err(bad_host_name("a host device is named without a %d template"));
        }
        let container_name = device.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| host_name.clone());
        let bad_name = |why| {
            let field = format!("linux.netDevices.{host_name}.name");
            PlanError::rule(
                field.clone(),
                format!("{field} {container_name:?} is not a valid network device name: {why}"),
            )
        };
        check_name(&container_name).map_err(bad_name)?;
        check_template(&container_name).map_err(bad_name)?;
        let is_template = container_name.contains('%');
        if let Some(other) = moves.iter().find(|m| !is_template && m.container_name == container_name) {
            return Err(PlanError::invalid(
                "linux.netDevices",
                format!(
                    "{:?} and {host_name:?} would both be named {container_name:?} in the container",
                    other.host_name
                ),
            ));
        }
        moves.push(NetDeviceMove { host_name: host_name.clone(), container_name });
    }
    Ok(Some(NetDevicePlan { target, moves }))
}

/// The kernel's `dev_valid_name`: 1 to 15 bytes, not `.` or `..`, no `/`, `:` or white space
/// (the kernel's `isspace`, which also counts 0xA0).
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() >= IFNAMSIZ {
        return Err("longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return Err("\".\" and \"..\" are not device names");
    }
    if name.bytes().any(|b| matches!(b, b'/' | b':' | b'\0' | b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0)) {
        return Err("it contains '/', ':', NUL or white space");
    }
    Ok(())
}

/// The kernel's `dev_alloc_name` template rule: a `%` must be the one `%d` of the name.
fn check_template(name: &str) -> Result<(), &'static str> {
    match name.split_once('%') {
        None => Ok(()),
        Some((_, rest)) if rest.starts_with('d') && !rest.contains('%') => Ok(()),
        Some(_) => Err("a template has exactly one %d and no other '%'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Linux, Namespace};

    fn ns(entries: &[(&str, Option<&str>)]) -> NamespacePlan {
        let linux = Linux {
            namespaces: entries
                .iter()
                .map(|(k, p)| Namespace { kind: k.to_string(), path: p.map(Into::into) })
                .collect(),
            ..Linux::default()
        };
        NamespacePlan::from_spec(&linux).unwrap()
    }

    fn devices(entries: &[(&str, Option<&str>)]) -> BTreeMap<String, NetDevice> {
        entries.iter().map(|(k, n)| (k.to_string(), NetDevice { name: n.map(Into::into) })).collect()
    }

    fn plan(entries: &[(&str, Option<&str>)]) -> Result<Option<NetDevicePlan>, String> {
        plan_net_devices(&devices(entries), &ns(&[("network", None)])).map_err(|e| e.to_string())
    }

    #[test]
    fn nothing_to_move_plans_nothing_even_without_a_network_namespace() {
        assert_eq!(plan_net_devices(&BTreeMap::new(), &ns(&[("pid", None)])), Ok(None));
    }

    #[test]
    fn devices_keep_their_host_name_unless_renamed() {
        let p = plan(&[("eth1", Some("ctr0")), ("ens4", None), ("ens5", Some(""))]).unwrap().unwrap();
        assert_eq!(p.target, NetnsTarget::New);
        let names: Vec<_> = p.moves.iter().map(|m| (m.host_name.as_str(), m.container_name.as_str())).collect();
        assert_eq!(names, [("ens4", "ens4"), ("ens5", "ens5"), ("eth1", "ctr0")]);
    }

    #[test]
    fn the_devices_go_to_a_joined_namespace_by_its_path() {
        let p =
            plan_net_devices(&devices(&[("d0", None)]), &ns(&[("network", Some("/run/netns/x"))])).unwrap().unwrap();
        assert_eq!(p.target, NetnsTarget::Joined("/run/netns/x".into()));
    }

    #[test]
    fn without_a_network_namespace_moving_devices_is_refused() {
        let err = plan_net_devices(&devices(&[("d0", None)]), &ns(&[("pid", None), ("mount", None)])).unwrap_err();
        assert_eq!(err.field, "linux.netDevices");
        assert!(err.to_string().contains("needs a network namespace"), "{err}");
    }

    #[test]
    fn names_follow_the_kernels_dev_valid_name() {
        for good in ["a", "eth0", "123456789012345", "veth-x_y.z", "e%d", "%d", "ab%dcd"] {
            assert!(plan(&[("d0", Some(good))]).is_ok(), "{good:?} must be accepted");
        }
        for bad in [
            "1234567890123456",
            ".",
            "..",
            "a/b",
            "a:1",
            "a b",
            "a\tb",
            "a\nb",
            "a\u{a0}b",
            "a\0b",
            "e%",
            "e%s",
            "%d%d",
            "a%%d",
        ] {
            let err = plan(&[("d0", Some(bad))]).unwrap_err();
            assert!(
                err.contains("linux.netDevices.d0.name") && err.contains("not a valid network device name"),
                "{bad:?}: {err}"
            );
        }
        for bad in ["", "1234567890123456", "..", "a/b", "a:b", "a b", "e%d"] {
            let err = plan(&[(bad, None)]).unwrap_err();
            assert!(err.contains("invalid network device name"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn two_devices_may_not_get_the_same_name_inside() {
        let err = plan(&[("a", Some("x")), ("b", Some("x"))]).unwrap_err();
        assert_eq!(err, "linux.netDevices: \"a\" and \"b\" would both be named \"x\" in the container");
        assert!(plan(&[("a", None), ("b", Some("a"))]).unwrap_err().contains("both be named \"a\""));
        // A template gets a unique name from the kernel.
        assert!(plan(&[("a", Some("c%d")), ("b", Some("c%d"))]).is_ok());
    }
}
