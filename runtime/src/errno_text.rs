//! glibc's words for errno values in the runtime's messages, whichever libc it is linked with.
//!
//! `io::Error` prints `strerror(n) (os error n)`, and musl's `strerror` words 73 values
//! differently from glibc's ("Symbolic link loop", not "Too many levels of symbolic links";
//! "Resource busy", not "Device or resource busy"). runc's messages carry glibc's words (Go's
//! table is glibc's, in lower case), and so do crun's; users and tools match them. The musl build
//! of oxrun (runtime/build.rs) therefore rewrites musl's words back at the one place messages
//! leave the process (`logging`). In the glibc build there is nothing to rewrite.
use std::borrow::Cow;

/// `(errno, musl's words, glibc's words)` for every errno from 1 to 133 where the two differ
/// (musl 1.2 as in Rust's musl target, glibc 2.36).
const DIFFERENT_WORDS: [(i32, &str, &str); 73] = [
    (5, "I/O error", "Input/output error"),
    (10, "No child process", "No child processes"),
    (12, "Out of memory", "Cannot allocate memory"),
    (16, "Resource busy", "Device or resource busy"),
    (18, "Cross-device link", "Invalid cross-device link"),
    (24, "No file descriptors available", "Too many open files"),
    (25, "Not a tty", "Inappropriate ioctl for device"),
    (29, "Invalid seek", "Illegal seek"),
    (33, "Domain error", "Numerical argument out of domain"),
    (34, "Result not representable", "Numerical result out of range"),
    (35, "Resource deadlock would occur", "Resource deadlock avoided"),
    (36, "Filename too long", "File name too long"),
    (40, "Symbolic link loop", "Too many levels of symbolic links"),
    (41, "No error information", "Unknown error 41"),
    (44, "No error information", "Channel number out of range"),
    (45, "No error information", "Level 2 not synchronized"),
    (46, "No error information", "Level 3 halted"),
    (47, "No error information", "Level 3 reset"),
    (48, "No error information", "Link number out of range"),
    (49, "No error information", "Protocol driver not attached"),
    (50, "No error information", "No CSI structure available"),
    (51, "No error information", "Level 2 halted"),
    (52, "No error information", "Invalid exchange"),
    (53, "No error information", "Invalid request descriptor"),
    (54, "No error information", "Exchange full"),
    (55, "No error information", "No anode"),
    (56, "No error information", "Invalid request code"),
    (57, "No error information", "Invalid slot"),
    (58, "No error information", "Unknown error 58"),
    (59, "No error information", "Bad font file format"),
    (62, "Device timeout", "Timer expired"),
    (64, "No error information", "Machine is not on the network"),
    (65, "No error information", "Package not installed"),
    (66, "No error information", "Object is remote"),
    (68, "No error information", "Advertise error"),
    (69, "No error information", "Srmount error"),
    (70, "No error information", "Communication error on send"),
    (73, "No error information", "RFS specific error"),
    (75, "Value too large for data type", "Value too large for defined data type"),
    (76, "No error information", "Name not unique on network"),
    (78, "No error information", "Remote address changed"),
    (79, "No error information", "Can not access a needed shared library"),
    (80, "No error information", "Accessing a corrupted shared library"),
    (81, "No error information", ".lib section in a.out corrupted"),
    (82, "No error information", "Attempting to link in too many shared libraries"),
    (83, "No error information", "Cannot exec a shared library directly"),
    (84, "Illegal byte sequence", "Invalid or incomplete multibyte or wide character"),
    (85, "No error information", "Interrupted system call should be restarted"),
    (86, "No error information", "Streams pipe error"),
    (87, "No error information", "Too many users"),
    (88, "Not a socket", "Socket operation on non-socket"),
    (90, "Message too large", "Message too long"),
    (95, "Not supported", "Operation not supported"),
    (98, "Address in use", "Address already in use"),
    (99, "Address not available", "Cannot assign requested address"),
    (101, "Network unreachable", "Network is unreachable"),
    (102, "Connection reset by network", "Network dropped connection on reset"),
    (103, "Connection aborted", "Software caused connection abort"),
    (106, "Socket is connected", "Transport endpoint is already connected"),
    (107, "Socket not connected", "Transport endpoint is not connected"),
    (108, "Cannot send after socket shutdown", "Cannot send after transport endpoint shutdown"),
    (109, "No error information", "Too many references: cannot splice"),
    (110, "Operation timed out", "Connection timed out"),
    (113, "Host is unreachable", "No route to host"),
    (115, "Operation in progress", "Operation now in progress"),
    (117, "No error information", "Structure needs cleaning"),
    (118, "No error information", "Not a XENIX named type file"),
    (119, "No error information", "No XENIX semaphores available"),
    (120, "No error information", "Is a named type file"),
    (122, "Quota exceeded", "Disk quota exceeded"),
    (130, "Previous owner died", "Owner died"),
    (132, "No error information", "Operation not possible due to RF-kill"),
    (133, "No error information", "Memory page has hardware error"),
];

/// `msg` with musl's words for each `… (os error N)` replaced by glibc's.
pub fn glibc_wording(msg: &str) -> Cow<'_, str> {
    const MARK: &str = " (os error ";
    if !msg.contains(MARK) {
        return Cow::Borrowed(msg);
    }
    let mut out = String::with_capacity(msg.len() + 16);
    let mut rest = msg;
    while let Some(at) = rest.find(MARK) {
        let (before, after) = rest.split_at(at);
        let digits: String = after[MARK.len()..].chars().take_while(char::is_ascii_digit).collect();
        let musl = digits.parse::<i32>().ok().and_then(|n| DIFFERENT_WORDS.iter().find(|(e, _, _)| *e == n));
        match musl {
            Some((_, words, glibc)) if before.ends_with(words) => {
                out.push_str(&before[..before.len() - words.len()]);
                out.push_str(glibc);
            }
            _ => out.push_str(before),
        }
        out.push_str(MARK);
        rest = &after[MARK.len()..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn musl_words_become_glibcs_before_each_errno() {
        assert_eq!(
            glibc_wording("create: masked path /loop: Symbolic link loop (os error 40)"),
            "create: masked path /loop: Too many levels of symbolic links (os error 40)"
        );
        assert_eq!(
            glibc_wording("umount /a: Resource busy (os error 16); rmdir /b: Not supported (os error 95)"),
            "umount /a: Device or resource busy (os error 16); rmdir /b: Operation not supported (os error 95)"
        );
    }

    #[test]
    fn other_text_is_left_alone() {
        for msg in [
            "open /x: No such file or directory (os error 2)",
            "open /x: Too many levels of symbolic links (os error 40)",
            "a path named Symbolic link loop (os error 2)",
            "no errno here",
            "truncated (os error ",
            "Symbolic link loop (os error 4000)",
        ] {
            assert_eq!(glibc_wording(msg), msg);
        }
    }

    #[test]
    fn the_table_has_one_row_per_errno_and_no_identical_words() {
        let mut seen = std::collections::HashSet::new();
        for (n, musl, glibc) in DIFFERENT_WORDS {
            assert!(seen.insert(n), "errno {n} twice");
            assert_ne!(musl, glibc, "errno {n}");
        }
    }
}
