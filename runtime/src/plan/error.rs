//! Why a config cannot be planned: the config.json field at fault and what is wrong with it.
use std::borrow::Cow;
use std::fmt;

/// A config.json field the plan cannot be built from, printed as one line that names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// The field's path in config.json, as the runtime-spec spells it: "process.cwd",
    /// "linux.seccomp.syscalls", "mounts[/proc]".
    pub field: Cow<'static, str>,
    pub reason: Reason,
}

/// What is wrong with the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Absent, though the runtime-spec requires it: "{field} is required".
    Required,
    /// Present but empty: "{field} must not be empty".
    Empty,
    /// A path that must be absolute: "{field} {value:?} must be an absolute path".
    NotAbsolute(String),
    /// A value the field does not take: "{field}: {0}".
    Invalid(String),
    /// A rule whose sentence names the field itself (often runc's own words), printed as is.
    Rule(Cow<'static, str>),
}

impl PlanError {
    pub fn new(field: impl Into<Cow<'static, str>>, reason: Reason) -> PlanError {
        PlanError { field: field.into(), reason }
    }

    /// `field` does not take this value: "{field}: {detail}".
    pub fn invalid(field: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> PlanError {
        PlanError::new(field, Reason::Invalid(detail.into()))
    }

    /// A rule about `field` stated in a sentence of its own.
    pub fn rule(field: impl Into<Cow<'static, str>>, sentence: impl Into<Cow<'static, str>>) -> PlanError {
        PlanError::new(field, Reason::Rule(sentence.into()))
    }

    /// For `map_err` on the pure checks that return only a detail.
    pub fn invalid_in(field: impl Into<Cow<'static, str>>) -> impl FnOnce(String) -> PlanError {
        let field = field.into();
        move |detail| PlanError::invalid(field, detail)
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = &self.field;
        match &self.reason {
            Reason::Required => write!(f, "{field} is required"),
            Reason::Empty => write!(f, "{field} must not be empty"),
            Reason::NotAbsolute(value) => write!(f, "{field} {value:?} must be an absolute path"),
            Reason::Invalid(detail) => write!(f, "{field}: {detail}"),
            Reason::Rule(sentence) => f.write_str(sentence),
        }
    }
}

impl std::error::Error for PlanError {}

/// Why `plan::build` failed: a field the plan refuses, or one the host cannot take.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Lsm(#[from] crate::lsm::LsmError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_prints_one_line_naming_the_field() {
        let cases = [
            (PlanError::new("ociVersion", Reason::Required), "ociVersion is required"),
            (PlanError::new("process.args", Reason::Empty), "process.args must not be empty"),
            (
                PlanError::new("process.cwd", Reason::NotAbsolute("tmp".into())),
                "process.cwd \"tmp\" must be an absolute path",
            ),
            (
                PlanError::invalid("process.ioPriority", "unknown class \"X\""),
                "process.ioPriority: unknown class \"X\"",
            ),
            (
                PlanError::rule("hostname", "unable to set hostname without a private UTS namespace"),
                "unable to set hostname without a private UTS namespace",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
            assert!(!want.contains('\n'));
        }
    }

    #[test]
    fn the_field_stays_readable_by_callers() {
        let e = PlanError::invalid_in(format!("linux.netDevices.{}.name", "eth0"))("too long".into());
        assert_eq!(e.field, "linux.netDevices.eth0.name");
        assert_eq!(e.reason, Reason::Invalid("too long".into()));
        assert_eq!(e.to_string(), "linux.netDevices.eth0.name: too long");
    }
}
