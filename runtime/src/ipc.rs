//! The socketpair between `oxrun create` and the processes it forks, with one typed message enum
//! per direction. Errors from the init process cross as structured data, not strings.
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Messages from the runtime to init.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ToInit {
    /// uid/gid maps are written: go on (the runtime now moves init into its cgroups).
    Continue,
    /// Init is in its cgroups: it may now create a cgroup namespace, start hooks, or exec.
    CgroupsJoined,
    /// The prestart and createRuntime hooks ran.
    HooksDone,
    /// To an exec'd process, before `Continue`, when its seccomp filter has a listener: the
    /// ContainerProcessState to send with the notify fd (it names the process's host pid, which
    /// only the runtime knows).
    SeccompState(String),
}

/// Messages from the intermediate process and init to the runtime.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum FromInit {
    /// The intermediate process forked init with this pid (in the runtime's pid namespace).
    InitPid(i32),
    /// Mounts are done: run prestart and createRuntime hooks now.
    RunCreateHooks,
    /// Everything up to exec is done; init waits for `start`.
    Ready,
    /// A step failed; init exits after sending this.
    Failed(InitError),
}

/// A failure inside the init (or intermediate) process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {message}")]
pub struct InitError {
    /// The step that failed ("mount /proc", "exec", …).
    pub step: String,
    /// What happened, with the path where there is one.
    pub message: String,
    /// The errno, when the failure was a syscall's.
    pub errno: Option<i32>,
}

impl InitError {
    /// An error from a syscall at a step.
    pub fn sys(step: impl Into<String>, err: impl Into<std::io::Error>) -> InitError {
        let err: std::io::Error = err.into();
        InitError { step: step.into(), errno: err.raw_os_error(), message: err.to_string() }
    }

    /// An error that is not a syscall's.
    pub fn msg(step: impl Into<String>, message: impl Into<String>) -> InitError {
        InitError { step: step.into(), message: message.into(), errno: None }
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("the other process closed the channel")]
    Closed,
    #[error("channel {op}: {source}")]
    Sys { op: &'static str, source: nix::Error },
    #[error("channel message: {0}")]
    Decode(serde_json::Error),
}

/// Makes a connected pair (CLOEXEC: neither end leaks into the container's exec).
pub fn pair() -> Result<(Channel, Channel), ChannelError> {
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|source| ChannelError::Sys { op: "socketpair", source })?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// Sends one message (one SEQPACKET record).
    pub fn send<T: Serialize>(&self, msg: &T) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(msg).map_err(ChannelError::Decode)?;
        loop {
            match send(self.fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::EPIPE) | Err(nix::Error::ECONNRESET) => return Err(ChannelError::Closed),
                Err(source) => return Err(ChannelError::Sys { op: "send", source }),
            }
        }
    }

    /// A message already queued, without waiting; None when there is none (or it is unreadable).
    pub fn try_recv<T: DeserializeOwned>(&self) -> Option<T> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = self.read_record(&mut buf, MsgFlags::MSG_DONTWAIT).ok().filter(|n| *n > 0)?;
        serde_json::from_slice(&buf[..n]).ok()
    }

    /// One recv(2). A peer that exited with a message of ours unread makes the kernel report
    /// ECONNRESET once, ahead of the messages the peer sent before (its last words, such as init's
    /// error): those are then read without waiting, and only an empty queue means Closed.
    fn read_record(&self, buf: &mut [u8], flags: MsgFlags) -> Result<usize, ChannelError> {
        let mut flags = flags;
        let mut reset = false;
        loop {
            match recv(self.fd.as_raw_fd(), buf, flags) {
                Ok(n) => return Ok(n),
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::ECONNRESET) if !reset => {
                    reset = true;
                    flags |= MsgFlags::MSG_DONTWAIT;
                }
                Err(nix::Error::ECONNRESET) | Err(nix::Error::EAGAIN) if reset => return Ok(0),
                Err(source) => return Err(ChannelError::Sys { op: "recv", source }),
            }
        }
    }

    /// Receives one message; `Closed` when the other end is gone.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, ChannelError> {
        let mut buf = vec![0u8; 64 * 1024];
        match self.read_record(&mut buf, MsgFlags::empty())? {
            0 => Err(ChannelError::Closed),
            n => serde_json::from_slice(&buf[..n]).map_err(ChannelError::Decode),
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_close_is_detected() {
        let (a, b) = pair().unwrap();
        a.send(&FromInit::Failed(InitError::msg("exec", "nope"))).unwrap();
        a.send(&FromInit::Ready).unwrap();
        assert_eq!(b.recv::<FromInit>().unwrap(), FromInit::Failed(InitError::msg("exec", "nope")));
        assert_eq!(b.recv::<FromInit>().unwrap(), FromInit::Ready);
        assert_eq!(b.try_recv::<FromInit>(), None, "nothing queued: no wait");
        a.send(&FromInit::Ready).unwrap();
        assert_eq!(b.try_recv::<FromInit>(), Some(FromInit::Ready));
        drop(a);
        assert!(matches!(b.recv::<FromInit>(), Err(ChannelError::Closed)));
    }

    /// init fails and exits with the runtime's last message unread: the kernel then reports
    /// ECONNRESET before init's error, which must still be read.
    #[test]
    fn last_words_of_a_peer_that_left_our_message_unread_are_read() {
        let (runtime, init) = pair().unwrap();
        runtime.send(&ToInit::CgroupsJoined).unwrap();
        init.send(&FromInit::Failed(InitError::msg("mount /mnt", "no such file"))).unwrap();
        drop(init);
        assert_eq!(runtime.recv::<FromInit>().unwrap(), FromInit::Failed(InitError::msg("mount /mnt", "no such file")));
        assert!(matches!(runtime.recv::<FromInit>(), Err(ChannelError::Closed)));
        let (runtime, init) = pair().unwrap();
        runtime.send(&ToInit::CgroupsJoined).unwrap();
        init.send(&FromInit::Failed(InitError::msg("mount /mnt", "no such file"))).unwrap();
        drop(init);
        assert_eq!(
            runtime.try_recv::<FromInit>(),
            Some(FromInit::Failed(InitError::msg("mount /mnt", "no such file")))
        );
    }
}
