//! Why `linux.resources` cannot be applied: a leaf of the cgroups module (the translation, the
//! device program and the blkio rules all return it).

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResourceError {
    #[error("linux.resources.{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("linux.resources.{field} {limit} is not above the current usage {usage} (memory.checkBeforeUpdate)")]
    BelowUsage { field: &'static str, limit: i64, usage: u64 },
    #[error("linux.resources.unified ({key}) needs cgroup v2, and this host has no cgroup2 hierarchy")]
    UnifiedOnV1 { key: String },
    #[error(
        "linux.resources.unified key {key:?}: controller {controller:?} is not on this hybrid host's cgroup2 hierarchy"
    )]
    UnifiedNotOnV2 { key: String, controller: String },
}

pub(super) fn invalid(field: &'static str, reason: impl Into<String>) -> ResourceError {
    ResourceError::Invalid { field, reason: reason.into() }
}
