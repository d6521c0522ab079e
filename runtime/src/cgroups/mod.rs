//! cgroups: where the hierarchies are (v1, v2 or hybrid), which directories a container gets,
//! and what is written into them.
//!
//! Detection reads /proc/self/mountinfo and /proc/self/cgroup once; the spec → file-writes
//! translation is pure (see `resources`), so it is tested on fake trees.
pub mod resources;
pub mod stats;

use crate::state::CgroupDirs;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io { op, path: path.to_path_buf(), source }
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
        self.mount
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.proc_key())
    }
}

/// All cgroup hierarchies of this host, and the caller's own cgroup in each.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub hierarchies: Vec<Hierarchy>,
    /// /proc/self/cgroup: (key, path)
    pub own: Vec<(String, String)>,
}

impl Layout {
    /// Reads this process's view of the host.
    pub fn detect() -> Result<Layout, CgroupError> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").map_err(io_err("read", Path::new("/proc/self/mountinfo")))?;
        let own = fs::read_to_string("/proc/self/cgroup").map_err(io_err("read", Path::new("/proc/self/cgroup")))?;
        Ok(Layout::parse(&mountinfo, &own))
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
            let controllers = if v2 {
                Vec::new()
            } else {
                rfields[2]
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("clone_children") && !o.starts_with("release_agent") && *o != "xattr" && !o.starts_with("noprefix"))
                    .map(str::to_string)
                    .collect()
            };
            // A hierarchy can be mounted twice (bind mounts); keep the first.
            if hierarchies.iter().any(|h: &Hierarchy| h.v2 == v2 && h.controllers == controllers) {
                continue;
            }
            hierarchies.push(Hierarchy { mount: PathBuf::from(unescape(mount)), root: root.to_string(), controllers, v2 });
        }
        let own = own
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ':');
                let _id = parts.next()?;
                Some((parts.next()?.to_string(), parts.next()?.to_string()))
            })
            .collect();
        Layout { hierarchies, own }
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
        self.own
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| "/".into())
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

fn unescape(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// Validates a cgroupsPath (no "..", not systemd syntax for cgroupfs) and gives the default.
pub fn cgroup_path(spec_path: Option<&str>, id: &str, systemd: bool) -> Result<String, CgroupError> {
    let path = match spec_path.filter(|p| !p.is_empty()) {
        Some(p) => p.to_string(),
        None => format!("/{id}"),
    };
    if path.split('/').any(|c| c == "..") {
        return Err(CgroupError::Invalid(format!("cgroupsPath {path:?} contains '..'")));
    }
    if systemd {
        return Err(CgroupError::Invalid("the systemd cgroup driver is not available on this host (no systemd)".into()));
    }
    if path.contains(':') {
        return Err(CgroupError::Invalid(format!(
            "cgroupsPath {path:?} looks like systemd syntax (slice:prefix:name) but --systemd-cgroup is not set"
        )));
    }
    Ok(path)
}

/// Creates the container's directories in every hierarchy and writes the resource limits.
/// On failure everything created so far is removed.
pub fn create(layout: &Layout, path: &str, writes: &[resources::Write]) -> Result<CgroupDirs, CgroupError> {
    let mut dirs = CgroupDirs::default();
    let result = (|| {
        for h in &layout.hierarchies {
            // On a hybrid host the v2 mount holds no controller of ours; join it only when it is
            // the sole hierarchy or carries controllers.
            if h.v2 && !layout.is_v2_only() && !has_controllers(&h.mount) {
                continue;
            }
            let dir = layout.dir_for(h, path);
            mkdir_all(&dir, &mut dirs)?;
            if h.controllers.iter().any(|c| c == "cpuset") {
                inherit_cpuset(&dir)?;
            }
            if h.controllers.iter().any(|c| c == "freezer") || (h.v2 && layout.is_v2_only()) {
                dirs.freezer = Some(dir.clone());
                dirs.freezer_v2 = h.v2;
            }
        }
        for w in writes {
            let Some(dir) = target_dir(layout, path, &w.controller) else {
                return Err(CgroupError::Invalid(format!("controller {} is not available on this host", w.controller)));
            };
            write_file(&dir.join(&w.file), &w.value)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(dirs),
        Err(e) => {
            let _ = remove(&dirs);
            Err(e)
        }
    }
}

fn has_controllers(mount: &Path) -> bool {
    fs::read_to_string(mount.join("cgroup.controllers")).is_ok_and(|s| !s.trim().is_empty())
}

fn target_dir(layout: &Layout, path: &str, controller: &str) -> Option<PathBuf> {
    if layout.is_v2_only() {
        return layout.hierarchies.first().map(|h| layout.dir_for(h, path));
    }
    layout.v1(controller).map(|h| layout.dir_for(h, path))
}

/// mkdir -p that records each directory it created (deepest last), so removal undoes exactly that.
fn mkdir_all(dir: &Path, dirs: &mut CgroupDirs) -> Result<(), CgroupError> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.exists() {
        missing.push(cur.to_path_buf());
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(&d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("create cgroup", &d)(e)),
        }
    }
    // Only the leaf belongs to the container; parents may be shared with other containers.
    dirs.dirs.push(dir.to_path_buf());
    Ok(())
}

/// A new v1 cpuset starts with empty cpus and mems, which forbids joining it: copy the parent's.
fn inherit_cpuset(dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let cur = fs::read_to_string(dir.join(file)).unwrap_or_default();
        if !cur.trim().is_empty() {
            continue;
        }
        let mut ancestor = dir.parent();
        while let Some(a) = ancestor {
            if let Ok(v) = fs::read_to_string(a.join(file)) {
                if !v.trim().is_empty() {
                    // Fill in every empty level between the ancestor and us, top-down.
                    let mut chain = Vec::new();
                    let mut d = dir;
                    while d != a {
                        chain.push(d.to_path_buf());
                        d = d.parent().expect("below ancestor");
                    }
                    for level in chain.into_iter().rev() {
                        let f = level.join(file);
                        if fs::read_to_string(&f).unwrap_or_default().trim().is_empty() {
                            write_file(&f, v.trim())?;
                        }
                    }
                    break;
                }
            }
            ancestor = a.parent();
        }
    }
    Ok(())
}

/// Writes a value to a cgroup file.
pub fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    let mut f = fs::OpenOptions::new().write(true).open(path).map_err(io_err("open", path))?;
    f.write_all(value.as_bytes()).map_err(io_err("write", path))
}

/// Moves a process into every directory of the container.
pub fn join(dirs: &CgroupDirs, pid: i32) -> Result<(), CgroupError> {
    for d in &dirs.dirs {
        write_file(&d.join("cgroup.procs"), &pid.to_string())?;
    }
    Ok(())
}

/// Every pid in the container's cgroup (from the first hierarchy, which holds them all).
pub fn pids(dirs: &CgroupDirs) -> Vec<i32> {
    let mut out = Vec::new();
    for d in dirs.dirs.iter().take(1) {
        collect_pids(d, &mut out);
    }
    out
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&e.path(), out);
            }
        }
    }
}

/// Removes the container's directories, sub-cgroups first. Processes must be gone already.
pub fn remove(dirs: &CgroupDirs) -> Result<(), CgroupError> {
    let mut first_err = None;
    for d in dirs.dirs.iter().rev() {
        if let Err(e) = remove_tree(d) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read cgroup", dir)(e)),
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path())?;
        }
    }
    // rmdir can fail with EBUSY for a moment after the last process exited: retry briefly.
    let mut tries = 0;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(io_err("remove cgroup", dir)(e)),
        }
    }
}

/// Whether the container's freezer says it is frozen.
pub fn is_frozen(dirs: &CgroupDirs) -> bool {
    let Some(dir) = &dirs.freezer else { return false };
    if dirs.freezer_v2 {
        fs::read_to_string(dir.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
    } else {
        fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
    }
}

/// Thaws a frozen container (no-op when there is no freezer).
pub fn thaw(dirs: &CgroupDirs) -> Result<(), CgroupError> {
    set_frozen(dirs, false)
}

/// Freezes every process of the container.
pub fn freeze(dirs: &CgroupDirs) -> Result<(), CgroupError> {
    set_frozen(dirs, true)
}

fn set_frozen(dirs: &CgroupDirs, frozen: bool) -> Result<(), CgroupError> {
    let Some(dir) = &dirs.freezer else {
        return Err(CgroupError::Invalid("the container has no freezer cgroup".into()));
    };
    if dirs.freezer_v2 {
        write_file(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })
    } else {
        write_file(&dir.join("freezer.state"), if frozen { "FROZEN" } else { "THAWED" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let writes = vec![resources::Write { controller: "memory".into(), file: "memory.limit_in_bytes".into(), value: "1024".into() }];
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
        remove(&dirs).unwrap();
        assert!(!mem.join("a/b").exists() && !cpuset.join("a/b").exists());
        assert!(mem.join("a").exists(), "parents are shared and stay");
    }
}
