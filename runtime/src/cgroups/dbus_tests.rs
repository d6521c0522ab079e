//! The wire format against messages recorded from real D-Bus implementations (fixtures/, see
//! fixtures/README.md): dbus-daemon, GDBus, libdbus, sd-bus (the library systemd uses), and the
//! integration tests' stand-in for systemd as dbus-daemon forwarded it.
use super::*;
use crate::cgroups::dbus_conn::{
    auth_accepted, auth_external, bus_address, parse_address, reply_to, BusError, Endpoint,
};
use crate::cgroups::dbus_decode::{split_type, Arg, Dec, WireError};
use crate::cgroups::scope::{job_removed, JobRemoved};
use std::path::PathBuf;

const JOB_REMOVED_GDBUS: &[u8] = include_bytes!("fixtures/job_removed_gdbus.bin");
const JOB_REMOVED_LIBDBUS: &[u8] = include_bytes!("fixtures/job_removed_libdbus.bin");
const JOB_REMOVED_STANDIN: &[u8] = include_bytes!("fixtures/job_removed_standin.bin");
const ERROR_SDBUS: &[u8] = include_bytes!("fixtures/error_sdbus_unknown_method.bin");
const ERROR_DAEMON: &[u8] = include_bytes!("fixtures/error_daemon_service_unknown.bin");
const ERROR_UNIT_EXISTS: &[u8] = include_bytes!("fixtures/error_unit_exists_standin.bin");
const ERROR_NO_SUCH_UNIT: &[u8] = include_bytes!("fixtures/error_no_such_unit_standin.bin");
const RETURN_SDBUS: &[u8] = include_bytes!("fixtures/return_sdbus_string.bin");
const RETURN_HELLO: &[u8] = include_bytes!("fixtures/hello_reply_daemon.bin");
const RETURN_JOB: &[u8] = include_bytes!("fixtures/return_job_path_standin.bin");
const START_FORWARDED: &[u8] = include_bytes!("fixtures/start_transient_unit_oxrun.bin");

const ALL: [&[u8]; 11] = [
    JOB_REMOVED_GDBUS,
    JOB_REMOVED_LIBDBUS,
    JOB_REMOVED_STANDIN,
    ERROR_SDBUS,
    ERROR_DAEMON,
    ERROR_UNIT_EXISTS,
    ERROR_NO_SUCH_UNIT,
    RETURN_SDBUS,
    RETURN_HELLO,
    RETURN_JOB,
    START_FORWARDED,
];

fn msg(bytes: &[u8]) -> Message {
    assert_eq!(frame_len(bytes).unwrap(), Some(bytes.len()), "one whole message");
    decode(bytes).unwrap()
}

#[test]
fn job_removed_signals_from_gdbus_libdbus_and_the_standin() {
    let m = msg(JOB_REMOVED_GDBUS);
    assert_eq!(m.header.kind, Kind::Signal);
    assert_eq!(m.header.path.as_deref(), Some(SYSTEMD_PATH));
    assert_eq!(m.header.signature, "uoss");
    assert_eq!(m.header.destination, None, "a broadcast");
    let want = |id, job: &str, unit: &str, result: &str| JobRemoved {
        id,
        job: job.into(),
        unit: unit.into(),
        result: result.into(),
    };
    assert_eq!(job_removed(&m), Some(want(42, "/org/freedesktop/systemd1/job/42", "oxtest-c1.scope", "done")));
    assert_eq!(
        job_removed(&msg(JOB_REMOVED_LIBDBUS)),
        Some(want(7, "/org/freedesktop/systemd1/job/7", "oxtest-c1.scope", "failed"))
    );
    let m = msg(JOB_REMOVED_STANDIN);
    assert_eq!(m.header.sender.as_deref(), Some(":1.1"), "the bus names the sender");
    assert_eq!(
        job_removed(&m),
        Some(want(1, "/org/freedesktop/systemd1/job/1", "oxtest-sd-10060-0-19d66.scope", "done"))
    );
    assert_eq!(job_removed(&msg(ERROR_SDBUS)), None);
}

#[test]
fn errors_become_remote_errors_with_name_and_message() {
    let remote = |bytes: &[u8], serial: u32| match reply_to(&msg(bytes), serial) {
        Some(Err(BusError::Remote { name, message })) => (name, message),
        other => panic!("not an error reply to {serial}: {other:?}"),
    };
    // sd-bus orders the header fields differently from libdbus; both decode the same.
    let m = msg(ERROR_SDBUS);
    assert_eq!(
        (m.header.kind, m.header.reply_serial, m.header.destination.as_deref()),
        (Kind::Error, Some(2), Some(":1.5"))
    );
    assert_eq!(
        remote(ERROR_SDBUS, 2),
        (
            "org.freedesktop.DBus.Error.UnknownMethod".into(),
            "Unknown method NoSuch or interface org.freedesktop.hostname1.".into()
        )
    );
    assert!(reply_to(&m, 3).is_none(), "a reply to another call");
    assert_eq!(
        remote(ERROR_DAEMON, 2),
        (
            "org.freedesktop.DBus.Error.ServiceUnknown".into(),
            "The name org.freedesktop.systemd1 was not provided by any .service files".into()
        )
    );
    assert_eq!(
        remote(ERROR_UNIT_EXISTS, 3),
        ("org.freedesktop.systemd1.UnitExists".into(), "Unit is there already.".into())
    );
    assert_eq!(
        remote(ERROR_NO_SUCH_UNIT, 4),
        ("org.freedesktop.systemd1.NoSuchUnit".into(), "Unit oxtest-sd-10060-0-19d66.scope not loaded.".into())
    );
    let shown = BusError::Remote {
        name: "org.freedesktop.systemd1.UnitExists".into(),
        message: "Unit is there already.".into(),
    }
    .to_string();
    assert_eq!(shown, "org.freedesktop.systemd1.UnitExists: Unit is there already.");
}

#[test]
fn method_returns_carry_their_values() {
    let m = msg(RETURN_JOB);
    assert!(matches!(reply_to(&m, 3), Some(Ok(()))));
    assert_eq!(m.args().unwrap(), vec![Arg::Path("/org/freedesktop/systemd1/job/1".into())]);
    let m = msg(RETURN_SDBUS);
    assert_eq!((m.header.reply_serial, m.header.flags), (Some(2), 1), "sd-bus sets NO_REPLY_EXPECTED on replies");
    assert_eq!(m.args().unwrap(), vec![Arg::Str("3d1219c7c4c5404aaa1f6d2a48adfda4".into())]);
    let m = msg(RETURN_HELLO);
    assert_eq!(m.header.reply_serial, Some(1));
    assert_eq!(m.header.sender.as_deref(), Some("org.freedesktop.DBus"));
    assert_eq!(m.args().unwrap(), vec![Arg::Str(":1.1".into())]);
}

fn prop<'a>(props: &'a [Arg], name: &str) -> Option<&'a Arg> {
    props.iter().find_map(|p| match p {
        Arg::Struct(kv) if kv[0] == Arg::Str(name.into()) => match &kv[1] {
            Arg::Variant(v) => Some(&**v),
            _ => None,
        },
        _ => None,
    })
}

/// What dbus-daemon forwarded of oxrun's StartTransientUnit (it accepted it as valid and added
/// the sender) decodes to what oxrun meant to send.
#[test]
fn start_transient_unit_as_the_daemon_forwarded_it() {
    let m = msg(START_FORWARDED);
    assert_eq!(m.header.member.as_deref(), Some("StartTransientUnit"));
    assert_eq!(m.header.sender.as_deref(), Some(":1.2"));
    let args = m.args().unwrap();
    assert_eq!(args[0], Arg::Str("oxtest-sd-10060-0-19d66.scope".into()));
    assert_eq!(args[1], Arg::Str("replace".into()));
    assert_eq!(args[3], Arg::Array(vec![]), "no auxiliary units");
    let Arg::Array(props) = &args[2] else { panic!("a(sv): {:?}", args[2]) };
    assert_eq!(prop(props, "Slice"), Some(&Arg::Str("system.slice".into())));
    assert!(matches!(prop(props, "PIDs"), Some(Arg::Array(p)) if p.len() == 1));
    assert_eq!(prop(props, "Delegate"), Some(&Arg::Bool(true)));
    assert_eq!(prop(props, "MemoryLimit"), Some(&Arg::U64(67108864)));
    assert_eq!(prop(props, "TimeoutStopUSec"), Some(&Arg::U64(5_000_000)));
}

/// Every kind of value oxrun sends reads back through the decoder.
#[test]
fn encoded_messages_decode_to_what_was_meant() {
    use super::super::systemd::Value;
    let props = vec![
        ("B".to_string(), Value::Bool(true)),
        ("I".to_string(), Value::I32(-2)),
        ("U".to_string(), Value::U32(3)),
        ("X".to_string(), Value::I64(-4)),
        ("T".to_string(), Value::U64(u64::MAX)),
        ("S".to_string(), Value::Str("s".into())),
        ("AY".to_string(), Value::Bytes(vec![1, 2, 3])),
        ("AU".to_string(), Value::U32s(vec![7, 8])),
        ("PAIRS".to_string(), Value::Pairs(vec![("a".into(), "b".into())])),
    ];
    let m = msg(&start_transient_unit(9, "u.scope", "replace", &props));
    assert_eq!(
        m.header,
        Header {
            signature: "ssa(sv)a(sa(sv))".into(),
            ..Header::call(9, SYSTEMD_DEST, SYSTEMD_PATH, MANAGER_IFACE, "StartTransientUnit")
        }
    );
    let args = m.args().unwrap();
    let Arg::Array(got) = &args[2] else { panic!() };
    assert_eq!(prop(got, "B"), Some(&Arg::Bool(true)));
    assert_eq!(prop(got, "I"), Some(&Arg::I32(-2)));
    assert_eq!(prop(got, "U"), Some(&Arg::U32(3)));
    assert_eq!(prop(got, "X"), Some(&Arg::I64(-4)));
    assert_eq!(prop(got, "T"), Some(&Arg::U64(u64::MAX)));
    assert_eq!(prop(got, "S"), Some(&Arg::Str("s".into())));
    assert_eq!(prop(got, "AY"), Some(&Arg::Array(vec![Arg::Byte(1), Arg::Byte(2), Arg::Byte(3)])));
    assert_eq!(prop(got, "AU"), Some(&Arg::Array(vec![Arg::U32(7), Arg::U32(8)])));
    assert_eq!(
        prop(got, "PAIRS"),
        Some(&Arg::Array(vec![Arg::Struct(vec![Arg::Str("a".into()), Arg::Str("b".into())])]))
    );
    // Every header field of every kind survives a round trip.
    let h = Header {
        kind: Kind::Error,
        flags: 1,
        serial: 5,
        path: Some("/p".into()),
        interface: Some("i.f".into()),
        member: Some("M".into()),
        error_name: Some("e.r.Name".into()),
        reply_serial: Some(4),
        destination: Some(":1.9".into()),
        sender: Some(":1.1".into()),
        signature: "uos".into(),
    };
    let m = msg(&encode(&h, &Body::new().u32(1).path("/j/1").str("x")));
    assert_eq!(m.header, h);
    assert_eq!(m.args().unwrap(), vec![Arg::U32(1), Arg::Path("/j/1".into()), Arg::Str("x".into())]);
}

/// Messages may come big-endian (the bus forwards them in their sender's byte order).
#[test]
fn big_endian_messages_decode() {
    let mut b = vec![b'B', 2, 1, 1, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 15];
    b.extend_from_slice(&[5, 1, b'u', 0, 0, 0, 0, 3]); // REPLY_SERIAL 3
    b.extend_from_slice(&[8, 1, b'g', 0, 1, b'o', 0, 0]); // SIGNATURE "o", then pad to 32
    b.extend_from_slice(&[0, 0, 0, 2, b'/', b'a', 0]);
    let m = msg(&b);
    assert!(m.big_endian);
    assert_eq!((m.header.kind, m.header.serial, m.header.reply_serial), (Kind::MethodReturn, 9, Some(3)));
    assert_eq!(m.args().unwrap(), vec![Arg::Path("/a".into())]);
}

#[test]
fn framing_waits_for_whole_messages() {
    assert_eq!(frame_len(&RETURN_JOB[..15]).unwrap(), None, "16 bytes give the length");
    assert_eq!(frame_len(&RETURN_JOB[..16]).unwrap(), Some(RETURN_JOB.len()));
    assert!(matches!(decode(&RETURN_JOB[..40]), Err(WireError::Truncated { .. })));
    assert!(frame_len(b"Xsomething-long-enough").is_err(), "a bad byte order mark");
    let mut huge = RETURN_JOB.to_vec();
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(frame_len(&huge).is_err(), "over the 128 MiB limit");
}

/// Any prefix or corruption of a real message is an error, never a panic.
#[test]
fn truncated_or_corrupted_messages_are_errors_not_panics() {
    for bytes in ALL {
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "a {n}-byte prefix must not decode");
        }
        let mut seed = 0x2545_f491_u32;
        for _ in 0..300 {
            let mut b = bytes.to_vec();
            for _ in 0..3 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let at = (seed >> 8) as usize % b.len();
                b[at] = (seed >> 16) as u8;
            }
            if let Ok(m) = decode(&b) {
                let _ = m.args();
            }
        }
    }
}

#[test]
fn malformed_values_are_refused() {
    let read = |sig: &str, bytes: &[u8]| Dec::new(bytes, false).value(sig);
    assert!(read("b", &[2, 0, 0, 0]).is_err(), "a boolean is 0 or 1");
    assert!(read("s", &[1, 0, 0, 0, b'a', b'b']).is_err(), "no NUL terminator");
    assert!(read("s", &[1, 0, 0, 0, 0, 0]).is_err(), "NUL inside");
    assert!(read("s", &[2, 0, 0, 0, 0xff, 0xfe, 0]).is_err(), "not UTF-8");
    assert!(read("au", &[8, 0, 0, 0, 1, 0, 0, 0]).is_err(), "array longer than the data");
    assert!(read("v", &[2, b'u', b'u', 0, 1, 0, 0, 0, 1, 0, 0, 0]).is_err(), "a variant holds one type");
    assert!(read("z", &[0]).is_err());
    assert!(read(&"a".repeat(100), &[0; 8]).is_err(), "nesting limit");
    assert_eq!(read("au", &[8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]).unwrap(), Arg::Array(vec![Arg::U32(1), Arg::U32(2)]));
    assert_eq!(split_type("a(sv)s").unwrap(), ("a(sv)", "s"));
    assert_eq!(split_type("a{sv}").unwrap(), ("a{sv}", ""));
    assert!(split_type("(").is_err() && split_type("{s}").is_err() && split_type("()").is_err());
}

#[test]
fn the_bus_is_found_as_runc_finds_it() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    assert_eq!(bus_address(0, env(&[])), "unix:path=/run/dbus/system_bus_socket");
    assert_eq!(
        bus_address(
            0,
            env(&[("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/x"), ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/y")])
        ),
        "unix:path=/x"
    );
    // Rootless: the user's own bus (its systemd user instance).
    assert_eq!(bus_address(1000, env(&[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/y")])), "unix:path=/y");
    assert_eq!(bus_address(1000, env(&[("XDG_RUNTIME_DIR", "/run/user/1000/")])), "unix:path=/run/user/1000/bus");
    assert_eq!(bus_address(1000, env(&[("XDG_RUNTIME_DIR", "/tmp/a b")])), "unix:path=/tmp/a%20b/bus");
    assert_eq!(bus_address(1000, env(&[])), "unix:path=/run/user/1000/bus");
}

#[test]
fn addresses_parse() {
    assert_eq!(
        parse_address("unix:path=/run/dbus/system_bus_socket").unwrap(),
        vec![Endpoint::Path(PathBuf::from("/run/dbus/system_bus_socket"))]
    );
    assert_eq!(
        parse_address("unix:abstract=/tmp/dbus-x,guid=0123").unwrap(),
        vec![Endpoint::Abstract(b"/tmp/dbus-x".to_vec())]
    );
    assert_eq!(
        parse_address("tcp:host=h,port=1;unix:path=/a%20b").unwrap(),
        vec![Endpoint::Path(PathBuf::from("/a b"))]
    );
    assert!(parse_address("tcp:host=h").is_err(), "no transport oxrun speaks");
    assert!(parse_address("nocolon").is_err());
    assert!(parse_address("unix:path=/a%2").is_err(), "a cut escape");
}

#[test]
fn sasl_external_lines() {
    assert_eq!(auth_external(0), "AUTH EXTERNAL 30\r\n");
    assert_eq!(auth_external(1000), "AUTH EXTERNAL 31303030\r\n");
    assert!(auth_accepted("OK 1234deadbeef1234deadbeef1234dead"));
    assert!(!auth_accepted("REJECTED EXTERNAL"));
    assert!(!auth_accepted("OKAY"));
}
