//! The runtime's top-level error: what failed, for which container. The binary prints it as one
//! line and exits 1.
use crate::cgroups::CgroupError;
use crate::hooks::HookError;
use crate::ipc::{ChannelError, InitError};
use crate::lsm::LsmError;
use crate::netdev::NetDevError;
use crate::plan::PlanError;
use crate::seccomp::SeccompError;
use crate::spec::SpecError;
use crate::state::{StateError, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error("{0}")]
    Init(#[from] InitError),
    #[error("talk to container init: {0}")]
    Channel(#[from] ChannelError),
    /// A message the create or exec protocol does not allow at that point.
    #[error(transparent)]
    Protocol(#[from] crate::ipc::ProtocolError),
    /// A config field the plan refuses.
    #[error("invalid config.json: {0}")]
    Plan(#[from] PlanError),
    #[error("invalid config.json: {0}")]
    Seccomp(#[from] SeccompError),
    #[error("invalid config.json: {0}")]
    Lsm(#[from] LsmError),
    #[error(transparent)]
    NetDev(#[from] NetDevError),
    #[error("cannot {op} a container that is {status}")]
    WrongState { op: &'static str, status: Status },
    /// runc's words for a signal to a container whose init is gone.
    #[error("container not running")]
    NotRunning,
    #[error(transparent)]
    Sys(#[from] oxsys::SysError),
    /// A program the runtime runs for a step (newuidmap, newgidmap, ps) failed or answered
    /// something unusable.
    #[error("{program}: {reason}")]
    Helper { program: String, reason: String },
    /// The freezer never reached FROZEN (runc gives up the same way).
    #[error("the container's processes could not be frozen (tasks in uninterruptible sleep?)")]
    NotFrozen,
    /// `kill`'s SIGKILL did not end init.
    #[error("init {pid} did not die within 10s of SIGKILL")]
    Unkillable { pid: i32 },
    /// `update --resources` names JSON that is not a LinuxResources object.
    #[error("invalid --resources: {0}")]
    BadResources(serde_json::Error),
    /// `spec` refuses to overwrite a config (runc's words).
    #[error("File config.json exists. Remove it first")]
    SpecExists,
    /// A bad command line: a flag or argument the command cannot take.
    #[error("{0}")]
    Usage(String),
    /// Writing a command's output to stdout failed (a reader that went away: EPIPE).
    #[error("write stdout: {0}")]
    Stdout(std::io::Error),
    #[error("container init exited during create ({0}) without reporting an error")]
    InitDied(String),
    /// Init took the start byte but did not exec the program: its error, as it reported it.
    #[error("the container process failed before its program ran: {0}")]
    StartFailed(String),
}

impl From<crate::plan::BuildError> for Error {
    fn from(e: crate::plan::BuildError) -> Error {
        use crate::plan::BuildError;
        match e {
            BuildError::Plan(e) => Error::Plan(e),
            BuildError::Seccomp(e) => Error::Seccomp(e),
            BuildError::Lsm(e) => Error::Lsm(e),
            BuildError::Cgroup(e) => Error::Cgroup(e),
        }
    }
}

impl Error {
    /// A failed syscall or file operation.
    pub fn sys(op: impl Into<String>, source: impl Into<std::io::Error>) -> Error {
        Error::Sys(oxsys::SysError::new(op.into(), source))
    }

    /// True when stdout's reader went away: the command then ends as runc does (SIGPIPE), with
    /// no message.
    pub fn is_closed_stdout(&self) -> bool {
        matches!(self, Error::Stdout(e) if e.raw_os_error() == Some(libc::EPIPE))
    }
}

/// Writes a command's whole output to stdout.
pub fn print_stdout(text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(Error::Stdout)
}

/// An error with the container it concerns, as printed.
#[derive(Debug)]
pub struct CommandError {
    pub id: Option<String>,
    pub op: &'static str,
    pub error: Error,
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "container {id:?}: {}: {}", self.op, self.error),
            None => write!(f, "{}: {}", self.op, self.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed variants print the words their former `Usage(String)` and `Config(String)` had.
    #[test]
    fn typed_errors_keep_their_one_line_messages() {
        let io = || std::io::Error::from_raw_os_error(libc::ENOENT);
        let cases: Vec<(Error, &str)> = vec![
            (Error::NotRunning, "container not running"),
            (Error::Unkillable { pid: 7 }, "init 7 did not die within 10s of SIGKILL"),
            (CgroupError::NoCgroup("memory".into()).into(), "the container has no memory cgroup"),
            (CgroupError::PathDotDot("/../x".into()).into(), "cgroupsPath \"/../x\" contains '..'"),
            (
                CgroupError::SystemdSyntax("a.slice:p:n".into()).into(),
                "cgroupsPath \"a.slice:p:n\" looks like systemd syntax (slice:prefix:name) but --systemd-cgroup is not set",
            ),
            (Error::SpecExists, "File config.json exists. Remove it first"),
            (
                Error::Helper { program: "newuidmap".into(), reason: "exit status 1: write to uid_map failed".into() },
                "newuidmap: exit status 1: write to uid_map failed",
            ),
            (
                NetDevError::NoSuchDevice("dummy0".into()).into(),
                "linux.netDevices: network device \"dummy0\" does not exist on the host",
            ),
            (
                crate::plan::PlanError::new("process.args", crate::plan::Reason::Empty).into(),
                "invalid config.json: process.args must not be empty",
            ),
            (
                LsmError::AppArmorDisabled { profile: "p".into() }.into(),
                "invalid config.json: apparmor profile \"p\" is requested but AppArmor is not enabled on this host",
            ),
            (SeccompError::ArgIndex(6).into(), "invalid config.json: seccomp argument index 6 is above 5"),
            (Error::sys("set hostname", io()), "set hostname: No such file or directory (os error 2)"),
            (
                StateError::from(oxsys::SysError::at("read", "/run/oxrun/c/state.json", io())).into(),
                "read /run/oxrun/c/state.json: No such file or directory (os error 2)",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
