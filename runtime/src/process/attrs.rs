//! Applies the runtime-spec 1.1–1.3 process attributes planned in plan::attrs.
//!
//! When: init and an exec'd process apply them once they are in the container's cgroups (a
//! real-time policy set before would make a v1 `cpu` cgroup refuse the move) and before they
//! drop capabilities (a negative nice, SCHED_FIFO/RR and IOPRIO_CLASS_RT need CAP_SYS_NICE or
//! CAP_SYS_ADMIN), as runc's init does before exec. All of them survive execve.
//! execCPUAffinity is for exec'd processes only ("not applicable to the container's init
//! process"): `initial` is the affinity the process is born with, before any cgroup (also the
//! cgroup2 directory CLONE_INTO_CGROUP puts it in at birth), `final` is set after the cgroup join.
use crate::error::Error;
use crate::ipc::InitError;
use crate::plan::attrs::ProcessAttrs;
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// personality, memory policy, I/O priority, then the scheduler: last, since a SCHED_DEADLINE
/// process may not fork (nothing here does).
pub fn apply(attrs: &ProcessAttrs) -> Result<(), InitError> {
    if let Some(persona) = attrs.personality {
        oxsys::sched::set_personality(persona)
            .map_err(|e| InitError::sys(format!("set personality {persona:#x}"), e))?;
    }
    if let Some(m) = &attrs.memory_policy {
        oxsys::sched::set_memory_policy(m.mode_and_flags, &m.nodes)
            .map_err(|e| InitError::sys(format!("set memory policy {} nodes {}", m.name, node_list(&m.nodes)), e))?;
    }
    if let Some(io) = attrs.io_priority {
        oxsys::sched::set_io_priority(io.class, io.level)
            .map_err(|e| InitError::sys(format!("set I/O priority class {} level {}", io.class, io.level), e))?;
    }
    if let Some(s) = attrs.scheduler {
        let attr = oxsys::sched::SchedAttr {
            policy: s.policy,
            flags: s.flags,
            nice: s.nice,
            priority: s.priority,
            runtime: s.runtime,
            deadline: s.deadline,
            period: s.period,
            ..Default::default()
        };
        oxsys::sched::set_sched_attr(&attr)
            .map_err(|e| InitError::sys(format!("set scheduler policy {} (sched_setattr)", s.policy), e))?;
    }
    Ok(())
}

/// execCPUAffinity.final, in the exec'd process once it is in the container's cgroups.
pub fn apply_final_affinity(attrs: &ProcessAttrs) -> Result<(), InitError> {
    let Some(cpus) = &attrs.cpu_affinity.final_cpus else { return Ok(()) };
    let set = cpu_set(cpus).map_err(|e| InitError::sys("execCPUAffinity.final", e))?;
    sched_setaffinity(Pid::from_raw(0), &set)
        .map_err(|e| InitError::sys(format!("set final CPU affinity {}", list_text(cpus)), e))
}

/// execCPUAffinity.initial on the calling thread, so the process cloned next is born with it;
/// the thread's own affinity comes back when this is dropped.
pub struct InitialAffinity {
    previous: Option<CpuSet>,
}

impl InitialAffinity {
    pub fn enter(attrs: &ProcessAttrs) -> Result<InitialAffinity, Error> {
        let Some(cpus) = &attrs.cpu_affinity.initial else { return Ok(InitialAffinity { previous: None }) };
        let previous = sched_getaffinity(Pid::from_raw(0)).map_err(|e| Error::sys("read CPU affinity", e))?;
        let set = cpu_set(cpus).map_err(|e| Error::sys("execCPUAffinity.initial", e))?;
        sched_setaffinity(Pid::from_raw(0), &set)
            .map_err(|e| Error::sys(format!("set initial CPU affinity {}", list_text(cpus)), e))?;
        crate::logging::debug(&format!("exec: initial CPU affinity {}", list_text(cpus)));
        Ok(InitialAffinity { previous: Some(previous) })
    }
}

impl Drop for InitialAffinity {
    fn drop(&mut self) {
        if let Some(previous) = &self.previous {
            let _ = sched_setaffinity(Pid::from_raw(0), previous);
        }
    }
}

fn cpu_set(cpus: &[usize]) -> nix::Result<CpuSet> {
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)?;
    }
    Ok(set)
}

fn list_text(items: &[usize]) -> String {
    items.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",")
}

fn node_list(mask: &[u64]) -> String {
    let nodes: Vec<usize> = (0..mask.len() * 64).filter(|n| mask[n / 64] & (1 << (n % 64)) != 0).collect();
    if nodes.is_empty() {
        return "(none)".into();
    }
    list_text(&nodes)
}
