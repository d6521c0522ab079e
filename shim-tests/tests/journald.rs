//! journald driver. No journald runs on this host (no systemd), so instead of starting one the
//! test binds `/run/systemd/journal/socket` itself and decodes the native journal protocol
//! (the socket path is fixed in libsystemd, which conmon uses). It refuses to touch the path
//! when a real journald is listening there.

use std::collections::HashMap;

use shim_tests::stub::{self, bind_stub};
use shim_tests::*;

#[test]
fn journald_native_protocol_fields() {
    let Some(stub) = bind_stub(stub::JOURNAL_SOCKET) else { return };
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
    let ours: Vec<_> = stub
        .drain()
        .iter()
        .map(|d| stub::decode_journal(d))
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
