//! cgroups: where the hierarchies are (v1, v2 or hybrid), which directories a container gets,
//! and what is written into them.
//!
//! Detection reads /proc/self/cgroup and the cgroup2 root's cgroup.controllers once per
//! invocation and finds the hierarchies' mounts with statmount (`locate`), or from
//! /proc/self/mountinfo where that does not work; the spec → file-writes translation is pure (see
//! `resources`, `blkio`, `devices`), and `fs` applies it, so all of it is tested on fake trees.
//!
//! Processes enter the container's cgroup2 directory at birth (CLONE_INTO_CGROUP, see
//! `clone_into`) and its v1 directories by a cgroup.procs write before they run user code.
pub mod blkio;
mod cgroup_plan;
pub mod clone_into;
pub mod dbus;
pub mod dbus_conn;
pub mod dbus_decode;
pub mod devices;
mod dirs;
mod fs;
pub mod locate;
pub mod resource_error;
pub mod resource_plan;
pub mod resources;
pub mod scope;
pub mod stats;
pub mod systemd;

pub use fs::{apply_write, create, freeze, is_frozen, kill_all, pids, thaw, write_file};

pub use cgroup_plan::{CgroupPlan, Manager, ScopePlan};
pub use dirs::CgroupDirs;

use oxsys::SysError;
use std::fs as stdfs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(transparent)]
    Io {
        #[from]
        source: SysError,
    },
    #[error("controller {0} is not available on this host (no hierarchy has it)")]
    NoController(String),
    #[error("a device program needs a cgroup2 hierarchy")]
    NoCgroup2,
    /// The container's cgroups lack one of a controller (`update` of it, `pause` without freezer).
    #[error("the container has no {0} cgroup")]
    NoCgroup(String),
    /// `exec --cgroup`'s sub-cgroup, which the container must have made.
    #[error("sub-cgroup {} does not exist", .0.display())]
    NoSubCgroup(PathBuf),
    #[error("cgroupsPath {0:?} contains '..'")]
    PathDotDot(String),
    #[error("cgroupsPath {0:?} looks like systemd syntax (slice:prefix:name) but --systemd-cgroup is not set")]
    SystemdSyntax(String),
    #[error(transparent)]
    Resources(#[from] resources::ResourceError),
    #[error(transparent)]
    Systemd(#[from] systemd::SystemdError),
    #[error("remove cgroup {path}: processes {pids:?} are still in it")]
    Busy { path: PathBuf, pids: Vec<i32> },
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted on the host.
    pub mount: PathBuf,
    /// The cgroup path that the mount's root corresponds to (usually "/").
    pub root: String,
    /// v1 controllers (and `name=` options) of this mount; empty for v2.
    pub controllers: Vec<String>,
    pub v2: bool,
}

impl Hierarchy {
    /// The key this hierarchy has in /proc/PID/cgroup ("cpu,cpuacct", "name=systemd", or "" for v2).
    fn proc_key(&self) -> String {
        self.controllers.join(",")
    }

    /// Short directory name used under a container's /sys/fs/cgroup.
    pub fn dir_name(&self) -> String {
        if self.v2 {
            return "unified".into();
        }
        self.mount.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| self.proc_key())
    }
}

/// All cgroup hierarchies of this host, and the caller's own cgroup in each.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub hierarchies: Vec<Hierarchy>,
    /// /proc/self/cgroup: (key, path)
    pub own: Vec<(String, String)>,
    /// Controllers in the cgroup2 root's cgroup.controllers (on a hybrid host, the few that are
    /// not bound to a v1 hierarchy, e.g. hugetlb).
    pub v2_controllers: Vec<String>,
}

impl Layout {
    /// Reads this process's view of the host, once per process (the mounts do not change
    /// during one command).
    pub fn detect() -> Result<Layout, CgroupError> {
        static CACHE: OnceLock<Layout> = OnceLock::new();
        if let Some(l) = CACHE.get() {
            return Ok(l.clone());
        }
        let own =
            stdfs::read_to_string("/proc/self/cgroup").map_err(SysError::on("read", Path::new("/proc/self/cgroup")))?;
        let mut layout = match locate::targeted(&own).or_else(locate::scan) {
            Some(hierarchies) => Layout { hierarchies, own: parse_own(&own), v2_controllers: Vec::new() },
            None => {
                let path = Path::new("/proc/self/mountinfo");
                let mountinfo = stdfs::read_to_string(path).map_err(SysError::on("read", path))?;
                Layout::parse(&mountinfo, &own)
            }
        };
        layout.read_v2_controllers();
        Ok(CACHE.get_or_init(|| layout).clone())
    }

    /// Fills `v2_controllers` from the cgroup2 mount's root.
    pub fn read_v2_controllers(&mut self) {
        if let Some(h) = self.v2() {
            let text = stdfs::read_to_string(h.mount.join("cgroup.controllers")).unwrap_or_default();
            self.v2_controllers = text.split_whitespace().map(str::to_string).collect();
        }
    }

    /// The cgroup2 hierarchy, if any.
    pub fn v2(&self) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| h.v2)
    }

    /// The hierarchy holding `controller`: its v1 mount, else the cgroup2 mount when that has it
    /// (every controller, and the `cgroup.*` core files, on a v2-only host).
    pub fn hierarchy_of(&self, controller: &str) -> Option<&Hierarchy> {
        if let Some(h) = self.v1(controller) {
            return Some(h);
        }
        let h = self.v2()?;
        (self.is_v2_only() || self.v2_controllers.iter().any(|c| c == controller)).then_some(h)
    }

    /// Whether the container gets a directory in `h`: every hierarchy, also a hybrid host's
    /// cgroup2 mount without controllers, as runc does (tools read `0::/<path>` in
    /// /proc/PID/cgroup to find a container).
    pub fn uses(&self, _h: &Hierarchy) -> bool {
        true
    }

    /// What the pure resource translation needs to know about this host.
    pub fn host(&self) -> resources::Host {
        resources::Host {
            v2_only: self.is_v2_only(),
            has_v2: self.v2().is_some(),
            v2_controllers: if self.is_v2_only() { Vec::new() } else { self.v2_controllers.clone() },
            has_memsw: self.v1("memory").is_some_and(|h| h.mount.join("memory.memsw.limit_in_bytes").exists()),
        }
    }

    /// Parses mountinfo and /proc/self/cgroup texts.
    pub fn parse(mountinfo: &str, own: &str) -> Layout {
        let mut hierarchies = Vec::new();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else { continue };
            let fields: Vec<&str> = left.split(' ').collect();
            let rfields: Vec<&str> = right.split(' ').collect();
            if fields.len() < 5 || rfields.len() < 3 {
                continue;
            }
            let (root, mount) = (fields[3], fields[4]);
            let v2 = match rfields[0] {
                "cgroup2" => true,
                "cgroup" => false,
                _ => continue,
            };
            let controllers = if v2 { Vec::new() } else { controllers_of(rfields[2]) };
            // A hierarchy can be mounted twice (bind mounts); keep the first.
            if hierarchies.iter().any(|h: &Hierarchy| h.v2 == v2 && h.controllers == controllers) {
                continue;
            }
            hierarchies.push(Hierarchy {
                mount: PathBuf::from(unescape(mount)),
                root: root.to_string(),
                controllers,
                v2,
            });
        }
        Layout { hierarchies, own: parse_own(own), v2_controllers: Vec::new() }
    }

    /// Whether this is a pure cgroup v2 host.
    pub fn is_v2_only(&self) -> bool {
        self.hierarchies.iter().all(|h| h.v2) && !self.hierarchies.is_empty()
    }

    /// The v1 hierarchy holding a controller.
    pub fn v1(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies.iter().find(|h| !h.v2 && h.controllers.iter().any(|c| c == controller))
    }

    fn own_path(&self, h: &Hierarchy) -> String {
        let key = h.proc_key();
        self.own.iter().find(|(k, _)| *k == key).map(|(_, p)| p.clone()).unwrap_or_else(|| "/".into())
    }

    /// The cgroup path of a container whose config names none: `/ID`, except rootless on a pure
    /// cgroup v2 host. There `/ID` is never writable, and runc (fs2's default path) puts ID
    /// beside the caller's own cgroup, in its parent: inside the user's delegated subtree (e.g.
    /// under `user@UID.service`, where rootless Podman with cgroupfs runs its monitor), so the
    /// container gets its own cgroup and its limits apply. The caller's own cgroup is not the
    /// parent because it holds processes, and controllers cannot be enabled below it.
    pub fn default_path(&self, id: &str, rootless: bool) -> String {
        let own = match self.v2() {
            Some(h) if rootless && self.is_v2_only() => self.own_path(h),
            _ => return format!("/{id}"),
        };
        match Path::new(&own).parent() {
            Some(parent) if own != "/" => format!("{}/{id}", parent.to_string_lossy().trim_end_matches('/')),
            _ => format!("/{id}"),
        }
    }

    /// The host directory for cgroup path `path` in hierarchy `h`. A relative path is taken from
    /// the caller's own cgroup, as runc does.
    pub fn dir_for(&self, h: &Hierarchy, path: &str) -> PathBuf {
        let full = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{}/{}", self.own_path(h).trim_end_matches('/'), path)
        };
        // The mount may expose a sub-tree (root != "/"): strip that prefix.
        let rel = full.strip_prefix(h.root.trim_end_matches('/')).unwrap_or(&full);
        h.mount.join(rel.trim_start_matches('/'))
    }
}

/// The v1 controllers (and `name=`) among a cgroup mount's superblock options.
fn controllers_of(opts: &str) -> Vec<String> {
    opts.split(',')
        .filter(|o| {
            !o.is_empty()
                && !matches!(*o, "rw" | "ro")
                && !o.starts_with("clone_children")
                && !o.starts_with("release_agent")
                && *o != "xattr"
                && !o.starts_with("noprefix")
        })
        .map(str::to_string)
        .collect()
}

/// /proc/PID/cgroup as (key, path) pairs.
fn parse_own(own: &str) -> Vec<(String, String)> {
    own.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// Moves a process into the container's cgroups, except `entered`, the cgroup2 directory it was
/// born in (CLONE_INTO_CGROUP), and those it joined itself (`clone_into::SelfJoin`). For a
/// systemd scope being created, this is where the scope is started (runc's Apply): systemd
/// moves the pid, cgroupfs does the rest.
pub fn join(
    dirs: &CgroupDirs,
    pid: i32,
    entered: Option<&Path>,
    joined_by_itself: &[PathBuf],
    scope: Option<&mut scope::PendingScope>,
) -> Result<(), CgroupError> {
    match scope {
        Some(s) => s.start(pid),
        None => clone_into::join_rest(dirs, pid, entered, joined_by_itself),
    }
}

/// Kills what is left and removes the cgroups; a systemd scope being created is stopped first
/// (a create that failed after StartTransientUnit).
pub fn remove(dirs: &CgroupDirs, scope: Option<&mut scope::PendingScope>) -> Result<(), CgroupError> {
    // Processes first: systemd's stop job would SIGTERM them and wait. Without a scope, cgroups
    // that are already empty (the usual case: the container exited) just go.
    if scope.is_some() || !fs::remove_if_empty(dirs) {
        fs::kill_all(dirs);
    }
    let stopped = scope.map_or(Ok(()), |s| s.stop_if_started());
    let removed = fs::remove(dirs);
    stopped?;
    removed
}

/// `remove` for a container created with --systemd-cgroup, from its recorded state: its unit
/// (named by its directory) is stopped, then the directories systemd left are removed. Both are
/// tried; the stop's error comes first.
pub fn remove_systemd(dirs: &CgroupDirs) -> Result<(), CgroupError> {
    fs::kill_all(dirs);
    let stopped = match scope::unit_of(dirs) {
        Some(unit) => scope::stop(&unit, &scope::bus_from_env(), None),
        None => Ok(()),
    };
    let removed = fs::remove(dirs);
    stopped?;
    removed
}

/// Validates a cgroupsPath and gives the container's cgroup path: the default, the path itself
/// (cgroupfs; no "..", not systemd syntax), or where systemd puts the scope "slice:prefix:name".
pub fn cgroup_path(spec_path: Option<&str>, id: &str, systemd: bool) -> Result<String, CgroupError> {
    let path = match spec_path.filter(|p| !p.is_empty()) {
        Some(p) => p.to_string(),
        None => format!("/{id}"),
    };
    if path.split('/').any(|c| c == "..") {
        return Err(CgroupError::PathDotDot(path));
    }
    if systemd {
        let unit = systemd::parse_path(&path, id)?;
        return Ok(systemd::cgroup_dir(&unit).to_string_lossy().into_owned());
    }
    if path.contains(':') {
        return Err(CgroupError::SystemdSyntax(path));
    }
    Ok(path)
}

/// Translates `linux.resources` for this host. `extra_devices` (the container's own device
/// nodes) are allowed after the spec's rules when the spec restricts devices at all.
pub fn plan_resources(
    host: &resources::Host,
    res: &crate::spec::Resources,
    extra_devices: &[crate::spec::DeviceRule],
) -> Result<resources::ResourcePlan, CgroupError> {
    let extra = if res.devices.is_empty() { &[] } else { extra_devices };
    Ok(resources::plan(res, host, extra)?)
}

/// The writes `update` makes into a live container (device rules are not updated).
pub fn plan_update(layout: &Layout, res: &crate::spec::Resources) -> Result<Vec<resources::Write>, CgroupError> {
    let res = crate::spec::Resources { devices: Vec::new(), ..res.clone() };
    let plan = resources::plan(&res, &layout.host(), &[])?;
    for w in &plan.warnings {
        crate::logging::warn(w);
    }
    Ok(plan.writes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const HYBRID: &str = "\
25 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
29 25 0:26 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
";

    #[test]
    fn hybrid_layout_is_parsed() {
        let l = Layout::parse(HYBRID, "4:memory:/user/me\n0::/\n");
        assert_eq!(l.hierarchies.len(), 5);
        assert!(!l.is_v2_only());
        assert_eq!(l.v1("memory").unwrap().mount, PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(l.v1("name=systemd").unwrap().dir_name(), "systemd");
        let mem = l.v1("memory").unwrap();
        assert_eq!(l.dir_for(mem, "/abs/c1"), PathBuf::from("/sys/fs/cgroup/memory/abs/c1"));
        // Relative paths hang below the caller's own cgroup.
        assert_eq!(l.dir_for(mem, "rel/c1"), PathBuf::from("/sys/fs/cgroup/memory/user/me/rel/c1"));
    }

    #[test]
    fn v2_only_layout() {
        let l = Layout::parse("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", "0::/user.slice\n");
        assert!(l.is_v2_only());
        let h = &l.hierarchies[0];
        assert_eq!(l.dir_for(h, "c1"), PathBuf::from("/sys/fs/cgroup/user.slice/c1"));
    }

    #[test]
    fn default_path_is_beside_the_callers_cgroup_only_rootless_on_pure_v2() {
        let own = "0::/user.slice/user-1000.slice/user@1000.service/user.slice/podman-499.scope\n";
        let v2 = Layout::parse("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", own);
        assert_eq!(v2.default_path("c1", true), "/user.slice/user-1000.slice/user@1000.service/user.slice/c1");
        assert_eq!(v2.default_path("c1", false), "/c1", "rootful keeps /ID");
        let top = Layout::parse("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/init.scope\n");
        assert_eq!(top.default_path("c1", true), "/c1");
        let root = Layout::parse("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/\n");
        assert_eq!(root.default_path("c1", true), "/c1");
        let hybrid = Layout::parse(HYBRID, "4:memory:/user/me\n0::/user/me\n");
        assert_eq!(hybrid.default_path("c1", true), "/c1", "v1 and hybrid hosts keep /ID");
    }

    #[test]
    fn cgroup_paths_are_validated() {
        assert_eq!(cgroup_path(None, "c1", false).unwrap(), "/c1");
        assert!(cgroup_path(Some("/a/../b"), "c", false).is_err());
        assert!(cgroup_path(Some("system.slice:x:y"), "c", false).is_err());
    }

    #[test]
    fn create_and_remove_on_a_fake_v1_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let mem = tmp.path().join("memory");
        let cpuset = tmp.path().join("cpuset");
        fs::create_dir_all(&mem).unwrap();
        fs::create_dir_all(&cpuset).unwrap();
        fs::write(cpuset.join("cpuset.cpus"), "0-1\n").unwrap();
        fs::write(cpuset.join("cpuset.mems"), "0\n").unwrap();
        let mountinfo = format!(
            "1 1 0:1 / {} rw - cgroup cgroup rw,memory\n2 1 0:2 / {} rw - cgroup cgroup rw,cpuset\n",
            mem.display(),
            cpuset.display()
        );
        let layout = Layout::parse(&mountinfo, "");
        // A fake tree has no kernel to create the interface files: pre-create what we write.
        let writes = resources::ResourcePlan {
            writes: vec![resource_plan::w("memory", "memory.limit_in_bytes", "1024")],
            ..Default::default()
        };
        fs::create_dir_all(mem.join("a/b")).unwrap();
        fs::write(mem.join("a/b/memory.limit_in_bytes"), "").unwrap();
        // The kernel gives a new v1 cpuset empty cpus and mems files.
        for level in ["a", "a/b"] {
            fs::create_dir_all(cpuset.join(level)).unwrap();
            fs::write(cpuset.join(level).join("cpuset.cpus"), "").unwrap();
            fs::write(cpuset.join(level).join("cpuset.mems"), "").unwrap();
        }
        let dirs = create(&layout, "/a/b", &writes).unwrap();
        assert_eq!(fs::read_to_string(mem.join("a/b/memory.limit_in_bytes")).unwrap(), "1024");
        assert_eq!(fs::read_to_string(cpuset.join("a/b/cpuset.cpus")).unwrap(), "0-1");
        assert_eq!(dirs.dirs.len(), 2);
        // Fake trees hold regular files, which rmdir cannot remove: clear them as the kernel would.
        fs::remove_file(mem.join("a/b/memory.limit_in_bytes")).unwrap();
        for f in ["cpuset.cpus", "cpuset.mems"] {
            fs::remove_file(cpuset.join("a/b").join(f)).unwrap();
            fs::remove_file(cpuset.join("a").join(f)).unwrap();
        }
        remove(&dirs, None).unwrap();
        assert!(!mem.join("a/b").exists() && !cpuset.join("a/b").exists());
        assert!(mem.join("a").exists(), "parents are shared and stay");
    }

    /// A pure v2 tree: the kernel would create the interface files; the test pre-creates those
    /// the plan writes and checks that ancestors get the controllers in cgroup.subtree_control.
    #[test]
    fn create_on_a_fake_v2_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cg2");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        for level in ["", "a"] {
            fs::write(root.join(level).join("cgroup.subtree_control"), "").unwrap();
        }
        fs::write(root.join("a/cgroup.controllers"), "cpu memory pids\n").unwrap();
        fs::write(root.join("a/b/memory.max"), "").unwrap();
        fs::write(root.join("a/b/io.weight"), "").unwrap();
        let mut layout = Layout::parse(&format!("1 1 0:1 / {} rw - cgroup2 cgroup2 rw\n", root.display()), "0::/\n");
        layout.read_v2_controllers();
        assert_eq!(layout.v2_controllers, vec!["cpu", "memory", "pids"]);
        let res = crate::spec::Resources {
            memory: Some(crate::spec::Memory { limit: Some(1 << 20), ..Default::default() }),
            block_io: Some(crate::spec::BlockIo { weight: Some(100), ..Default::default() }),
            ..Default::default()
        };
        let plan = plan_resources(&layout.host(), &res, &[]).unwrap();
        let dirs = create(&layout, "/a/b", &plan).unwrap();
        assert_eq!(fs::read_to_string(root.join("a/b/memory.max")).unwrap(), "1048576");
        // io.bfq.weight is missing here, so the io.weight alternative (converted) is written.
        assert_eq!(fs::read_to_string(root.join("a/b/io.weight")).unwrap(), "910");
        // A fake file shows the last write over the earlier ones (no truncation, as on cgroupfs):
        // on a v2 host every offered controller is enabled, pids last.
        assert!(fs::read_to_string(root.join("cgroup.subtree_control")).unwrap().starts_with("+pids"));
        assert!(fs::read_to_string(root.join("a/cgroup.subtree_control")).unwrap().starts_with("+pids"));
        assert_eq!(dirs.dirs, vec![root.join("a/b")]);
        assert!(dirs.freezer_v2 && dirs.freezer == Some(root.join("a/b")));
    }

    /// Hybrid: hugetlb on the cgroup2 mount gets v2 names there; memory stays on v1.
    #[test]
    fn hybrid_routes_each_controller_to_its_hierarchy() {
        let tmp = tempfile::tempdir().unwrap();
        let (mem, uni) = (tmp.path().join("memory"), tmp.path().join("unified"));
        fs::create_dir_all(mem.join("c")).unwrap();
        fs::create_dir_all(uni.join("c")).unwrap();
        fs::write(uni.join("cgroup.controllers"), "hugetlb").unwrap();
        fs::write(uni.join("cgroup.subtree_control"), "").unwrap();
        fs::write(mem.join("c/memory.limit_in_bytes"), "").unwrap();
        fs::write(uni.join("c/hugetlb.2MB.max"), "").unwrap();
        let info = format!(
            "1 1 0:1 / {} rw - cgroup cgroup rw,memory\n2 1 0:2 / {} rw - cgroup2 cgroup2 rw\n",
            mem.display(),
            uni.display()
        );
        let mut layout = Layout::parse(&info, "");
        layout.read_v2_controllers();
        let res = crate::spec::Resources {
            memory: Some(crate::spec::Memory { limit: Some(4096), ..Default::default() }),
            hugepage_limits: vec![crate::spec::HugepageLimit { page_size: "2MB".into(), limit: 2 << 20 }],
            ..Default::default()
        };
        let plan = plan_resources(&layout.host(), &res, &[]).unwrap();
        let dirs = create(&layout, "/c", &plan).unwrap();
        assert_eq!(fs::read_to_string(mem.join("c/memory.limit_in_bytes")).unwrap(), "4096");
        assert_eq!(fs::read_to_string(uni.join("c/hugetlb.2MB.max")).unwrap(), "2097152");
        assert_eq!(fs::read_to_string(uni.join("cgroup.subtree_control")).unwrap(), "+hugetlb");
        assert_eq!(dirs.dirs.len(), 2);
        assert!(!dirs.freezer_v2);
        assert_eq!(dirs.v2_enabled, vec![(uni.clone(), "hugetlb".to_string())]);
        // Removal takes back what create enabled, the root having no populated child left.
        fs::remove_file(mem.join("c/memory.limit_in_bytes")).unwrap();
        fs::remove_file(uni.join("c/hugetlb.2MB.max")).unwrap();
        remove(&dirs, None).unwrap();
        assert_eq!(fs::read_to_string(uni.join("cgroup.subtree_control")).unwrap(), "-hugetlb");
    }

    /// A level where a running container below has a hugetlb limit keeps the controller; one
    /// where running cgroups below have no limit (or nothing runs) gets it taken back.
    #[test]
    fn a_level_keeps_the_controllers_a_running_container_below_uses() {
        let tmp = tempfile::tempdir().unwrap();
        let uni = tmp.path().join("unified");
        fs::create_dir_all(uni.join("other")).unwrap();
        fs::write(uni.join("cgroup.subtree_control"), "+hugetlb").unwrap();
        fs::write(uni.join("other/cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        fs::write(uni.join("other/hugetlb.2MB.max"), "2097152\n").unwrap();
        let dirs = CgroupDirs { v2_enabled: vec![(uni.clone(), "hugetlb".into())], ..CgroupDirs::default() };
        remove(&dirs, None).unwrap();
        assert_eq!(fs::read_to_string(uni.join("cgroup.subtree_control")).unwrap(), "+hugetlb");
        fs::write(uni.join("other/hugetlb.2MB.max"), "max\n").unwrap();
        // The kernel can print an unset reservation limit as its page-rounded maximum rather
        // than "max" (seen on 6.18 for hugetlb.2MB.rsvd.max): that is no limit either.
        fs::write(uni.join("other/hugetlb.2MB.rsvd.max"), "9223372036854771712\n").unwrap();
        fs::write(uni.join("cgroup.subtree_control"), "+hugetlb").unwrap();
        remove(&dirs, None).unwrap();
        assert_eq!(fs::read_to_string(uni.join("cgroup.subtree_control")).unwrap(), "-hugetlb");
        fs::write(uni.join("other/hugetlb.2MB.rsvd.max"), "4194304\n").unwrap();
        fs::write(uni.join("cgroup.subtree_control"), "+hugetlb").unwrap();
        remove(&dirs, None).unwrap();
        assert_eq!(
            fs::read_to_string(uni.join("cgroup.subtree_control")).unwrap(),
            "+hugetlb",
            "a real reservation limit keeps it"
        );
    }

    /// A cgroup that cannot be removed is named in the error, and the other hierarchies are
    /// still cleaned.
    #[test]
    fn remove_failure_names_the_cgroup() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("x/c"), tmp.path().join("y/c"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        // A regular file makes rmdir fail (ENOTEMPTY), as a busy cgroup would (EBUSY).
        fs::write(a.join("stuck"), "").unwrap();
        let dirs = CgroupDirs { dirs: vec![a.clone(), b.clone()], ..CgroupDirs::default() };
        let err = remove(&dirs, None).unwrap_err().to_string();
        assert!(err.contains(&a.display().to_string()), "{err}");
        assert!(!b.exists());
    }
}
