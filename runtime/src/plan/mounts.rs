//! config.json `mounts[]` → a list of mount operations, and the default devices.
use super::PlanError;
use crate::spec::{Device, Mount};
use nix::mount::MsFlags;
use std::path::PathBuf;

/// How a mount is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A bind mount of a host path (absolute, or relative to the bundle already resolved).
    Bind { source: PathBuf, recursive: bool },
    /// A new filesystem instance.
    Fs { fstype: String, source: String },
    /// The cgroup hierarchies, laid out as on the host (v1: a tmpfs of per-controller mounts).
    Cgroup,
}

/// One entry of `mounts[]`, ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOp {
    /// Absolute path inside the container.
    pub dest: String,
    pub source: MountSource,
    /// Flags for mount(2), without propagation flags.
    pub flags: MsFlags,
    /// Filesystem data (size=, mode=, …): the options that are not flags.
    pub data: String,
    /// Propagation changes applied after the mount (MS_SHARED, MS_PRIVATE, … maybe with MS_REC).
    pub propagation: Vec<MsFlags>,
    /// An idmapped bind mount: (uidMappings, gidMappings) of the mount.
    pub idmap: Option<(Vec<crate::spec::IdMapping>, Vec<crate::spec::IdMapping>)>,
    /// Whether the idmapping reaches the submounts of the bind: `ridmap` yes, `idmap` no, and
    /// without either option, as far as the bind itself goes (rbind or bind).
    pub idmap_recursive: bool,
    /// The recursive options (rro, rnosuid, …): attributes set on the mount and every mount
    /// below it with mount_setattr(AT_RECURSIVE) once it is mounted.
    pub recursive: RecursiveAttr,
}

/// MOUNT_ATTR_* bits to set and to clear on a mount tree (see [`oxsys::mount_attr::attr`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecursiveAttr {
    pub set: u64,
    pub clear: u64,
}

impl RecursiveAttr {
    /// Whether no recursive option was given.
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }
}

/// The atime mode a recursive atime option asks for. mount_setattr takes the mode as a whole
/// (an enum in MOUNT_ATTR__ATIME, not a bit per option), so each option names one mode: the
/// negative ones name the mode mount(2) falls back to without the flag (relatime, the kernel
/// default), and `rnorelatime` the one mode that is neither relatime nor noatime.
fn recursive_atime(opt: &str) -> Option<u64> {
    use oxsys::mount_attr::attr;
    Some(match opt {
        "rnoatime" => attr::NOATIME,
        "rstrictatime" | "rnorelatime" => attr::STRICTATIME,
        "rrelatime" | "ratime" | "rnostrictatime" => attr::RELATIME,
        _ => return None,
    })
}

/// A recursive non-atime option: (bit, whether the option sets it).
fn recursive_flag(opt: &str) -> Option<(u64, bool)> {
    use oxsys::mount_attr::attr;
    Some(match opt {
        "rro" => (attr::RDONLY, true),
        "rrw" => (attr::RDONLY, false),
        "rnosuid" => (attr::NOSUID, true),
        "rsuid" => (attr::NOSUID, false),
        "rnodev" => (attr::NODEV, true),
        "rdev" => (attr::NODEV, false),
        "rnoexec" => (attr::NOEXEC, true),
        "rexec" => (attr::NOEXEC, false),
        "rnodiratime" => (attr::NODIRATIME, true),
        "rdiratime" => (attr::NODIRATIME, false),
        "rnosymfollow" => (attr::NOSYMFOLLOW, true),
        "rsymfollow" => (attr::NOSYMFOLLOW, false),
        _ => return None,
    })
}

/// Folds the recursive options of one mount, the last one of a pair winning.
fn plan_recursive(options: &[String]) -> RecursiveAttr {
    let mut out = RecursiveAttr::default();
    let mut atime = None;
    for opt in options {
        if let Some(mode) = recursive_atime(opt) {
            atime = Some(mode);
        } else if let Some((bit, set)) = recursive_flag(opt) {
            if set {
                out.set |= bit;
                out.clear &= !bit;
            } else {
                out.clear |= bit;
                out.set &= !bit;
            }
        }
    }
    if let Some(mode) = atime {
        out.set |= mode;
        out.clear |= oxsys::mount_attr::attr::ATIME_MASK;
    }
    out
}

impl MountOp {
    /// Whether a bind mount must be remounted to apply flags (a bind ignores them at first).
    pub fn bind_needs_remount(&self) -> bool {
        matches!(self.source, MountSource::Bind { .. })
            && self.flags.intersects(
                MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC
                    | MsFlags::MS_NOATIME
                    | MsFlags::MS_NODIRATIME
                    | MsFlags::MS_RELATIME
                    | MsFlags::MS_STRICTATIME,
            )
    }
}

enum Opt {
    Set(MsFlags),
    Clear(MsFlags),
    Propagation(MsFlags),
    Bind { recursive: bool },
    Idmap { recursive: bool },
    Ignore,
}

fn parse_option(opt: &str) -> Option<Opt> {
    use MsFlags as F;
    Some(match opt {
        "ro" => Opt::Set(F::MS_RDONLY),
        "rw" => Opt::Clear(F::MS_RDONLY),
        "suid" => Opt::Clear(F::MS_NOSUID),
        "nosuid" => Opt::Set(F::MS_NOSUID),
        "dev" => Opt::Clear(F::MS_NODEV),
        "nodev" => Opt::Set(F::MS_NODEV),
        "exec" => Opt::Clear(F::MS_NOEXEC),
        "noexec" => Opt::Set(F::MS_NOEXEC),
        "sync" => Opt::Set(F::MS_SYNCHRONOUS),
        "async" => Opt::Clear(F::MS_SYNCHRONOUS),
        "dirsync" => Opt::Set(F::MS_DIRSYNC),
        "remount" => Opt::Set(F::MS_REMOUNT),
        "mand" => Opt::Set(F::MS_MANDLOCK),
        "nomand" => Opt::Clear(F::MS_MANDLOCK),
        "atime" => Opt::Clear(F::MS_NOATIME),
        "noatime" => Opt::Set(F::MS_NOATIME),
        "diratime" => Opt::Clear(F::MS_NODIRATIME),
        "nodiratime" => Opt::Set(F::MS_NODIRATIME),
        "relatime" => Opt::Set(F::MS_RELATIME),
        "norelatime" => Opt::Clear(F::MS_RELATIME),
        "strictatime" => Opt::Set(F::MS_STRICTATIME),
        "nostrictatime" => Opt::Clear(F::MS_STRICTATIME),
        "nosymfollow" => Opt::Set(F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "bind" => Opt::Bind { recursive: false },
        "rbind" => Opt::Bind { recursive: true },
        "private" => Opt::Propagation(F::MS_PRIVATE),
        "rprivate" => Opt::Propagation(F::MS_PRIVATE | F::MS_REC),
        "shared" => Opt::Propagation(F::MS_SHARED),
        "rshared" => Opt::Propagation(F::MS_SHARED | F::MS_REC),
        "slave" => Opt::Propagation(F::MS_SLAVE),
        "rslave" => Opt::Propagation(F::MS_SLAVE | F::MS_REC),
        "unbindable" => Opt::Propagation(F::MS_UNBINDABLE),
        "runbindable" => Opt::Propagation(F::MS_UNBINDABLE | F::MS_REC),
        "idmap" => Opt::Idmap { recursive: false },
        "ridmap" => Opt::Idmap { recursive: true },
        // Not implemented (a MAY of the spec).
        "tmpcopyup" => Opt::Ignore,
        // Applied by mount_setattr after the mount (see plan_recursive).
        o if recursive_atime(o).is_some() || recursive_flag(o).is_some() => Opt::Ignore,
        _ => return None,
    })
}

/// Turns one `mounts[]` entry into a mount operation. `bundle` resolves relative bind sources.
pub fn plan_mount(m: &Mount, bundle: &std::path::Path) -> Result<MountOp, PlanError> {
    if m.destination.is_empty() {
        return Err(PlanError::invalid("mounts", "mount with an empty destination"));
    }
    let dest = if m.destination.starts_with('/') { m.destination.clone() } else { format!("/{}", m.destination) };
    if dest.split('/').any(|c| c == "..") {
        return Err(PlanError::invalid("mounts", format!("mount destination {:?} contains '..'", m.destination)));
    }
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    let mut propagation = Vec::new();
    let mut bind = None;
    let mut idmap_option = None;
    for opt in &m.options {
        match parse_option(opt) {
            Some(Opt::Set(f)) => flags |= f,
            Some(Opt::Clear(f)) => flags &= !f,
            Some(Opt::Propagation(f)) => propagation.push(f),
            Some(Opt::Bind { recursive }) => bind = Some(recursive),
            Some(Opt::Idmap { recursive }) => idmap_option = Some(recursive),
            Some(Opt::Ignore) => {}
            None => data.push(opt.as_str()),
        }
    }
    let fstype = m.kind.clone().unwrap_or_default();
    if fstype == "bind" && bind.is_none() {
        bind = Some(false);
    }
    let source = if let Some(recursive) = bind {
        let src = m.source.clone().unwrap_or_default();
        if src.is_empty() {
            return Err(PlanError::invalid("mounts", format!("bind mount at {dest} has no source")));
        }
        MountSource::Bind { source: bundle.join(src), recursive }
    } else if fstype == "cgroup" || fstype == "cgroup2" {
        MountSource::Cgroup
    } else {
        if fstype.is_empty() {
            return Err(PlanError::invalid("mounts", format!("mount at {dest} has no type and is not a bind mount")));
        }
        MountSource::Fs { fstype, source: m.source.clone().unwrap_or_else(|| "none".into()) }
    };
    let idmap = if m.uid_mappings.is_empty() && m.gid_mappings.is_empty() {
        // The spec lets a runtime use the container's user namespace mapping here, "otherwise an
        // error MUST be returned": we do not, so it is an error.
        if idmap_option.is_some() {
            let detail = format!("mount at {dest}: idmap and ridmap need uidMappings and gidMappings on the mount");
            return Err(PlanError::invalid("mounts", detail));
        }
        None
    } else {
        if !matches!(source, MountSource::Bind { .. }) {
            let detail = format!("mount at {dest}: uidMappings/gidMappings are supported on bind mounts only");
            return Err(PlanError::invalid("mounts", detail));
        }
        if m.uid_mappings.is_empty() || m.gid_mappings.is_empty() {
            let detail = format!("mount at {dest}: an idmapped mount needs both uidMappings and gidMappings");
            return Err(PlanError::invalid("mounts", detail));
        }
        Some((m.uid_mappings.clone(), m.gid_mappings.clone()))
    };
    let idmap_recursive = idmap_option.unwrap_or(matches!(source, MountSource::Bind { recursive: true, .. }));
    let recursive = plan_recursive(&m.options);
    Ok(MountOp { dest, source, flags, data: data.join(","), propagation, idmap, idmap_recursive, recursive })
}

/// A device node to create (or bind from the host in a user namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Absolute path inside the container.
    pub path: String,
    /// 'c', 'b' or 'p'.
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container gets, as runc creates them.
pub fn default_devices() -> Vec<DeviceNode> {
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
        .into_iter()
        .map(|(name, major, minor)| DeviceNode {
            path: format!("/dev/{name}"),
            kind: 'c',
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect()
}

/// The default devices plus `linux.devices` (a spec device replaces a default one at the same path).
pub fn plan_devices(spec_devices: &[Device]) -> Result<Vec<DeviceNode>, PlanError> {
    let mut out = default_devices();
    for d in spec_devices {
        let kind = match d.kind.as_str() {
            "c" | "u" => 'c',
            "b" => 'b',
            "p" => 'p',
            other => {
                return Err(PlanError::invalid("linux.devices", format!("device {}: unknown type {other:?}", d.path)))
            }
        };
        if !d.path.starts_with("/dev/") || d.path.split('/').any(|c| c == "..") {
            return Err(PlanError::invalid("linux.devices", format!("device path {:?} must be under /dev", d.path)));
        }
        if d.major < 0 || d.minor < 0 {
            return Err(PlanError::invalid("linux.devices", format!("device {}: negative major or minor", d.path)));
        }
        out.retain(|n| n.path != d.path);
        out.push(DeviceNode {
            path: d.path.clone(),
            kind,
            major: d.major as u64,
            minor: d.minor as u64,
            mode: d.file_mode.unwrap_or(0o666) & 0o7777,
            uid: d.uid.unwrap_or(0),
            gid: d.gid.unwrap_or(0),
        });
    }
    Ok(out)
}

/// The /dev symlinks every container gets.
pub const DEV_SYMLINKS: [(&str, &str); 5] = [
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
];

/// linux.rootfsPropagation as runc applies it, in three steps around pivot_root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootPropagation {
    /// Given to `/` of the new mount namespace first, so that the rootfs' submounts (bound with
    /// it) propagate as asked: rslave by default, as runc.
    pub namespace: MsFlags,
    /// Given to the mount that holds the rootfs: never shared, because pivot_root refuses a
    /// shared parent and the rootfs bind would propagate out through it. MS_SLAVE for the slave
    /// values (the root then keeps receiving the host's events), MS_PRIVATE otherwise.
    pub parent: MsFlags,
    /// Given to the new `/` once the container's own mounts are made (after pivot_root and the
    /// read-only paths, which are binds of paths in the root): the values that the bind of the
    /// rootfs cannot carry (shared makes a new peer group, not the host's; unbindable).
    pub on_new_root: Option<MsFlags>,
}

impl RootPropagation {
    /// Whether the old root must be made rslave after pivot_root, before it is detached, so that
    /// the unmount does not propagate to the host (runc and crun always do it: one more walk
    /// over every mount of the host's table). Not needed when the namespace step already made
    /// every mount slave or private: a mount later propagated into a slave is a slave too, and
    /// init mounts nothing outside the rootfs, so no mount of the old root can be shared.
    pub fn old_root_needs_rslave(&self) -> bool {
        use MsFlags as F;
        !(self.namespace.contains(F::MS_REC) && self.namespace.intersects(F::MS_SLAVE | F::MS_PRIVATE))
    }
}

/// The propagation plan for linux.rootfsPropagation (None: runc's default).
pub fn root_propagation(value: Option<&str>) -> Result<RootPropagation, PlanError> {
    use MsFlags as F;
    let (namespace, parent, on_new_root) = match value.unwrap_or("") {
        "" => (F::MS_SLAVE | F::MS_REC, F::MS_PRIVATE, None),
        "slave" => (F::MS_SLAVE, F::MS_SLAVE, None),
        "rslave" => (F::MS_SLAVE | F::MS_REC, F::MS_SLAVE, None),
        "private" => (F::MS_PRIVATE, F::MS_PRIVATE, None),
        "rprivate" => (F::MS_PRIVATE | F::MS_REC, F::MS_PRIVATE, None),
        "shared" => (F::MS_SHARED, F::MS_PRIVATE, Some(F::MS_SHARED)),
        "rshared" => (F::MS_SHARED | F::MS_REC, F::MS_PRIVATE, Some(F::MS_SHARED | F::MS_REC)),
        // Not given to the namespace's mounts first (runc does): they would all become unbindable
        // and every bind mount from the host would fail.
        "unbindable" => (F::MS_SLAVE | F::MS_REC, F::MS_PRIVATE, Some(F::MS_UNBINDABLE)),
        "runbindable" => (F::MS_SLAVE | F::MS_REC, F::MS_PRIVATE, Some(F::MS_UNBINDABLE | F::MS_REC)),
        other => {
            return Err(PlanError::rule("linux.rootfsPropagation", format!("unknown rootfsPropagation {other:?}")))
        }
    };
    Ok(RootPropagation { namespace, parent, on_new_root })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn mount(dest: &str, kind: &str, src: &str, opts: &[&str]) -> Mount {
        Mount {
            destination: dest.into(),
            kind: Some(kind.into()),
            source: Some(src.into()),
            options: opts.iter().map(|s| s.to_string()).collect(),
            ..Mount::default()
        }
    }

    #[test]
    fn tmpfs_options_split_into_flags_and_data() {
        let m = mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]);
        let op = plan_mount(&m, Path::new("/b")).unwrap();
        assert_eq!(op.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(op.data, "mode=755,size=65536k");
        assert_eq!(op.source, MountSource::Fs { fstype: "tmpfs".into(), source: "tmpfs".into() });
    }

    #[test]
    fn bind_sources_resolve_against_the_bundle_and_ro_needs_a_remount() {
        let m = mount("data", "none", "hostdir", &["rbind", "ro", "rprivate"]);
        let op = plan_mount(&m, Path::new("/b")).unwrap();
        assert_eq!(op.dest, "/data");
        assert_eq!(op.source, MountSource::Bind { source: "/b/hostdir".into(), recursive: true });
        assert!(op.bind_needs_remount());
        assert_eq!(op.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        let abs = plan_mount(&mount("/x", "bind", "/etc", &[]), Path::new("/b")).unwrap();
        assert_eq!(abs.source, MountSource::Bind { source: "/etc".into(), recursive: false });
        assert!(!abs.bind_needs_remount());
    }

    #[test]
    fn bad_mounts_are_rejected() {
        assert!(plan_mount(&mount("/a/../etc", "tmpfs", "t", &[]), Path::new("/b")).is_err());
        assert!(plan_mount(&mount("", "tmpfs", "t", &[]), Path::new("/b")).is_err());
        let mut m = mount("/x", "", "", &[]);
        m.kind = None;
        assert!(plan_mount(&m, Path::new("/b")).is_err());
    }

    #[test]
    fn idmapped_mounts_need_bind_and_both_maps() {
        let map = crate::spec::IdMapping { container_id: 0, host_id: 1000, size: 1 };
        let mut m = mount("/data", "bind", "/srv", &["rbind"]);
        m.uid_mappings = vec![map];
        assert!(plan_mount(&m, Path::new("/b")).is_err(), "gid maps missing");
        m.gid_mappings = vec![map];
        assert_eq!(plan_mount(&m, Path::new("/b")).unwrap().idmap, Some((vec![map], vec![map])));
        assert!(plan_mount(&m, Path::new("/b")).unwrap().idmap_recursive, "rbind without an idmap option");
        m.options.push("idmap".into());
        assert!(!plan_mount(&m, Path::new("/b")).unwrap().idmap_recursive);
        m.options.push("ridmap".into());
        assert!(plan_mount(&m, Path::new("/b")).unwrap().idmap_recursive);
        for opt in ["idmap", "ridmap"] {
            let err = plan_mount(&mount("/data", "bind", "/srv", &["rbind", opt]), Path::new("/b")).unwrap_err();
            assert!(err.to_string().contains("uidMappings"), "{opt} without mappings: {err}");
        }
        let mut t = mount("/t", "tmpfs", "tmpfs", &[]);
        t.uid_mappings = vec![map];
        t.gid_mappings = vec![map];
        assert!(plan_mount(&t, Path::new("/b")).is_err());
    }

    #[test]
    fn cgroup_mounts_are_planned_as_cgroup() {
        let op = plan_mount(&mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro", "nosuid"]), Path::new("/b")).unwrap();
        assert_eq!(op.source, MountSource::Cgroup);
        assert!(op.flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn recursive_options_become_mount_setattr_bits_not_data() {
        use oxsys::mount_attr::attr;
        let op = plan_mount(
            &mount(
                "/d",
                "bind",
                "/srv",
                &["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnosymfollow", "rnodiratime"],
            ),
            Path::new("/b"),
        )
        .unwrap();
        assert_eq!(
            op.recursive,
            RecursiveAttr {
                set: attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC | attr::NOSYMFOLLOW | attr::NODIRATIME,
                clear: 0
            }
        );
        assert!(op.data.is_empty() && op.flags.is_empty(), "{op:?}");
        // The last of a pair wins; the opposite forms clear.
        let op = plan_mount(
            &mount("/d", "bind", "/srv", &["rro", "rrw", "rsuid", "rdev", "rexec", "rsymfollow", "rdiratime"]),
            Path::new("/b"),
        )
        .unwrap();
        assert_eq!(
            op.recursive,
            RecursiveAttr {
                set: 0,
                clear: attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC | attr::NOSYMFOLLOW | attr::NODIRATIME
            }
        );
        // An atime mode is set as a whole: the kernel wants the whole mask cleared with it.
        for (opt, mode) in [
            ("rnoatime", attr::NOATIME),
            ("rstrictatime", attr::STRICTATIME),
            ("rrelatime", attr::RELATIME),
            ("ratime", attr::RELATIME),
            ("rnostrictatime", attr::RELATIME),
            ("rnorelatime", attr::STRICTATIME),
        ] {
            let op = plan_mount(&mount("/d", "tmpfs", "tmpfs", &[opt]), Path::new("/b")).unwrap();
            assert_eq!(op.recursive, RecursiveAttr { set: mode, clear: attr::ATIME_MASK }, "{opt}");
        }
        assert!(plan_mount(&mount("/d", "bind", "/srv", &["rbind", "ro"]), Path::new("/b"))
            .unwrap()
            .recursive
            .is_empty());
    }

    #[test]
    fn root_propagation_keeps_the_rootfs_parent_unshared_and_sets_the_rest_on_the_new_root() {
        use MsFlags as F;
        let plan = |v| root_propagation(v).unwrap();
        assert_eq!(
            plan(None),
            RootPropagation { namespace: F::MS_SLAVE | F::MS_REC, parent: F::MS_PRIVATE, on_new_root: None }
        );
        assert_eq!(
            plan(Some("slave")),
            RootPropagation { namespace: F::MS_SLAVE, parent: F::MS_SLAVE, on_new_root: None }
        );
        assert_eq!(plan(Some("rslave")).parent, F::MS_SLAVE);
        assert_eq!(
            plan(Some("private")),
            RootPropagation { namespace: F::MS_PRIVATE, parent: F::MS_PRIVATE, on_new_root: None }
        );
        assert_eq!(
            plan(Some("shared")),
            RootPropagation { namespace: F::MS_SHARED, parent: F::MS_PRIVATE, on_new_root: Some(F::MS_SHARED) }
        );
        assert_eq!(plan(Some("rshared")).on_new_root, Some(F::MS_SHARED | F::MS_REC));
        assert_eq!(
            plan(Some("unbindable")),
            RootPropagation {
                namespace: F::MS_SLAVE | F::MS_REC,
                parent: F::MS_PRIVATE,
                on_new_root: Some(F::MS_UNBINDABLE)
            }
        );
        assert_eq!(plan(Some("runbindable")).on_new_root, Some(F::MS_UNBINDABLE | F::MS_REC));
        for v in ["rprivate", "rslave", "runbindable", "rshared"] {
            assert!(!plan(Some(v)).parent.intersects(F::MS_SHARED | F::MS_UNBINDABLE), "{v}");
        }
        assert!(root_propagation(Some("bogus")).is_err());
    }

    #[test]
    fn old_root_is_made_rslave_again_only_when_some_mount_may_still_be_shared() {
        let needs = |v| root_propagation(v).unwrap().old_root_needs_rslave();
        for v in [None, Some("rslave"), Some("rprivate"), Some("unbindable"), Some("runbindable")] {
            assert!(!needs(v), "{v:?}: every mount is already slave or private");
        }
        for v in ["slave", "private", "shared", "rshared"] {
            assert!(needs(Some(v)), "{v}: submounts of / keep their propagation");
        }
    }

    #[test]
    fn spec_devices_replace_defaults_and_are_checked() {
        let d = Device {
            kind: "c".into(),
            path: "/dev/null".into(),
            major: 1,
            minor: 3,
            file_mode: Some(0o600),
            ..Device::default()
        };
        let devs = plan_devices(&[d]).unwrap();
        assert_eq!(devs.len(), 6);
        assert_eq!(devs.iter().find(|n| n.path == "/dev/null").unwrap().mode, 0o600);
        let bad = Device { kind: "x".into(), path: "/dev/q".into(), ..Device::default() };
        assert!(plan_devices(&[bad]).is_err());
        let outside = Device { kind: "c".into(), path: "/etc/q".into(), ..Device::default() };
        assert!(plan_devices(&[outside]).is_err());
    }
}
