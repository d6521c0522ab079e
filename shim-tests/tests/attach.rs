//! Attach socket framing, stdin handling, terminal mode and the ctl FIFO.

use std::time::Duration;

use shim_tests::*;

fn has(frames: &[(u8, Vec<u8>)], id: u8, needle: &str) -> bool {
    stream_text(frames, id).contains(needle)
}

#[test]
fn attach_framing_stdin_and_half_close() {
    let script = "while read l; do echo out:$l; echo err:$l >&2; done; echo done";
    let b = Bundle::new(&["sh", "-c", script], false);
    let cid = unique_id("attach");
    let l = Launch::create(&cid, &b).arg("-i");
    let (r, _g, _pid) = launch_created(l);
    let c1 = connect_attach(&b.file("attach"));
    let c2 = connect_attach(&b.file("attach"));
    start(&cid);
    send_input(&c1, b"hello\n");
    let f1 = read_frames(&c1, STEP, |f| has(f, 2, "out:hello\n") && has(f, 3, "err:hello\n"));
    assert!(has(&f1, 2, "out:hello\n") && has(&f1, 3, "err:hello\n"), "client 1 frames: {f1:?}");
    let f2 = read_frames(&c2, STEP, |f| has(f, 2, "out:hello\n") && has(f, 3, "err:hello\n"));
    assert!(has(&f2, 2, "out:hello\n") && has(&f2, 3, "err:hello\n"), "client 2 frames: {f2:?}");
    for (id, _) in f1.iter().chain(f2.iter()) {
        assert!(*id == 2 || *id == 3, "stream byte must be 2 or 3, got {id}");
    }
    // Half-close: the container's stdin is closed, its loop ends.
    close_write(&c1);
    let f2 = read_frames(&c2, STEP, |f| has(f, 2, "done\n"));
    assert!(has(&f2, 2, "done\n"), "stdin closed after client EOF: {f2:?}");
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
    // All clients are closed at container exit.
    assert_eq!(recv_packet(&c2, STEP), Ok(None), "client sees EOF after exit");
    assert!(!b.file("attach").exists(), "attach socket is removed at exit");
    let log = parse_log(&std::fs::read_to_string(b.file("ctr.log")).unwrap());
    assert!(log.iter().any(|r| r.stream == "stderr" && r.content == "err:hello"));
}

#[test]
fn leave_stdin_open_keeps_stdin() {
    let b = Bundle::new(&["sh", "-c", "read a; echo got:$a; read b; echo got:$b"], false);
    let cid = unique_id("leave");
    let l = Launch::create(&cid, &b).arg("-i").arg("--leave-stdin-open");
    let (r, _g, _pid) = launch_created(l);
    let c1 = connect_attach(&b.file("attach"));
    start(&cid);
    send_input(&c1, b"x\n");
    let f = read_frames(&c1, STEP, |f| has(f, 2, "got:x\n"));
    assert!(has(&f, 2, "got:x\n"), "{f:?}");
    close_write(&c1);
    std::thread::sleep(Duration::from_millis(200));
    let c2 = connect_attach(&b.file("attach"));
    send_input(&c2, b"y\n");
    let f = read_frames(&c2, STEP, |f| has(f, 2, "got:y\n"));
    assert!(has(&f, 2, "got:y\n"), "stdin stayed open: {f:?}");
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
}

#[test]
fn terminal_resize_through_ctl() {
    let script = "read a; stty size; read b; stty size; read c; stty size";
    let b = Bundle::new(&["sh", "-c", script], true);
    let cid = unique_id("tty");
    let l = Launch::create(&cid, &b).arg("-t");
    let (r, _g, _pid) = launch_created(l);
    let c = connect_attach(&b.file("attach"));
    start(&cid);
    write_ctl(b.path(), "1 40 100\n");
    std::thread::sleep(Duration::from_millis(300));
    send_input(&c, b"a\r");
    let f = read_frames(&c, STEP, |f| has(f, 2, "40 100"));
    assert!(has(&f, 2, "40 100"), "stty sees the ctl size: {:?}", stream_text(&f, 2));
    write_ctl(b.path(), "1 30 90\n");
    std::thread::sleep(Duration::from_millis(300));
    send_input(&c, b"b\r");
    let f = read_frames(&c, STEP, |f| has(f, 2, "30 90"));
    assert!(has(&f, 2, "30 90"), "second resize: {:?}", stream_text(&f, 2));
    // Several lines in one write: conmon 2.1.6 re-parses the first line for every line.
    write_ctl(b.path(), "1 25 70\n1 35 120\n");
    std::thread::sleep(Duration::from_millis(300));
    send_input(&c, b"c\r");
    let want = if oxmon_only("conmon 2.1.6 handles only the first of several ctl lines per read") {
        "35 120"
    } else {
        "25 70"
    };
    let f = read_frames(&c, STEP, |f| has(f, 2, want));
    assert!(has(&f, 2, want), "multi-line ctl write: {:?}", stream_text(&f, 2));
    assert!(f.iter().all(|(id, _)| *id == 2), "tty output is all stream 2");
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
    let log = parse_log(&std::fs::read_to_string(b.file("ctr.log")).unwrap());
    assert!(log.iter().all(|r| r.stream == "stdout"), "tty output is logged as stdout");
    assert!(log.iter().any(|r| r.content.starts_with("40 100")), "{log:?}");
}

#[test]
fn ctl_reopen_truncates_k8s_log() {
    let b = Bundle::new(&["sh", "-c", "echo before; read x; echo after"], false);
    let cid = unique_id("reopen");
    let l = Launch::create(&cid, &b).arg("-i");
    let (r, _g, _pid) = launch_created(l);
    let c = connect_attach(&b.file("attach"));
    start(&cid);
    let f = read_frames(&c, STEP, |f| has(f, 2, "before\n"));
    assert!(has(&f, 2, "before\n"));
    write_ctl(b.path(), "2 0 0\n");
    std::thread::sleep(Duration::from_millis(300));
    send_input(&c, b"go\n");
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
    let log = parse_log(&std::fs::read_to_string(b.file("ctr.log")).unwrap());
    let lines: Vec<_> = log.iter().map(|r| r.content.as_str()).collect();
    assert_eq!(lines, vec!["after"], "reopen (conmon 2.1) truncates the log");
}

#[test]
fn socket_dir_symlink_with_long_bundle_path() {
    let b = Bundle::new(&["sh", "-c", "read x; echo got:$x"], false);
    let long = b.path().join("d".repeat(60)).join("e".repeat(60));
    std::fs::create_dir_all(&long).unwrap();
    let mut cfg = b.config.clone();
    cfg["root"]["path"] = serde_json::json!(b.file("rootfs"));
    std::fs::write(long.join("config.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
    assert!(long.join("attach").as_os_str().len() > 108);
    let sockdir = b.file("sockets");
    std::fs::create_dir_all(&sockdir).unwrap();
    let cid = unique_id("symlink");
    let cuuid = "cuuid-for-symlink";
    let mut l = Launch::create(&cid, &b);
    l.bundle = long.clone();
    l.cuuid = cuuid.into();
    l.args.retain(|a| a != "--full-attach");
    let l = l.arg("-i").arg("--socket-dir-path").arg(sockdir.to_str().unwrap());
    let (r, _g, _pid) = launch_created(l);
    let link = sockdir.join(cuuid);
    assert_eq!(std::fs::read_link(&link).unwrap(), long, "<socket-dir>/<cuuid> links to the bundle");
    assert!(long.join("attach").exists(), "attach socket lives in the long bundle dir");
    let c = connect_attach(&link.join("attach"));
    start(&cid);
    send_input(&c, b"1\n");
    let f = read_frames(&c, STEP, |f| has(f, 2, "got:1\n"));
    assert!(has(&f, 2, "got:1\n"), "{f:?}");
    assert_eq!(wait_exit(&r, &b.file(&format!("exits/{cid}"))), "0");
}
