//! The cgroup directories of a container, as state.json records them.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The cgroup directories a container owns (absolute paths of the controller directories).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupDirs {
    /// Every directory created or joined, one per hierarchy.
    pub dirs: Vec<PathBuf>,
    /// The freezer directory (v1) or the v2 directory, for pause and status.
    pub freezer: Option<PathBuf>,
    /// Whether the freezer is cgroup v2 (cgroup.freeze) rather than v1 (freezer.state).
    pub freezer_v2: bool,
    /// Controllers this container enabled in a hybrid host's cgroup2 `cgroup.subtree_control`
    /// files, as (level directory, controller), outermost first: removal takes each back once
    /// nothing runs below its level any more, so the host's cgroup2 tree is left as found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub v2_enabled: Vec<(PathBuf, String)>,
}
