//! The CRI streaming path for Exec and Attach: the CRI plugin answers an
//! Exec (or Attach) request
//! with a URL of its streaming server; the client (kubectl through the API
//! server, here the test) upgrades an HTTP request on it to a WebSocket with
//! the `v4.channel.k8s.io` protocol, where each binary message starts with a
//! channel byte (1 stdout, 2 stderr, 3 the final status as JSON). The server
//! listens on 127.0.0.1 in containerd's network namespace, so the connection
//! is made from a thread that joined that namespace.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What one streamed exec produced.
#[derive(Debug, Default)]
pub struct StreamOutput {
    /// Bytes of channel 1.
    pub stdout: String,
    /// Bytes of channel 2.
    pub stderr: String,
    /// The status message of channel 3 (JSON; `{"status":"Success"}` or a
    /// Failure whose cause `ExitCode` holds the code).
    pub status: String,
}

/// Connects to `url` (`http://127.0.0.1:PORT/exec/TOKEN`, `.../attach/...`) from inside the
/// network namespace of process `netns_pid`, upgrades to a WebSocket and
/// reads every message until the server closes.
pub fn websocket_stream(url: &str, netns_pid: i32) -> Result<StreamOutput, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("streaming URL {url}: not http"))?;
    let (hostport, path) = rest.split_once('/').ok_or_else(|| format!("streaming URL {url}: no path"))?;
    let (hostport, path) = (hostport.to_string(), format!("/{path}"));
    let netns = format!("/proc/{netns_pid}/ns/net");
    let addr = hostport.clone();
    let stream = std::thread::spawn(move || -> Result<TcpStream, String> {
        let f = std::fs::File::open(&netns).map_err(|e| format!("open {netns}: {e}"))?;
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {netns}: {e}"))?;
        TcpStream::connect(&addr).map_err(|e| format!("connect {addr}: {e}"))
    })
    .join()
    .map_err(|_| "the connecting thread panicked".to_string())??;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| format!("set timeout: {e}"))?;
    let mut w = stream.try_clone().map_err(|e| format!("dup socket: {e}"))?;
    write!(
        w,
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: b3hydW4tY3JpLXRlc3RzLQ==\r\n\
         Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n"
    )
    .map_err(|e| format!("write upgrade request: {e}"))?;
    let mut r = BufReader::new(stream);
    let mut status_line = String::new();
    r.read_line(&mut status_line).map_err(|e| format!("read upgrade answer: {e}"))?;
    if !status_line.starts_with("HTTP/1.1 101") {
        return Err(format!("no WebSocket upgrade: {}", status_line.trim()));
    }
    loop {
        let mut l = String::new();
        r.read_line(&mut l).map_err(|e| format!("read headers: {e}"))?;
        if l == "\r\n" || l.is_empty() {
            break;
        }
    }
    let mut out = StreamOutput::default();
    while let Some(msg) = read_message(&mut r)? {
        let Some((&ch, data)) = msg.split_first() else {
            continue;
        };
        let text = String::from_utf8_lossy(data);
        match ch {
            1 => out.stdout.push_str(&text),
            2 => out.stderr.push_str(&text),
            3 => out.status.push_str(&text),
            _ => {}
        }
    }
    Ok(out)
}

/// One whole WebSocket data message (continuations joined; control frames
/// skipped), or `None` at a close frame or end of stream.
fn read_message(r: &mut impl Read) -> Result<Option<Vec<u8>>, String> {
    let mut msg = Vec::new();
    loop {
        let mut h = [0u8; 2];
        match r.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(format!("read frame: {e}")),
        }
        let (fin, opcode, masked) = (h[0] & 0x80 != 0, h[0] & 0x0f, h[1] & 0x80 != 0);
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                r.read_exact(&mut b).map_err(|e| format!("read frame length: {e}"))?;
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                r.read_exact(&mut b).map_err(|e| format!("read frame length: {e}"))?;
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut mask = [0u8; 4];
        if masked {
            r.read_exact(&mut mask).map_err(|e| format!("read mask: {e}"))?;
        }
        let mut data = vec![0u8; len];
        r.read_exact(&mut data).map_err(|e| format!("read frame payload: {e}"))?;
        if masked {
            data.iter_mut().enumerate().for_each(|(i, b)| *b ^= mask[i % 4]);
        }
        match opcode {
            8 => return Ok(None),
            9 | 10 => continue,
            _ => msg.extend_from_slice(&data),
        }
        if fin {
            return Ok(Some(msg));
        }
    }
}
