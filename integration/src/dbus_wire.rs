//! A tiny D-Bus peer for tests: connect to a bus, authenticate, own a name, read calls and send
//! returns, errors and signals. Written apart from oxrun's own client (runtime/src/cgroups/dbus*)
//! on purpose: the two meet only through a real dbus-daemon, which validates every message, so
//! a misreading of the specification shared by both sides cannot hide.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A D-Bus value.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Y(u8),
    B(bool),
    N(i16),
    Q(u16),
    I(i32),
    U(u32),
    X(i64),
    T(u64),
    D(f64),
    S(String),
    O(String),
    G(String),
    H(u32),
    A(Vec<V>),
    R(Vec<V>),
    Var(Box<V>),
}

impl V {
    /// The text of s, o or g.
    pub fn text(&self) -> Option<&str> {
        match self {
            V::S(s) | V::O(s) | V::G(s) => Some(s),
            _ => None,
        }
    }
}

pub const CALL: u8 = 1;
pub const RETURN: u8 = 2;
pub const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;

/// One message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Msg {
    pub kind: u8,
    pub serial: u32,
    pub reply_serial: Option<u32>,
    pub path: Option<String>,
    pub iface: Option<String>,
    pub member: Option<String>,
    pub error: Option<String>,
    pub dest: Option<String>,
    pub sender: Option<String>,
    /// Body signature.
    pub sig: String,
    pub body: Vec<V>,
}

fn align_of(c: u8) -> usize {
    match c {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 4,
    }
}

/// Length of the first complete type in `sig`.
fn first_type(sig: &[u8]) -> Result<usize, String> {
    match sig.first() {
        None => Err("empty signature".into()),
        Some(b'a') => Ok(1 + first_type(&sig[1..])?),
        Some(b'(') | Some(b'{') => {
            let mut i = 1;
            while sig.get(i).is_some_and(|c| *c != b')' && *c != b'}') {
                i += first_type(&sig[i..])?;
            }
            if i >= sig.len() {
                return Err("unclosed struct".into());
            }
            Ok(i + 1)
        }
        Some(_) => Ok(1),
    }
}

struct Writer {
    b: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, n: usize) {
        while !self.b.len().is_multiple_of(n) {
            self.b.push(0);
        }
    }
    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.b.extend(v.to_le_bytes());
    }
    fn text(&mut self, s: &str, short: bool) {
        if short {
            self.b.push(s.len() as u8);
        } else {
            self.u32(s.len() as u32);
        }
        self.b.extend(s.as_bytes());
        self.b.push(0);
    }
    /// Basic types only: what the stand-in replies with.
    fn put(&mut self, v: &V) {
        match v {
            V::Y(x) => self.b.push(*x),
            V::B(x) => self.u32(u32::from(*x)),
            V::I(x) => self.u32(*x as u32),
            V::U(x) | V::H(x) => self.u32(*x),
            V::S(s) | V::O(s) => self.text(s, false),
            V::G(s) => self.text(s, true),
            V::T(x) => {
                self.pad(8);
                self.b.extend(x.to_le_bytes());
            }
            other => panic!("the test peer does not send {other:?}"),
        }
    }
}

/// The signature of basic values.
fn sig_of(body: &[V]) -> String {
    body.iter()
        .map(|v| match v {
            V::Y(_) => 'y',
            V::B(_) => 'b',
            V::I(_) => 'i',
            V::U(_) => 'u',
            V::H(_) => 'h',
            V::S(_) => 's',
            V::O(_) => 'o',
            V::G(_) => 'g',
            V::T(_) => 't',
            other => panic!("the test peer does not send {other:?}"),
        })
        .collect()
}

/// Marshals a message (little-endian; bodies of basic types).
pub fn encode(m: &Msg) -> Vec<u8> {
    let mut body = Writer { b: Vec::new() };
    m.body.iter().for_each(|v| body.put(v));
    let mut w = Writer { b: vec![b'l', m.kind, 0, 1] };
    w.u32(body.b.len() as u32);
    w.u32(m.serial);
    let mut fields: Vec<(u8, V)> = Vec::new();
    let opt = |code: u8, v: &Option<String>, f: fn(String) -> V| v.clone().map(|s| (code, f(s)));
    fields.extend(opt(1, &m.path, V::O));
    fields.extend(opt(2, &m.iface, V::S));
    fields.extend(opt(3, &m.member, V::S));
    fields.extend(opt(4, &m.error, V::S));
    fields.extend(m.reply_serial.map(|r| (5, V::U(r))));
    fields.extend(opt(6, &m.dest, V::S));
    let sig = sig_of(&m.body);
    if !sig.is_empty() {
        fields.push((8, V::G(sig)));
    }
    let mut fw = Writer { b: Vec::new() };
    for (code, v) in &fields {
        fw.pad(8);
        fw.b.push(*code);
        fw.text(&sig_of(std::slice::from_ref(v)), true);
        fw.put(v);
    }
    // The field array's length counts from its first (8-aligned) entry; offset 16 is aligned.
    w.u32(fw.b.len() as u32);
    w.b.extend(fw.b);
    w.pad(8);
    w.b.extend(body.b);
    w.b
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    be: bool,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let s = self.b.get(self.at..self.at + n).ok_or("truncated")?;
        self.at += n;
        Ok(s)
    }
    fn align(&mut self, n: usize) -> Result<(), String> {
        let pad = (n - self.at % n) % n;
        self.take(pad).map(|_| ())
    }
    fn num<const N: usize>(&mut self) -> Result<[u8; N], String> {
        self.align(N)?;
        let mut a: [u8; N] = self.take(N)?.try_into().unwrap();
        if self.be {
            a.reverse();
        }
        Ok(a)
    }
    fn text(&mut self, short: bool) -> Result<String, String> {
        let len = if short { self.take(1)?[0] as usize } else { u32::from_le_bytes(self.num()?) as usize };
        let s = String::from_utf8(self.take(len)?.to_vec()).map_err(|e| e.to_string())?;
        self.take(1)?;
        Ok(s)
    }
    /// Reads one value of the complete type `t`.
    fn get(&mut self, t: &[u8]) -> Result<V, String> {
        Ok(match t[0] {
            b'y' => V::Y(self.take(1)?[0]),
            b'b' => V::B(u32::from_le_bytes(self.num()?) != 0),
            b'n' => V::N(i16::from_le_bytes(self.num()?)),
            b'q' => V::Q(u16::from_le_bytes(self.num()?)),
            b'i' => V::I(i32::from_le_bytes(self.num()?)),
            b'u' => V::U(u32::from_le_bytes(self.num()?)),
            b'h' => V::H(u32::from_le_bytes(self.num()?)),
            b'x' => V::X(i64::from_le_bytes(self.num()?)),
            b't' => V::T(u64::from_le_bytes(self.num()?)),
            b'd' => V::D(f64::from_le_bytes(self.num()?)),
            b's' => V::S(self.text(false)?),
            b'o' => V::O(self.text(false)?),
            b'g' => V::G(self.text(true)?),
            b'v' => {
                let s = self.text(true)?;
                V::Var(Box::new(self.get(s.as_bytes())?))
            }
            b'a' => {
                let len = u32::from_le_bytes(self.num()?) as usize;
                self.align(align_of(t[1]))?;
                let end = self.at + len;
                let elem = &t[1..1 + first_type(&t[1..])?];
                let mut items = Vec::new();
                while self.at < end {
                    items.push(self.get(elem)?);
                }
                V::A(items)
            }
            b'(' | b'{' => {
                self.align(8)?;
                let mut items = Vec::new();
                let mut i = 1;
                while i < t.len() - 1 {
                    let n = first_type(&t[i..])?;
                    items.push(self.get(&t[i..i + n])?);
                    i += n;
                }
                V::R(items)
            }
            c => return Err(format!("type {:?}", c as char)),
        })
    }
    fn all(&mut self, sig: &str) -> Result<Vec<V>, String> {
        let s = sig.as_bytes();
        let mut i = 0;
        let mut out = Vec::new();
        while i < s.len() {
            let n = first_type(&s[i..])?;
            out.push(self.get(&s[i..i + n])?);
            i += n;
        }
        Ok(out)
    }
}

/// Unmarshals the message at the start of `buf`: None until it is complete.
pub fn decode(buf: &[u8]) -> Result<Option<(Msg, usize)>, String> {
    if buf.len() < 16 {
        return Ok(None);
    }
    let be = buf[0] == b'B';
    let word = |i: usize| {
        let a: [u8; 4] = buf[i..i + 4].try_into().unwrap();
        if be {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    let (blen, serial, flen) = (word(4) as usize, word(8), word(12) as usize);
    let hend = (16 + flen).div_ceil(8) * 8;
    if buf.len() < hend + blen {
        return Ok(None);
    }
    let mut m = Msg { kind: buf[1], serial, ..Msg::default() };
    let mut r = Reader { b: &buf[..hend], at: 12, be };
    let V::A(fields) = r.get(b"a(yv)")? else { unreachable!() };
    for f in fields {
        let V::R(pair) = f else { continue };
        let (V::Y(code), V::Var(v)) = (&pair[0], &pair[1]) else {
            continue;
        };
        let text = v.text().map(str::to_string);
        match code {
            1 => m.path = text,
            2 => m.iface = text,
            3 => m.member = text,
            4 => m.error = text,
            5 => m.reply_serial = if let V::U(n) = **v { Some(n) } else { None },
            6 => m.dest = text,
            7 => m.sender = text,
            8 => m.sig = text.unwrap_or_default(),
            _ => {}
        }
    }
    let mut br = Reader { b: &buf[hend..hend + blen], at: 0, be };
    m.body = br.all(&m.sig)?;
    Ok(Some((m, hend + blen)))
}

/// A connection to a bus, as a plain peer.
pub struct Peer {
    s: UnixStream,
    buf: Vec<u8>,
    serial: u32,
    /// Our unique name (":1.N").
    pub name: String,
}

impl Peer {
    /// Connects to `unix:path=...`, authenticates (EXTERNAL) and says Hello.
    pub fn connect(address: &str) -> std::io::Result<Peer> {
        let path = address
            .split(',')
            .find_map(|kv| kv.strip_prefix("unix:path="))
            .ok_or_else(|| std::io::Error::other(format!("not a unix:path= address: {address}")))?;
        let mut s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let uid: String = nix::unistd::geteuid().as_raw().to_string().bytes().map(|b| format!("{b:02x}")).collect();
        s.write_all(format!("\0AUTH EXTERNAL {uid}\r\n").as_bytes())?;
        let mut line = Vec::new();
        let mut byte = [0u8];
        while !line.ends_with(b"\r\n") {
            s.read_exact(&mut byte)?;
            line.push(byte[0]);
        }
        if !line.starts_with(b"OK ") {
            return Err(std::io::Error::other(format!("auth: {}", String::from_utf8_lossy(&line))));
        }
        s.write_all(b"BEGIN\r\n")?;
        let mut p = Peer { s, buf: Vec::new(), serial: 0, name: String::new() };
        let reply = p.call_bus("Hello", vec![])?;
        p.name = reply.body.first().and_then(V::text).unwrap_or_default().to_string();
        Ok(p)
    }

    /// Sends `m` with the next serial; returns the serial.
    pub fn send(&mut self, mut m: Msg) -> std::io::Result<u32> {
        self.serial += 1;
        m.serial = self.serial;
        self.s.write_all(&encode(&m))?;
        Ok(self.serial)
    }

    /// The next message, or None when `timeout` passes first.
    pub fn recv(&mut self, timeout: Duration) -> std::io::Result<Option<Msg>> {
        self.s.set_read_timeout(Some(timeout))?;
        loop {
            if let Some((m, n)) = decode(&self.buf).map_err(std::io::Error::other)? {
                self.buf.drain(..n);
                return Ok(Some(m));
            }
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "bus closed")),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Calls a method of the bus itself and waits for its reply.
    pub fn call_bus(&mut self, member: &str, body: Vec<V>) -> std::io::Result<Msg> {
        let serial = self.send(Msg {
            kind: CALL,
            path: Some("/org/freedesktop/DBus".into()),
            iface: Some("org.freedesktop.DBus".into()),
            member: Some(member.into()),
            dest: Some("org.freedesktop.DBus".into()),
            body,
            ..Msg::default()
        })?;
        loop {
            match self.recv(Duration::from_secs(10))? {
                Some(m) if m.reply_serial == Some(serial) && m.kind == RETURN => return Ok(m),
                Some(m) if m.reply_serial == Some(serial) => {
                    return Err(std::io::Error::other(format!("{member}: {:?} {:?}", m.error, m.body)))
                }
                Some(_) => {}
                None => return Err(std::io::Error::other(format!("no reply to {member}"))),
            }
        }
    }

    /// Replies to `call` (a method return with `body`, or an error `name: text`).
    pub fn reply(&mut self, call: &Msg, result: Result<Vec<V>, (String, String)>) -> std::io::Result<()> {
        let (kind, error, body) = match result {
            Ok(body) => (RETURN, None, body),
            Err((name, text)) => (ERROR, Some(name), vec![V::S(text)]),
        };
        self.send(Msg {
            kind,
            error,
            reply_serial: Some(call.serial),
            dest: call.sender.clone(),
            body,
            ..Msg::default()
        })?;
        Ok(())
    }
}
