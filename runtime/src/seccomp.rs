//! `linux.seccomp` → a BPF program, compiled with libseccomp before the fork and loaded by init
//! (one seccomp(2) call) as late as the kernel's rules allow.
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oxsys::SysError;
use serde::Deserialize;
use std::io::{Read, Seek};

/// Why `linux.seccomp` could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// Not a seccomp object, or a field of the wrong type.
    #[error("linux.seccomp: {0}")]
    Parse(serde_json::Error),
    /// A name libseccomp or this runtime does not know: `what` is "action", "operator", "flag"
    /// or "architecture".
    #[error("unknown seccomp {what} {name:?}")]
    Unknown { what: &'static str, name: String },
    #[error("seccomp argument index {0} is above 5")]
    ArgIndex(u32),
    #[error("seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")]
    NotifyWithoutListener,
    /// libseccomp refused a step of building the filter.
    #[error("seccomp {step}: {source}")]
    Library { step: String, source: libseccomp::error::SeccompError },
    /// Reading the compiled filter back failed.
    #[error(transparent)]
    Export(#[from] SysError),
}

impl SeccompError {
    fn unknown(what: &'static str, name: &str) -> SeccompError {
        SeccompError::Unknown { what, name: name.to_string() }
    }

    fn library(step: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
        let step = step.into();
        move |source| SeccompError::Library { step, source }
    }
}

/// `linux.seccomp` as the runtime-spec defines it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompSpec {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<SyscallRule>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    pub names: Vec<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Vec<ArgRule>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgRule {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// A compiled filter, ready for init to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The BPF instructions (struct sock_filter array) as bytes.
    pub bpf: Vec<u8>,
    /// SECCOMP_FILTER_FLAG_* bits for seccomp(2).
    pub flags: u32,
    /// Whether a rule notifies userspace (the filter must be loaded with a new listener).
    pub notify: bool,
    pub listener_path: Option<String>,
    pub listener_metadata: String,
}

const FLAG_TSYNC: u32 = 1;
const FLAG_LOG: u32 = 2;
const FLAG_SPEC_ALLOW: u32 = 4;
/// SECCOMP_FILTER_FLAG_NEW_LISTENER.
pub const FLAG_NEW_LISTENER: u32 = 8;
const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

/// Parses an action name; errno-like actions take `errno_ret` (default EPERM).
pub fn parse_action(name: &str, errno_ret: Option<u32>) -> Result<ScmpAction, SeccompError> {
    let ret = errno_ret.unwrap_or(libc::EPERM as u32);
    Ok(match name {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(ret as i32),
        "SCMP_ACT_TRACE" => ScmpAction::Trace(ret as u16),
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_NOTIFY" => ScmpAction::Notify,
        other => return Err(SeccompError::unknown("action", other)),
    })
}

/// Parses a comparison; for SCMP_CMP_MASKED_EQ `value` is the mask and `valueTwo` the datum.
pub fn parse_arg(a: &ArgRule) -> Result<ScmpArgCompare, SeccompError> {
    if a.index > 5 {
        return Err(SeccompError::ArgIndex(a.index));
    }
    let (op, datum) = match a.op.as_str() {
        "SCMP_CMP_NE" => (ScmpCompareOp::NotEqual, a.value),
        "SCMP_CMP_LT" => (ScmpCompareOp::Less, a.value),
        "SCMP_CMP_LE" => (ScmpCompareOp::LessOrEqual, a.value),
        "SCMP_CMP_EQ" => (ScmpCompareOp::Equal, a.value),
        "SCMP_CMP_GE" => (ScmpCompareOp::GreaterEqual, a.value),
        "SCMP_CMP_GT" => (ScmpCompareOp::Greater, a.value),
        "SCMP_CMP_MASKED_EQ" => (ScmpCompareOp::MaskedEqual(a.value), a.value_two),
        other => return Err(SeccompError::unknown("operator", other)),
    };
    Ok(ScmpArgCompare::new(a.index, op, datum))
}

fn parse_flags(flags: &[String]) -> Result<u32, SeccompError> {
    flags.iter().try_fold(0, |acc, f| {
        Ok(acc
            | match f.as_str() {
                "SECCOMP_FILTER_FLAG_TSYNC" => FLAG_TSYNC,
                "SECCOMP_FILTER_FLAG_LOG" => FLAG_LOG,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => FLAG_SPEC_ALLOW,
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => FLAG_WAIT_KILLABLE_RECV,
                other => return Err(SeccompError::unknown("flag", other)),
            })
    })
}

/// Compiles the spec. Unknown syscall names are skipped and returned as warnings (as runc does:
/// a profile may name syscalls newer than this libseccomp).
pub fn compile(value: &serde_json::Value) -> Result<(Program, Vec<String>), SeccompError> {
    let spec: SeccompSpec = serde_json::from_value(value.clone()).map_err(SeccompError::Parse)?;
    let mut warnings = Vec::new();
    let default = parse_action(&spec.default_action, spec.default_errno_ret)?;
    let mut ctx = ScmpFilterContext::new(default).map_err(SeccompError::library("create filter"))?;
    for arch in &spec.architectures {
        let a: ScmpArch = arch.parse().map_err(|_| SeccompError::unknown("architecture", arch))?;
        if !ctx.is_arch_present(a).unwrap_or(false) {
            ctx.add_arch(a).map_err(SeccompError::library(format!("architecture {arch}")))?;
        }
    }
    let mut notify = default == ScmpAction::Notify;
    for rule in &spec.syscalls {
        let action = parse_action(&rule.action, rule.errno_ret)?;
        // libseccomp refuses a rule whose action is the default one; it would change nothing.
        if action == default {
            continue;
        }
        notify |= action == ScmpAction::Notify;
        let args = rule.args.iter().map(parse_arg).collect::<Result<Vec<_>, _>>()?;
        for name in &rule.names {
            let Ok(sys) = ScmpSyscall::from_name(name) else {
                warnings.push(format!("seccomp: ignoring unknown syscall {name:?}"));
                continue;
            };
            add_rule(&mut ctx, action, sys, &rule.args, &args)
                .map_err(SeccompError::library(format!("rule for {name}")))?;
        }
    }
    if notify && spec.listener_path.as_deref().unwrap_or("").is_empty() {
        return Err(SeccompError::NotifyWithoutListener);
    }
    let mut flags = parse_flags(&spec.flags)?;
    if notify {
        flags |= FLAG_NEW_LISTENER;
    }
    let bpf = export(&ctx)?;
    Ok((
        Program {
            bpf,
            flags,
            notify,
            listener_path: spec.listener_path.filter(|p| !p.is_empty()),
            listener_metadata: spec.listener_metadata.unwrap_or_default(),
        },
        warnings,
    ))
}

/// libseccomp accepts one comparison per argument index in a rule: several conditions on the same
/// index mean "any of them" (runc's reading), so each gets a rule of its own.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    action: ScmpAction,
    sys: ScmpSyscall,
    raw: &[ArgRule],
    args: &[ScmpArgCompare],
) -> Result<(), libseccomp::error::SeccompError> {
    let same_index = raw.len() > 1 && raw.iter().all(|a| a.index == raw[0].index);
    if args.is_empty() {
        ctx.add_rule(action, sys)?;
    } else if same_index {
        for a in args {
            ctx.add_rule_conditional(action, sys, std::slice::from_ref(a))?;
        }
    } else {
        ctx.add_rule_conditional(action, sys, args)?;
    }
    Ok(())
}

/// Exports the BPF through a memfd (libseccomp 2.5 has no in-memory export).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, SeccompError> {
    let failed = |e: std::io::Error| SeccompError::Export(SysError::new("seccomp export", e));
    let fd = nix::sys::memfd::memfd_create(c"oxrun-seccomp", nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|e| failed(e.into()))?;
    ctx.export_bpf(&fd).map_err(SeccompError::library("export"))?;
    let mut file = std::fs::File::from(fd);
    file.rewind().map_err(failed)?;
    let mut bpf = Vec::new();
    file.read_to_end(&mut bpf).map_err(failed)?;
    Ok(bpf)
}

/// The state sent with init's notify fd to `listenerPath` (runtime-spec ContainerProcessState).
pub fn listener_state(p: &Program, id: &str, pid: i32, bundle: &std::path::Path) -> String {
    process_state(
        p,
        pid,
        serde_json::json!({ "ociVersion": crate::spec::OCI_VERSION, "id": id, "status": "creating", "pid": pid, "bundle": bundle }),
    )
}

/// The same for a process exec'd into a running container: `pid` is that process, the state is
/// the container's (its init's pid, status running), as runc sends it.
pub fn exec_listener_state(p: &Program, id: &str, pid: i32, init_pid: i32, bundle: &std::path::Path) -> String {
    process_state(
        p,
        pid,
        serde_json::json!({ "ociVersion": crate::spec::OCI_VERSION, "id": id, "status": "running", "pid": init_pid, "bundle": bundle }),
    )
}

fn process_state(p: &Program, pid: i32, state: serde_json::Value) -> String {
    serde_json::json!({
        "ociVersion": crate::spec::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": p.listener_metadata,
        "state": state,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(rules: serde_json::Value) -> serde_json::Value {
        json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": rules })
    }

    #[test]
    fn actions_and_errno_values() {
        assert_eq!(parse_action("SCMP_ACT_ERRNO", None).unwrap(), ScmpAction::Errno(libc::EPERM));
        assert_eq!(parse_action("SCMP_ACT_ERRNO", Some(38)).unwrap(), ScmpAction::Errno(38));
        assert_eq!(parse_action("SCMP_ACT_KILL", None).unwrap(), ScmpAction::KillThread);
        assert!(parse_action("SCMP_ACT_WHATEVER", None).is_err());
    }

    #[test]
    fn a_profile_compiles_and_unknown_syscalls_are_warnings() {
        let p = profile(
            json!([{ "names": ["mkdir", "mkdirat", "not_a_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 }]),
        );
        let (prog, warnings) = compile(&p).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("not_a_syscall"));
        // A sock_filter is 8 bytes; an arch check, a syscall check and the actions at least.
        assert!(prog.bpf.len() >= 8 * 4 && prog.bpf.len() % 8 == 0);
        assert!(!prog.notify);
    }

    #[test]
    fn conditions_flags_and_notify() {
        let p = json!({ "defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath": "/run/l.sock", "listenerMetadata": "m",
            "syscalls": [
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                    { "index": 0, "value": 0, "op": "SCMP_CMP_EQ" }, { "index": 0, "value": 8, "op": "SCMP_CMP_EQ" } ] },
                { "names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
                    { "index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" } ] },
                { "names": ["getpid"], "action": "SCMP_ACT_NOTIFY" } ] });
        let (prog, _) = compile(&p).unwrap();
        assert!(prog.notify);
        assert_eq!(prog.flags, FLAG_LOG | FLAG_NEW_LISTENER);
        assert_eq!(prog.listener_path.as_deref(), Some("/run/l.sock"));
        let state: serde_json::Value =
            serde_json::from_str(&listener_state(&prog, "c", 42, std::path::Path::new("/b"))).unwrap();
        assert_eq!(state["fds"], json!(["seccompFd"]));
        assert_eq!(state["metadata"], "m");
        assert_eq!(state["state"]["pid"], 42);
    }

    #[test]
    fn bad_profiles_are_errors() {
        assert!(compile(&json!({ "defaultAction": "SCMP_ACT_NOPE" })).is_err());
        assert!(compile(&profile(json!([{ "names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{ "index": 9, "value": 0, "op": "SCMP_CMP_EQ" }] }]))).is_err());
        assert!(
            compile(&profile(json!([{ "names": ["read"], "action": "SCMP_ACT_NOTIFY" }]))).is_err(),
            "notify without listenerPath"
        );
        assert!(compile(&json!({ "defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"] })).is_err());
    }

    #[test]
    fn errors_print_one_line_in_the_words_they_had() {
        let text = |v: serde_json::Value| compile(&v).unwrap_err().to_string();
        assert_eq!(text(json!({ "defaultAction": "SCMP_ACT_NOPE" })), "unknown seccomp action \"SCMP_ACT_NOPE\"");
        let flags = json!({ "defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"] });
        assert_eq!(text(flags), "unknown seccomp flag \"SECCOMP_FILTER_FLAG_BOGUS\"");
        let arch = json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"] });
        assert_eq!(text(arch), "unknown seccomp architecture \"SCMP_ARCH_NOPE\"");
        let index = json!([{ "names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{ "index": 9, "value": 0, "op": "SCMP_CMP_EQ" }] }]);
        assert_eq!(text(profile(index)), "seccomp argument index 9 is above 5");
        let notify = profile(json!([{ "names": ["read"], "action": "SCMP_ACT_NOTIFY" }]));
        assert_eq!(text(notify), "seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath");
        let parse = text(json!({ "defaultAction": 7 }));
        assert!(parse.starts_with("linux.seccomp: ") && !parse.contains('\n'), "{parse}");
        assert_eq!(SeccompError::ArgIndex(6).to_string(), "seccomp argument index 6 is above 5");
    }
}
