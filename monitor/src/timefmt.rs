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

/// Formats `secs.nanos` shifted by `gmtoff` seconds, e.g. `2023-02-06T10:53:37.123456789-05:00`.
pub fn format_timestamp(secs: i64, nanos: u32, gmtoff: i64) -> String {
    let local = secs + gmtoff;
    let days = local.div_euclid(86_400);
    let rem = local.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let sign = if gmtoff < 0 { '-' } else { '+' };
    let off = gmtoff.abs();
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{nanos:09}{sign}{:02}:{:02}",
        off / 3600,
        (off % 3600) / 60
    )
}

/// The current local time as a k8s-file timestamp.
pub fn now_timestamp() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    format_timestamp(secs, now.subsec_nanos(), crate::sys::local_gmtoff(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        // 2023-02-06T15:53:37Z
        assert_eq!(
            format_timestamp(1_675_698_817, 123_456_789, -5 * 3600),
            "2023-02-06T10:53:37.123456789-05:00"
        );
        assert_eq!(format_timestamp(0, 5, 0), "1970-01-01T00:00:00.000000005+00:00");
        assert_eq!(
            format_timestamp(1_709_164_800, 0, 5 * 3600 + 1800),
            "2024-02-29T05:30:00.000000000+05:30"
        );
        assert_eq!(format_timestamp(-1, 0, 0), "1969-12-31T23:59:59.000000000+00:00");
    }
}
