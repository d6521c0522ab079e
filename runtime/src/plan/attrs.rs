//! runtime-spec 1.1–1.3 process attributes as plain data: `process.ioPriority`,
//! `process.scheduler`, `process.execCPUAffinity`, `linux.personality` and `linux.memoryPolicy`.
//! Names are resolved to the kernel's numbers here, so a bad value fails `create` (or `exec`)
//! before anything exists, with the field named.
use super::PlanError;
use crate::spec::{ExecCpuAffinity, IoPriority, Linux, MemoryPolicy, Personality, Process, Scheduler};

/// The most CPUs or memory nodes a list may name (the kernel's CPU_SETSIZE and MAX_NUMNODES
/// bound; nix's CpuSet holds 1024).
pub const MAX_CPUS_OR_NODES: usize = 1024;

/// I/O priority: IOPRIO_CLASS_* number and level 0..=7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoPrio {
    pub class: u32,
    pub level: u32,
}

/// sched_setattr(2)'s fields, resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedPlan {
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// CPU lists of an exec'd process: `initial` before it joins the container's cgroups, `final`
/// after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuAffinity {
    pub initial: Option<Vec<usize>>,
    pub final_cpus: Option<Vec<usize>>,
}

/// set_mempolicy(2)'s arguments: mode ORed with flags, and the node bitmask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemPolicy {
    /// The spec's name, for error messages.
    pub name: String,
    pub mode_and_flags: i32,
    pub nodes: Vec<u64>,
}

/// Everything of the above a process gets; all None when the config sets none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessAttrs {
    pub io_priority: Option<IoPrio>,
    pub scheduler: Option<SchedPlan>,
    pub cpu_affinity: CpuAffinity,
    /// personality(2)'s persona.
    pub personality: Option<u64>,
    pub memory_policy: Option<MemPolicy>,
}

/// The process-level attributes of `p`.
pub fn plan_process(p: &Process) -> Result<ProcessAttrs, PlanError> {
    Ok(ProcessAttrs {
        io_priority: p.io_priority.as_ref().map(plan_io_priority).transpose()?,
        scheduler: p.scheduler.as_ref().map(plan_scheduler).transpose()?,
        cpu_affinity: p.exec_cpu_affinity.as_ref().map(plan_affinity).transpose()?.unwrap_or_default(),
        ..ProcessAttrs::default()
    })
}

/// Adds the `linux` attributes (personality, memoryPolicy) to `attrs`.
pub fn plan_linux(linux: &Linux, attrs: &mut ProcessAttrs) -> Result<(), PlanError> {
    attrs.personality = linux.personality.as_ref().map(plan_personality).transpose()?;
    attrs.memory_policy = linux.memory_policy.as_ref().map(plan_memory_policy).transpose()?;
    Ok(())
}

fn plan_io_priority(io: &IoPriority) -> Result<IoPrio, PlanError> {
    let class = match io.class.as_str() {
        "IOPRIO_CLASS_RT" => 1,
        "IOPRIO_CLASS_BE" => 2,
        "IOPRIO_CLASS_IDLE" => 3,
        other => return Err(PlanError::invalid("process.ioPriority", format!("unknown class {other:?}"))),
    };
    if !(0..=7).contains(&io.priority) {
        return Err(PlanError::invalid("process.ioPriority", format!("priority {} is not in 0..7", io.priority)));
    }
    Ok(IoPrio { class, level: io.priority as u32 })
}

fn plan_scheduler(s: &Scheduler) -> Result<SchedPlan, PlanError> {
    let policy = match s.policy.as_str() {
        "SCHED_OTHER" => 0,
        "SCHED_FIFO" => 1,
        "SCHED_RR" => 2,
        "SCHED_BATCH" => 3,
        "SCHED_ISO" => 4,
        "SCHED_IDLE" => 5,
        "SCHED_DEADLINE" => 6,
        other => return Err(PlanError::invalid("process.scheduler", format!("unknown policy {other:?}"))),
    };
    let mut flags = 0u64;
    for f in &s.flags {
        flags |= match f.as_str() {
            "SCHED_FLAG_RESET_ON_FORK" => 0x01,
            "SCHED_FLAG_RECLAIM" => 0x02,
            "SCHED_FLAG_DL_OVERRUN" => 0x04,
            "SCHED_FLAG_KEEP_POLICY" => 0x08,
            "SCHED_FLAG_KEEP_PARAMS" => 0x10,
            "SCHED_FLAG_UTIL_CLAMP_MIN" => 0x20,
            "SCHED_FLAG_UTIL_CLAMP_MAX" => 0x40,
            other => return Err(PlanError::invalid("process.scheduler", format!("unknown flag {other:?}"))),
        };
    }
    // runc's checks (libcontainer/configs/validate): nice in the kernel's range, a priority only
    // for the real-time policies, and the deadline parameters only for SCHED_DEADLINE.
    if !(-20..=19).contains(&s.nice) {
        return Err(PlanError::invalid("process.scheduler", format!("nice {} is not in -20..19", s.nice)));
    }
    let realtime = matches!(s.policy.as_str(), "SCHED_FIFO" | "SCHED_RR");
    if realtime && !(1..=99).contains(&s.priority) {
        return Err(PlanError::invalid(
            "process.scheduler",
            format!("priority {} of {} is not in 1..99", s.priority, s.policy),
        ));
    }
    if !realtime && s.priority != 0 {
        return Err(PlanError::invalid(
            "process.scheduler",
            format!("a priority is only for SCHED_FIFO or SCHED_RR, not {}", s.policy),
        ));
    }
    if s.policy != "SCHED_DEADLINE" && (s.runtime != 0 || s.deadline != 0 || s.period != 0) {
        return Err(PlanError::invalid(
            "process.scheduler",
            format!("runtime, deadline and period are only for SCHED_DEADLINE, not {}", s.policy),
        ));
    }
    Ok(SchedPlan {
        policy,
        flags,
        nice: s.nice,
        priority: s.priority as u32,
        runtime: s.runtime,
        deadline: s.deadline,
        period: s.period,
    })
}

fn plan_affinity(a: &ExecCpuAffinity) -> Result<CpuAffinity, PlanError> {
    // "If omitted or empty, runtime SHOULD NOT change process' CPU affinity".
    let list = |s: &Option<String>, what: &str| -> Result<Option<Vec<usize>>, PlanError> {
        match s.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => {
                parse_list(text).map(Some).map_err(PlanError::invalid_in(format!("process.execCPUAffinity.{what}")))
            }
        }
    };
    Ok(CpuAffinity { initial: list(&a.initial, "initial")?, final_cpus: list(&a.final_cpus, "final")? })
}

fn plan_personality(p: &Personality) -> Result<u64, PlanError> {
    let domain = match p.domain.as_str() {
        "LINUX" => 0x0000,
        "LINUX32" => 0x0008,
        other => return Err(PlanError::invalid("linux.personality", format!("unknown domain {other:?}"))),
    };
    // "Currently no flag values are supported."
    if let Some(flag) = p.flags.first() {
        return Err(PlanError::invalid("linux.personality", format!("flag {flag:?} is not supported")));
    }
    Ok(domain)
}

fn plan_memory_policy(m: &MemoryPolicy) -> Result<MemPolicy, PlanError> {
    let mode = match m.mode.as_str() {
        "MPOL_DEFAULT" => 0,
        "MPOL_PREFERRED" => 1,
        "MPOL_BIND" => 2,
        "MPOL_INTERLEAVE" => 3,
        "MPOL_LOCAL" => 4,
        "MPOL_PREFERRED_MANY" => 5,
        "MPOL_WEIGHTED_INTERLEAVE" => 6,
        other => return Err(PlanError::invalid("linux.memoryPolicy", format!("unknown mode {other:?}"))),
    };
    let mut flags = 0i32;
    for f in &m.flags {
        flags |= match f.as_str() {
            "MPOL_F_NUMA_BALANCING" => 1 << 13,
            "MPOL_F_RELATIVE_NODES" => 1 << 14,
            "MPOL_F_STATIC_NODES" => 1 << 15,
            other => return Err(PlanError::invalid("linux.memoryPolicy", format!("unknown flag {other:?}"))),
        };
    }
    let nodes = match m.nodes.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(text) => parse_list(text).map_err(PlanError::invalid_in("linux.memoryPolicy.nodes"))?,
    };
    // set_mempolicy(2): MPOL_DEFAULT and MPOL_LOCAL take no nodes, BIND, INTERLEAVE,
    // WEIGHTED_INTERLEAVE and PREFERRED_MANY at least one; PREFERRED without nodes means local.
    match mode {
        0 | 4 if !nodes.is_empty() => {
            return Err(PlanError::invalid("linux.memoryPolicy", format!("{} takes no nodes", m.mode)))
        }
        2 | 3 | 5 | 6 if nodes.is_empty() => {
            return Err(PlanError::invalid("linux.memoryPolicy", format!("{} needs nodes", m.mode)))
        }
        _ => {}
    }
    if flags & (1 << 14) != 0 && flags & (1 << 15) != 0 {
        return Err(PlanError::invalid(
            "linux.memoryPolicy",
            "MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES exclude each other",
        ));
    }
    if flags != 0 && matches!(mode, 0 | 4) {
        return Err(PlanError::invalid("linux.memoryPolicy", format!("{} takes no flags", m.mode)));
    }
    let mut mask = vec![0u64; nodes.iter().max().map_or(0, |n| n / 64 + 1)];
    for n in nodes {
        mask[n / 64] |= 1 << (n % 64);
    }
    Ok(MemPolicy { name: m.mode.clone(), mode_and_flags: mode | flags, nodes: mask })
}

/// A list such as "0-3,7" (CPUs or memory nodes), sorted and without repeats.
fn parse_list(text: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let num = |s: &str| s.trim().parse::<usize>().map_err(|_| format!("{text:?} is not a list such as \"0-3,7\""));
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(format!("{text:?}: range {part:?} runs backwards"));
        }
        if hi >= MAX_CPUS_OR_NODES {
            return Err(format!("{text:?}: {hi} is beyond {}", MAX_CPUS_OR_NODES - 1));
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mempolicy(mode: &str, nodes: Option<&str>, flags: &[&str]) -> Result<MemPolicy, PlanError> {
        plan_memory_policy(&MemoryPolicy {
            mode: mode.into(),
            nodes: nodes.map(Into::into),
            flags: flags.iter().map(|f| f.to_string()).collect(),
        })
    }

    #[test]
    fn lists_parse_like_the_spec_example() {
        assert_eq!(parse_list("0-3,7").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_list("1").unwrap(), vec![1]);
        assert_eq!(parse_list("3,1-2,2").unwrap(), vec![1, 2, 3]);
        for bad in ["", "a", "3-1", "1,", "-1", "1024", "0-5000"] {
            assert!(parse_list(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn every_memory_policy_mode_and_flag_of_the_spec_resolves() {
        let modes = [
            ("MPOL_DEFAULT", 0, None),
            ("MPOL_PREFERRED", 1, Some("0")),
            ("MPOL_BIND", 2, Some("0-3,7")),
            ("MPOL_INTERLEAVE", 3, Some("2-3")),
            ("MPOL_LOCAL", 4, None),
            ("MPOL_PREFERRED_MANY", 5, Some("0,1")),
            ("MPOL_WEIGHTED_INTERLEAVE", 6, Some("0")),
        ];
        for (name, number, nodes) in modes {
            let p = mempolicy(name, nodes, &[]).unwrap();
            assert_eq!(p.mode_and_flags, number, "{name}");
        }
        assert_eq!(mempolicy("MPOL_BIND", Some("0-3,7"), &[]).unwrap().nodes, vec![0b1000_1111]);
        assert_eq!(mempolicy("MPOL_BIND", Some("64"), &[]).unwrap().nodes, vec![0, 1]);
        assert_eq!(mempolicy("MPOL_PREFERRED", None, &[]).unwrap().nodes, Vec::<u64>::new());
        for (flag, bit) in
            [("MPOL_F_NUMA_BALANCING", 1 << 13), ("MPOL_F_RELATIVE_NODES", 1 << 14), ("MPOL_F_STATIC_NODES", 1 << 15)]
        {
            assert_eq!(mempolicy("MPOL_BIND", Some("0"), &[flag]).unwrap().mode_and_flags, 2 | bit, "{flag}");
        }
    }

    #[test]
    fn bad_memory_policies_are_refused_with_the_field_named() {
        for (mode, nodes, flags) in [
            ("MPOL_NOPE", Some("0"), vec![]),
            ("MPOL_BIND", Some("0"), vec!["MPOL_F_NOPE"]),
            ("MPOL_BIND", None, vec![]),
            ("MPOL_INTERLEAVE", Some(""), vec![]),
            ("MPOL_DEFAULT", Some("0"), vec![]),
            ("MPOL_LOCAL", Some("0"), vec![]),
            ("MPOL_DEFAULT", None, vec!["MPOL_F_STATIC_NODES"]),
            ("MPOL_BIND", Some("0"), vec!["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]),
            ("MPOL_BIND", Some("x"), vec![]),
        ] {
            let e = mempolicy(mode, nodes, &flags).unwrap_err();
            assert!(e.field.starts_with("linux.memoryPolicy"), "{e}");
            assert!(e.to_string().starts_with("linux.memoryPolicy"), "{e}");
        }
    }

    #[test]
    fn io_priority_classes_and_levels() {
        let io = |class: &str, priority| plan_io_priority(&IoPriority { class: class.into(), priority });
        assert_eq!(io("IOPRIO_CLASS_RT", 0).unwrap(), IoPrio { class: 1, level: 0 });
        assert_eq!(io("IOPRIO_CLASS_BE", 7).unwrap(), IoPrio { class: 2, level: 7 });
        assert_eq!(io("IOPRIO_CLASS_IDLE", 3).unwrap(), IoPrio { class: 3, level: 3 });
        assert!(io("IOPRIO_CLASS_NONE", 0).unwrap_err().to_string().contains("unknown class"));
        assert!(io("IOPRIO_CLASS_BE", 8).is_err());
        assert!(io("IOPRIO_CLASS_BE", -1).is_err());
    }

    #[test]
    fn scheduler_policies_flags_and_runcs_checks() {
        let sched = |policy: &str| Scheduler { policy: policy.into(), ..Scheduler::default() };
        for (name, number) in [("SCHED_OTHER", 0), ("SCHED_BATCH", 3), ("SCHED_ISO", 4), ("SCHED_IDLE", 5)] {
            assert_eq!(plan_scheduler(&sched(name)).unwrap().policy, number, "{name}");
        }
        let fifo = Scheduler { priority: 10, ..sched("SCHED_FIFO") };
        assert_eq!(plan_scheduler(&fifo).unwrap(), SchedPlan { policy: 1, priority: 10, ..SchedPlan::default() });
        assert_eq!(plan_scheduler(&Scheduler { priority: 99, ..sched("SCHED_RR") }).unwrap().policy, 2);
        let dl = Scheduler {
            runtime: 10_000_000,
            deadline: 30_000_000,
            period: 30_000_000,
            flags: vec!["SCHED_FLAG_RESET_ON_FORK".into()],
            ..sched("SCHED_DEADLINE")
        };
        assert_eq!(
            plan_scheduler(&dl).unwrap(),
            SchedPlan {
                policy: 6,
                flags: 1,
                runtime: 10_000_000,
                deadline: 30_000_000,
                period: 30_000_000,
                ..SchedPlan::default()
            }
        );
        let all_flags = [
            "SCHED_FLAG_RESET_ON_FORK",
            "SCHED_FLAG_RECLAIM",
            "SCHED_FLAG_DL_OVERRUN",
            "SCHED_FLAG_KEEP_POLICY",
            "SCHED_FLAG_KEEP_PARAMS",
            "SCHED_FLAG_UTIL_CLAMP_MIN",
            "SCHED_FLAG_UTIL_CLAMP_MAX",
        ];
        let flagged = Scheduler { flags: all_flags.iter().map(|f| f.to_string()).collect(), ..sched("SCHED_OTHER") };
        assert_eq!(plan_scheduler(&flagged).unwrap().flags, 0x7f);
        assert_eq!(plan_scheduler(&Scheduler { nice: -20, ..sched("SCHED_OTHER") }).unwrap().nice, -20);
        for bad in [
            sched("SCHED_NOPE"),
            Scheduler { flags: vec!["SCHED_FLAG_NOPE".into()], ..sched("SCHED_OTHER") },
            Scheduler { nice: 20, ..sched("SCHED_OTHER") },
            Scheduler { nice: -21, ..sched("SCHED_OTHER") },
            Scheduler { priority: 5, ..sched("SCHED_OTHER") },
            sched("SCHED_FIFO"),
            Scheduler { priority: 100, ..sched("SCHED_RR") },
            Scheduler { runtime: 1, ..sched("SCHED_BATCH") },
        ] {
            assert!(plan_scheduler(&bad).unwrap_err().field == "process.scheduler", "{bad:?}");
        }
    }

    #[test]
    fn personality_domains_and_no_flags() {
        let p = |domain: &str, flags: &[&str]| {
            plan_personality(&Personality {
                domain: domain.into(),
                flags: flags.iter().map(|f| f.to_string()).collect(),
            })
        };
        assert_eq!(p("LINUX", &[]).unwrap(), 0);
        assert_eq!(p("LINUX32", &[]).unwrap(), 8);
        assert!(p("LINUX64", &[]).unwrap_err().to_string().contains("unknown domain"));
        assert!(p("LINUX", &["ADDR_NO_RANDOMIZE"]).unwrap_err().to_string().contains("not supported"));
    }

    #[test]
    fn exec_cpu_affinity_lists_and_empty_means_unchanged() {
        let a = |initial: Option<&str>, fin: Option<&str>| {
            plan_affinity(&ExecCpuAffinity { initial: initial.map(Into::into), final_cpus: fin.map(Into::into) })
        };
        assert_eq!(
            a(Some("1"), Some("0-1")).unwrap(),
            CpuAffinity { initial: Some(vec![1]), final_cpus: Some(vec![0, 1]) }
        );
        assert_eq!(a(Some(""), None).unwrap(), CpuAffinity::default());
        assert!(a(Some("1-0"), None).unwrap_err().to_string().starts_with("process.execCPUAffinity.initial"));
        assert!(a(None, Some("x")).unwrap_err().to_string().starts_with("process.execCPUAffinity.final"));
    }

    #[test]
    fn config_json_names_reach_the_plan() {
        let process: Process = serde_json::from_value(serde_json::json!({
            "args": ["sh"], "cwd": "/",
            "ioPriority": { "class": "IOPRIO_CLASS_IDLE", "priority": 4 },
            "scheduler": { "policy": "SCHED_BATCH", "nice": 5 },
            "execCPUAffinity": { "initial": "0", "final": "1" }
        }))
        .unwrap();
        let mut attrs = plan_process(&process).unwrap();
        assert_eq!(attrs.io_priority, Some(IoPrio { class: 3, level: 4 }));
        assert_eq!(attrs.scheduler, Some(SchedPlan { policy: 3, nice: 5, ..SchedPlan::default() }));
        assert_eq!(attrs.cpu_affinity, CpuAffinity { initial: Some(vec![0]), final_cpus: Some(vec![1]) });
        let linux: Linux = serde_json::from_value(serde_json::json!({
            "personality": { "domain": "LINUX32" },
            "memoryPolicy": { "mode": "MPOL_INTERLEAVE", "nodes": "2-3", "flags": ["MPOL_F_STATIC_NODES"] }
        }))
        .unwrap();
        plan_linux(&linux, &mut attrs).unwrap();
        assert_eq!(attrs.personality, Some(8));
        assert_eq!(
            attrs.memory_policy,
            Some(MemPolicy { name: "MPOL_INTERLEAVE".into(), mode_and_flags: 3 | 1 << 15, nodes: vec![0b1100] })
        );
    }
}
