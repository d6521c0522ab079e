//! LSM confinement: `process.apparmorProfile`, `process.selinuxLabel` and `linux.mountLabel`.
//!
//! Pure: which of them apply on this host (an AppArmor profile without AppArmor is an error, as
//! runc refuses it; SELinux labels without SELinux are ignored with a warning), what is written to
//! /proc/self/attr before execve, and the `context=` a label adds to mount data. Applying is one
//! write through the verified procfs (`crate::procfs`), by init and by exec'd processes, while
//! they still have the privileges the write needs.
//!
//! This host has neither AppArmor nor SELinux: the applying path is unit-tested here as data, and
//! the integration tests can only check the refusal and the warnings.
use std::path::Path;

/// What the host's kernel enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostLsms {
    pub apparmor: bool,
    pub selinux: bool,
}

impl HostLsms {
    pub fn detect() -> HostLsms {
        HostLsms {
            apparmor: std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.trim() == "Y"),
            selinux: Path::new("/sys/fs/selinux/enforce").exists(),
        }
    }
}

/// A label the host cannot enforce and that may not be ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LsmError {
    /// runc refuses an AppArmor profile where AppArmor is not enabled.
    #[error("apparmor profile {profile:?} is requested but AppArmor is not enabled on this host")]
    AppArmorDisabled { profile: String },
}

/// The labels a process is exec'd with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecLabels {
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
}

/// The labels that apply on `host`, and warnings for those that are ignored. `what` names the
/// process in messages ("process" or "exec").
pub fn exec_labels(
    apparmor: Option<&str>,
    selinux: Option<&str>,
    host: HostLsms,
    what: &str,
) -> Result<(ExecLabels, Vec<String>), LsmError> {
    let mut warnings = Vec::new();
    let apparmor = apparmor.filter(|p| !p.is_empty());
    if let Some(profile) = apparmor {
        if !host.apparmor {
            return Err(LsmError::AppArmorDisabled { profile: profile.to_string() });
        }
    }
    let selinux = selinux.filter(|l| !l.is_empty());
    let selinux = match selinux {
        Some(label) if !host.selinux => {
            warnings.push(format!("{what}.selinuxLabel {label:?} is ignored: SELinux is not enabled on this host"));
            None
        }
        other => other,
    };
    Ok((
        ExecLabels { apparmor_profile: apparmor.map(str::to_string), selinux_label: selinux.map(str::to_string) },
        warnings,
    ))
}

/// `linux.mountLabel` if SELinux can use it, else None with a warning.
pub fn mount_label(label: Option<&str>, host: HostLsms, warnings: &mut Vec<String>) -> Option<String> {
    let label = label.filter(|l| !l.is_empty())?;
    if !host.selinux {
        warnings.push(format!("linux.mountLabel {label:?} is ignored: SELinux is not enabled on this host"));
        return None;
    }
    Some(label.to_string())
}

/// The /proc/self/attr writes that make execve enter the labels, in order: (attribute, value),
/// with the attribute of an older kernel to try when the first is missing.
pub fn attr_writes(labels: &ExecLabels) -> Vec<(&'static str, Option<&'static str>, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(profile) = &labels.apparmor_profile {
        // AppArmor's own attr directory since Linux 5.8; the shared one before (runc tries both).
        out.push(("apparmor/exec", Some("exec"), format!("exec {profile}").into_bytes()));
    }
    if let Some(label) = &labels.selinux_label {
        out.push(("exec", None, label.as_bytes().to_vec()));
    }
    out
}

/// Mount data with the SELinux context of `label` added, for the filesystems that take one
/// (not bind mounts, and not proc, sysfs, cgroup or mqueue, which runc does not label this way).
pub fn mount_data(fstype: &str, data: &str, label: Option<&str>) -> String {
    let Some(label) = label.filter(|_| !matches!(fstype, "proc" | "sysfs" | "cgroup" | "cgroup2" | "mqueue")) else {
        return data.to_string();
    };
    let context = format!("context=\"{label}\"");
    if data.is_empty() {
        context
    } else {
        format!("{data},{context}")
    }
}

/// Writes the labels through the verified procfs, just before execve.
pub fn apply(labels: &ExecLabels) -> Result<(), crate::procfs::ProcfsError> {
    let writes = attr_writes(labels);
    if writes.is_empty() {
        return Ok(());
    }
    let proc = crate::procfs::ProcRoot::open(Path::new("/proc"))?;
    for (attr, older, value) in writes {
        let result = match (proc.write_self_attr(attr, &value), older) {
            // Only a missing attribute file (a kernel before 5.8) sends us to the older one: ENOENT
            // from the write itself is AppArmor's "no such profile".
            (Err(crate::procfs::ProcfsError::Open { source, .. }), Some(older))
                if source.raw_os_error() == Some(libc::ENOENT) =>
            {
                proc.write_self_attr(older, &value)
            }
            (result, _) => result,
        };
        // The entries with an older attribute are AppArmor's: the error names the profile.
        result.map_err(|e| naming_profile(e, older.and(labels.apparmor_profile.as_deref())))?;
    }
    Ok(())
}

/// A failed write of AppArmor's exec attribute with the profile named (ENOENT there means the
/// profile is not loaded).
fn naming_profile(e: crate::procfs::ProcfsError, profile: Option<&str>) -> crate::procfs::ProcfsError {
    match (e, profile) {
        (crate::procfs::ProcfsError::Io { mut source }, Some(profile)) => {
            let hint = if source.raw_os_error() == Some(libc::ENOENT) { ", not loaded?" } else { "" };
            let path = source.path.as_deref().unwrap_or(Path::new("")).display();
            source.path = Some(format!("{path} (apparmor profile {profile:?}{hint})").into());
            crate::procfs::ProcfsError::Io { source }
        }
        (e, _) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: HostLsms = HostLsms { apparmor: false, selinux: false };
    const BOTH: HostLsms = HostLsms { apparmor: true, selinux: true };

    #[test]
    fn apparmor_without_apparmor_is_refused_and_selinux_without_selinux_is_warned_about() {
        let err = exec_labels(Some("p"), None, NONE, "process").unwrap_err();
        assert_eq!(err, LsmError::AppArmorDisabled { profile: "p".into() });
        assert_eq!(err.to_string(), "apparmor profile \"p\" is requested but AppArmor is not enabled on this host");
        let (labels, warnings) = exec_labels(None, Some("system_u:system_r:container_t:s0"), NONE, "process").unwrap();
        assert_eq!(labels, ExecLabels::default());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("process.selinuxLabel"), "{warnings:?}");
        let (labels, warnings) = exec_labels(Some(""), Some(""), NONE, "exec").unwrap();
        assert_eq!((labels, warnings.len()), (ExecLabels::default(), 0), "empty means unset");
    }

    #[test]
    fn enabled_lsms_get_their_exec_attributes() {
        let (labels, warnings) =
            exec_labels(Some("oxrun-default"), Some("system_u:system_r:container_t:s0:c1,c2"), BOTH, "process")
                .unwrap();
        assert!(warnings.is_empty());
        let writes = attr_writes(&labels);
        assert_eq!(writes[0], ("apparmor/exec", Some("exec"), b"exec oxrun-default".to_vec()));
        assert_eq!(writes[1], ("exec", None, b"system_u:system_r:container_t:s0:c1,c2".to_vec()));
        assert!(attr_writes(&ExecLabels::default()).is_empty());
    }

    #[test]
    fn mount_labels_become_context_options() {
        let l = Some("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(
            mount_data("tmpfs", "size=65536k,mode=755", l),
            "size=65536k,mode=755,context=\"system_u:object_r:container_file_t:s0:c1,c2\""
        );
        assert_eq!(mount_data("devpts", "", l), "context=\"system_u:object_r:container_file_t:s0:c1,c2\"");
        assert_eq!(mount_data("proc", "", l), "");
        assert_eq!(mount_data("mqueue", "", l), "");
        assert_eq!(mount_data("tmpfs", "mode=755", None), "mode=755");
        let mut warnings = Vec::new();
        assert_eq!(mount_label(l, NONE, &mut warnings), None);
        assert!(warnings[0].contains("linux.mountLabel"));
        assert_eq!(mount_label(l, BOTH, &mut warnings).as_deref(), l);
    }
}
