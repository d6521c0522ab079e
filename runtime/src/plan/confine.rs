//! What confines a process besides its ids and capabilities: its seccomp filter and its LSM
//! labels, planned the same way for init (`plan::build`) and for an exec'd process
//! (`plan::exec_process`).
use super::{BuildError, MountOp, MountSource, ProcessPlan};
use crate::lsm::HostLsms;
use crate::spec::Process;

/// Compiles `seccomp` into `plan` and sets the LSM labels that apply on this host: an AppArmor
/// profile without AppArmor is refused (the process would run unconfined), as in runc; a SELinux
/// label without SELinux is ignored with a warning. `what` names the process in warnings
/// ("process" or "exec").
pub fn confine(
    plan: &mut ProcessPlan,
    process: &Process,
    seccomp: Option<&serde_json::Value>,
    lsms: HostLsms,
    what: &str,
) -> Result<Vec<String>, BuildError> {
    let mut warnings = Vec::new();
    if let Some(profile) = seccomp {
        let (program, seccomp_warnings) = crate::seccomp::compile(profile)?;
        warnings.extend(seccomp_warnings);
        plan.seccomp = Some(program);
    }
    let apparmor = process.apparmor_profile.as_deref();
    let (labels, label_warnings) = crate::lsm::exec_labels(apparmor, process.selinux_label.as_deref(), lsms, what)?;
    plan.labels = labels;
    warnings.extend(label_warnings);
    Ok(warnings)
}

/// `linux.mountLabel` as `context=` in the data of the mounts that take one, where SELinux is
/// enabled (elsewhere it is ignored with a warning).
pub fn label_mounts(mounts: &mut [MountOp], label: Option<&str>, lsms: HostLsms, warnings: &mut Vec<String>) {
    let Some(label) = crate::lsm::mount_label(label, lsms, warnings) else { return };
    for op in mounts {
        if let MountSource::Fs { fstype, .. } = &op.source {
            op.data = crate::lsm::mount_data(fstype, &op.data, Some(&label));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn process(apparmor: Option<&str>, selinux: Option<&str>) -> Process {
        Process {
            apparmor_profile: apparmor.map(str::to_string),
            selinux_label: selinux.map(str::to_string),
            ..Process::default()
        }
    }

    #[test]
    fn a_filter_is_compiled_and_labels_follow_the_host() {
        let mut plan = ProcessPlan::default();
        let profile = json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            { "names": ["nosuchcall"], "action": "SCMP_ACT_ERRNO" }] });
        let both = HostLsms { apparmor: true, selinux: true };
        let warnings = confine(&mut plan, &process(Some("p"), Some("l")), Some(&profile), both, "exec").unwrap();
        assert!(plan.seccomp.is_some());
        assert_eq!(warnings, ["seccomp: ignoring unknown syscall \"nosuchcall\""]);
        assert_eq!(plan.labels.apparmor_profile.as_deref(), Some("p"));
        assert_eq!(plan.labels.selinux_label.as_deref(), Some("l"));
    }

    #[test]
    fn apparmor_without_apparmor_is_refused_and_selinux_is_warned_about() {
        let none = HostLsms::default();
        let mut plan = ProcessPlan::default();
        let err = confine(&mut plan, &process(Some("p"), None), None, none, "process").unwrap_err();
        assert!(matches!(err, BuildError::Lsm(_)), "{err:?}");
        let warnings = confine(&mut plan, &process(None, Some("l")), None, none, "exec").unwrap();
        assert_eq!(plan.labels, Default::default());
        assert!(warnings[0].starts_with("exec.selinuxLabel"), "{warnings:?}");
        assert!(plan.seccomp.is_none());
    }

    #[test]
    fn a_bad_filter_is_a_seccomp_error() {
        let mut plan = ProcessPlan::default();
        let bad = json!({ "defaultAction": "SCMP_ACT_NOPE" });
        let err = confine(&mut plan, &Process::default(), Some(&bad), HostLsms::default(), "exec").unwrap_err();
        assert!(matches!(err, BuildError::Seccomp(_)), "{err:?}");
    }
}
