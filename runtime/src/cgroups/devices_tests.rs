//! Device rules → v1 lines and → the v2 eBPF program (pure), plus a load-and-attach test on a real
//! cgroup2 hierarchy when run as root on a host that has one.
use super::*;
use std::io::Write as _;

fn rule(allow: bool, kind: &str, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
    DeviceRule { allow, kind: Some(kind.into()), major, minor, access: Some(access.into()) }
}

#[test]
fn device_rules_render_like_v1_expects() {
    assert_eq!(rule_text(&rule(true, "c", Some(1), Some(3), "rw")).unwrap(), "c 1:3 rw");
    assert_eq!(rule_text(&rule(true, "c", Some(136), None, "")).unwrap(), "c 136:* rwm");
    assert_eq!(rule_text(&DeviceRule { allow: false, ..DeviceRule::default() }).unwrap(), "a *:* rwm");
    assert!(rule_text(&rule(true, "x", None, None, "r")).is_err());
    assert!(rule_text(&rule(true, "c", None, None, "rq")).is_err());
}

/// runc's default: deny all, then allow /dev/null (c 1:3) and ptys (c 136:*), read-only /dev/zero.
fn typical() -> Vec<DeviceRule> {
    vec![
        rule(false, "a", None, None, "rwm"),
        rule(true, "c", Some(1), Some(3), "rwm"),
        rule(true, "c", Some(136), None, "rwm"),
        rule(true, "c", Some(1), Some(5), "r"),
    ]
}

#[test]
fn program_bytes_are_hand_checked() {
    let prog = program(&typical()).unwrap();
    let bytes: Vec<[u8; 8]> = prog.iter().map(|i| i.to_bytes()).collect();
    // Prologue: r2 = type, r3 = access, r4 = major, r5 = minor.
    assert_eq!(bytes[0], [0x61, 0x12, 0, 0, 0, 0, 0, 0]);
    assert_eq!(bytes[1], [0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0]);
    assert_eq!(bytes[2], [0x61, 0x13, 0, 0, 0, 0, 0, 0]);
    assert_eq!(bytes[3], [0x74, 0x03, 0, 0, 16, 0, 0, 0]);
    assert_eq!(bytes[4], [0x61, 0x14, 4, 0, 0, 0, 0, 0]);
    assert_eq!(bytes[5], [0x61, 0x15, 8, 0, 0, 0, 0, 0]);
    // The last rule first: c 1:5 r. if type != char skip 7; r1 = access & READ; if r1 != r3
    // skip 4; if major != 1 skip 3; if minor != 5 skip 2; return 1.
    assert_eq!(bytes[6], [0x55, 0x02, 7, 0, 2, 0, 0, 0]);
    assert_eq!(bytes[7], [0xbc, 0x31, 0, 0, 0, 0, 0, 0]);
    assert_eq!(bytes[8], [0x54, 0x01, 0, 0, 2, 0, 0, 0]);
    assert_eq!(bytes[9], [0x5d, 0x31, 4, 0, 0, 0, 0, 0]);
    assert_eq!(bytes[10], [0x55, 0x04, 3, 0, 1, 0, 0, 0]);
    assert_eq!(bytes[11], [0x55, 0x05, 2, 0, 5, 0, 0, 0]);
    assert_eq!(bytes[12], [0xb7, 0x00, 0, 0, 1, 0, 0, 0]);
    assert_eq!(bytes[13], [0x95, 0, 0, 0, 0, 0, 0, 0]);
    // Default (the wildcard deny): return 0.
    assert_eq!(bytes[bytes.len() - 2], [0xb7, 0x00, 0, 0, 0, 0, 0, 0]);
    assert_eq!(bytes[bytes.len() - 1], [0x95, 0, 0, 0, 0, 0, 0, 0]);
    // 6 prologue + 8 (c 1:5 r) + 4 (c 136:* rwm) + 5 (c 1:3 rwm) + 2 default.
    assert_eq!(prog.len(), 25);
}

#[test]
fn program_semantics() {
    let prog = program(&typical()).unwrap();
    assert_eq!(evaluate(&prog, 'c', 1, 3, "rw"), Some(true));
    assert_eq!(evaluate(&prog, 'c', 1, 3, "m"), Some(true));
    assert_eq!(evaluate(&prog, 'c', 136, 7, "rw"), Some(true));
    assert_eq!(evaluate(&prog, 'c', 1, 5, "r"), Some(true));
    assert_eq!(evaluate(&prog, 'c', 1, 5, "w"), Some(false), "read-only rule");
    assert_eq!(evaluate(&prog, 'c', 1, 5, "rw"), Some(false));
    assert_eq!(evaluate(&prog, 'b', 1, 3, "r"), Some(false), "type matters");
    assert_eq!(evaluate(&prog, 'c', 10, 200, "r"), Some(false));
    // Blacklist mode: allow by default, deny writes to block 8:*.
    let prog = program(&[rule(false, "b", Some(8), None, "w")]).unwrap();
    assert_eq!(evaluate(&prog, 'b', 8, 1, "rw"), Some(false), "a deny rule hits any requested bit");
    assert_eq!(evaluate(&prog, 'b', 8, 1, "r"), Some(true));
    assert_eq!(evaluate(&prog, 'c', 1, 3, "rw"), Some(true));
    // The last matching rule wins; a later wildcard resets everything before it.
    let prog = program(&[rule(true, "c", Some(1), Some(3), "rwm"), rule(false, "c", Some(1), Some(3), "w")]).unwrap();
    assert_eq!(evaluate(&prog, 'c', 1, 3, "w"), Some(false));
    assert_eq!(evaluate(&prog, 'c', 1, 3, "r"), Some(true));
    let prog = program(&[rule(true, "c", Some(1), Some(3), "rwm"), rule(false, "a", None, None, "rwm")]).unwrap();
    assert_eq!(prog.len(), 8, "prologue and default only");
    assert_eq!(evaluate(&prog, 'c', 1, 3, "r"), Some(false));
    // FIFOs are not device-cgroup business; bad numbers are errors.
    assert_eq!(program(&[rule(false, "p", None, None, "rwm")]).unwrap().len(), 8);
    assert!(program(&[rule(true, "c", Some(-5), None, "r")]).is_err());
}

/// Loads the program into the kernel and attaches it to a fresh cgroup2 directory, then checks
/// that a shell inside it can read /dev/null but not /dev/zero. Needs root and a cgroup2 mount
/// (on the hybrid CI host: /sys/fs/cgroup/unified); skipped otherwise.
#[test]
fn program_loads_and_enforces_on_a_real_cgroup2() {
    use std::os::fd::AsFd;
    let Some(mount) = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.subtree_control").exists())
    else {
        let _ = writeln!(std::io::stderr(), "SKIP program_loads_and_enforces_on_a_real_cgroup2: no cgroup2 mount");
        return;
    };
    if !nix::unistd::geteuid().is_root() {
        let _ = writeln!(std::io::stderr(), "SKIP program_loads_and_enforces_on_a_real_cgroup2: needs root");
        return;
    }
    let dir = mount.join(format!("oxrun-devtest-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    let rules = vec![rule(false, "a", None, None, "rwm"), rule(true, "c", Some(1), Some(3), "rw")];
    let insns: Vec<[u8; 8]> = program(&rules).unwrap().iter().map(|i| i.to_bytes()).collect();
    let prog = oxsys::bpf::load_cgroup_device_program(&insns, c"Apache").expect("verifier accepts the program");
    let dfd = std::fs::File::open(&dir).unwrap();
    oxsys::bpf::attach_cgroup_device(dfd.as_fd(), prog.as_fd()).unwrap();
    let procs = dir.join("cgroup.procs");
    let script = format!(
        "echo $$ > {}; (head -c1 /dev/null && echo null-ok); (head -c1 /dev/zero >/dev/null && echo zero-ok); true",
        procs.display()
    );
    let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
    let _ = std::fs::remove_dir(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("null-ok"), "/dev/null is allowed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("zero-ok"), "/dev/zero is denied: {stdout}");
}
