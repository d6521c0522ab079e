//! The data `linux.resources` becomes: interface-file writes and a v2 device program, for the
//! host the translation was made for.

use super::devices::Insn;

/// One write of a value into a controller's interface file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The controller owning the file; it selects the hierarchy (on v2 there is one directory).
    pub controller: String,
    pub file: String,
    pub value: String,
    /// When `file` does not exist, write this (file, value) instead: the kernel names some files
    /// after the I/O scheduler (blkio.weight with CFQ, blkio.bfq.weight with BFQ).
    pub alt: Option<(String, String)>,
}

pub(super) fn w(controller: &str, file: &str, value: impl ToString) -> Write {
    Write { controller: controller.into(), file: file.into(), value: value.to_string(), alt: None }
}

/// What the translation needs to know about the host (probed once by `cgroups::Host::probe`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    /// A pure cgroup v2 host: every controller uses v2 names.
    pub v2_only: bool,
    /// Whether any cgroup2 hierarchy exists (the `unified` field needs one).
    pub has_v2: bool,
    /// Controllers enabled on the cgroup2 hierarchy of a hybrid host.
    pub v2_controllers: Vec<String>,
    /// v1 swap accounting (memory.memsw.*) is available.
    pub has_memsw: bool,
}

impl Host {
    /// Every controller on v1 (as on a legacy host).
    pub fn v1(has_memsw: bool) -> Host {
        Host { has_memsw, ..Host::default() }
    }

    /// A unified-only host.
    pub fn v2() -> Host {
        Host { v2_only: true, has_v2: true, ..Host::default() }
    }

    /// Whether `controller` uses v2 files here.
    pub fn is_v2(&self, controller: &str) -> bool {
        self.v2_only || self.v2_controllers.iter().any(|c| c == controller)
    }
}

/// The translated resources: files to write, a v2 device program, and warnings for fields that
/// are accepted but have no effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourcePlan {
    pub writes: Vec<Write>,
    /// BPF_PROG_TYPE_CGROUP_DEVICE instructions (v2 only; v1 uses devices.allow/deny writes).
    pub device_program: Option<Vec<Insn>>,
    pub warnings: Vec<String>,
}
