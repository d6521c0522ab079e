//! The runtime's top-level error: what failed, for which container. The binary prints it as one
//! line and exits 1.
use crate::cgroups::CgroupError;
use crate::hooks::HookError;
use crate::ipc::{ChannelError, InitError};
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
    /// The config is valid JSON but cannot be built (a plan error).
    #[error("invalid config.json: {0}")]
    Config(String),
    #[error("cannot {op} a container that is {status}")]
    WrongState { op: &'static str, status: Status },
    #[error("{op}: {source}")]
    Sys { op: String, source: std::io::Error },
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

impl Error {
    /// A failed syscall or file operation.
    pub fn sys(op: impl Into<String>, source: impl Into<std::io::Error>) -> Error {
        Error::Sys { op: op.into(), source: source.into() }
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
