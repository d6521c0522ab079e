//! Unmarshalling D-Bus values (specification "Marshaling (Wire Format)"): what the systemd
//! driver reads back from the bus. Every type of the specification is read, in either byte
//! order, so an unexpected signal on the connection is skipped rather than mistaken for a broken
//! stream. Pure and bounds-checked: a malformed message is an error, never a panic.

/// A decoded value. Dict entries come out as two-element structs.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Byte(u8),
    Bool(bool),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Double(f64),
    Str(String),
    Path(String),
    Sig(String),
    UnixFd(u32),
    Array(Vec<Arg>),
    Struct(Vec<Arg>),
    Variant(Box<Arg>),
}

impl Arg {
    /// The text of a STRING, OBJECT_PATH or SIGNATURE.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Arg::Str(s) | Arg::Path(s) | Arg::Sig(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("truncated D-Bus message: {needed} bytes needed at offset {at}")]
    Truncated { at: usize, needed: usize },
    #[error("malformed D-Bus message: {0}")]
    Malformed(String),
}

fn bad(what: impl Into<String>) -> WireError {
    WireError::Malformed(what.into())
}

/// The specification's limits: arrays up to 64 MiB, containers nested at most 64 deep.
const MAX_ARRAY: usize = 64 << 20;
const MAX_DEPTH: usize = 64;

/// Splits the first complete type off a signature: "a(sv)s" → ("a(sv)", "s").
pub fn split_type(sig: &str) -> Result<(&str, &str), WireError> {
    let len = complete_type_len(sig.as_bytes(), 0)?;
    Ok(sig.split_at(len))
}

fn complete_type_len(sig: &[u8], depth: usize) -> Result<usize, WireError> {
    if depth > MAX_DEPTH {
        return Err(bad("signature nests too deeply"));
    }
    let Some(&first) = sig.first() else { return Err(bad("signature ends inside a type")) };
    match first {
        b'y' | b'b' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'd' | b's' | b'o' | b'g' | b'v' | b'h' => Ok(1),
        b'a' => Ok(1 + complete_type_len(&sig[1..], depth + 1)?),
        b'(' | b'{' => {
            let close = if first == b'(' { b')' } else { b'}' };
            let mut at = 1;
            let mut members = 0;
            while sig.get(at) != Some(&close) {
                at += complete_type_len(&sig[at..], depth + 1)?;
                members += 1;
            }
            if members == 0 || (first == b'{' && members != 2) {
                return Err(bad(format!("bad struct or dict entry in signature {:?}", String::from_utf8_lossy(sig))));
            }
            Ok(at + 1)
        }
        c => Err(bad(format!("unknown type code {:?} in signature", c as char))),
    }
}

fn alignment(type_code: u8) -> usize {
    match type_code {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 4,
    }
}

/// Reads values from one buffer whose offset 0 is 8-aligned in the message (the header start or
/// the body start).
pub struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
    big: bool,
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8], big_endian: bool) -> Dec<'a> {
        Dec { buf, pos: 0, big: big_endian }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or(WireError::Truncated { at: self.pos, needed: n })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub fn skip(&mut self, n: usize) -> Result<(), WireError> {
        self.take(n).map(|_| ())
    }

    pub fn align(&mut self, n: usize) -> Result<(), WireError> {
        let pad = (n - self.pos % n) % n;
        self.take(pad).map(|_| ())
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        self.align(N)?;
        let mut b: [u8; N] = self.take(N)?.try_into().expect("N bytes");
        if self.big {
            b.reverse();
        }
        // Now little-endian.
        Ok(b)
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.fixed()?))
    }

    /// STRING and OBJECT_PATH: u32 length, UTF-8 bytes, NUL.
    fn string(&mut self) -> Result<String, WireError> {
        let len = self.u32()? as usize;
        self.text(len)
    }

    /// SIGNATURE: u8 length, bytes, NUL.
    fn signature(&mut self) -> Result<String, WireError> {
        let len = usize::from(self.take(1)?[0]);
        self.text(len)
    }

    fn text(&mut self, len: usize) -> Result<String, WireError> {
        let bytes = self.take(len)?;
        if self.take(1)? != [0] || bytes.contains(&0) {
            return Err(bad("string is not NUL-terminated or contains NUL"));
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| bad("string is not UTF-8"))
    }

    /// Reads one value of the complete type `sig`.
    pub fn value(&mut self, sig: &str) -> Result<Arg, WireError> {
        match split_type(sig)? {
            (one, "") => self.value_at(one.as_bytes(), 0),
            _ => Err(bad(format!("{sig:?} is not a single complete type"))),
        }
    }

    fn value_at(&mut self, sig: &[u8], depth: usize) -> Result<Arg, WireError> {
        if depth > MAX_DEPTH {
            return Err(bad("values nest too deeply"));
        }
        let code = *sig.first().ok_or_else(|| bad("empty type"))?;
        Ok(match code {
            b'y' => Arg::Byte(self.take(1)?[0]),
            b'b' => match self.u32()? {
                0 => Arg::Bool(false),
                1 => Arg::Bool(true),
                n => return Err(bad(format!("boolean {n}"))),
            },
            b'n' => Arg::I16(i16::from_le_bytes(self.fixed()?)),
            b'q' => Arg::U16(u16::from_le_bytes(self.fixed()?)),
            b'i' => Arg::I32(i32::from_le_bytes(self.fixed()?)),
            b'u' => Arg::U32(self.u32()?),
            b'h' => Arg::UnixFd(self.u32()?),
            b'x' => Arg::I64(i64::from_le_bytes(self.fixed()?)),
            b't' => Arg::U64(u64::from_le_bytes(self.fixed()?)),
            b'd' => Arg::Double(f64::from_le_bytes(self.fixed()?)),
            b's' => Arg::Str(self.string()?),
            b'o' => Arg::Path(self.string()?),
            b'g' => Arg::Sig(self.signature()?),
            b'v' => {
                let inner = self.signature()?;
                let (one, rest) = split_type(&inner)?;
                if !rest.is_empty() {
                    return Err(bad(format!("variant signature {inner:?} is not a single type")));
                }
                Arg::Variant(Box::new(self.value_at(one.as_bytes(), depth + 1)?))
            }
            b'a' => self.array(&sig[1..], depth)?,
            b'(' | b'{' => {
                self.align(8)?;
                let mut fields = Vec::new();
                let mut at = 1;
                while at < sig.len() - 1 {
                    let len = complete_type_len(&sig[at..], depth + 1)?;
                    fields.push(self.value_at(&sig[at..at + len], depth + 1)?);
                    at += len;
                }
                Arg::Struct(fields)
            }
            c => return Err(bad(format!("unknown type code {:?}", c as char))),
        })
    }

    fn array(&mut self, elem: &[u8], depth: usize) -> Result<Arg, WireError> {
        let len = self.u32()? as usize;
        if len > MAX_ARRAY {
            return Err(bad(format!("array of {len} bytes exceeds 64 MiB")));
        }
        let elem_len = complete_type_len(elem, depth + 1)?;
        self.align(alignment(elem[0]))?;
        let end = self.pos + len;
        if end > self.buf.len() {
            return Err(WireError::Truncated { at: self.pos, needed: len });
        }
        let mut items = Vec::new();
        while self.pos < end {
            items.push(self.value_at(&elem[..elem_len], depth + 1)?);
        }
        if self.pos != end {
            return Err(bad("array elements overrun the array length"));
        }
        Ok(Arg::Array(items))
    }

    /// Reads a sequence of complete types (a message body).
    pub fn values(&mut self, mut sig: &str) -> Result<Vec<Arg>, WireError> {
        let mut out = Vec::new();
        while !sig.is_empty() {
            let (one, rest) = split_type(sig)?;
            out.push(self.value(one)?);
            sig = rest;
        }
        Ok(out)
    }
}
