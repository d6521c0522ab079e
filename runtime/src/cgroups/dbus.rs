//! The D-Bus wire format (version 1) of what the systemd driver sends (method calls to the bus
//! and to org.freedesktop.systemd1.Manager) and the framing of what it receives (returns,
//! errors, signals; values are read by `dbus_decode`). Pure: the socket lives in `dbus_conn`.
//!
//! We always send little-endian; received messages may be either byte order (the bus forwards
//! them as their sender wrote them). Body alignment is counted from the start of the body, which
//! the header pads to 8 bytes, so it equals the message-relative alignment the specification
//! asks for. Strings must not contain NUL: unit names and annotation values are checked where
//! they are parsed (`systemd::parse_path`, `systemd::parse_annotation`).
use super::dbus_decode::{Arg, Dec, WireError};

pub const SYSTEMD_DEST: &str = "org.freedesktop.systemd1";
pub const SYSTEMD_PATH: &str = "/org/freedesktop/systemd1";
pub const MANAGER_IFACE: &str = "org.freedesktop.systemd1.Manager";
pub const BUS_DEST: &str = "org.freedesktop.DBus";
pub const BUS_PATH: &str = "/org/freedesktop/DBus";
pub const BUS_IFACE: &str = "org.freedesktop.DBus";

/// The specification's limit on a whole message.
pub const MAX_MESSAGE: usize = 128 << 20;

/// Message types (header byte 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MethodCall = 1,
    MethodReturn = 2,
    Error = 3,
    Signal = 4,
}

impl Kind {
    fn from_code(c: u8) -> Option<Kind> {
        [Kind::MethodCall, Kind::MethodReturn, Kind::Error, Kind::Signal].into_iter().find(|k| *k as u8 == c)
    }
}

/// A message header: the fixed part and the header fields of the specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub flags: u8,
    pub serial: u32,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub reply_serial: Option<u32>,
    pub destination: Option<String>,
    pub sender: Option<String>,
    /// The body's signature ("" for no body).
    pub signature: String,
}

impl Header {
    /// A METHOD_CALL header.
    pub fn call(serial: u32, dest: &str, path: &str, iface: &str, member: &str) -> Header {
        Header {
            kind: Kind::MethodCall,
            flags: 0,
            serial,
            path: Some(path.into()),
            interface: Some(iface.into()),
            member: Some(member.into()),
            error_name: None,
            reply_serial: None,
            destination: Some(dest.into()),
            sender: None,
            signature: String::new(),
        }
    }
}

/// A received message: its header and its body bytes, read with `args`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub big_endian: bool,
    pub body: Vec<u8>,
}

impl Message {
    /// The body's values, read by the header's signature.
    pub fn args(&self) -> Result<Vec<Arg>, WireError> {
        let mut dec = Dec::new(&self.body, self.big_endian);
        let args = dec.values(&self.header.signature)?;
        if dec.pos() != self.body.len() {
            return Err(WireError::Malformed(format!("{} bytes after the body's values", self.body.len() - dec.pos())));
        }
        Ok(args)
    }

    /// Whether this is the broadcast `iface.member` signal.
    pub fn is_signal(&self, iface: &str, member: &str) -> bool {
        let h = &self.header;
        h.kind == Kind::Signal && h.interface.as_deref() == Some(iface) && h.member.as_deref() == Some(member)
    }
}

/// The total length of the message that starts `buf`, once its first 16 bytes are there.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
    let Some(fixed) = buf.get(..16) else { return Ok(None) };
    let big = match fixed[0] {
        b'l' => false,
        b'B' => true,
        c => return Err(WireError::Malformed(format!("byte order mark {c:#x}"))),
    };
    let word = |at: usize| {
        let b: [u8; 4] = fixed[at..at + 4].try_into().expect("4 bytes");
        (if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }) as usize
    };
    let (body, fields) = (word(4), word(12));
    let total = (16 + fields).next_multiple_of(8) + body;
    if total > MAX_MESSAGE {
        return Err(WireError::Malformed(format!("message of {total} bytes exceeds 128 MiB")));
    }
    Ok(Some(total))
}

/// Parses one complete message (as framed by `frame_len`).
pub fn decode(buf: &[u8]) -> Result<Message, WireError> {
    let total = frame_len(buf)?.ok_or(WireError::Truncated { at: 0, needed: 16 })?;
    if buf.len() < total {
        return Err(WireError::Truncated { at: buf.len(), needed: total - buf.len() });
    }
    let big = buf[0] == b'B';
    let kind = Kind::from_code(buf[1]).ok_or_else(|| WireError::Malformed(format!("message type {}", buf[1])))?;
    if buf[3] != 1 {
        return Err(WireError::Malformed(format!("protocol version {}", buf[3])));
    }
    let mut dec = Dec::new(&buf[..total], big);
    dec.skip(4)?; // byte order, type, flags, version: read above
    let body_len = dec.u32()? as usize;
    let serial = dec.u32()?;
    let mut h = Header {
        kind,
        flags: buf[2],
        serial,
        path: None,
        interface: None,
        member: None,
        error_name: None,
        reply_serial: None,
        destination: None,
        sender: None,
        signature: String::new(),
    };
    let Arg::Array(fields) = dec.value("a(yv)")? else { unreachable!("an array signature reads an array") };
    for f in fields {
        let Arg::Struct(pair) = f else { continue };
        let (Some(Arg::Byte(code)), Some(Arg::Variant(v))) = (pair.first(), pair.get(1)) else { continue };
        set_field(&mut h, *code, v)?;
    }
    dec.align(8)?;
    let start = dec.pos();
    if start + body_len != total {
        return Err(WireError::Malformed("header and body lengths disagree".into()));
    }
    Ok(Message { header: h, big_endian: big, body: buf[start..total].to_vec() })
}

fn set_field(h: &mut Header, code: u8, v: &Arg) -> Result<(), WireError> {
    let text = || {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| WireError::Malformed(format!("header field {code} has the wrong type")))
    };
    match code {
        1 => h.path = Some(text()?),
        2 => h.interface = Some(text()?),
        3 => h.member = Some(text()?),
        4 => h.error_name = Some(text()?),
        5 => match v {
            Arg::U32(n) => h.reply_serial = Some(*n),
            _ => return Err(WireError::Malformed("REPLY_SERIAL is not a u32".into())),
        },
        6 => h.destination = Some(text()?),
        7 => h.sender = Some(text()?),
        8 => h.signature = text()?,
        // UNIX_FDS and fields defined later are ignored, as the specification asks.
        _ => {}
    }
    Ok(())
}

/// A method call's arguments: their signature and marshalled bytes.
#[derive(Default)]
pub struct Body {
    enc: Enc,
    sig: String,
}

impl Body {
    pub fn new() -> Body {
        Body::default()
    }

    pub fn str(mut self, s: &str) -> Body {
        self.sig.push('s');
        self.enc.str(s);
        self
    }

    pub fn u32(mut self, n: u32) -> Body {
        self.sig.push('u');
        self.enc.u32(n);
        self
    }

    /// OBJECT_PATH (a job, as systemd returns it).
    pub fn path(mut self, p: &str) -> Body {
        self.sig.push('o');
        self.enc.str(p);
        self
    }

    pub fn boolean(mut self, b: bool) -> Body {
        self.sig.push('b');
        self.enc.u32(u32::from(b));
        self
    }

    /// Unit properties, a(sv).
    pub fn properties(mut self, props: &[(String, Value)]) -> Body {
        self.sig.push_str("a(sv)");
        self.enc.array(8, |e| {
            for (name, v) in props {
                e.pad(8);
                e.str(name);
                e.variant(v);
            }
        });
        self
    }

    /// StartTransientUnit's auxiliary units, a(sa(sv)): none.
    pub fn no_aux_units(mut self) -> Body {
        self.sig.push_str("a(sa(sv))");
        self.enc.array(8, |_| {});
        self
    }
}

/// A complete little-endian message.
pub fn encode(h: &Header, body: &Body) -> Vec<u8> {
    let mut msg = Enc::default();
    msg.buf.extend_from_slice(&[b'l', h.kind as u8, h.flags, 1]);
    msg.u32(body.enc.buf.len() as u32);
    msg.u32(h.serial);
    let sig = if body.sig.is_empty() { &h.signature } else { &body.sig };
    msg.array(8, |e| {
        let strings = [(1, 'o', &h.path), (2, 's', &h.interface), (3, 's', &h.member), (4, 's', &h.error_name)];
        for (code, ty, v) in strings {
            if let Some(v) = v {
                e.field(code, ty, v);
            }
        }
        if let Some(r) = h.reply_serial {
            e.pad(8);
            e.buf.extend_from_slice(&[5, 1, b'u', 0]);
            e.u32(r);
        }
        for (code, v) in [(6, &h.destination), (7, &h.sender)] {
            if let Some(v) = v {
                e.field(code, 's', v);
            }
        }
        if !sig.is_empty() {
            e.field(8, 'g', sig);
        }
    });
    msg.pad(8);
    msg.buf.extend_from_slice(&body.enc.buf);
    msg.buf
}

/// A method call to org.freedesktop.systemd1.Manager.
pub fn manager_call(serial: u32, member: &str, body: &Body) -> Vec<u8> {
    encode(&Header::call(serial, SYSTEMD_DEST, SYSTEMD_PATH, MANAGER_IFACE, member), body)
}

/// A method call to the bus itself (Hello, AddMatch).
pub fn bus_call(serial: u32, member: &str, body: &Body) -> Vec<u8> {
    encode(&Header::call(serial, BUS_DEST, BUS_PATH, BUS_IFACE, member), body)
}

/// The complete METHOD_CALL message for StartTransientUnit(s name, s mode, a(sv) properties,
/// a(sa(sv)) aux).
pub fn start_transient_unit(serial: u32, unit: &str, mode: &str, props: &[(String, Value)]) -> Vec<u8> {
    manager_call(serial, "StartTransientUnit", &Body::new().str(unit).str(mode).properties(props).no_aux_units())
}

/// The complete METHOD_CALL message for SetUnitProperties(s name, b runtime, a(sv) properties):
/// `runtime` true changes the unit until the next boot (a transient scope has no other life).
pub fn set_unit_properties(serial: u32, unit: &str, props: &[(String, Value)]) -> Vec<u8> {
    manager_call(serial, "SetUnitProperties", &Body::new().str(unit).boolean(true).properties(props))
}

/// Appends D-Bus-marshalled values, padding each to its alignment.
#[derive(Default)]
struct Enc {
    buf: Vec<u8>,
}

impl Enc {
    fn pad(&mut self, align: usize) {
        while !self.buf.len().is_multiple_of(align) {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.pad(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// STRING and OBJECT_PATH: u32 length, bytes, NUL.
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// SIGNATURE: u8 length, bytes, NUL.
    fn sig(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// One header field (y code, v value) holding a string, object path or signature.
    fn field(&mut self, code: u8, ty: char, v: &str) {
        self.pad(8);
        self.buf.push(code);
        self.sig(&ty.to_string());
        if ty == 'g' {
            self.sig(v);
        } else {
            self.str(v);
        }
    }

    /// ARRAY: u32 byte length (not counting the padding before the first element), elements.
    fn array(&mut self, elem_align: usize, f: impl FnOnce(&mut Enc)) {
        self.u32(0);
        let at = self.buf.len() - 4;
        self.pad(elem_align);
        let start = self.buf.len();
        f(self);
        let n = (self.buf.len() - start) as u32;
        self.buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::I32(n) => self.u32(*n as u32),
            Value::U32(n) => self.u32(*n),
            Value::I64(n) => self.u64(*n as u64),
            Value::U64(n) => self.u64(*n),
            Value::Str(s) => self.str(s),
            Value::Bytes(b) => self.array(1, |e| e.buf.extend_from_slice(b)),
            Value::U32s(ns) => self.array(4, |e| ns.iter().for_each(|n| e.u32(*n))),
            Value::Pairs(ps) => self.array(8, |e| {
                for (a, b) in ps {
                    e.pad(8);
                    e.str(a);
                    e.str(b);
                }
            }),
        }
    }

    fn variant(&mut self, v: &Value) {
        self.sig(v.signature());
        self.value(v);
    }
}

#[cfg(test)]
#[path = "dbus_tests.rs"]
mod tests;

/// A unit property value (the D-Bus types StartTransientUnit needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Str(String),
    Bytes(Vec<u8>),
    U32s(Vec<u32>),
    /// DeviceAllow: (device, access).
    Pairs(Vec<(String, String)>),
}

impl Value {
    /// The D-Bus signature of the value.
    pub fn signature(&self) -> &'static str {
        match self {
            Value::Bool(_) => "b",
            Value::I32(_) => "i",
            Value::U32(_) => "u",
            Value::I64(_) => "x",
            Value::U64(_) => "t",
            Value::Str(_) => "s",
            Value::Bytes(_) => "ay",
            Value::U32s(_) => "au",
            Value::Pairs(_) => "a(ss)",
        }
    }
}
