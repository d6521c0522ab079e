//! The scope's conversation with systemd, against recorded messages and a scripted bus on a
//! socket (no daemon, no root): job tracking, UnitExists retry, failed jobs, timeouts, NoSuchUnit.
use super::*;
use crate::cgroups::dbus::{decode, encode, frame_len, Header, Kind};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

const RETURN_JOB: &[u8] = include_bytes!("fixtures/return_job_path_standin.bin");
const JOB_REMOVED_STANDIN: &[u8] = include_bytes!("fixtures/job_removed_standin.bin");
const JOB_REMOVED_GDBUS: &[u8] = include_bytes!("fixtures/job_removed_gdbus.bin");

#[test]
fn job_watch_follows_reply_and_signal_in_either_order() {
    let reply = decode(RETURN_JOB).unwrap();
    let done = decode(JOB_REMOVED_STANDIN).unwrap();
    let other = decode(JOB_REMOVED_GDBUS).unwrap();
    let mut w = JobWatch::default();
    w.observe(&other);
    w.set_job(&reply).unwrap();
    assert_eq!(w.result(), None, "job/42 is not ours");
    w.observe(&done);
    assert_eq!(w.result(), Some("done"));
    // The signal may be read before the reply.
    let mut w = JobWatch::default();
    w.observe(&done);
    assert_eq!(w.result(), None);
    w.set_job(&reply).unwrap();
    assert_eq!(w.result(), Some("done"));
    // A reply without a job path is refused.
    assert!(JobWatch::default().set_job(&done).is_err());
}

#[test]
fn only_broadcasts_from_the_manager_count() {
    let real = decode(JOB_REMOVED_STANDIN).unwrap();
    assert!(job_removed(&real).is_some());
    let mut unicast = real.clone();
    unicast.header.destination = Some(":1.2".into());
    assert!(job_removed(&unicast).is_none(), "anyone may send a signal to us alone");
    let mut elsewhere = real.clone();
    elsewhere.header.path = Some("/elsewhere".into());
    assert!(job_removed(&elsewhere).is_none());
    assert_eq!(job_removed_rule(), "type='signal',sender='org.freedesktop.systemd1',path='/org/freedesktop/systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'");
}

#[test]
fn membership_and_names() {
    let own = "12:freezer:/\n4:memory:/system.slice/a.scope\n2:cpu,cpuacct:/system.slice/a.scope/\n1:name=systemd:/system.slice/a.scope\n0::/other\n";
    assert!(in_cgroup(own, "memory", "/system.slice/a.scope"));
    assert!(in_cgroup(own, "cpu,cpuacct", "/system.slice/a.scope"));
    assert!(in_cgroup(own, "name=systemd", "/system.slice/a.scope"));
    assert!(!in_cgroup(own, "freezer", "/system.slice/a.scope"));
    assert!(!in_cgroup(own, "", "/system.slice/a.scope"));
    assert!(!in_cgroup(own, "pids", "/system.slice/a.scope"), "a hierarchy not listed");
    let dirs = CgroupDirs {
        dirs: vec![PathBuf::from("/sys/fs/cgroup/memory/system.slice/oxtest-c1.scope")],
        ..CgroupDirs::default()
    };
    assert_eq!(unit_of(&dirs).as_deref(), Some("oxtest-c1.scope"));
    assert_eq!(unit_of(&CgroupDirs::default()), None, "rootless without cgroups: no unit");
    let props = vec![("PIDs".to_string(), Value::U32s(vec![0])), ("Slice".to_string(), Value::Str("s".into()))];
    assert_eq!(with_pid(&props, 42)[0].1, Value::U32s(vec![42]));
    assert_eq!(with_pid(&props, 42)[1], props[1]);
}

/// The bus side of one connection, driven by a test script.
struct Fake {
    s: UnixStream,
    buf: Vec<u8>,
    serial: u32,
    seen: Vec<String>,
}

impl Fake {
    fn line(&mut self, end: &[u8]) -> Vec<u8> {
        loop {
            if let Some(at) = self.buf.windows(end.len()).position(|w| w == end) {
                return self.buf.drain(..at + end.len()).collect();
            }
            let mut chunk = [0u8; 4096];
            let n = self.s.read(&mut chunk).unwrap();
            assert!(n > 0, "client went away during SASL");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next message, or None when the client closed the connection.
    fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(total) = frame_len(&self.buf).unwrap() {
                if self.buf.len() >= total {
                    let m = decode(&self.buf[..total]).unwrap();
                    self.buf.drain(..total);
                    return Some(m);
                }
            }
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn expect(&mut self, member: &str) -> Message {
        let m = self.recv().unwrap_or_else(|| panic!("connection closed, {member} expected"));
        assert_eq!(m.header.member.as_deref(), Some(member));
        self.seen.push(member.into());
        m
    }

    fn send(&mut self, h: Header, body: Body) {
        self.serial += 1;
        let bytes = encode(&Header { serial: self.serial, ..h }, &body);
        self.s.write_all(&bytes).unwrap();
    }

    fn answer(&mut self, call: &Message, error: Option<&str>, body: Body) {
        let kind = if error.is_some() { Kind::Error } else { Kind::MethodReturn };
        let h = Header {
            kind,
            flags: 1,
            serial: 0,
            path: None,
            interface: None,
            member: None,
            error_name: error.map(str::to_string),
            reply_serial: Some(call.header.serial),
            destination: None,
            sender: Some(":1.1".into()),
            signature: String::new(),
        };
        self.send(h, body);
    }

    fn job_removed(&mut self, id: u32, unit: &str, result: &str) {
        let h = Header {
            kind: Kind::Signal,
            member: Some("JobRemoved".into()),
            destination: None,
            sender: Some(":1.1".into()),
            ..Header::call(0, "", SYSTEMD_PATH, MANAGER_IFACE, "")
        };
        self.send(h, Body::new().u32(id).path(&format!("/org/freedesktop/systemd1/job/{id}")).str(unit).str(result));
    }
}

/// A bus on a socket in a temporary directory, served by `script` after SASL and Hello; the
/// handle returns the members the client called.
fn fake_bus(
    script: impl FnOnce(&mut Fake) + Send + 'static,
) -> (tempfile::TempDir, String, oxsys::threads::Counted<Vec<String>>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus");
    let listener = UnixListener::bind(&path).unwrap();
    let handle = oxsys::threads::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut f = Fake { s, buf: Vec::new(), serial: 0, seen: Vec::new() };
        let auth = f.line(b"\r\n");
        assert_eq!(auth, format!("\0{}", dbus_conn::auth_external(nix::unistd::geteuid().as_raw())).into_bytes());
        f.s.write_all(b"OK 0123456789abcdef0123456789abcdef\r\n").unwrap();
        assert_eq!(f.line(b"\r\n"), b"BEGIN\r\n");
        let hello = f.expect("Hello");
        f.answer(&hello, None, Body::new().str(":1.9"));
        script(&mut f);
        // Hold the connection until the client is done with it.
        while f.recv().is_some() {}
        f.seen
    });
    (dir, format!("unix:path={}", path.display()), handle)
}

fn soon(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

#[test]
fn start_retries_after_unit_exists_and_takes_an_early_signal() {
    let (_d, addr, seen) = fake_bus(|f| {
        let m = f.expect("AddMatch");
        assert_eq!(m.args().unwrap(), vec![Arg::Str(job_removed_rule())]);
        f.answer(&m, None, Body::new());
        let m = f.expect("StartTransientUnit");
        f.answer(&m, Some(UNIT_EXISTS), Body::new().str("Unit u.scope already exists."));
        let m = f.expect("ResetFailedUnit");
        f.answer(&m, Some(NO_SUCH_UNIT), Body::new().str("Unit u.scope not loaded."));
        let m = f.expect("StartTransientUnit");
        // Someone else's job, then ours ending before the reply is read.
        f.job_removed(4, "other.scope", "failed");
        f.job_removed(5, "u.scope", "done");
        f.answer(&m, None, Body::new().path("/org/freedesktop/systemd1/job/5"));
    });
    let mut conn = Conn::open(&addr, soon(5000)).unwrap();
    let mut started = false;
    let props = vec![("PIDs".to_string(), Value::U32s(vec![7]))];
    start_unit(&mut conn, "u.scope", &props, &mut started, soon(5000)).unwrap();
    assert!(started);
    drop(conn);
    assert_eq!(
        seen.join().unwrap(),
        ["Hello", "AddMatch", "StartTransientUnit", "ResetFailedUnit", "StartTransientUnit"]
    );
}

#[test]
fn a_failed_start_job_is_an_error_naming_the_unit() {
    let (_d, addr, seen) = fake_bus(|f| {
        let m = f.expect("AddMatch");
        f.answer(&m, None, Body::new());
        let m = f.expect("StartTransientUnit");
        f.answer(&m, None, Body::new().path("/org/freedesktop/systemd1/job/6"));
        f.job_removed(6, "u.scope", "failed");
        let m = f.expect("ResetFailedUnit");
        f.answer(&m, None, Body::new());
    });
    let mut conn = Conn::open(&addr, soon(5000)).unwrap();
    let mut started = false;
    let err = start_unit(&mut conn, "u.scope", &Vec::new(), &mut started, soon(5000)).unwrap_err();
    assert_eq!(err.to_string(), "systemd unit u.scope: the start job ended \"failed\", not \"done\"");
    assert!(started, "the unit exists (failed): it must be stopped");
    drop(conn);
    assert_eq!(seen.join().unwrap().last().map(String::as_str), Some("ResetFailedUnit"));
}

#[test]
fn a_job_that_never_ends_times_out() {
    let (_d, addr, _seen) = fake_bus(|f| {
        let m = f.expect("AddMatch");
        f.answer(&m, None, Body::new());
        let m = f.expect("StartTransientUnit");
        f.answer(&m, None, Body::new().path("/org/freedesktop/systemd1/job/7"));
    });
    let mut conn = Conn::open(&addr, soon(5000)).unwrap();
    let err = start_unit(&mut conn, "u.scope", &Vec::new(), &mut false, soon(300)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "systemd unit u.scope: wait for the start job: timed out waiting for systemd's JobRemoved signal"
        ),
        "{text}"
    );
}

#[test]
fn stop_waits_for_its_job_and_accepts_a_unit_already_gone() {
    let (_d, addr, seen) = fake_bus(|f| {
        let m = f.expect("AddMatch");
        f.answer(&m, None, Body::new());
        let m = f.expect("StopUnit");
        assert_eq!(m.args().unwrap(), vec![Arg::Str("u.scope".into()), Arg::Str("replace".into())]);
        f.answer(&m, None, Body::new().path("/org/freedesktop/systemd1/job/8"));
        f.job_removed(8, "u.scope", "done");
        let m = f.expect("ResetFailedUnit");
        f.answer(&m, Some(NO_SUCH_UNIT), Body::new().str("Unit u.scope not loaded."));
    });
    stop("u.scope", &addr, None).unwrap();
    assert_eq!(seen.join().unwrap(), ["Hello", "AddMatch", "StopUnit", "ResetFailedUnit"]);
    let (_d, addr, seen) = fake_bus(|f| {
        let m = f.expect("AddMatch");
        f.answer(&m, None, Body::new());
        let m = f.expect("StopUnit");
        f.answer(&m, Some(NO_SUCH_UNIT), Body::new().str("Unit u.scope not loaded."));
    });
    stop("u.scope", &addr, None).unwrap();
    assert_eq!(seen.join().unwrap(), ["Hello", "AddMatch", "StopUnit"]);
}

/// An address list is tried in order, as the specification says.
#[test]
fn the_first_reachable_address_is_used() {
    let (_d, addr, seen) = fake_bus(|_| {});
    let list = format!("tcp:host=localhost,port=1;unix:path=/nonexistent/bus;{addr}");
    drop(Conn::open(&list, soon(5000)).unwrap());
    assert_eq!(seen.join().unwrap(), ["Hello"]);
    let err = Conn::open("unix:path=/nonexistent/bus", soon(5000)).unwrap_err().to_string();
    assert!(err.starts_with("connect to D-Bus at unix:path=/nonexistent/bus: "), "{err}");
}

#[test]
fn refused_authentication_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus");
    let listener = UnixListener::bind(&path).unwrap();
    let server = oxsys::threads::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut b = [0u8; 64];
        let _ = s.read(&mut b);
        s.write_all(b"REJECTED EXTERNAL\r\n").unwrap();
    });
    let err = Conn::open(&format!("unix:path={}", path.display()), soon(5000)).unwrap_err();
    assert!(
        err.to_string().contains("refused AUTH EXTERNAL") && err.to_string().contains("REJECTED EXTERNAL"),
        "{err}"
    );
    server.join().unwrap();
}
