//! Shared helpers for the monitor protocol tests: busybox bundles, launching the monitor the
//! way Podman 4.3.1 does (SEQPACKET sync/start/attach sockets in `_OCI_*PIPE`), attach clients,
//! and cleanup guards.

pub mod records;
pub mod stub;

pub use records::{parse_log, parse_record, valid_timestamp, Record};

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde_json::Value;

/// Default per-step timeout.
pub const STEP: Duration = Duration::from_secs(20);

/// The monitor under test: `$MONITOR_BIN`, else `<workspace>/target/release/oxmon`.
pub fn monitor_bin() -> PathBuf {
    match std::env::var_os("MONITOR_BIN") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/oxmon"),
    }
}

/// The OCI runtime: `$RUNTIME_BIN`, else `runc` from PATH (absolute, as conmon requires).
pub fn runtime_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RUNTIME_BIN") {
        return PathBuf::from(p);
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':')
        .map(|d| Path::new(d).join("runc"))
        .find(|p| p.exists())
        .expect("runc not found in PATH; set RUNTIME_BIN")
}

/// True when the monitor under test is oxmon (its `--version` names it), false for conmon.
pub fn is_oxmon() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| {
        let out = Command::new(monitor_bin()).arg("--version").output().expect("run monitor --version");
        String::from_utf8_lossy(&out.stdout).contains("oxmon")
    })
}

/// Prints why an oxmon-only assertion is skipped.
pub fn oxmon_only(reason: &str) -> bool {
    if !is_oxmon() {
        eprintln!("NOTE: skipping oxmon-only assertion for {}: {reason}", monitor_bin().display());
    }
    is_oxmon()
}

/// A unique container id (> 12 chars, as journald requires).
pub fn unique_id(tag: &str) -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("shimtest-{tag}-{}-{n:08x}", std::process::id())
}

fn base_spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = Command::new(runtime_bin()).args(["spec", "--bundle"]).arg(dir.path()).status().expect("runtime spec");
        assert!(st.success(), "runtime spec failed");
        let text = std::fs::read_to_string(dir.path().join("config.json")).expect("config.json");
        serde_json::from_str(&text).expect("spec json")
    })
}

const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "stty", "true", "false", "kill", "dd", "head", "printf", "seq", "yes", "ls", "tr",
    "wc", "env",
];

/// A busybox bundle in a temporary directory. Also holds the files a monitor run writes.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    /// Creates rootfs (static busybox + applet symlinks) and a config running `args`.
    pub fn new(args: &[&str], terminal: bool) -> Bundle {
        let dir = tempfile::Builder::new().prefix("shim").tempdir_in("/tmp").expect("tempdir");
        let bin = dir.path().join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("copy /bin/busybox");
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
        }
        for d in ["proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(dir.path().join("rootfs").join(d)).unwrap();
        }
        let mut config = base_spec().clone();
        config["process"]["args"] = serde_json::json!(args);
        config["process"]["terminal"] = Value::Bool(terminal);
        config["process"]["env"] = serde_json::json!(["PATH=/bin", "TERM=xterm"]);
        if let Some(ns) = config["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network");
        }
        let b = Bundle { dir, config };
        b.save();
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes config.json (after editing `self.config`).
    pub fn save(&self) {
        std::fs::write(self.file("config.json"), serde_json::to_vec_pretty(&self.config).unwrap()).unwrap();
    }
}

/// Socketpair ends: ours, and the child's end moved to a fd ≥ 64.
fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let (a, b) =
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).expect("socketpair");
    (a, high_fd(&b))
}

/// Duplicates `fd` to a close-on-exec fd ≥ 64.
pub fn high_fd(fd: &OwnedFd) -> OwnedFd {
    oxsys::spawn_fds::dup_at_least(fd.as_fd(), 64).expect("dup")
}

/// How to launch the monitor.
pub struct Launch {
    pub cid: String,
    pub cuuid: String,
    pub bundle: PathBuf,
    pub pidfile: PathBuf,
    pub exit_dir: PathBuf,
    pub conmon_pidfile: Option<PathBuf>,
    /// Extra monitor arguments (log driver, -t/-i, exec flags...).
    pub args: Vec<String>,
    pub exec_attach_pipe: bool,
    /// Extra fds to pass (placed right after the sync/start/attach fds).
    pub extra_fds: Vec<OwnedFd>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// Runtime binary (default [`runtime_bin`]).
    pub runtime: Option<PathBuf>,
    /// Give the monitor pipes as stdout/stderr (Podman's tty-mode `bytes.Buffer`) instead of a file.
    pub piped_stdio: bool,
}

impl Launch {
    /// Podman's create argv for `bundle` with a k8s-file log in the bundle dir.
    pub fn create(cid: &str, bundle: &Bundle) -> Launch {
        let exit_dir = bundle.file("exits");
        std::fs::create_dir_all(&exit_dir).unwrap();
        Launch {
            cid: cid.to_string(),
            cuuid: cid.to_string(),
            bundle: bundle.path().to_path_buf(),
            pidfile: bundle.file("pidfile"),
            exit_dir,
            conmon_pidfile: Some(bundle.file("conmon.pid")),
            args: vec![
                "--full-attach".into(),
                "--runtime-arg".into(),
                "--log-format=json".into(),
                "--runtime-arg".into(),
                "--log".into(),
                format!("--runtime-arg={}", bundle.file("oci-log").display()),
                "-l".into(),
                format!("k8s-file:{}", bundle.file("ctr.log").display()),
            ],
            exec_attach_pipe: false,
            extra_fds: Vec::new(),
            cwd: None,
            env: Vec::new(),
            runtime: None,
            piped_stdio: false,
        }
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
    }

    /// Starts the monitor; returns once the start byte was written.
    pub fn spawn(self) -> Running {
        let (sync, sync_child) = seqpacket_pair();
        let (start, start_child) = seqpacket_pair();
        // The child's ends, each with the number it gets in the monitor.
        let mut keep = vec![(sync_child, 3), (start_child, 4)];
        let mut cmd = Command::new(monitor_bin());
        cmd.env("_OCI_SYNCPIPE", "3").env("_OCI_STARTPIPE", "4");
        let mut attach = None;
        let mut next = 5;
        if self.exec_attach_pipe {
            let (a, a_child) = seqpacket_pair();
            cmd.env("_OCI_ATTACHPIPE", "5");
            attach = Some(a);
            keep.push((a_child, 5));
            next = 6;
        }
        for fd in &self.extra_fds {
            keep.push((high_fd(fd), next));
            next += 1;
        }
        let runtime = self.runtime.clone().unwrap_or_else(runtime_bin);
        cmd.args(["--api-version", "1", "-c", &self.cid, "-u", &self.cuuid, "-r"])
            .arg(&runtime)
            .arg("-b")
            .arg(&self.bundle)
            .arg("-p")
            .arg(&self.pidfile)
            .args(["-n", &format!("name-{}", self.cid)])
            .arg("--exit-dir")
            .arg(&self.exit_dir)
            .args(["--log-level", "warning"]);
        if let Some(p) = &self.conmon_pidfile {
            cmd.arg("--conmon-pidfile").arg(p);
        }
        cmd.args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        let log = std::fs::File::create(self.bundle.join("monitor.stderr")).unwrap();
        cmd.stdin(Stdio::null());
        if self.piped_stdio {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else {
            cmd.stdout(log.try_clone().unwrap()).stderr(log);
        }
        oxsys::spawn_fds::install_fds(&mut cmd, keep.iter().map(|(fd, n)| (fd.as_fd(), *n)).collect());
        let child = cmd.spawn().expect("spawn monitor");
        drop(keep);
        let r = Running {
            cid: self.cid,
            sync,
            start,
            attach,
            child: Some(child),
            launch_bundle: self.bundle,
            conmon_pidfile: self.conmon_pidfile,
        };
        r.send_start();
        r
    }
}

/// A launched monitor.
pub struct Running {
    pub cid: String,
    pub sync: OwnedFd,
    pub start: OwnedFd,
    pub attach: Option<OwnedFd>,
    pub child: Option<Child>,
    pub launch_bundle: PathBuf,
    pub conmon_pidfile: Option<PathBuf>,
}

impl Running {
    pub fn send_start(&self) {
        nix::unistd::write(self.start.as_fd(), &[0u8]).expect("write start pipe");
    }

    /// Waits for the intermediate (daemonizing) process to exit; returns its exit code.
    pub fn wait_parent(&mut self) -> i32 {
        let mut child = self.child.take().expect("already waited");
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "monitor parent did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Reads one JSON message from the sync pipe (None on EOF).
    pub fn read_sync(&self) -> Option<Value> {
        read_json(&self.sync, STEP)
    }

    /// The daemon's pid from the conmon pidfile.
    pub fn monitor_pid(&self) -> Option<i32> {
        let p = self.conmon_pidfile.as_ref()?;
        std::fs::read_to_string(p).ok()?.parse().ok()
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(self.launch_bundle.join("monitor.stderr")).unwrap_or_default()
    }
}

/// Reads one SEQPACKET message and parses it as JSON. Panics on timeout; None on EOF.
pub fn read_json(fd: &OwnedFd, timeout: Duration) -> Option<Value> {
    let data = recv_packet(fd, timeout).expect("timed out waiting for a sync message")?;
    let text = String::from_utf8(data).expect("utf8 sync message");
    assert!(text.ends_with('\n'), "sync message must end with a newline: {text:?}");
    Some(serde_json::from_str(text.trim_end()).unwrap_or_else(|e| panic!("bad JSON {text:?}: {e}")))
}

/// No packet arrived in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

/// Receives one packet: Err(TimedOut) on timeout, Ok(None) on EOF.
pub fn recv_packet(fd: &OwnedFd, timeout: Duration) -> Result<Option<Vec<u8>>, TimedOut> {
    let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(timeout.as_millis() as i32).unwrap();
    match poll(&mut pfd, ms) {
        Ok(0) => return Err(TimedOut),
        Ok(_) => {}
        Err(e) => panic!("poll: {e}"),
    }
    let mut buf = vec![0u8; 65536];
    match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
        Ok(0) | Err(nix::errno::Errno::ECONNRESET) => Ok(None),
        Ok(n) => {
            buf.truncate(n);
            Ok(Some(buf))
        }
        Err(e) => panic!("read: {e}"),
    }
}

/// Runs the runtime with `args`; returns (success, stdout+stderr).
pub fn runtime(args: &[&str]) -> (bool, String) {
    let out = Command::new(runtime_bin()).args(args).output().expect("run runtime");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

/// Deletes the container (and kills a leftover monitor) when dropped, even on test failure.
pub struct Cleanup {
    pub cid: String,
    pub monitor_pidfile: Option<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new(runtime_bin())
            .args(["delete", "-f", &self.cid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(pid) = self.monitor_pidfile.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                if pid_alive(pid) && std::thread::panicking() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
    }
}

/// True if a process with this pid exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone.
pub fn wait_pid_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while pid_alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Waits until `path` exists; returns its content.
pub fn wait_file(path: &Path, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            return s;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads a whole file, or "" if missing.
pub fn read_or_empty(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// Connects a SEQPACKET client to an attach socket the way Podman does (O_PATH + /proc path).
pub fn connect_attach(path: &Path) -> OwnedFd {
    use nix::sys::socket::{connect, socket, UnixAddr};
    let f = std::fs::File::options().read(true).custom_flags(libc::O_PATH).open(path).expect("open attach O_PATH");
    let proc_path = format!("/proc/self/fd/{}", f.as_raw_fd());
    let s = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None).unwrap();
    connect(s.as_raw_fd(), &UnixAddr::new(proc_path.as_str()).unwrap()).expect("connect attach");
    s
}

/// Reads attach frames until `until` holds for the collected (stream, bytes) data or timeout.
pub fn read_frames(fd: &OwnedFd, timeout: Duration, until: impl Fn(&[(u8, Vec<u8>)]) -> bool) -> Vec<(u8, Vec<u8>)> {
    let deadline = Instant::now() + timeout;
    let mut frames = Vec::new();
    while !until(&frames) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match recv_packet(fd, left) {
            Ok(Some(p)) => {
                assert!(!p.is_empty() && p.len() <= 8193, "bad attach frame size {}", p.len());
                frames.push((p[0], p[1..].to_vec()));
            }
            Ok(None) | Err(TimedOut) => break,
        }
    }
    frames
}

/// Concatenates the payload of frames of stream `id`.
pub fn stream_text(frames: &[(u8, Vec<u8>)], id: u8) -> String {
    let bytes: Vec<u8> = frames.iter().filter(|(s, _)| *s == id).flat_map(|(_, d)| d.clone()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Spawns the monitor and completes the create handshake: parent exits 0, sync pipe reports
/// a positive pid. Returns the handle, a cleanup guard and the container pid.
pub fn launch_created(l: Launch) -> (Running, Cleanup, i64) {
    let guard = Cleanup { cid: l.cid.clone(), monitor_pidfile: l.conmon_pidfile.clone() };
    let mut r = l.spawn();
    assert_eq!(r.wait_parent(), 0, "monitor parent failed: {}", r.stderr_text());
    let msg = r.read_sync().unwrap_or_else(|| panic!("sync pipe EOF; monitor stderr: {}", r.stderr_text()));
    let pid = msg["data"].as_i64().unwrap_or_else(|| panic!("no data in {msg}"));
    assert!(pid > 0, "create failed: {msg}; stderr: {}", r.stderr_text());
    (r, guard, pid)
}

/// `runtime start <cid>`.
pub fn start(cid: &str) {
    let (ok, out) = runtime(&["start", cid]);
    assert!(ok, "runtime start failed: {out}");
}

/// Waits for the monitor's exit file and the monitor's own exit; returns the file content.
pub fn wait_exit(r: &Running, exit_file: &Path) -> String {
    let content = wait_file(exit_file, STEP);
    if let Some(pid) = r.monitor_pid() {
        assert!(wait_pid_gone(pid, STEP), "monitor {pid} still running after exit file");
    }
    content
}

/// Writes `msg` to the `ctl` FIFO as Podman does (O_WRONLY|O_NONBLOCK, one write).
pub fn write_ctl(bundle: &Path, msg: &str) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(bundle.join("ctl"))
        .expect("open ctl fifo");
    let n = nix::unistd::write(&f, msg.as_bytes()).expect("write ctl");
    assert_eq!(n, msg.len());
}

/// Sends raw bytes to an attach client socket (unframed stdin data).
pub fn send_input(fd: &OwnedFd, data: &[u8]) {
    let n = nix::unistd::write(fd.as_fd(), data).expect("write attach input");
    assert_eq!(n, data.len());
}

/// Half-closes an attach client (what Podman does when its stdin ends).
pub fn close_write(fd: &OwnedFd) {
    nix::sys::socket::shutdown(fd.as_raw_fd(), nix::sys::socket::Shutdown::Write).expect("shutdown");
}

impl Launch {
    /// Podman's exec argv: session bundle `<bundle>/<session>`, `-l none`, `-e --exec-attach`.
    pub fn exec(cid: &str, bundle: &Bundle, session: &str, process: &serde_json::Value) -> Launch {
        let eb = bundle.file(session);
        std::fs::create_dir_all(eb.join("exit")).unwrap();
        let spec = eb.join(format!("exec-process-{session}"));
        std::fs::write(&spec, serde_json::to_vec(process).unwrap()).unwrap();
        Launch {
            cid: cid.to_string(),
            cuuid: session.to_string(),
            bundle: eb.clone(),
            pidfile: eb.join("exec_pid"),
            exit_dir: eb.join("exit"),
            conmon_pidfile: None,
            args: vec!["--full-attach".into(), "-l".into(), "none".into()],
            exec_attach_pipe: true,
            extra_fds: Vec::new(),
            cwd: Some(eb.clone()),
            env: Vec::new(),
            runtime: None,
            piped_stdio: false,
        }
    }

    /// Appends `-e --exec-attach --exec-process-spec FILE` (after `-t`/`-i`, as Podman orders them).
    pub fn exec_flags(mut self) -> Self {
        let spec = self.bundle.join(format!("exec-process-{}", self.cuuid));
        self.args.extend(["-e".into(), "--exec-attach".into(), "--exec-process-spec".into()]);
        self.args.push(spec.to_string_lossy().into_owned());
        self
    }
}
