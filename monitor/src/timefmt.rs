//! k8s-file timestamps: local time, 9-digit nanoseconds, numeric offset (`+00:00`, never `Z`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Converts days since 1970-01-01 to (year, month, day) (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A formatted timestamp on the stack (35 bytes for years 0–9999).
#[derive(Clone, Copy)]
pub struct Timestamp {
    buf: [u8; 48],
    len: usize,
}

impl Timestamp {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn put(out: &mut [u8], v: u64, width: usize) {
    let mut v = v;
    for b in out[..width].iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Formats `secs.nanos` shifted by `gmtoff` seconds, e.g. `2023-02-06T10:53:37.123456789-05:00`,
/// without allocating.
pub fn timestamp(secs: i64, nanos: u32, gmtoff: i64) -> Timestamp {
    let local = secs + gmtoff;
    let days = local.div_euclid(86_400);
    let rem = local.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let sign = if gmtoff < 0 { '-' } else { '+' };
    let off = gmtoff.unsigned_abs();
    let mut t = Timestamp { buf: [0; 48], len: 35 };
    if !(0..=9999).contains(&y) || off >= 100 * 3600 {
        use std::io::Write;
        let mut w = &mut t.buf[..];
        let _ = write!(
            w,
            "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{nanos:09}{sign}{:02}:{:02}",
            off / 3600,
            (off % 3600) / 60
        );
        t.len = 48 - w.len();
        return t;
    }
    let b = &mut t.buf;
    put(&mut b[0..], y as u64, 4);
    b[4] = b'-';
    put(&mut b[5..], u64::from(mo), 2);
    b[7] = b'-';
    put(&mut b[8..], u64::from(d), 2);
    b[10] = b'T';
    put(&mut b[11..], h as u64, 2);
    b[13] = b':';
    put(&mut b[14..], mi as u64, 2);
    b[16] = b':';
    put(&mut b[17..], s as u64, 2);
    b[19] = b'.';
    put(&mut b[20..], u64::from(nanos), 9);
    b[29] = sign as u8;
    put(&mut b[30..], off / 3600, 2);
    b[32] = b':';
    put(&mut b[33..], (off % 3600) / 60, 2);
    t
}

/// Formats `secs.nanos` shifted by `gmtoff` seconds, e.g. `2023-02-06T10:53:37.123456789-05:00`.
pub fn format_timestamp(secs: i64, nanos: u32, gmtoff: i64) -> String {
    String::from_utf8_lossy(timestamp(secs, nanos, gmtoff).as_bytes()).into_owned()
}

/// Caches the UTC offset of the last second asked for (`localtime_r` once per second at most;
/// the offset is a function of the second, so the cache is exact).
#[derive(Default)]
pub struct Clock {
    last: Option<(i64, i64)>,
}

impl Clock {
    /// The current local time as a k8s-file timestamp.
    pub fn now(&mut self) -> Timestamp {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = now.as_secs() as i64;
        let off = match self.last {
            Some((s, off)) if s == secs => off,
            _ => {
                let off = oxsys::monitor_io::local_gmtoff(secs);
                self.last = Some((secs, off));
                off
            }
        };
        timestamp(secs, now.subsec_nanos(), off)
    }
}

/// The current local time as a k8s-file timestamp.
pub fn now_timestamp() -> String {
    String::from_utf8_lossy(Clock::default().now().as_bytes()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        // 2023-02-06T15:53:37Z
        assert_eq!(format_timestamp(1_675_698_817, 123_456_789, -5 * 3600), "2023-02-06T10:53:37.123456789-05:00");
        assert_eq!(format_timestamp(0, 5, 0), "1970-01-01T00:00:00.000000005+00:00");
        assert_eq!(format_timestamp(1_709_164_800, 0, 5 * 3600 + 1800), "2024-02-29T05:30:00.000000000+05:30");
        assert_eq!(format_timestamp(-1, 0, 0), "1969-12-31T23:59:59.000000000+00:00");
        assert_eq!(format_timestamp(253_402_300_800, 1, 0), "10000-01-01T00:00:00.000000001+00:00");
        assert_eq!(format_timestamp(0, 999_999_999, -(9 * 3600 + 30 * 60)), "1969-12-31T14:30:00.999999999-09:30");
        let a = Clock::default().now();
        assert_eq!(a.as_bytes().len(), 35);
    }
}
