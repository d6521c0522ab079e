//! Which namespaces the container gets: created by clone3 flags, or joined by path.
use super::PlanError;
use crate::spec::{IdMapping, Linux};
use std::path::PathBuf;

/// A namespace type of the runtime-spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NsKind {
    User,
    Pid,
    Time,
    Network,
    Ipc,
    Uts,
    Cgroup,
    Mount,
}

impl NsKind {
    /// Parses a runtime-spec namespace type.
    pub fn parse(s: &str) -> Option<NsKind> {
        Some(match s {
            "pid" => NsKind::Pid,
            "network" => NsKind::Network,
            "mount" => NsKind::Mount,
            "ipc" => NsKind::Ipc,
            "uts" => NsKind::Uts,
            "user" => NsKind::User,
            "cgroup" => NsKind::Cgroup,
            "time" => NsKind::Time,
            _ => return None,
        })
    }

    /// The CLONE_NEW* flag.
    pub fn clone_flag(self) -> u64 {
        (match self {
            NsKind::User => libc::CLONE_NEWUSER,
            NsKind::Pid => libc::CLONE_NEWPID,
            NsKind::Time => libc::CLONE_NEWTIME,
            NsKind::Network => libc::CLONE_NEWNET,
            NsKind::Ipc => libc::CLONE_NEWIPC,
            NsKind::Uts => libc::CLONE_NEWUTS,
            NsKind::Cgroup => libc::CLONE_NEWCGROUP,
            NsKind::Mount => libc::CLONE_NEWNS,
        }) as u64
    }

    /// The name under /proc/PID/ns/.
    pub fn proc_name(self) -> &'static str {
        match self {
            NsKind::User => "user",
            NsKind::Pid => "pid",
            NsKind::Time => "time",
            NsKind::Network => "net",
            NsKind::Ipc => "ipc",
            NsKind::Uts => "uts",
            NsKind::Cgroup => "cgroup",
            NsKind::Mount => "mnt",
        }
    }

    /// Whether joining this namespace only affects children, so a fork must follow the setns
    /// (pid, time), or whether it must precede creating the others (user).
    pub fn join_needs_fork(self) -> bool {
        matches!(self, NsKind::User | NsKind::Pid | NsKind::Time)
    }
}

/// The namespace part of the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespacePlan {
    /// Namespaces created new, in a fixed order.
    pub new: Vec<NsKind>,
    /// Namespaces joined by path, user first (so later joins and creations happen inside it).
    pub join: Vec<(NsKind, PathBuf)>,
    pub uid_mappings: Vec<IdMapping>,
    pub gid_mappings: Vec<IdMapping>,
    /// Time namespace offsets as written to /proc/PID/timens_offsets.
    pub time_offsets: Vec<String>,
}

impl NamespacePlan {
    /// Builds the plan from `linux`, rejecting duplicates, unknown types and inconsistent maps.
    pub fn from_spec(linux: &Linux) -> Result<NamespacePlan, PlanError> {
        let mut plan = NamespacePlan::default();
        let mut seen = Vec::new();
        for ns in &linux.namespaces {
            let kind = NsKind::parse(&ns.kind).ok_or_else(|| {
                PlanError::invalid("linux.namespaces", format!("unknown namespace type {:?}", ns.kind))
            })?;
            if seen.contains(&kind) {
                return Err(PlanError::invalid("linux.namespaces", format!("namespace {:?} is listed twice", ns.kind)));
            }
            seen.push(kind);
            match ns.path.as_deref().filter(|p| !p.is_empty()) {
                Some(path) => {
                    if !path.starts_with('/') {
                        let detail = format!("namespace {:?}: path {path:?} is not absolute", ns.kind);
                        return Err(PlanError::invalid("linux.namespaces", detail));
                    }
                    plan.join.push((kind, PathBuf::from(path)));
                }
                None => plan.new.push(kind),
            }
        }
        plan.new.sort();
        plan.join.sort_by_key(|(k, _)| *k);
        plan.uid_mappings = linux.uid_mappings.clone();
        plan.gid_mappings = linux.gid_mappings.clone();
        let new_user = plan.new.contains(&NsKind::User);
        if new_user && (plan.uid_mappings.is_empty() || plan.gid_mappings.is_empty()) {
            return Err(PlanError::rule("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings"));
        }
        if !plan.has(NsKind::User) && (!plan.uid_mappings.is_empty() || !plan.gid_mappings.is_empty()) {
            return Err(PlanError::rule("linux.uidMappings", "uidMappings/gidMappings need a user namespace"));
        }
        for (clock, off) in &linux.time_offsets {
            let name = match clock.as_str() {
                "monotonic" | "boottime" => clock.as_str(),
                other => {
                    return Err(PlanError::invalid("linux.timeOffsets", format!("unknown time offset clock {other:?}")))
                }
            };
            plan.time_offsets.push(format!("{name} {} {}", off.secs, off.nanosecs));
        }
        if !plan.time_offsets.is_empty() && !plan.new.contains(&NsKind::Time) {
            return Err(PlanError::rule("linux.timeOffsets", "timeOffsets need a new time namespace"));
        }
        Ok(plan)
    }

    /// Whether the container has this namespace (new or joined).
    pub fn has(&self, kind: NsKind) -> bool {
        self.new.contains(&kind) || self.join.iter().any(|(k, _)| *k == kind)
    }

    /// Whether this namespace is created new.
    pub fn is_new(&self, kind: NsKind) -> bool {
        self.new.contains(&kind)
    }

    /// The clone3 flags that create the new namespaces for init in one step.
    ///
    /// A time namespace with offsets is left out: offsets must be written before any process
    /// enters it, so the intermediate process unshares it and writes them first.
    pub fn clone_flags(&self) -> u64 {
        self.new
            .iter()
            .filter(|k| **k != NsKind::Time || self.time_offsets.is_empty())
            .fold(0, |acc, k| acc | k.clone_flag())
    }

    /// Whether init must be forked by an intermediate process that first joins (or unshares)
    /// namespaces that only take effect for children.
    pub fn needs_intermediate(&self) -> bool {
        self.join.iter().any(|(k, _)| k.join_needs_fork()) || !self.time_offsets.is_empty()
    }

    /// Joins done by the intermediate process (before init is forked).
    pub fn intermediate_joins(&self) -> impl Iterator<Item = &(NsKind, PathBuf)> {
        self.join.iter().filter(|(k, _)| k.join_needs_fork())
    }

    /// Joins done by init itself (after clone, before the rootfs is set up).
    pub fn init_joins(&self) -> impl Iterator<Item = &(NsKind, PathBuf)> {
        self.join.iter().filter(|(k, _)| !k.join_needs_fork())
    }
}

/// The text of a uid_map/gid_map file.
pub fn id_map_text(maps: &[IdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Namespace;

    fn linux(ns: &[(&str, Option<&str>)]) -> Linux {
        Linux {
            namespaces: ns
                .iter()
                .map(|(k, p)| Namespace { kind: k.to_string(), path: p.map(str::to_string) })
                .collect(),
            ..Linux::default()
        }
    }

    #[test]
    fn new_namespaces_become_clone_flags() {
        let plan = NamespacePlan::from_spec(&linux(&[("pid", None), ("mount", None), ("network", None)])).unwrap();
        assert_eq!(plan.clone_flags(), (libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWNET) as u64);
        assert!(!plan.needs_intermediate());
    }

    #[test]
    fn joined_pid_or_user_needs_an_intermediate_but_net_does_not() {
        let plan = NamespacePlan::from_spec(&linux(&[("network", Some("/run/netns/x")), ("mount", None)])).unwrap();
        assert!(!plan.needs_intermediate());
        assert_eq!(plan.init_joins().count(), 1);
        let plan = NamespacePlan::from_spec(&linux(&[("pid", Some("/proc/1/ns/pid"))])).unwrap();
        assert!(plan.needs_intermediate());
        assert_eq!(plan.clone_flags(), 0);
    }

    #[test]
    fn bad_namespace_lists_are_rejected() {
        assert!(NamespacePlan::from_spec(&linux(&[("pid", None), ("pid", None)])).is_err());
        assert!(NamespacePlan::from_spec(&linux(&[("bogus", None)])).is_err());
        assert!(NamespacePlan::from_spec(&linux(&[("net", Some("relative"))])).is_err());
        // A new user namespace without maps cannot work.
        assert!(NamespacePlan::from_spec(&linux(&[("user", None)])).is_err());
    }

    #[test]
    fn user_namespace_with_maps_and_time_offsets() {
        let mut l = linux(&[("user", None), ("time", None)]);
        let m = IdMapping { container_id: 0, host_id: 100000, size: 65536 };
        l.uid_mappings = vec![m];
        l.gid_mappings = vec![m];
        l.time_offsets.insert("monotonic".into(), crate::spec::TimeOffset { secs: 86400, nanosecs: 0 });
        let plan = NamespacePlan::from_spec(&l).unwrap();
        assert_eq!(id_map_text(&plan.uid_mappings), "0 100000 65536\n");
        assert_eq!(plan.time_offsets, vec!["monotonic 86400 0"]);
        assert!(plan.needs_intermediate());
        assert_eq!(plan.clone_flags(), libc::CLONE_NEWUSER as u64);
    }
}
