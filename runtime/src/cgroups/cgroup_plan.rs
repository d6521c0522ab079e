//! The container's cgroups as planned (by `plan::cgroups`) and applied by `create`: plain data.
use super::resources::ResourcePlan;
use super::systemd::{Properties, UnitPath};

/// Where the container's cgroups go, what is written into them, and who makes them.
#[derive(Debug, Clone, Default)]
pub struct CgroupPlan {
    /// The container's cgroup path: cgroupsPath (or "/<id>"), or where systemd puts the scope.
    pub path: String,
    /// `linux.resources` translated for this host's hierarchies.
    pub resources: ResourcePlan,
    pub manager: Manager,
    /// Rootless: a cgroup the runtime may not make is skipped with a warning, as runc and crun do.
    pub optional: bool,
}

/// Who makes the cgroups.
#[derive(Debug, Clone, Default)]
pub enum Manager {
    /// The runtime, in every hierarchy.
    #[default]
    Cgroupfs,
    /// systemd, as a transient scope (--systemd-cgroup).
    Systemd(ScopePlan),
    /// Nobody (`--cgroup-manager disabled`): the container stays in the caller's cgroups.
    Disabled,
}

/// The transient scope of --systemd-cgroup.
#[derive(Debug, Clone)]
pub struct ScopePlan {
    pub unit: UnitPath,
    /// The unit's properties; `PIDs` is filled in when init exists.
    pub properties: Properties,
}
