//! The container process: capabilities, rlimits, environment.
use super::PlanError;
use crate::spec::{Capabilities, Rlimit};
use caps::{CapSet, Capability, CapsHashSet};

/// The five capability sets, parsed. Unknown names are collected, not fatal (runtime-spec: warn).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapPlan {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub permitted: CapsHashSet,
    pub ambient: CapsHashSet,
    /// Names that are unknown or not supported by this kernel, to warn about.
    pub unknown: Vec<String>,
}

impl CapPlan {
    /// Parses the spec's sets; `supported` is the kernel's set (caps beyond it are ignored).
    pub fn from_spec(caps: Option<&Capabilities>, supported: &CapsHashSet) -> CapPlan {
        let mut plan = CapPlan::default();
        let Some(caps) = caps else { return plan };
        let mut parse = |names: &Option<Vec<String>>| -> CapsHashSet {
            let mut set = CapsHashSet::new();
            for name in names.iter().flatten() {
                match name.parse::<Capability>() {
                    Ok(c) if supported.contains(&c) => {
                        set.insert(c);
                    }
                    _ => {
                        if !plan.unknown.contains(name) {
                            plan.unknown.push(name.clone());
                        }
                    }
                }
            }
            set
        };
        let bounding = parse(&caps.bounding);
        let effective = parse(&caps.effective);
        let inheritable = parse(&caps.inheritable);
        let permitted = parse(&caps.permitted);
        let ambient = parse(&caps.ambient);
        CapPlan { bounding, effective, inheritable, permitted, ambient, unknown: plan.unknown }
    }

    /// The sets in the order capset must see them.
    pub fn sets(&self) -> [(CapSet, &CapsHashSet); 3] {
        [
            (CapSet::Inheritable, &self.inheritable),
            (CapSet::Permitted, &self.permitted),
            (CapSet::Effective, &self.effective),
        ]
    }
}

/// One rlimit, resolved to its RLIMIT_* number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RlimitOp {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// Resolves `process.rlimits`; an unknown type or soft > hard is an error (as in runc).
pub fn plan_rlimits(rlimits: &[Rlimit]) -> Result<Vec<RlimitOp>, PlanError> {
    rlimits
        .iter()
        .map(|r| {
            let resource = match r.kind.as_str() {
                "RLIMIT_CPU" => libc::RLIMIT_CPU,
                "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
                "RLIMIT_DATA" => libc::RLIMIT_DATA,
                "RLIMIT_STACK" => libc::RLIMIT_STACK,
                "RLIMIT_CORE" => libc::RLIMIT_CORE,
                "RLIMIT_RSS" => libc::RLIMIT_RSS,
                "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
                "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
                "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
                "RLIMIT_AS" => libc::RLIMIT_AS,
                "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
                "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
                "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
                "RLIMIT_NICE" => libc::RLIMIT_NICE,
                "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
                "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
                other => return Err(PlanError::invalid("process.rlimits", format!("unknown rlimit type {other:?}"))),
            };
            if r.soft > r.hard {
                let detail = format!("rlimit {}: soft limit {} is above hard limit {}", r.kind, r.soft, r.hard);
                return Err(PlanError::invalid("process.rlimits", detail));
            }
            Ok(RlimitOp { resource: resource as u32, soft: r.soft, hard: r.hard })
        })
        .collect()
}

/// The value of `name` in an environment list (`KEY=value` strings); the last one wins, like a
/// shell's export.
pub fn env_get<'a>(env: &'a [String], name: &str) -> Option<&'a str> {
    env.iter().rev().find_map(|e| e.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

/// The home directory of `uid` in an /etc/passwd text, as runc fills in HOME.
pub fn home_from_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[2].parse() == Ok(uid)).then(|| fields[5].to_string())
    })
}

/// The directories to search for a command name, from the container's PATH.
pub fn search_path(env: &[String]) -> Vec<String> {
    let path = env_get(env, "PATH").unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':').map(|d| if d.is_empty() { ".".to_string() } else { d.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_capabilities_are_collected_not_fatal() {
        let supported = caps::all();
        let spec = Capabilities {
            bounding: Some(vec!["CAP_CHOWN".into(), "CAP_NOT_REAL".into()]),
            effective: Some(vec!["CAP_KILL".into()]),
            ..Capabilities::default()
        };
        let plan = CapPlan::from_spec(Some(&spec), &supported);
        assert!(plan.bounding.contains(&Capability::CAP_CHOWN));
        assert_eq!(plan.bounding.len(), 1);
        assert!(plan.effective.contains(&Capability::CAP_KILL));
        assert!(plan.inheritable.is_empty() && plan.ambient.is_empty());
        assert_eq!(plan.unknown, vec!["CAP_NOT_REAL"]);
    }

    #[test]
    fn caps_the_kernel_lacks_are_ignored() {
        let mut supported = caps::all();
        supported.remove(&Capability::CAP_BPF);
        let spec = Capabilities { bounding: Some(vec!["CAP_BPF".into()]), ..Capabilities::default() };
        let plan = CapPlan::from_spec(Some(&spec), &supported);
        assert!(plan.bounding.is_empty());
        assert_eq!(plan.unknown, vec!["CAP_BPF"]);
    }

    #[test]
    fn rlimits_resolve_and_validate() {
        let ok = plan_rlimits(&[Rlimit { kind: "RLIMIT_NOFILE".into(), hard: 2048, soft: 1024 }]).unwrap();
        assert_eq!(ok, vec![RlimitOp { resource: libc::RLIMIT_NOFILE, soft: 1024, hard: 2048 }]);
        assert!(plan_rlimits(&[Rlimit { kind: "RLIMIT_BOGUS".into(), hard: 1, soft: 1 }]).is_err());
        assert!(plan_rlimits(&[Rlimit { kind: "RLIMIT_NOFILE".into(), hard: 1, soft: 2 }]).is_err());
    }

    #[test]
    fn env_and_passwd_lookups() {
        let env = vec!["PATH=/bin:/usr/bin".to_string(), "A=1".into(), "A=2".into()];
        assert_eq!(env_get(&env, "A"), Some("2"));
        assert_eq!(env_get(&env, "PAT"), None);
        assert_eq!(search_path(&env), vec!["/bin", "/usr/bin"]);
        let passwd = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n";
        assert_eq!(home_from_passwd(passwd, 1000).as_deref(), Some("/home/user"));
        assert_eq!(home_from_passwd(passwd, 5), None);
    }
}
