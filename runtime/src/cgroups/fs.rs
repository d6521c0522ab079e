//! Applying a plan to the cgroup filesystem: directories, resource writes, the v2 device
//! program, membership, freezing, and removal (which first kills whatever is left).
use super::resources::{ResourcePlan, Write as ResWrite};
use super::CgroupDirs;
use super::{CgroupError, Layout};
use oxsys::SysError;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Creates the container's directories in every hierarchy and applies the resource plan.
/// On failure everything created so far is removed.
pub fn create(layout: &Layout, path: &str, plan: &ResourcePlan) -> Result<CgroupDirs, CgroupError> {
    let dirs = make_dirs(layout, path, plan)?;
    match apply(layout, path, plan) {
        Ok(()) => Ok(dirs),
        Err(e) => {
            let _ = remove(&dirs);
            Err(e)
        }
    }
}

/// The directories alone (with the v2 controllers the plan needs enabled above them, and v1
/// cpusets filled in so they can be joined); `apply` writes the values. The systemd driver
/// makes the directories before the scope exists and writes the values after.
pub fn make_dirs(layout: &Layout, path: &str, plan: &ResourcePlan) -> Result<CgroupDirs, CgroupError> {
    let mut dirs = CgroupDirs::default();
    let result = (|| {
        for h in layout.hierarchies.iter().filter(|h| layout.uses(h)) {
            let dir = layout.dir_for(h, path);
            mkdir_all(&dir, &mut dirs)?;
            if h.v2 {
                let mut enabled = Vec::new();
                let r = enable_subtree(&h.mount, &dir, &needed_v2(layout, plan), layout.is_v2_only(), &mut enabled);
                if !layout.is_v2_only() {
                    dirs.v2_enabled = enabled;
                }
                r?;
            }
            if h.controllers.iter().any(|c| c == "cpuset")
                || (h.v2 && layout.v2_controllers.iter().any(|c| c == "cpuset"))
            {
                inherit_cpuset(&dir)?;
            }
            if h.controllers.iter().any(|c| c == "freezer") || (h.v2 && layout.is_v2_only()) {
                dirs.freezer = Some(dir.clone());
                dirs.freezer_v2 = h.v2;
            }
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

/// Writes the plan's values (and attaches the v2 device program) into existing directories.
pub fn apply(layout: &Layout, path: &str, plan: &ResourcePlan) -> Result<(), CgroupError> {
    for w in &plan.writes {
        let Some(h) = layout.hierarchy_of(&w.controller) else {
            return Err(CgroupError::NoController(w.controller.clone()));
        };
        apply_write(&layout.dir_for(h, path), w)?;
    }
    if let Some(prog) = &plan.device_program {
        let h = layout.v2().ok_or(CgroupError::NoCgroup2)?;
        attach_device_program(&layout.dir_for(h, path), prog)?;
    }
    Ok(())
}

/// The controllers the plan writes to on the cgroup2 hierarchy.
fn needed_v2(layout: &Layout, plan: &ResourcePlan) -> Vec<String> {
    let mut out: Vec<String> = plan
        .writes
        .iter()
        .filter(|w| layout.hierarchy_of(&w.controller).is_some_and(|h| h.v2) && w.controller != "cgroup")
        .map(|w| w.controller.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A v2 controller's files appear in a directory only when every ancestor lists it in
/// cgroup.subtree_control. On a v2 host every offered controller is enabled (as runc does), but
/// only those the plan writes to must succeed (a level with processes of its own refuses). On a
/// hybrid host only the needed ones are touched: a controller enabled there could no longer be
/// mounted as a v1 hierarchy by the administrator. Each (level, controller) written goes to
/// `written`, outermost first.
fn enable_subtree(
    mount: &Path,
    dir: &Path,
    needed: &[String],
    all: bool,
    written: &mut Vec<(PathBuf, String)>,
) -> Result<(), CgroupError> {
    let Ok(rel) = dir.strip_prefix(mount) else { return Ok(()) };
    let mut level = mount.to_path_buf();
    for comp in rel.components() {
        let offered = fs::read_to_string(level.join("cgroup.controllers")).unwrap_or_default();
        let enabled = fs::read_to_string(level.join("cgroup.subtree_control")).unwrap_or_default();
        let wanted = |c: &&str| all || needed.iter().any(|n| n == c);
        for c in offered.split_whitespace().filter(wanted).filter(|c| !enabled.split_whitespace().any(|e| e == *c)) {
            let r = write_file(&level.join("cgroup.subtree_control"), &format!("+{c}"));
            if r.is_ok() {
                written.push((level.clone(), c.to_string()));
            } else if needed.iter().any(|n| n == c) {
                return r;
            }
        }
        level.push(comp);
    }
    Ok(())
}

/// Writes one planned value, or its alternative when the kernel names the file differently.
pub fn apply_write(dir: &Path, w: &ResWrite) -> Result<(), CgroupError> {
    match &w.alt {
        Some((file, value)) if !dir.join(&w.file).exists() && dir.join(file).exists() => {
            write_file(&dir.join(file), value)
        }
        _ => write_file(&dir.join(&w.file), &w.value),
    }
}

fn attach_device_program(dir: &Path, prog: &[super::devices::Insn]) -> Result<(), CgroupError> {
    let err = SysError::on("load or attach the device program on", dir);
    let insns: Vec<[u8; 8]> = prog.iter().map(|i| i.to_bytes()).collect();
    let prog_fd = oxsys::bpf::load_cgroup_device_program(&insns, c"Apache").map_err(err)?;
    let dir_fd = fs::File::open(dir).map_err(err)?;
    use std::os::fd::AsFd;
    Ok(oxsys::bpf::attach_cgroup_device(dir_fd.as_fd(), prog_fd.as_fd()).map_err(err)?)
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
            Err(e) => return Err(SysError::at("create cgroup", &d, e).into()),
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
    let mut f = fs::OpenOptions::new().write(true).open(path).map_err(SysError::on("open", path))?;
    Ok(f.write_all(value.as_bytes()).map_err(SysError::on("write", path))?)
}

/// Every pid in the container's cgroups, sub-cgroups included, in any hierarchy (a process the
/// container moved into a sub-cgroup of one controller only is still found).
pub fn pids(dirs: &CgroupDirs) -> Vec<i32> {
    let mut out = Vec::new();
    for d in &dirs.dirs {
        collect_pids(d, &mut out);
    }
    out.sort_unstable();
    out.dedup();
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

/// SIGKILLs every process left in the container's cgroups and waits (up to 5 s) until they are
/// gone. A frozen cgroup is thawed first, or the signal would wait for the thaw.
pub fn kill_all(dirs: &CgroupDirs) {
    if pids(dirs).is_empty() {
        return;
    }
    if is_frozen(dirs) {
        let _ = thaw(dirs);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // cgroup.kill (v2, Linux 5.14) kills the whole subtree at once, even processes forking.
        for d in dirs.dirs.iter().filter(|d| d.join("cgroup.kill").exists()) {
            let _ = write_file(&d.join("cgroup.kill"), "1");
        }
        let left = pids(dirs);
        if left.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in left {
            let _ = oxsys::kill(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes each of the container's directories that has no process and no sub-cgroup (one rmdir
/// each, which the kernel refuses otherwise); true when none is left. A scan for processes first
/// (`kill_all`) costs a read of cgroup.procs and a listing per hierarchy, for nothing when the
/// container has exited.
pub fn remove_if_empty(dirs: &CgroupDirs) -> bool {
    let mut all_gone = true;
    for d in dirs.dirs.iter().rev() {
        match fs::remove_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => all_gone = false,
        }
    }
    all_gone
}

/// Removes the container's directories, sub-cgroups first, once `kill_all` emptied them (both
/// callers, `cgroups::remove` and `remove_systemd`, call it first: a second scan here found
/// nothing and cost a read of cgroup.procs and a listing per hierarchy). Every hierarchy is
/// tried; the first failure is returned, naming the cgroup.
pub fn remove(dirs: &CgroupDirs) -> Result<(), CgroupError> {
    let mut first_err = None;
    for d in dirs.dirs.iter().rev() {
        if let Err(e) = remove_tree(d) {
            first_err.get_or_insert(e);
        }
    }
    disable_subtree(&dirs.v2_enabled);
    first_err.map_or(Ok(()), Err)
}

/// Takes back the controllers this container enabled on a hybrid host's cgroup2 levels, deepest
/// first, at each level where no running cgroup just below uses them (another container with a
/// limit keeps them). Deeper users are the kernel's to protect: a level whose child enabled the
/// controller in turn refuses with EBUSY, and the controller stays.
fn disable_subtree(enabled: &[(PathBuf, String)]) {
    for (level, controller) in enabled.iter().rev() {
        if used_below(level, controller) {
            continue;
        }
        // A container just removed holds its css until its killed processes finish exiting,
        // and the kernel refuses (EBUSY) meanwhile: retry briefly, as rmdir does.
        for _ in 0..50 {
            match write_file(&level.join("cgroup.subtree_control"), &format!("-{controller}")) {
                Err(CgroupError::Io { source, .. }) if source.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => break,
            }
        }
    }
}

/// Whether a child of `level` with processes below it uses `controller`: for hugetlb, a limit
/// other than "max" in one of its hugetlb.<size>.max or .rsvd.max files; for any other
/// controller, being populated at all.
fn used_below(level: &Path, controller: &str) -> bool {
    let populated =
        |d: &Path| fs::read_to_string(d.join("cgroup.events")).is_ok_and(|t| t.lines().any(|l| l == "populated 1"));
    let limited = |d: &Path| {
        controller != "hugetlb"
            || fs::read_dir(d).is_ok_and(|rd| {
                rd.flatten().any(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with("hugetlb.")
                        && name.ends_with(".max")
                        && fs::read_to_string(e.path()).is_ok_and(|v| is_hugetlb_limit(&v))
                })
            })
    };
    fs::read_dir(level).is_ok_and(|rd| {
        rd.flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .any(|e| populated(&e.path()) && limited(&e.path()))
    })
}

/// Whether a cgroup2 `hugetlb.<size>[.rsvd].max` value is a real limit. The kernel prints the
/// unlimited value as "max" only where it equals its own page-rounded maximum; a `.rsvd.max` of a
/// cgroup nobody wrote can read back as that number instead (9223372036854771712 with 2 MB pages
/// here), which is no limit either: anything at or above 2^62 bytes is taken as unlimited.
fn is_hugetlb_limit(value: &str) -> bool {
    let v = value.trim();
    v != "max" && v.parse::<u64>().map_or(true, |n| n < 1 << 62)
}

fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    // Most cgroups have no sub-cgroup: one rmdir removes them, with no listing. The kernel
    // refuses (EBUSY) a cgroup with children or processes, and then the walk below runs.
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SysError::at("read cgroup", dir, e).into()),
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
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                let mut left = Vec::new();
                collect_pids(dir, &mut left);
                return Err(if left.is_empty() {
                    SysError::at("remove cgroup", dir, e).into()
                } else {
                    CgroupError::Busy { path: dir.to_path_buf(), pids: left }
                });
            }
            Err(e) => return Err(SysError::at("remove cgroup", dir, e).into()),
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
        return Err(CgroupError::NoCgroup("freezer".into()));
    };
    if dirs.freezer_v2 {
        write_file(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })
    } else {
        write_file(&dir.join("freezer.state"), if frozen { "FROZEN" } else { "THAWED" })
    }
}
