//! `linux.netDevices` applied: the runtime moves each host network device into the container's
//! network namespace at create (after init exists, before init sets up the container and before
//! any hook), renamed as planned, with its permanent global addresses, and sets it up.
//!
//! A create that fails afterwards moves every device it moved back to the host, under its host
//! name, with the permanent addresses and the up state it had, so the host is left as found
//! (runc and crun leave that to the namespace's death, which destroys virtual devices).
//! `delete` does not move devices out: the runtime-spec says the runtime MUST NOT; when the
//! namespace is freed the kernel returns physical devices to the initial namespace and destroys
//! virtual ones.
use crate::logging;
use crate::plan::netdev::{NetDevicePlan, NetnsTarget};
use oxsys::netlink::{Address, Link, RouteSocket};
use oxsys::SysError;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A planned device move the host refuses.
#[derive(Debug, thiserror::Error)]
pub enum NetDevError {
    #[error("linux.netDevices: network devices are not supported for rootless containers")]
    Rootless,
    #[error("linux.netDevices: the container's network namespace {} is the runtime's own; the devices would not move", .0.display())]
    OwnNamespace(PathBuf),
    #[error("linux.netDevices: network device {0:?} does not exist on the host")]
    NoSuchDevice(String),
    #[error("linux.netDevices: {0:?} and {1:?} name the same network device")]
    SameDevice(String, String),
    #[error(transparent)]
    Sys(#[from] SysError),
}

fn sys(op: impl Into<String>, e: impl Into<std::io::Error>) -> NetDevError {
    NetDevError::Sys(SysError::new(op.into(), e))
}

/// Devices moved during a create that has not finished. Dropped without [`MovedDevices::keep`],
/// each goes back to the host as it was.
pub struct MovedDevices {
    /// The container's namespace, held so that it (and the devices in it) outlives an init
    /// that dies during create.
    netns: OwnedFd,
    host_netns: OwnedFd,
    host: RouteSocket,
    container: RouteSocket,
    moved: Vec<Moved>,
}

/// One device moved: as it was on the host, and where it is now.
struct Moved {
    host: Link,
    host_addresses: Vec<Address>,
    index: i32,
    name: String,
}

impl MovedDevices {
    /// The create succeeded: the devices stay in the container.
    pub fn keep(mut self) {
        self.moved.clear();
    }
}

impl Drop for MovedDevices {
    fn drop(&mut self) {
        while let Some(m) = self.moved.pop() {
            if let Err(e) = self.move_back(&m) {
                logging::warn(&format!(
                    "move network device {} back to the host after a failed create: {e}",
                    m.host.name
                ));
            }
        }
    }
}

impl MovedDevices {
    fn move_back(&mut self, m: &Moved) -> std::io::Result<()> {
        self.container.move_link(m.index, self.host_netns.as_fd(), &m.host.name)?;
        let back = self.host.link(&m.host.name)?;
        for addr in &m.host_addresses {
            self.host.add_address(back.index, addr)?;
        }
        if m.host.is_up() {
            self.host.set_up(back.index, true)?;
        }
        logging::debug(&format!("network device {} (container name {}) moved back to the host", m.host.name, m.name));
        Ok(())
    }
}

/// Moves the planned devices into the network namespace of the container whose init is
/// `init_pid`. Either every device is moved and set up, or none is (an error, the moved ones
/// back on the host).
pub fn move_devices(
    plan: Option<&NetDevicePlan>,
    id: &str,
    init_pid: i32,
) -> Result<Option<MovedDevices>, NetDevError> {
    let Some(plan) = plan else { return Ok(None) };
    if !nix::unistd::geteuid().is_root() {
        return Err(NetDevError::Rootless);
    }
    let (netns, netns_path) = open_target(&plan.target, init_pid)?;
    let host_netns = open_netns(Path::new("/proc/thread-self/ns/net"))?;
    if same_file(&netns, &host_netns)? {
        return Err(NetDevError::OwnNamespace(netns_path));
    }
    let mut host = RouteSocket::open().map_err(|e| sys("open a netlink socket", e))?;
    let links = host_links(&mut host, plan)?;
    let container = RouteSocket::open_in(netns.as_fd())
        .map_err(|e| sys(format!("open a netlink socket in network namespace {}", netns_path.display()), e))?;
    let mut moved = MovedDevices { netns, host_netns, host, container, moved: Vec::new() };
    for (m, link) in plan.moves.iter().zip(links) {
        moved
            .move_one(link, &m.container_name)
            .map_err(|e| sys(format!("network device {}: {}", m.host_name, e.op), e.source))?;
    }
    logging::debug(&format!(
        "container {id}: {} network device(s) moved into {}",
        plan.moves.len(),
        netns_path.display()
    ));
    Ok(Some(moved))
}

impl MovedDevices {
    /// Moves one device, then gives it its addresses and sets it up. Once the device has moved
    /// it is on the list, so any later failure moves it back.
    fn move_one(&mut self, link: Link, name: &str) -> Result<(), SysError> {
        fn ctx(op: &str) -> impl FnOnce(std::io::Error) -> SysError + '_ {
            move |e| SysError::new(op.to_string(), e)
        }
        let addresses = self.host.addresses(link.index).map_err(ctx("read its addresses"))?;
        let before = self.container.links().map_err(ctx("list the container's devices"))?;
        let op = format!("move into the container's network namespace as {name}");
        let result = self.host.move_link(link.index, self.netns.as_fd(), name);
        // The kernel may give the device another index (and a template a name): it is a device
        // that was not there before, under the new name or (a rename that failed after the move,
        // the name being taken inside) its host name; looked for whether the move failed or not.
        let after = self.container.links().map_err(ctx("list the container's devices"))?;
        let named = |l: &Link| name.contains('%') || l.name == name || l.name == link.name;
        let now = after.into_iter().find(|l| named(l) && !before.iter().any(|b| b.index == l.index));
        // The move flushed every address. The container gets the permanent global ones (the
        // spec's words); a move back restores every permanent one on the host.
        let host_addresses: Vec<Address> =
            addresses.into_iter().filter(|a| a.flags & oxsys::netlink::IFA_F_PERMANENT != 0).collect();
        let carried: Vec<Address> = host_addresses.iter().filter(|a| a.is_permanent_global()).cloned().collect();
        if let Some(now) = &now {
            self.moved.push(Moved { host: link, host_addresses, index: now.index, name: now.name.clone() });
        }
        result.map_err(ctx(&op))?;
        let Some(now) = now else {
            let e = std::io::Error::from_raw_os_error(libc::ENODEV);
            return Err(SysError::new("find it in the container's network namespace", e));
        };
        for addr in &carried {
            self.container
                .add_address(now.index, addr)
                .map_err(ctx(&format!("add address {} in the container", addr.describe())))?;
        }
        self.container.set_up(now.index, true).map_err(ctx(&format!("set {} up in the container", now.name)))?;
        logging::debug(&format!(
            "network device moved into the container as {} with {} address(es)",
            now.name,
            carried.len()
        ));
        Ok(())
    }
}

/// Every planned device looked up on the host before any moves: a missing one is refused with
/// nothing moved, and two names of one device (an altname) are refused too.
fn host_links(host: &mut RouteSocket, plan: &NetDevicePlan) -> Result<Vec<Link>, NetDevError> {
    let mut links: Vec<Link> = Vec::new();
    for m in &plan.moves {
        let link = host.link(&m.host_name).map_err(|e| match e.raw_os_error() {
            Some(libc::ENODEV) => NetDevError::NoSuchDevice(m.host_name.clone()),
            _ => sys(format!("look up network device {}", m.host_name), e),
        })?;
        if let Some(twin) = links.iter().find(|l| l.index == link.index) {
            return Err(NetDevError::SameDevice(twin.name.clone(), m.host_name.clone()));
        }
        links.push(link);
    }
    Ok(links)
}

/// The namespace to move into and its path (for messages).
fn open_target(target: &NetnsTarget, init_pid: i32) -> Result<(OwnedFd, PathBuf), NetDevError> {
    let path = match target {
        NetnsTarget::New => PathBuf::from(format!("/proc/{init_pid}/ns/net")),
        NetnsTarget::Joined(path) => path.clone(),
    };
    Ok((open_netns(&path)?, path))
}

fn open_netns(path: &Path) -> Result<OwnedFd, NetDevError> {
    crate::rootfs::open_host(path, libc::O_RDONLY)
        .map_err(|e| sys(format!("open network namespace {}", path.display()), e))
}

fn same_file(a: &OwnedFd, b: &OwnedFd) -> Result<bool, NetDevError> {
    let sa = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(a)).map_err(|e| sys("stat network namespace", e))?;
    let sb = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(b)).map_err(|e| sys("stat network namespace", e))?;
    Ok((sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino))
}
