//! The protocols' phases and the check that messages come in the order they allow. Pure: messages
//! are named by their variant (`"Ready"`), so this is tested without processes or sockets.

/// A message the protocol does not allow at this point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol error: {peer} sent {got} where {} was expected", expected_text(.expected))]
pub struct ProtocolError {
    /// Who sent it ("container init", "exec helper/process", "the runtime").
    pub peer: &'static str,
    /// The messages the protocol allows here; empty when it allows none.
    pub expected: Vec<&'static str>,
    /// The message that came.
    pub got: &'static str,
}

fn expected_text(expected: &[&'static str]) -> String {
    match expected {
        [] => "no message".into(),
        [one] => (*one).into(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// One phase of a protocol: the message that comes next, and whether it may be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    pub message: &'static str,
    pub optional: bool,
}

const fn phase(message: &'static str) -> Phase {
    Phase { message, optional: false }
}

const fn optional(message: &'static str) -> Phase {
    Phase { message, optional: true }
}

/// The messages one end receives, in order.
#[derive(Debug)]
pub struct Protocol {
    /// Who sends them, as errors name it.
    pub peer: &'static str,
    pub phases: &'static [Phase],
}

/// create, as the runtime receives it when an intermediate process forks init.
pub const CREATE_VIA_INTERMEDIATE: Protocol =
    Protocol { peer: "container init", phases: &[phase("Pid"), optional("RunCreateHooks"), phase("Ready")] };
/// create, as the runtime receives it when it forks init itself.
pub const CREATE_DIRECT: Protocol =
    Protocol { peer: "container init", phases: &[optional("RunCreateHooks"), phase("Ready")] };
/// create, as init receives it (HooksDone comes only when init asked for the hooks).
pub const CREATE_TO_INIT: Protocol =
    Protocol { peer: "the runtime", phases: &[phase("Continue"), phase("CgroupsJoined"), optional("HooksDone")] };
/// exec, as the runtime receives it: the helper's pid report, then nothing (the process execs).
pub const EXEC_FROM_PROCESS: Protocol = Protocol { peer: "exec helper/process", phases: &[phase("Pid")] };
/// exec, as the exec'd process receives it.
pub const EXEC_TO_PROCESS: Protocol =
    Protocol { peer: "the runtime", phases: &[optional("SeccompState"), phase("Continue")] };

/// Where one end stands in its protocol. Pure: [`Sequence::accept`] checks a message's name
/// against the phases still to come.
#[derive(Debug)]
pub struct Sequence {
    protocol: &'static Protocol,
    next: usize,
}

impl Sequence {
    pub fn new(protocol: &'static Protocol) -> Sequence {
        Sequence { protocol, next: 0 }
    }

    /// The messages allowed now: the optional phases ahead, up to and including the first
    /// required one.
    pub fn expected(&self) -> Vec<&'static str> {
        let ahead = &self.protocol.phases[self.next..];
        let end = ahead.iter().position(|p| !p.optional).map_or(ahead.len(), |i| i + 1);
        ahead[..end].iter().map(|p| p.message).collect()
    }

    /// Moves past `got` (and the optional phases it skips), or rejects it naming what was
    /// expected.
    pub fn accept(&mut self, got: &'static str) -> Result<(), ProtocolError> {
        let expected = self.expected();
        match expected.iter().position(|m| *m == got) {
            Some(i) => {
                self.next += i + 1;
                Ok(())
            }
            None => Err(self.rejected(expected, got)),
        }
    }

    pub(super) fn rejected(&self, expected: Vec<&'static str>, got: &'static str) -> ProtocolError {
        ProtocolError { peer: self.protocol.peer, expected, got }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_phases_in_order_are_accepted_and_optional_ones_may_be_skipped() {
        let mut seq = Sequence::new(&CREATE_VIA_INTERMEDIATE);
        assert_eq!(seq.expected(), ["Pid"]);
        seq.accept("Pid").unwrap();
        assert_eq!(seq.expected(), ["RunCreateHooks", "Ready"]);
        seq.accept("RunCreateHooks").unwrap();
        seq.accept("Ready").unwrap();
        assert_eq!(seq.expected(), Vec::<&str>::new());
        let mut seq = Sequence::new(&CREATE_DIRECT);
        seq.accept("Ready").unwrap();
        let mut seq = Sequence::new(&EXEC_TO_PROCESS);
        seq.accept("Continue").unwrap();
    }

    #[test]
    fn out_of_order_messages_are_rejected_naming_expected_and_got() {
        let mut seq = Sequence::new(&CREATE_VIA_INTERMEDIATE);
        let e = seq.accept("Ready").unwrap_err();
        assert_eq!(e, ProtocolError { peer: "container init", expected: vec!["Pid"], got: "Ready" });
        assert_eq!(e.to_string(), "protocol error: container init sent Ready where Pid was expected");
        // Hooks are asked for once, before Ready; nothing follows Ready.
        let mut seq = Sequence::new(&CREATE_DIRECT);
        seq.accept("RunCreateHooks").unwrap();
        assert_eq!(seq.accept("RunCreateHooks").unwrap_err().expected, ["Ready"]);
        seq.accept("Ready").unwrap();
        let e = seq.accept("Ready").unwrap_err();
        assert_eq!(e.to_string(), "protocol error: container init sent Ready where no message was expected");
        // Init: Continue, then CgroupsJoined, then (when asked) HooksDone.
        let mut seq = Sequence::new(&CREATE_TO_INIT);
        assert_eq!(seq.accept("CgroupsJoined").unwrap_err().expected, ["Continue"]);
        seq.accept("Continue").unwrap();
        assert_eq!(seq.accept("HooksDone").unwrap_err().expected, ["CgroupsJoined"]);
        assert_eq!(seq.accept("Continue").unwrap_err().got, "Continue");
        // exec: the seccomp state comes before Continue, never after.
        let mut seq = Sequence::new(&EXEC_TO_PROCESS);
        let e = seq.accept("Pid").unwrap_err();
        assert_eq!(e.to_string(), "protocol error: the runtime sent Pid where SeccompState or Continue was expected");
        seq.accept("Continue").unwrap();
        assert!(seq.accept("SeccompState").is_err());
        let mut seq = Sequence::new(&EXEC_FROM_PROCESS);
        seq.accept("Pid").unwrap();
        assert!(seq.accept("Ready").is_err());
    }
}
