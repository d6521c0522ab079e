//! What planning needs to know about the host, read once per command by [`Host::detect`] (the one
//! part of `plan` that reads the host) and passed to `plan::build` as data, so that the tests plan
//! for a made-up host.
use crate::cgroups::{resources, CgroupError, Layout};
use crate::lsm::HostLsms;

#[derive(Debug, Clone, Default)]
pub struct Host {
    /// AppArmor and SELinux, as the kernel enforces them.
    pub lsms: HostLsms,
    /// The cgroup hierarchies, and our own cgroup in each.
    pub cgroups: Layout,
    /// What the resource translation needs: v1, v2 or hybrid, swap accounting.
    pub resources: resources::Host,
    /// Not root, or root of a user namespace only.
    pub rootless: bool,
    /// The text of /proc/devices, read for --systemd-cgroup only (device properties name
    /// drivers).
    pub proc_devices: String,
}

impl Host {
    pub fn detect(systemd_cgroup: bool) -> Result<Host, CgroupError> {
        let cgroups = Layout::detect()?;
        let proc_devices =
            if systemd_cgroup { std::fs::read_to_string("/proc/devices").unwrap_or_default() } else { String::new() };
        Ok(Host {
            lsms: HostLsms::detect(),
            resources: cgroups.host(),
            cgroups,
            rootless: crate::state::is_rootless(),
            proc_devices,
        })
    }
}
