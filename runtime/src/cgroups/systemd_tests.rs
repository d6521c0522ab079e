//! The systemd driver's pure parts: path syntax, properties, annotations, message bytes.
use super::*;
use crate::cgroups::dbus::start_transient_unit;
use crate::spec::{Cpu, DeviceRule, Memory, Pids};

#[test]
fn paths_parse_like_runc() {
    let u = parse_path("machine.slice:libpod:abc", "x").unwrap();
    assert_eq!(u, UnitPath { slice: "machine.slice".into(), unit: "libpod-abc.scope".into() });
    assert_eq!(parse_path("", "c1").unwrap().unit, "oxrun-c1.scope");
    assert_eq!(parse_path(":p:n", "c").unwrap().slice, "system.slice");
    assert!(parse_path("a:b", "c").is_err());
    assert!(parse_path("a:b:c/d", "c").is_err());
    let u = parse_path("a-b.slice:p:n", "c").unwrap();
    assert_eq!(cgroup_dir(&u), PathBuf::from("/a.slice/a-b.slice/p-n.scope"));
    // Names systemd would refuse (and NUL, which D-Bus strings cannot carry) fail here.
    assert!(matches!(parse_path("system.slice:p:a b", "c"), Err(SystemdError::BadUnitName { .. })));
    assert!(matches!(parse_path("system.slice:p:a\0b", "c"), Err(SystemdError::BadUnitName { .. })));
    assert!(parse_path("system.slice:p:a_b-c.d@e", "c").is_ok());
}

#[test]
fn resources_become_properties() {
    let res = Resources {
        memory: Some(Memory {
            limit: Some(1 << 30),
            reservation: Some(1 << 20),
            swap: Some(2 << 30),
            ..Memory::default()
        }),
        cpu: Some(Cpu {
            shares: Some(1024),
            quota: Some(50_000),
            period: Some(100_000),
            cpus: Some("0-2,9".into()),
            ..Cpu::default()
        }),
        pids: Some(Pids { limit: 100 }),
        devices: vec![
            DeviceRule { allow: false, access: Some("rwm".into()), ..DeviceRule::default() },
            DeviceRule {
                allow: true,
                kind: Some("c".into()),
                major: Some(1),
                minor: Some(3),
                access: Some("rw".into()),
            },
        ],
        ..Resources::default()
    };
    let mut ann = BTreeMap::new();
    ann.insert("org.systemd.property.TimeoutStopUSec".to_string(), "uint64 5000000".to_string());
    ann.insert("org.systemd.property.CPUWeight".to_string(), "uint64 7".to_string());
    ann.insert("unrelated".to_string(), "x".to_string());
    let u = parse_path("system.slice:oxrun:c1", "c1").unwrap();
    let (p, warnings) = properties(&u, 42, &res, &ann, true, "").unwrap();
    let get = |n: &str| p.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(get("PIDs"), Some(Value::U32s(vec![42])));
    assert_eq!(get("Slice"), Some(Value::Str("system.slice".into())));
    assert_eq!(get("MemoryMax"), Some(Value::U64(1 << 30)));
    assert_eq!(get("MemoryLow"), Some(Value::U64(1 << 20)));
    assert_eq!(get("MemorySwapMax"), Some(Value::U64(1 << 30)));
    assert_eq!(get("CPUWeight"), Some(Value::U64(7)), "the annotation wins over shares");
    assert_eq!(get("CPUQuotaPerSecUSec"), Some(Value::U64(500_000)));
    assert_eq!(get("AllowedCPUs"), Some(Value::Bytes(vec![0b0000_0111, 0b0000_0010])));
    assert_eq!(get("TasksMax"), Some(Value::U64(100)));
    assert_eq!(get("TimeoutStopUSec"), Some(Value::U64(5_000_000)));
    assert_eq!(get("DevicePolicy"), Some(Value::Str("strict".into())));
    assert_eq!(get("DeviceAllow"), Some(Value::Pairs(vec![("/dev/char/1:3".into(), "rw".into())])));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(get("Delegate"), Some(Value::Bool(true)));
    assert_eq!(get("IOAccounting"), Some(Value::Bool(true)));
    let (p, _) = properties(&u, 1, &res, &BTreeMap::new(), false, "").unwrap();
    assert!(p.iter().any(|(k, v)| k == "MemoryLimit" && *v == Value::U64(1 << 30)));
    assert!(p.iter().any(|(k, v)| k == "CPUShares" && *v == Value::U64(1024)));
    assert!(p.iter().any(|(k, v)| k == "BlockIOAccounting" && *v == Value::Bool(true)), "v1 names on a v1 host");
    let mut bad = BTreeMap::new();
    bad.insert("org.systemd.property.X".to_string(), "[1, 2]".to_string());
    assert!(matches!(properties(&u, 1, &res, &bad, true, ""), Err(SystemdError::BadAnnotation { .. })));
}

const PROC_DEVICES: &str =
    "Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n136 pts\n\nBlock devices:\n  7 loop\n  8 sd\n";

/// Whole majors are named by their driver in /proc/devices, whole types by "char-*", as systemd
/// reads DeviceAllow; the container's own nodes come after the spec's rules.
#[test]
fn device_rules_map_to_device_allow() {
    let rule = |kind: &str, major: Option<i64>, minor: Option<i64>, access: &str| DeviceRule {
        allow: true,
        kind: Some(kind.into()),
        major,
        minor,
        access: Some(access.into()),
    };
    let res = Resources {
        devices: vec![
            DeviceRule { allow: false, access: Some("rwm".into()), ..DeviceRule::default() },
            rule("c", Some(136), None, "rwm"),
            rule("b", Some(8), Some(-1), "r"),
            rule("c", None, None, "m"),
            rule("c", Some(1), Some(3), "rwm"),
            rule("c", Some(250), None, "rw"),
            DeviceRule {
                allow: false,
                kind: Some("c".into()),
                major: Some(1),
                minor: Some(5),
                access: Some("rwm".into()),
            },
        ],
        ..Resources::default()
    };
    let u = parse_path("", "c1").unwrap();
    let (p, warnings) = properties(&u, 1, &res, &BTreeMap::new(), false, PROC_DEVICES).unwrap();
    let allow = p.iter().find(|(k, _)| k == "DeviceAllow").map(|(_, v)| v.clone());
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        allow,
        Some(Value::Pairs(vec![
            pair("char-pts", "rwm"),
            pair("block-sd", "r"),
            pair("char-*", "m"),
            pair("/dev/char/1:3", "rwm")
        ]))
    );
    assert_eq!(warnings.len(), 2, "major 250 has no driver, and a later deny cannot be said: {warnings:?}");
    assert_eq!(driver_name(PROC_DEVICES, "char", 4).as_deref(), Some("/dev/vc/0"), "the first name, as runc takes it");
    assert_eq!(driver_name(PROC_DEVICES, "block", 1), None);
}

#[test]
fn annotations_parse() {
    assert_eq!(parse_annotation("true"), Some(Value::Bool(true)));
    assert_eq!(parse_annotation("'text'"), Some(Value::Str("text".into())));
    assert_eq!(parse_annotation("int64 -3"), Some(Value::I64(-3)));
    assert_eq!(parse_annotation("uint32 3"), Some(Value::U32(3)));
    assert_eq!(parse_annotation("12"), Some(Value::I32(12)));
    assert_eq!(parse_annotation("double 1.5"), None);
}

/// The message for one property, checked byte by byte against the D-Bus specification by hand
/// (offsets in the comments).
#[test]
fn start_transient_unit_bytes_are_hand_checked() {
    let msg = start_transient_unit(1, "a.scope", "fail", &[("Delegate".into(), Value::Bool(true))]);
    // Header: 'l', METHOD_CALL, flags 0, version 1, body length 56, serial 1, fields 182 bytes.
    assert_eq!(&msg[0..16], &[b'l', 1, 0, 1, 56, 0, 0, 0, 1, 0, 0, 0, 182, 0, 0, 0]);
    // Field PATH at 16: code 1, signature "o", then the path's length (25) at 20.
    assert_eq!(&msg[16..24], &[1, 1, b'o', 0, 25, 0, 0, 0]);
    assert_eq!(&msg[24..50], b"/org/freedesktop/systemd1\0");
    // INTERFACE at 56 (padded from 50), MEMBER at 104, DESTINATION at 136, SIGNATURE at 176.
    assert_eq!(&msg[56..64], &[2, 1, b's', 0, 32, 0, 0, 0]);
    assert_eq!(&msg[64..97], b"org.freedesktop.systemd1.Manager\0");
    assert_eq!(&msg[104..112], &[3, 1, b's', 0, 18, 0, 0, 0]);
    assert_eq!(&msg[112..131], b"StartTransientUnit\0");
    assert_eq!(&msg[136..144], &[6, 1, b's', 0, 24, 0, 0, 0]);
    assert_eq!(&msg[144..169], b"org.freedesktop.systemd1\0");
    assert_eq!(&msg[176..181], &[8, 1, b'g', 0, 16]);
    assert_eq!(&msg[181..198], b"ssa(sv)a(sa(sv))\0");
    assert_eq!(&msg[198..200], &[0, 0], "header padded to 8");
    let body = &msg[200..];
    let expected: Vec<u8> = [
        &[7, 0, 0, 0][..],
        b"a.scope\0",   // 0..12
        &[4, 0, 0, 0],  // 12
        b"fail\0",      // 16..21
        &[0, 0, 0],     // pad to 24
        &[20, 0, 0, 0], // a(sv) length: 32..52
        &[0, 0, 0, 0],  // pad to 32
        &[8, 0, 0, 0],  // "Delegate"
        b"Delegate\0",  // 36..45
        &[1, b'b', 0],  // variant signature 45..48
        &[1, 0, 0, 0],  // true at 48
        &[0, 0, 0, 0],  // a(sa(sv)) length 0 at 52; 56 is already 8-aligned
    ]
    .concat();
    assert_eq!(body, expected.as_slice());
    assert_eq!(msg.len(), 256);
}

#[test]
fn arrays_in_variants_align() {
    // au inside a variant: signature "au" (4 bytes at 45), the u32 length aligned to 4, elements.
    let msg = start_transient_unit(2, "a.scope", "fail", &[("Delegate".into(), Value::U32s(vec![7]))]);
    let body = &msg[200..];
    assert_eq!(&body[45..49], &[2, b'a', b'u', 0]);
    assert_eq!(&body[49..52], &[0, 0, 0]);
    assert_eq!(&body[52..60], &[4, 0, 0, 0, 7, 0, 0, 0]);
}

/// With --systemd-cgroup the container's cgroup path is where systemd puts the scope (what init
/// is shown in its /sys/fs/cgroup).
#[test]
fn systemd_cgroup_path_is_the_scope() {
    assert_eq!(
        crate::cgroups::cgroup_path(Some("system.slice:oxrun:x"), "x", true).unwrap(),
        "/system.slice/oxrun-x.scope"
    );
    assert_eq!(crate::cgroups::cgroup_path(None, "x", true).unwrap(), "/system.slice/oxrun-x.scope");
    assert_eq!(
        crate::cgroups::cgroup_path(Some("machine-a.slice:libpod:x"), "x", true).unwrap(),
        "/machine.slice/machine-a.slice/libpod-x.scope"
    );
    assert!(crate::cgroups::cgroup_path(Some("nocolons"), "x", true).is_err());
}

/// Message bodies recorded from GDBus (`gdbus call --address` against a socket that captured
/// the bytes; GLib 2.74): the body must match byte for byte. GDBus orders the header fields
/// differently (MEMBER last), which D-Bus allows, so headers are checked by hand above.
#[test]
fn bodies_match_bytes_recorded_from_gdbus() {
    let body = |msg: &[u8]| msg[200..].to_vec();
    let simple = "07000000612e73636f706500040000006661696c000000001400000000000000080000004465\
                  6c6567617465000162000100000000000000";
    let msg = start_transient_unit(3, "a.scope", "fail", &[("Delegate".into(), Value::Bool(true))]);
    assert_eq!(hex(&body(&msg)), simple.replace(' ', ""));
    let rich = "0f0000006c6962706f642d63312e73636f706500040000006661696c00000000d400000000000000\
                04000000504944730002617500000000040000002a000000090000004d656d6f72794d6178000174\
                0000000000000000000000400000000005000000536c696365000173000000000c00000073797374\
                656d2e736c69636500000000000000000b000000416c6c6f7765644350557300026179000200000007\
                020000000000000b000000446576696365416c6c6f770005612873732900001b000000000000000d00\
                00002f6465762f636861722f313a330000000200000072770000000000000800000044656c65676174\
                65000162000100000000000000";
    let props = vec![
        ("PIDs".to_string(), Value::U32s(vec![42])),
        ("MemoryMax".to_string(), Value::U64(1 << 30)),
        ("Slice".to_string(), Value::Str("system.slice".into())),
        ("AllowedCPUs".to_string(), Value::Bytes(vec![7, 2])),
        ("DeviceAllow".to_string(), Value::Pairs(vec![("/dev/char/1:3".into(), "rw".into())])),
        ("Delegate".to_string(), Value::Bool(true)),
    ];
    let msg = start_transient_unit(3, "libpod-c1.scope", "fail", &props);
    assert_eq!(hex(&body(&msg)), rich);
    assert_eq!(u32::from_le_bytes(msg[4..8].try_into().unwrap()), 256, "body length in the header");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `update` sends only the resource properties, in v2 or v1 names, as SetUnitProperties(name,
/// runtime=true, props): no Slice, PIDs or Delegate (systemd refuses those on a running unit).
#[test]
fn update_sets_the_resource_properties_of_the_unit() {
    use crate::cgroups::dbus::{decode, set_unit_properties};
    use crate::cgroups::dbus_decode::Arg;
    let res = Resources {
        memory: Some(Memory { limit: Some(128 << 20), ..Memory::default() }),
        pids: Some(Pids { limit: 60 }),
        ..Resources::default()
    };
    let p = update_properties(&res, true);
    assert_eq!(p, vec![("MemoryMax".to_string(), Value::U64(128 << 20)), ("TasksMax".to_string(), Value::U64(60))]);
    assert_eq!(update_properties(&res, false)[0], ("MemoryLimit".to_string(), Value::U64(128 << 20)));
    assert!(update_properties(&Resources::default(), true).is_empty(), "nothing to set, no call");
    let m = decode(&set_unit_properties(3, "oxrun-c1.scope", &p)).unwrap();
    assert_eq!(m.header.member.as_deref(), Some("SetUnitProperties"));
    assert_eq!(m.header.signature, "sba(sv)");
    let args = m.args().unwrap();
    assert_eq!(args[0], Arg::Str("oxrun-c1.scope".into()));
    assert_eq!(args[1], Arg::Bool(true), "runtime: the change lasts until reboot, as a transient unit does");
    let Arg::Array(props) = &args[2] else { panic!("a(sv): {:?}", args[2]) };
    assert_eq!(props.len(), 2);
}

#[test]
fn block_io_weight_zero_is_unset() {
    let u = parse_path("system.slice:oxrun:c1", "c1").unwrap();
    let with_weight = |w| Resources {
        block_io: Some(crate::spec::BlockIo { weight: Some(w), ..Default::default() }),
        ..Default::default()
    };
    let (p, _) = properties(&u, 1, &with_weight(0), &BTreeMap::new(), true, "").unwrap();
    assert!(!p.iter().any(|(k, _)| k == "IOWeight"), "IOWeight=0 sent: {p:?}");
    let (p, _) = properties(&u, 1, &with_weight(500), &BTreeMap::new(), true, "").unwrap();
    assert!(p.iter().any(|(k, _)| k == "IOWeight"), "no IOWeight: {p:?}");
}
