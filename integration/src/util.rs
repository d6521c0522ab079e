//! Process helpers: running commands with deadlines, unique names, polling.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Default deadline for one runtime invocation.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

/// The result of one finished command.
#[derive(Debug, Clone)]
pub struct Out {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit status.
    pub status: ExitStatus,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error.
    pub stderr: String,
    /// The file that received stdout (a container started by this command may
    /// keep writing to it: see [`Out::stdout_now`]).
    pub stdout_path: std::path::PathBuf,
}

impl Out {
    /// For a command that must fail cleanly: asserts failure without a panic and exactly one
    /// non-empty stderr line, and returns that line.
    #[track_caller]
    pub fn one_error_line(&self) -> String {
        self.assert_fail().assert_no_panic();
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "exactly one error line expected: {self}");
        lines[0].to_string()
    }

    /// The exit code, or 128+signal when killed by a signal.
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        match self.status.code() {
            Some(c) => c,
            None => 128 + self.status.signal().unwrap_or(0),
        }
    }

    /// Re-reads the stdout file: includes what a container that inherited it
    /// wrote after the command returned.
    pub fn stdout_now(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// True when the command exited with 0.
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// Panics with full context unless the command succeeded.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "command failed: {self}");
        self
    }

    /// Panics with full context unless the command failed (non-zero exit).
    #[track_caller]
    pub fn assert_fail(&self) -> &Self {
        assert!(!self.ok(), "command unexpectedly succeeded: {self}");
        self
    }

    /// Panics when the failure looks like a crash: a Rust panic message, exit 101
    /// (panic) or 134 / SIGABRT (panic=abort), or death by SIGSEGV.
    #[track_caller]
    pub fn assert_no_panic(&self) -> &Self {
        use std::os::unix::process::ExitStatusExt;
        assert!(!self.stderr.contains("panicked"), "runtime panicked: {self}");
        assert!(!self.stderr.contains("RUST_BACKTRACE"), "runtime panicked: {self}");
        let code = self.code();
        assert!(code != 101 && code != 134, "runtime crashed (exit {code}): {self}");
        assert!(
            !matches!(self.status.signal(), Some(libc::SIGABRT) | Some(libc::SIGSEGV) | Some(libc::SIGBUS)),
            "runtime killed by a signal: {self}"
        );
        self
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` -> {:?} (code {})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline,
            self.status,
            self.code(),
            self.stdout,
            self.stderr
        )
    }
}

/// A process-unique, run-unique short name (letters, digits, dashes).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), t & 0xfffff)
}

/// Renders a command for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(' ') {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Waits for `child` until `timeout`; on expiry kills it (and its process group
/// when it leads one) and panics.
pub fn wait_child(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st,
            Ok(None) => {}
            Err(e) => panic!("waiting for {what}: {e}"),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timeout after {timeout:?}: {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `wait_child` while a thread drains the child's stdout, which it returns: a
/// command that writes more than a pipe holds (`events` at a short interval)
/// would otherwise block on the pipe and never exit.
pub fn wait_child_stdout(child: &mut Child, timeout: Duration, what: &str) -> (ExitStatus, String) {
    let mut stdout = child.stdout.take().expect("the child's stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let status = wait_child(child, timeout, what);
    (status, reader.join().expect("stdout reader"))
}

/// Runs `cmd` with stdin from /dev/null and stdout/stderr captured in files
/// inside `scratch` (files, not pipes: a container started by the command may
/// inherit them and keep them open), with a deadline.
pub fn exec(mut cmd: Command, scratch: &Path, timeout: Duration) -> Out {
    let name = unique("out");
    let out_path = scratch.join(format!("{name}.stdout"));
    let err_path = scratch.join(format!("{name}.stderr"));
    let out_f = File::create(&out_path).expect("create stdout capture");
    let err_f = File::create(&err_path).expect("create stderr capture");
    cmd.stdin(Stdio::null()).stdout(out_f).stderr(err_f);
    exec_captured(cmd, &out_path, &err_path, timeout)
}

/// Like [`exec`] but the caller already wired stdout/stderr to these files.
pub fn exec_captured(mut cmd: Command, out_path: &Path, err_path: &Path, timeout: Duration) -> Out {
    let cmdline = describe(&cmd);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn `{cmdline}`: {e}"));
    let status = wait_child(&mut child, timeout, &cmdline);
    drop(cmd);
    Out {
        cmdline,
        status,
        stdout: read_lossy(out_path),
        stderr: read_lossy(err_path),
        stdout_path: out_path.to_path_buf(),
    }
}

/// Reads a file as text, empty when missing.
pub fn read_lossy(p: &Path) -> String {
    let mut v = Vec::new();
    if let Ok(mut f) = File::open(p) {
        let _ = f.read_to_end(&mut v);
    }
    String::from_utf8_lossy(&v).into_owned()
}

/// Polls `f` every 20 ms until it returns `Some`, or panics after `timeout`.
#[track_caller]
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timeout after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` until it returns true or `timeout` passes; returns the last result.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True when process `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            // state is the field after the parenthesised comm
            let state = s.rsplit_once(')').map(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some(Some('Z')) | Some(Some('X')) | None)
        }
        Err(_) => false,
    }
}

/// The `/proc/<pid>/cmdline` of a process as a list of arguments.
pub fn cmdline_of(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
        })
        .unwrap_or_default()
}

/// Absolute path of a host tool, if installed.
pub fn which(tool: &str) -> Option<std::path::PathBuf> {
    let path =
        std::env::var("PATH").unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file());
    found
}

/// Prints why a test is skipped (never silent), uncaptured.
pub fn skip(test: &str, reason: &str) {
    note(&format!("SKIP {test}: {reason}"));
}

/// Writes a line straight to the process's stderr, bypassing libtest's output
/// capture, so skips and documented runtime differences are always visible.
pub fn note(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// One field of a /proc/<pid>/status text (e.g. "CapEff"), trimmed; empty when absent.
pub fn status_field(text: &str, key: &str) -> String {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')).map(|v| v.trim().to_string()).unwrap_or_default()
}

/// `CAP_*` name of capability number `n` (empty past the ones Linux 6.x knows).
pub fn cap_name(n: u32) -> String {
    const NAMES: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    NAMES.get(n as usize).map(|s| format!("CAP_{s}")).unwrap_or_default()
}

/// Whether this host is what the VM tests need (pure cgroup v2, systemd as PID 1); prints the
/// skip reason for `test` when not.
pub fn production_host(test: &str) -> bool {
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        skip(test, "/sys/fs/cgroup is not a pure cgroup v2 mount (runs in the test VM: make test-vm)");
        return false;
    }
    if !Path::new("/run/systemd/system").exists() {
        skip(test, "systemd is not PID 1 here (runs in the test VM: make test-vm)");
        return false;
    }
    true
}

/// `systemctl show UNIT -p NAME --value` of the system instance, trimmed.
pub fn unit_prop(unit: &str, name: &str) -> String {
    let out = Command::new("systemctl").args(["show", unit, "-p", name, "--value"]).output().expect("systemctl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
