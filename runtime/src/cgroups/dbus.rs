//! The D-Bus wire format (little-endian, version 1) of the one call the systemd driver makes:
//! org.freedesktop.systemd1.Manager.StartTransientUnit(s name, s mode, a(sv) properties,
//! a(sa(sv)) aux). Pure; alignment is counted from the start of the body, which the header pads
//! to 8 bytes, so it equals the message-relative alignment the specification asks for.
use super::systemd::Value;

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

pub const SYSTEMD_DEST: &str = "org.freedesktop.systemd1";
pub const SYSTEMD_PATH: &str = "/org/freedesktop/systemd1";
pub const MANAGER_IFACE: &str = "org.freedesktop.systemd1.Manager";

/// The complete METHOD_CALL message for StartTransientUnit.
pub fn start_transient_unit(serial: u32, unit: &str, mode: &str, props: &[(String, Value)]) -> Vec<u8> {
    let mut body = Enc::default();
    body.str(unit);
    body.str(mode);
    body.array(8, |e| {
        for (name, v) in props {
            e.pad(8);
            e.str(name);
            e.variant(v);
        }
    });
    // No auxiliary units.
    body.array(8, |_| {});
    let mut msg = Enc::default();
    msg.buf.extend_from_slice(&[b'l', 1, 0, 1]); // little-endian, METHOD_CALL, no flags, version 1
    msg.u32(body.buf.len() as u32);
    msg.u32(serial);
    msg.array(8, |e| {
        let fields: [(u8, &str, &str); 5] = [
            (1, "o", SYSTEMD_PATH),
            (2, "s", MANAGER_IFACE),
            (3, "s", "StartTransientUnit"),
            (6, "s", SYSTEMD_DEST),
            (8, "g", "ssa(sv)a(sa(sv))"),
        ];
        for (code, sig, val) in fields {
            e.pad(8);
            e.buf.push(code);
            e.sig(sig);
            if sig == "g" {
                e.sig(val);
            } else {
                e.str(val);
            }
        }
    });
    msg.pad(8);
    msg.buf.extend_from_slice(&body.buf);
    msg.buf
}
