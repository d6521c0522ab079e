//! The socketpair between `oxrun` and the processes it forks: one typed message enum per
//! direction, intent-named methods on each end, and a [`Sequence`] check that rejects a message
//! the protocol does not allow at that point. Errors from the container's processes cross as
//! structured data, not strings.
//!
//! Two protocols run over it. In `create`, the runtime (its [`RuntimeEnd`]) talks to the
//! intermediate process and init (the [`InitEnd`]); in `exec`, to the helper that joins the
//! container's namespaces and the process it forks (the [`ExecEnd`]). The phases, in order, as
//! each end receives them (`?`: may be skipped):
//!
//! | protocol | receiver | phases |
//! |---|---|---|
//! | create | runtime | `Pid` (only with an intermediate process), `RunCreateHooks?`, `Ready` |
//! | create | init | `Continue`, `CgroupsJoined`, `HooksDone?` (only after init asked) |
//! | exec | runtime | `Pid`, then nothing: the process execs, which closes its end |
//! | exec | process | `SeccompState?`, `Continue` |
//!
//! `Failed` may come from the container's side at any point; the process exits after sending it.
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

mod protocol;
pub use protocol::{
    Phase, Protocol, ProtocolError, Sequence, CREATE_DIRECT, CREATE_TO_INIT, CREATE_VIA_INTERMEDIATE,
    EXEC_FROM_PROCESS, EXEC_TO_PROCESS,
};

/// Messages from the runtime to init (and to an exec'd process).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ToInit {
    /// uid/gid maps are written: go on (the runtime now moves init into its cgroups). To an
    /// exec'd process: it is in the container's cgroups, go on.
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

/// Messages from the intermediate process, init, exec's helper and an exec'd process to the
/// runtime.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum FromInit {
    /// The intermediate process forked init (or exec's helper forked the process) with this pid,
    /// in the runtime's pid namespace.
    Pid(i32),
    /// Mounts are done: run prestart and createRuntime hooks now.
    RunCreateHooks,
    /// Everything up to exec is done; init waits for `start`.
    Ready,
    /// A step failed; the sender exits after sending this.
    Failed(InitError),
}

impl ToInit {
    fn kind(&self) -> &'static str {
        match self {
            ToInit::Continue => "Continue",
            ToInit::CgroupsJoined => "CgroupsJoined",
            ToInit::HooksDone => "HooksDone",
            ToInit::SeccompState(_) => "SeccompState",
        }
    }
}

impl FromInit {
    fn kind(&self) -> &'static str {
        match self {
            FromInit::Pid(_) => "Pid",
            FromInit::RunCreateHooks => "RunCreateHooks",
            FromInit::Ready => "Ready",
            FromInit::Failed(_) => "Failed",
        }
    }
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

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("the other process closed the channel")]
    Closed,
    #[error("channel {op}: {source}")]
    Sys { op: &'static str, source: nix::Error },
    #[error("channel message: {0}")]
    Decode(serde_json::Error),
}

/// The error types the runtime's waits end with: the channel's, the protocol's, and the failure
/// the other side reported (`crate::error::Error` is one).
pub trait PeerError: From<ChannelError> + From<ProtocolError> + From<InitError> {}
impl<E: From<ChannelError> + From<ProtocolError> + From<InitError>> PeerError for E {}

/// The channel of `create`: the runtime's end and init's. With `via_intermediate`, an
/// intermediate process reports init's pid first.
pub fn create_channel(via_intermediate: bool) -> Result<(RuntimeEnd, InitEnd), ChannelError> {
    let (runtime, init) = pair()?;
    let protocol = if via_intermediate { &CREATE_VIA_INTERMEDIATE } else { &CREATE_DIRECT };
    Ok((RuntimeEnd::new(runtime, protocol), InitEnd(ContainerSide::new(init, &CREATE_TO_INIT))))
}

/// The channel of `exec`: the runtime's end and the one its helper and the process share.
pub fn exec_channel() -> Result<(RuntimeEnd, ExecEnd), ChannelError> {
    let (runtime, process) = pair()?;
    Ok((RuntimeEnd::new(runtime, &EXEC_FROM_PROCESS), ExecEnd(ContainerSide::new(process, &EXEC_TO_PROCESS))))
}

/// The runtime's end, in `create` or `exec`.
#[derive(Debug)]
pub struct RuntimeEnd {
    ch: Channel,
    seq: Sequence,
}

impl RuntimeEnd {
    fn new(ch: Channel, protocol: &'static Protocol) -> RuntimeEnd {
        RuntimeEnd { ch, seq: Sequence::new(protocol) }
    }

    /// The next message, checked against the protocol; `take` picks what the caller waits for
    /// from it. A reported failure is the error; `None` when the other side closed the channel.
    fn next_or_closed<T, E: PeerError>(&mut self, take: impl FnOnce(&FromInit) -> Option<T>) -> Result<Option<T>, E> {
        let msg = match self.ch.recv::<FromInit>() {
            Ok(FromInit::Failed(e)) => return Err(e.into()),
            Ok(msg) => msg,
            Err(ChannelError::Closed) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let expected = self.seq.expected();
        self.seq.accept(msg.kind())?;
        match take(&msg) {
            Some(v) => Ok(Some(v)),
            None => Err(self.seq.rejected(expected, msg.kind()).into()),
        }
    }

    fn next<T, E: PeerError>(&mut self, take: impl FnOnce(&FromInit) -> Option<T>) -> Result<T, E> {
        self.next_or_closed::<T, E>(take)?.ok_or_else(|| ChannelError::Closed.into())
    }

    /// The pid the intermediate process forked init with (or exec's helper the process).
    pub fn wait_pid<E: PeerError>(&mut self) -> Result<i32, E> {
        self.next(|m| match m {
            FromInit::Pid(pid) => Some(*pid),
            _ => None,
        })
    }

    /// Init's id maps are written: it may go on.
    pub fn send_continue(&self) -> Result<(), ChannelError> {
        self.ch.send(&ToInit::Continue)
    }

    /// Init is in its cgroups.
    pub fn send_cgroups_joined(&self) -> Result<(), ChannelError> {
        self.ch.send(&ToInit::CgroupsJoined)
    }

    /// To an exec'd process whose seccomp filter has a listener, before `send_continue`.
    pub fn send_seccomp_state(&self, state: String) -> Result<(), ChannelError> {
        self.ch.send(&ToInit::SeccompState(state))
    }

    /// Waits until init is ready. When init asks for the create hooks (at most once, before it
    /// is ready), runs `run_hooks` and tells init they are done.
    pub fn wait_ready<E: PeerError>(&mut self, mut run_hooks: impl FnMut() -> Result<(), E>) -> Result<(), E> {
        loop {
            let ready = self.next::<bool, E>(|m| match m {
                FromInit::RunCreateHooks => Some(false),
                FromInit::Ready => Some(true),
                _ => None,
            })?;
            if ready {
                return Ok(());
            }
            run_hooks()?;
            self.ch.send(&ToInit::HooksDone)?;
        }
    }

    /// The failure init reported before it exited, if its message is already queued (no wait).
    pub fn take_failure(&self) -> Option<InitError> {
        match self.ch.try_recv::<FromInit>() {
            Some(FromInit::Failed(e)) => Some(e),
            _ => None,
        }
    }

    /// Waits until the exec'd process execs: its end is close-on-exec, so the end of the channel
    /// is success and any message a failure.
    pub fn wait_exec<E: PeerError>(&mut self) -> Result<(), E> {
        self.next_or_closed(|_| None::<()>).map(|_| ())
    }
}

impl AsFd for RuntimeEnd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.ch.as_fd()
    }
}

/// What init's and an exec'd process's ends share: they receive `ToInit` and send `FromInit`,
/// and their errors are `InitError`s (they go back to the runtime as such).
#[derive(Debug)]
struct ContainerSide {
    ch: Channel,
    seq: Sequence,
}

impl ContainerSide {
    fn new(ch: Channel, protocol: &'static Protocol) -> ContainerSide {
        ContainerSide { ch, seq: Sequence::new(protocol) }
    }

    /// The next message, checked against the protocol; `step` names the wait in errors.
    fn next<T>(&mut self, step: &str, take: impl FnOnce(ToInit) -> Option<T>) -> Result<T, InitError> {
        let msg = self.ch.recv::<ToInit>().map_err(|e| InitError::msg(step, e.to_string()))?;
        let (kind, expected) = (msg.kind(), self.seq.expected());
        self.seq.accept(kind).map_err(|e| InitError::msg(step, e.to_string()))?;
        take(msg).ok_or_else(|| InitError::msg(step, self.seq.rejected(expected, kind).to_string()))
    }

    fn send(&self, msg: &FromInit) -> Result<(), InitError> {
        self.ch.send(msg).map_err(|e| InitError::msg("talk to runtime", e.to_string()))
    }
}

/// Init's end in `create` (the intermediate process uses it first, to report init's pid).
#[derive(Debug)]
pub struct InitEnd(ContainerSide);

impl InitEnd {
    /// From the intermediate process: init's pid.
    pub fn send_pid(&self, pid: i32) -> Result<(), InitError> {
        self.0.send(&FromInit::Pid(pid))
    }

    /// The last message before exiting.
    pub fn send_failed(&self, e: InitError) -> Result<(), InitError> {
        self.0.send(&FromInit::Failed(e))
    }

    /// Waits for the runtime's go (it wrote our id maps).
    pub fn wait_continue(&mut self) -> Result<(), InitError> {
        self.0.next("wait for runtime", |m| (m == ToInit::Continue).then_some(()))
    }

    /// Waits until the runtime moved us into our cgroups.
    pub fn wait_cgroups_joined(&mut self) -> Result<(), InitError> {
        self.0.next("wait for cgroups", |m| (m == ToInit::CgroupsJoined).then_some(()))
    }

    /// Asks the runtime to run the prestart and createRuntime hooks and waits until they ran.
    pub fn run_create_hooks(&mut self) -> Result<(), InitError> {
        self.0.send(&FromInit::RunCreateHooks)?;
        self.0.next("wait for createRuntime hooks", |m| (m == ToInit::HooksDone).then_some(()))
    }

    /// Everything up to exec is done.
    pub fn send_ready(&self) -> Result<(), InitError> {
        self.0.send(&FromInit::Ready)
    }
}

/// The end of exec's helper and of the process it forks.
#[derive(Debug)]
pub struct ExecEnd(ContainerSide);

impl ExecEnd {
    /// From the helper: the process's pid.
    pub fn send_pid(&self, pid: i32) -> Result<(), InitError> {
        self.0.send(&FromInit::Pid(pid))
    }

    /// The last message before exiting.
    pub fn send_failed(&self, e: InitError) -> Result<(), InitError> {
        self.0.send(&FromInit::Failed(e))
    }

    /// Waits for the runtime's go (we are in the container's cgroups); returns the seccomp
    /// listener state, when the runtime sent one first.
    pub fn wait_continue(&mut self) -> Result<Option<String>, InitError> {
        const STEP: &str = "wait for runtime";
        let state = self.0.next(STEP, |m| match m {
            ToInit::SeccompState(s) => Some(Some(s)),
            ToInit::Continue => Some(None),
            _ => None,
        })?;
        if state.is_some() {
            self.0.next(STEP, |m| (m == ToInit::Continue).then_some(()))?;
        }
        Ok(state)
    }
}

/// One end of the socketpair: SEQPACKET records of JSON.
#[derive(Debug)]
struct Channel {
    fd: OwnedFd,
}

/// Makes a connected pair (CLOEXEC: neither end leaks into the container's exec).
fn pair() -> Result<(Channel, Channel), ChannelError> {
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|source| ChannelError::Sys { op: "socketpair", source })?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// Sends one message (one SEQPACKET record).
    fn send<T: Serialize>(&self, msg: &T) -> Result<(), ChannelError> {
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
    fn try_recv<T: DeserializeOwned>(&self) -> Option<T> {
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
    fn recv<T: DeserializeOwned>(&self) -> Result<T, ChannelError> {
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

    /// The error the runtime's waits end with in these tests.
    #[derive(Debug, PartialEq)]
    enum TestError {
        Channel(String),
        Protocol(ProtocolError),
        Init(InitError),
    }
    impl From<ChannelError> for TestError {
        fn from(e: ChannelError) -> Self {
            TestError::Channel(e.to_string())
        }
    }
    impl From<ProtocolError> for TestError {
        fn from(e: ProtocolError) -> Self {
            TestError::Protocol(e)
        }
    }
    impl From<InitError> for TestError {
        fn from(e: InitError) -> Self {
            TestError::Init(e)
        }
    }

    #[test]
    fn the_ends_talk_create_in_order_and_reject_the_rest() {
        let (mut runtime, mut init) = create_channel(true).unwrap();
        init.send_pid(42).unwrap();
        assert_eq!(runtime.wait_pid::<TestError>(), Ok(42));
        runtime.send_continue().unwrap();
        runtime.send_cgroups_joined().unwrap();
        init.wait_continue().unwrap();
        init.wait_cgroups_joined().unwrap();
        // Init asks for the hooks, then waits for HooksDone, which the runtime sends after them.
        init.0.send(&FromInit::RunCreateHooks).unwrap();
        init.send_ready().unwrap();
        let mut hooks = 0;
        let ready = runtime.wait_ready::<TestError>(|| {
            hooks += 1;
            Ok(())
        });
        assert_eq!((ready, hooks), (Ok(()), 1));
        assert_eq!(init.0.next("wait", |m| (m == ToInit::HooksDone).then_some(())), Ok(()));
        // Ready again is out of order; a reported failure comes through as itself.
        init.send_ready().unwrap();
        let e = runtime.wait_ready::<TestError>(|| Ok(())).unwrap_err();
        assert!(matches!(e, TestError::Protocol(ProtocolError { got: "Ready", .. })), "{e:?}");
        init.send_failed(InitError::msg("mount /proc", "no")).unwrap();
        assert_eq!(runtime.wait_pid::<TestError>(), Err(TestError::Init(InitError::msg("mount /proc", "no"))));
        // Init refuses CgroupsJoined before Continue, as an InitError naming the wait.
        let (runtime, mut init) = create_channel(false).unwrap();
        runtime.send_cgroups_joined().unwrap();
        let e = init.wait_continue().unwrap_err();
        assert_eq!(e.step, "wait for runtime");
        assert!(e.message.contains("sent CgroupsJoined where Continue was expected"), "{e}");
    }

    #[test]
    fn exec_ends_pass_the_seccomp_state_and_a_closed_channel_is_success() {
        let (mut runtime, mut process) = exec_channel().unwrap();
        process.send_pid(7).unwrap();
        assert_eq!(runtime.wait_pid::<TestError>(), Ok(7));
        runtime.send_seccomp_state("{}".into()).unwrap();
        runtime.send_continue().unwrap();
        assert_eq!(process.wait_continue(), Ok(Some("{}".into())));
        drop(process);
        assert_eq!(runtime.wait_exec::<TestError>(), Ok(()));
        let (mut runtime, process) = exec_channel().unwrap();
        process.send_pid(7).unwrap();
        process.send_pid(8).unwrap();
        runtime.wait_pid::<TestError>().unwrap();
        assert!(matches!(runtime.wait_exec::<TestError>(), Err(TestError::Protocol(_))));
    }
}
