//! journald driver. No journald runs on this host (no systemd), so instead of starting one the
//! test binds `/run/systemd/journal/socket` itself and decodes the native journal protocol
//! (the socket path is fixed in libsystemd, which conmon uses). It refuses to touch the path
//! when a real journald is listening there.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockType, UnixAddr};
use shim_tests::*;

const SOCK: &str = "/run/systemd/journal/socket";

struct JournalStub {
    fd: OwnedFd,
    created_dir: bool,
}

impl Drop for JournalStub {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(SOCK);
        if self.created_dir {
            let _ = std::fs::remove_dir("/run/systemd/journal");
        }
    }
}

/// Binds the stub, or returns None (with the reason printed) when it would not be safe.
fn bind_stub() -> Option<JournalStub> {
    if Path::new(SOCK).exists() {
        eprintln!("NOTE: skipping journald test: {SOCK} exists (a real journald?), not hijacking it");
        return None;
    }
    let created_dir = !Path::new("/run/systemd/journal").exists();
    std::fs::create_dir_all("/run/systemd/journal").expect("create /run/systemd/journal");
    let fd = socket(AddressFamily::Unix, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None).unwrap();
    bind(fd.as_raw_fd(), &UnixAddr::new(SOCK).unwrap()).expect("bind journal stub");
    Some(JournalStub { fd, created_dir })
}

/// Decodes one native-protocol datagram (`K=V\n` or `K\n<u64 le len><bytes>\n`).
fn decode(mut d: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut fields = HashMap::new();
    while !d.is_empty() {
        let end = d.iter().position(|&b| b == b'=' || b == b'\n').expect("field name terminator");
        let key = String::from_utf8(d[..end].to_vec()).unwrap();
        if d[end] == b'=' {
            let rest = &d[end + 1..];
            let nl = rest.iter().position(|&b| b == b'\n').expect("value newline");
            fields.insert(key, rest[..nl].to_vec());
            d = &rest[nl + 1..];
        } else {
            let rest = &d[end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            fields.insert(key, rest[8..8 + len].to_vec());
            assert_eq!(rest[8 + len], b'\n', "binary field must end with a newline");
            d = &rest[9 + len..];
        }
    }
    fields
}

#[test]
fn journald_native_protocol_fields() {
    let Some(stub) = bind_stub() else { return };
    let script = "echo line1; printf 'multi\\nline\\n'; echo err >&2; printf partial";
    let b = Bundle::new(&["sh", "-c", script], false);
    let cid = unique_id("journald");
    let mut l = Launch::create(&cid, &b);
    // Two drivers at once: journald and a k8s file.
    let k8s = format!("k8s-file:{}", b.file("ctr.log").display());
    l.args = vec!["--full-attach".into(), "-l".into(), "journald".into(), "-l".into(), k8s];
    l.args.extend(["--log-tag".into(), "mytag".into()]);
    let (r, _g, _pid) = launch_created(l);
    start(&cid);
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
    let mut entries = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(Some(_)) = recv_packet_dgram(&stub.fd, &mut buf, &mut entries) {}
    let ours: Vec<_> = entries
        .into_iter()
        .filter(|e| e.get("CONTAINER_ID_FULL").map(|v| v.as_slice()) == Some(cid.as_bytes()))
        .collect();
    let msg = |e: &HashMap<String, Vec<u8>>| String::from_utf8_lossy(&e["MESSAGE"]).into_owned();
    let out: Vec<_> = ours.iter().filter(|e| e["PRIORITY"] == b"6").map(msg).collect();
    let err: Vec<_> = ours.iter().filter(|e| e["PRIORITY"] == b"3").map(msg).collect();
    assert_eq!(out, vec!["line1\n", "multi\n", "line\n", "partial"], "stdout entries");
    assert_eq!(err, vec!["err\n"], "stderr entries");
    let recs = parse_log(&std::fs::read_to_string(b.file("ctr.log")).unwrap());
    let k8s_out: Vec<_> = recs.iter().filter(|r| r.stream == "stdout").map(|r| r.content.as_str()).collect();
    assert_eq!(k8s_out, vec!["line1", "multi", "line", "partial"], "the k8s file gets the same output");
    for e in &ours {
        assert_eq!(e["CONTAINER_ID"], cid.as_bytes()[..12].to_vec());
        assert_eq!(e["CONTAINER_NAME"], format!("name-{cid}").into_bytes());
        assert_eq!(e["CONTAINER_TAG"], b"mytag");
        assert_eq!(e["SYSLOG_IDENTIFIER"], b"mytag");
        let partial = e.get("CONTAINER_PARTIAL_MESSAGE").map(|v| v.as_slice());
        assert_eq!(partial == Some(b"true".as_slice()), msg(e) == "partial", "partial flag on {e:?}");
    }
}

fn recv_packet_dgram(fd: &OwnedFd, buf: &mut [u8], out: &mut Vec<HashMap<String, Vec<u8>>>) -> Result<Option<()>, ()> {
    let mut pfd = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(fd), nix::poll::PollFlags::POLLIN)];
    let ms = nix::poll::PollTimeout::try_from(Duration::from_millis(500).as_millis() as i32).unwrap();
    if nix::poll::poll(&mut pfd, ms).map_err(|_| ())? == 0 {
        return Ok(None);
    }
    let n = nix::unistd::read(fd.as_raw_fd(), buf).map_err(|_| ())?;
    out.push(decode(&buf[..n]));
    Ok(Some(()))
}
