//! Parsing k8s-file log records (`<ts> <stream> <P|F> <content>`).

/// One parsed k8s-file record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub ts: String,
    pub stream: String,
    pub partial: bool,
    pub content: String,
}

fn digits(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_digit)
}

/// Checks a timestamp against `YYYY-MM-DDTHH:MM:SS.NNNNNNNNN±HH:MM` (35 chars, never `Z`).
pub fn valid_timestamp(ts: &str) -> bool {
    let b = ts.as_bytes();
    b.len() == 35
        && digits(&b[0..4])
        && b[4] == b'-'
        && digits(&b[5..7])
        && b[7] == b'-'
        && digits(&b[8..10])
        && b[10] == b'T'
        && digits(&b[11..13])
        && b[13] == b':'
        && digits(&b[14..16])
        && b[16] == b':'
        && digits(&b[17..19])
        && b[19] == b'.'
        && digits(&b[20..29])
        && (b[29] == b'+' || b[29] == b'-')
        && digits(&b[30..32])
        && b[32] == b':'
        && digits(&b[33..35])
}

/// Parses one k8s-file line (without its newline); panics with the line if malformed.
pub fn parse_record(line: &str) -> Record {
    let mut it = line.splitn(4, ' ');
    let (ts, stream, tag) = (it.next().unwrap_or(""), it.next().unwrap_or(""), it.next().unwrap_or(""));
    let content = it.next();
    assert!(valid_timestamp(ts), "bad timestamp in record {line:?}");
    assert!(stream == "stdout" || stream == "stderr", "bad stream in record {line:?}");
    assert!(tag == "P" || tag == "F", "bad P/F tag in record {line:?}");
    let content = content.unwrap_or_else(|| panic!("record without content separator: {line:?}"));
    Record { ts: ts.into(), stream: stream.into(), partial: tag == "P", content: content.into() }
}

/// Parses a whole k8s-file log; the file must end with a newline.
pub fn parse_log(text: &str) -> Vec<Record> {
    assert!(text.is_empty() || text.ends_with('\n'), "log must end with a newline: {text:?}");
    text.lines().map(parse_record).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_shape() {
        assert!(valid_timestamp("2023-02-06T10:53:37.123456789-05:00"));
        assert!(valid_timestamp("2023-02-06T10:53:37.123456789+00:00"));
        assert!(!valid_timestamp("2023-02-06T10:53:37.123456789Z"), "Z is not conmon's format");
        assert!(!valid_timestamp("2023-02-06T10:53:37.123456-05:00"), "9 fraction digits");
        assert!(!valid_timestamp("2023-02-06 10:53:37.123456789-05:00"));
    }

    #[test]
    fn records() {
        let r = parse_record("2023-02-06T10:53:37.123456789+00:00 stderr P a b");
        assert_eq!((r.stream.as_str(), r.partial, r.content.as_str()), ("stderr", true, "a b"));
        assert_eq!(parse_record("2023-02-06T10:53:37.123456789+00:00 stdout F ").content, "");
        assert!(std::panic::catch_unwind(|| parse_record("2023-02-06T10:53:37.123456789+00:00 stdin F x")).is_err());
        assert!(std::panic::catch_unwind(|| parse_log("no newline")).is_err());
    }
}
