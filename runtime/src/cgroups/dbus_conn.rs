//! A blocking D-Bus client connection with just what the systemd driver needs: find the bus
//! address, connect, SASL `AUTH EXTERNAL`, `Hello`, method calls answered by a reply or an
//! error, and reading signals, every read bounded by a deadline. One socket and no thread: oxrun
//! forks, and a helper thread across fork is undefined behaviour (the reason youki wrote its own
//! client instead of using zbus).
use super::dbus::{self, Body, Kind, Message};
use super::dbus_decode::{Arg, WireError};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where the system bus listens when DBUS_SYSTEM_BUS_ADDRESS is unset (the specification's
/// default).
pub const DEFAULT_SYSTEM_BUS: &str = "unix:path=/run/dbus/system_bus_socket";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("D-Bus address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("connect to D-Bus at {address}: {source}")]
    Connect { address: String, source: std::io::Error },
    #[error("{op} on the D-Bus connection to {address}: {source}")]
    Io { op: &'static str, address: String, source: std::io::Error },
    #[error("D-Bus at {address} refused AUTH EXTERNAL for uid {uid}: {reply:?}")]
    Auth { address: String, uid: u32, reply: String },
    #[error("D-Bus at {address} closed the connection")]
    Closed { address: String },
    #[error("D-Bus at {address}: {source}")]
    Wire { address: String, source: WireError },
    #[error("timed out waiting for {what}")]
    Timeout { what: String },
    /// An ERROR message in reply to our call.
    #[error("{name}: {message}")]
    Remote { name: String, message: String },
}

/// One connectable entry of a D-Bus address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

/// The bus systemd is reached on, as runc picks it: the system bus when the bus sees us as root
/// (`host_uid`, see `outside_uid`), the user's bus (its systemd user instance) otherwise. Root in
/// a user namespace a regular user owns (rootless Podman) is that user to the bus: its systemd is
/// the user's, reached on DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus.
pub fn bus_address(host_uid: u32, env: impl Fn(&str) -> Option<String>) -> String {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if host_uid == 0 {
        return var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|| DEFAULT_SYSTEM_BUS.into());
    }
    if let Some(a) = var("DBUS_SESSION_BUS_ADDRESS") {
        return a;
    }
    let runtime_dir = var("XDG_RUNTIME_DIR").unwrap_or_else(|| format!("/run/user/{host_uid}"));
    format!("unix:path={}", escape(&format!("{}/bus", runtime_dir.trim_end_matches('/'))))
}

/// `uid` as the parent user namespace sees it, from a `/proc/self/uid_map` text ("inside outside
/// count" lines); None when the map does not cover it. In the initial namespace the map is
/// "0 0 4294967295" and every uid is itself.
pub fn host_uid(uid: u32, uid_map: &str) -> Option<u32> {
    uid_map.lines().find_map(|l| {
        let f: Vec<u64> = l.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
        let [inside, outside, count] = f[..] else { return None };
        let uid = u64::from(uid);
        (uid >= inside && uid - inside < count).then(|| u32::try_from(outside + (uid - inside)).ok()).flatten()
    })
}

/// Our effective uid as the bus sees it. The bus daemon checks AUTH EXTERNAL against the peer
/// credentials of the socket, which the kernel gives in the daemon's user namespace: in a user
/// namespace (rootless Podman runs the runtime as root in one) that is the namespace owner's uid,
/// not ours. runc asks `busctl --user status` for the OwnerUID; the uid map says the same without
/// a helper process (for a namespace nested deeper, only its parent's view).
pub fn outside_uid() -> u32 {
    let euid = nix::unistd::geteuid().as_raw();
    std::fs::read_to_string("/proc/self/uid_map").ok().and_then(|m| host_uid(euid, &m)).unwrap_or(euid)
}

/// Parses a D-Bus address list ("t1:k=v,k=v;t2:..."); only unix sockets (path= or abstract=)
/// are supported, other transports are skipped.
pub fn parse_address(address: &str) -> Result<Vec<Endpoint>, BusError> {
    let err = |reason: String| BusError::Address { address: address.into(), reason };
    let mut out = Vec::new();
    for entry in address.split(';').filter(|e| !e.is_empty()) {
        let Some((transport, params)) = entry.split_once(':') else {
            return Err(err(format!("{entry:?} has no transport")));
        };
        if transport != "unix" {
            continue;
        }
        for kv in params.split(',') {
            let Some((k, v)) = kv.split_once('=') else { continue };
            let v = unescape(v).ok_or_else(|| err(format!("bad %-escape in {v:?}")))?;
            match k {
                "path" => out.push(Endpoint::Path(PathBuf::from(String::from_utf8_lossy(&v).into_owned()))),
                "abstract" => out.push(Endpoint::Abstract(v)),
                _ => {}
            }
        }
    }
    if out.is_empty() {
        return Err(err("no unix:path= or unix:abstract= entry (the only transports oxrun speaks)".into()));
    }
    Ok(out)
}

fn unescape(v: &str) -> Option<Vec<u8>> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// %-escapes an address value (the specification's optionally-escaped bytes pass as they are).
fn escape(v: &str) -> String {
    v.bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() || b"-_/.\\*".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02x}")
            }
        })
        .collect()
}

/// The SASL line that authenticates as `uid` by the socket's peer credentials: the uid in
/// decimal, hex-encoded.
pub fn auth_external(uid: u32) -> String {
    let hex: String = uid.to_string().bytes().map(|b| format!("{b:02x}")).collect();
    format!("AUTH EXTERNAL {hex}\r\n")
}

/// Whether the server's answer to AUTH accepts us ("OK <server guid>").
pub fn auth_accepted(line: &str) -> bool {
    line.strip_prefix("OK").is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

/// The cgroup of the systemd instance on `conn` (its Manager's ControlGroup property): a user's
/// instance runs in "/user.slice/user-UID.slice/user@UID.service" and its slices and scopes are
/// below that.
pub fn manager_cgroup(conn: &mut Conn, deadline: Instant) -> Result<String, BusError> {
    let get = |s| {
        let h = dbus::Header::call(s, dbus::SYSTEMD_DEST, dbus::SYSTEMD_PATH, "org.freedesktop.DBus.Properties", "Get");
        dbus::encode(&h, &Body::new().str(dbus::MANAGER_IFACE).str("ControlGroup"))
    };
    let reply = conn.call(get, deadline, "systemd's ControlGroup property", |_| {})?;
    let args = reply.args().map_err(|source| BusError::Wire { address: conn.address.clone(), source })?;
    match args.as_slice() {
        [Arg::Variant(v)] => match v.as_ref() {
            Arg::Str(cg) => Ok(cg.clone()),
            other => Err(BusError::Remote {
                name: "(unexpected reply)".into(),
                message: format!("ControlGroup is {other:?}, not a string"),
            }),
        },
        _ => Err(BusError::Remote {
            name: "(unexpected reply)".into(),
            message: format!("signature {:?}, not a variant", reply.header.signature),
        }),
    }
}

/// Whether `m` answers call `serial`: Ok for a METHOD_RETURN, the remote error for an ERROR.
pub fn reply_to(m: &Message, serial: u32) -> Option<Result<(), BusError>> {
    if m.header.reply_serial != Some(serial) {
        return None;
    }
    match m.header.kind {
        Kind::MethodReturn => Some(Ok(())),
        Kind::Error => {
            let name = m.header.error_name.clone().unwrap_or_else(|| "(unnamed error)".into());
            let message =
                m.args().ok().and_then(|a| a.first().and_then(Arg::as_str).map(str::to_string)).unwrap_or_default();
            Some(Err(BusError::Remote { name, message }))
        }
        _ => None,
    }
}

/// An authenticated connection to a bus.
#[derive(Debug)]
pub struct Conn {
    stream: UnixStream,
    /// The endpoint, for messages.
    address: String,
    buf: Vec<u8>,
    serial: u32,
}

impl Conn {
    /// Connects to the first reachable endpoint of `address`, authenticates and says Hello.
    pub fn open(address: &str, deadline: Instant) -> Result<Conn, BusError> {
        let mut last = None;
        for ep in parse_address(address)? {
            let (stream, shown) = match &ep {
                Endpoint::Path(p) => (UnixStream::connect(p), format!("unix:path={}", p.display())),
                Endpoint::Abstract(name) => {
                    use std::os::linux::net::SocketAddrExt;
                    let shown = format!("unix:abstract={}", String::from_utf8_lossy(name));
                    (
                        std::os::unix::net::SocketAddr::from_abstract_name(name)
                            .and_then(|a| UnixStream::connect_addr(&a)),
                        shown,
                    )
                }
            };
            match stream {
                Ok(stream) => {
                    let mut conn = Conn { stream, address: shown, buf: Vec::new(), serial: 0 };
                    conn.authenticate(deadline)?;
                    conn.call(|s| dbus::bus_call(s, "Hello", &Body::new()), deadline, "the bus's Hello reply", |_| {})?;
                    return Ok(conn);
                }
                Err(source) => last = Some(BusError::Connect { address: shown, source }),
            }
        }
        Err(last.expect("parse_address returns at least one endpoint"))
    }

    fn io(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> BusError + '_ {
        move |source| BusError::Io { op, address: self.address.clone(), source }
    }

    /// SASL: a NUL byte, AUTH EXTERNAL with our uid as the bus sees it, OK, BEGIN.
    fn authenticate(&mut self, deadline: Instant) -> Result<(), BusError> {
        let uid = outside_uid();
        let mut hello = vec![0u8];
        hello.extend_from_slice(auth_external(uid).as_bytes());
        self.write(&hello)?;
        let line = self.read_line(deadline)?;
        if !auth_accepted(&line) {
            return Err(BusError::Auth { address: self.address.clone(), uid, reply: line });
        }
        self.write(b"BEGIN\r\n")
    }

    fn read_line(&mut self, deadline: Instant) -> Result<String, BusError> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            if self.buf.len() > 16 << 10 {
                return Err(BusError::Auth {
                    address: self.address.clone(),
                    uid: outside_uid(),
                    reply: "(an overlong line)".into(),
                });
            }
            self.fill(deadline, "the bus's answer to AUTH")?;
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), BusError> {
        self.stream.set_write_timeout(Some(Duration::from_secs(10))).map_err(self.io("set timeout"))?;
        let r = self.stream.write_all(bytes);
        r.map_err(self.io("write"))
    }

    /// Reads more bytes, waiting at most until `deadline`.
    fn fill(&mut self, deadline: Instant, what: &str) -> Result<(), BusError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BusError::Timeout { what: what.into() });
        }
        self.stream.set_read_timeout(Some(left)).map_err(self.io("set timeout"))?;
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(BusError::Closed { address: self.address.clone() }),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                Err(BusError::Timeout { what: what.into() })
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(self.io("read")(e)),
        }
    }

    /// Sends the message `make` builds for the next serial; returns that serial.
    pub fn send(&mut self, make: impl FnOnce(u32) -> Vec<u8>) -> Result<u32, BusError> {
        self.serial += 1;
        let serial = self.serial;
        self.write(&make(serial))?;
        Ok(serial)
    }

    /// The next message, waiting at most until `deadline`.
    pub fn recv(&mut self, deadline: Instant, what: &str) -> Result<Message, BusError> {
        loop {
            let wire = |source| BusError::Wire { address: self.address.clone(), source };
            if let Some(total) = dbus::frame_len(&self.buf).map_err(wire)? {
                if self.buf.len() >= total {
                    let msg = dbus::decode(&self.buf[..total]).map_err(wire)?;
                    self.buf.drain(..total);
                    return Ok(msg);
                }
            }
            self.fill(deadline, what)?;
        }
    }

    /// Sends a call and waits for its reply; every other message read meanwhile goes to `other`
    /// (signals can arrive before the reply). An ERROR reply is `BusError::Remote`.
    pub fn call(
        &mut self,
        make: impl FnOnce(u32) -> Vec<u8>,
        deadline: Instant,
        what: &str,
        mut other: impl FnMut(&Message),
    ) -> Result<Message, BusError> {
        let serial = self.send(make)?;
        loop {
            let m = self.recv(deadline, what)?;
            match reply_to(&m, serial) {
                Some(Ok(())) => return Ok(m),
                Some(Err(e)) => return Err(e),
                None => other(&m),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_map_to_the_parent_namespace() {
        assert_eq!(host_uid(0, "         0          0 4294967295\n"), Some(0));
        assert_eq!(host_uid(1000, "         0          0 4294967295\n"), Some(1000));
        // Rootless Podman: root inside is the user, the rest come from /etc/subuid.
        let podman = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(host_uid(0, podman), Some(1000));
        assert_eq!(host_uid(1, podman), Some(100000));
        assert_eq!(host_uid(65536, podman), Some(165535));
        assert_eq!(host_uid(65537, podman), None);
        assert_eq!(host_uid(0, ""), None);
        assert_eq!(host_uid(0, "garbage\n0 x 1\n"), None);
        assert_eq!(host_uid(5, "0 4294967294 10\n"), None, "past u32 is no uid");
    }

    #[test]
    fn root_in_a_users_namespace_reaches_the_users_bus() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let podman = "0 1000 1\n1 100000 65536\n";
        let uid = host_uid(0, podman).unwrap();
        assert_eq!(bus_address(uid, env(&[("XDG_RUNTIME_DIR", "/run/user/1000")])), "unix:path=/run/user/1000/bus");
        assert_eq!(
            bus_address(uid, env(&[])),
            "unix:path=/run/user/1000/bus",
            "the owner's runtime dir, not /run/user/0"
        );
        assert_eq!(
            bus_address(
                uid,
                env(&[
                    ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus"),
                    ("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/x")
                ])
            ),
            "unix:path=/run/user/1000/bus"
        );
        // Root in a namespace root owns (a rootful container with a user namespace): the system bus.
        assert_eq!(
            bus_address(host_uid(0, "0 0 4294967295\n").unwrap(), env(&[("XDG_RUNTIME_DIR", "/run/user/0")])),
            DEFAULT_SYSTEM_BUS
        );
    }
}
