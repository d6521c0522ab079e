//! Podman (Debian's 4.3.1) driving a runtime + monitor pair: the pairs, a
//! private Podman (containers.conf, storage, images under one tempdir) and
//! helpers to run it with a deadline, with stdin or with a terminal.
//!
//! Podman silently falls back to the `conmon` on `$PATH` when the configured
//! monitor fails its `--version` probe, so [`Podman::new`] checks which
//! monitor Podman resolved and [`Podman::assert_pair`] checks the live
//! monitoring process of a container (`/proc/<ConmonPid>/exe` and its `-r`).

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{cmdline_of, describe, exec, unique, wait_child, which, Out};

/// Deadline of one Podman command.
pub const PODMAN_TIMEOUT: Duration = Duration::from_secs(90);

/// The image every test runs: busybox-static imported with `podman import`.
pub const IMAGE: &str = "localhost/oxbox:latest";

/// The pod infra image (same rootfs, `sleep` as its command, SIGKILL to stop).
pub const INFRA_IMAGE: &str = "localhost/oxpause:latest";

/// The pairs every Podman test is generated for (see `tests/podman.rs`).
pub const PAIRS: [&str; 3] = ["oxrun_oxmon", "oxrun_conmon", "runc_oxmon"];

/// A runtime + monitor pair.
#[derive(Debug, Clone)]
pub struct Pair {
    /// `oxrun_oxmon`, `oxrun_conmon` or `runc_oxmon`.
    pub name: &'static str,
    /// The OCI runtime binary.
    pub runtime: PathBuf,
    /// The monitor binary (`conmon_path`).
    pub monitor: PathBuf,
}

/// `$OXMON_BIN`, else `<workspace>/target/release/oxmon`.
pub fn oxmon_bin() -> PathBuf {
    match std::env::var_os("OXMON_BIN") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/oxmon")),
    }
}

impl Pair {
    /// The pair called `name` (one of [`PAIRS`]).
    pub fn get(name: &str) -> Pair {
        let oxrun = crate::runtime::runtime_bin();
        let runc = which("runc").unwrap_or_else(|| PathBuf::from("/usr/sbin/runc"));
        let conmon = which("conmon").unwrap_or_else(|| PathBuf::from("/usr/bin/conmon"));
        let (name, runtime, monitor) = match name {
            "oxrun_oxmon" => ("oxrun_oxmon", oxrun, oxmon_bin()),
            "oxrun_conmon" => ("oxrun_conmon", oxrun, conmon),
            "runc_oxmon" => ("runc_oxmon", runc, oxmon_bin()),
            other => panic!("unknown pair {other:?}"),
        };
        for b in [&runtime, &monitor] {
            assert!(b.is_file(), "{name}: {} not found (build it or set OXRUN_BIN/OXMON_BIN)", b.display());
        }
        Pair { name, runtime, monitor }
    }

    /// The runtime's name in `[engine.runtimes]`: its basename (Podman
    /// matches `runtime_supports_json` against the basename).
    pub fn runtime_name(&self) -> String {
        self.runtime.file_name().unwrap_or_default().to_string_lossy().into_owned()
    }

    /// True when the runtime is oxrun (not runc).
    pub fn runtime_is_oxrun(&self) -> bool {
        self.name.starts_with("oxrun")
    }

    /// True when the monitor is oxmon (not conmon).
    pub fn monitor_is_oxmon(&self) -> bool {
        self.name.ends_with("oxmon")
    }
}

fn canon(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Writes a busybox rootfs tarball (the integration bundle's rootfs) to `tar`.
pub fn busybox_tarball(work: &Path, tar: &Path) {
    let rootfs = work.join("rootfs");
    crate::bundle::populate_rootfs(&rootfs);
    let mut c = Command::new("tar");
    c.arg("-C").arg(&rootfs).arg("-cf").arg(tar).arg(".");
    exec(c, work, PODMAN_TIMEOUT).assert_ok();
    let _ = std::fs::remove_dir_all(&rootfs);
}

/// A Podman with its own containers.conf, storage and tmp dirs, and the two
/// images imported. Dropping it removes every container and pod, unmounts the
/// storage and deletes the directory.
pub struct Podman {
    /// The pair under test.
    pub pair: Pair,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    /// Extra environment for every command (rootless: HOME, XDG_RUNTIME_DIR).
    env: Vec<(String, String)>,
    /// Run every command as this user (rootless).
    user: Option<String>,
}

/// How Podman is set up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Run Podman as this unprivileged user (which must exist and have
    /// subordinate ids), with a private XDG_RUNTIME_DIR in the Podman dir.
    pub rootless: Option<String>,
    /// Also import [`INFRA_IMAGE`].
    pub infra_image: bool,
}

impl Podman {
    /// A private root Podman for `pair`, with [`IMAGE`] imported.
    pub fn new(pair: Pair) -> Podman {
        Podman::with(pair, Options::default())
    }

    /// A private Podman for `pair`.
    pub fn with(pair: Pair, opts: Options) -> Podman {
        let dir = tempfile::Builder::new().prefix("oxrun-podman-").tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        for d in ["tmp", "scratch", "libpod"] {
            std::fs::create_dir_all(path.join(d)).expect("mkdir");
        }
        let rt = pair.runtime_name();
        let conf = format!(
            r#"[containers]
default_ulimits = ["nofile=1024:20000", "nproc=4096:4096"]
log_driver = "k8s-file"

[engine]
runtime = "{rt}"
conmon_path = ["{mon}"]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{p}/libpod"
infra_image = "{INFRA_IMAGE}"
runtime_supports_json = ["oxrun", "runc", "crun"]

[engine.runtimes]
{rt} = ["{rtp}"]
"#,
            mon = pair.monitor.display(),
            p = path.display(),
            rtp = pair.runtime.display(),
        );
        std::fs::write(path.join("containers.conf"), conf).expect("write containers.conf");
        let storage = format!(
            // Rootless Podman ignores graphroot and uses rootless_storage_path
            // (default ~/.local/share/containers/storage, shared by every test).
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{p}/root\"\nrunroot = \"{p}/runroot\"\nrootless_storage_path = \"{p}/root\"\n",
            p = path.display()
        );
        std::fs::write(path.join("storage.conf"), storage).expect("write storage.conf");
        let mut env = Vec::new();
        let mut user = None;
        if let Some(u) = &opts.rootless {
            let home = home_of(u);
            let xdg = path.join("xdg");
            std::fs::create_dir_all(&xdg).expect("mkdir xdg");
            std::fs::set_permissions(&xdg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
            env.push(("HOME".to_string(), home));
            env.push(("XDG_RUNTIME_DIR".to_string(), xdg.to_string_lossy().into_owned()));
            env.push(("USER".to_string(), u.clone()));
            user = Some(u.clone());
        }
        let pm = Podman { pair, dir: Some(dir), path, env, user };
        if let Some(u) = &opts.rootless {
            let mut c = Command::new("chown");
            c.arg("-R").arg(format!("{u}:")).arg(&pm.path);
            exec(c, &pm.path, PODMAN_TIMEOUT).assert_ok();
        }
        let tar = pm.path.join("scratch/oxbox.tar");
        busybox_tarball(&pm.path.join("scratch"), &tar);
        if pm.user.is_some() {
            let mut c = Command::new("chmod");
            c.arg("a+r").arg(&tar);
            exec(c, &pm.path, PODMAN_TIMEOUT).assert_ok();
        }
        let t = tar.to_string_lossy().into_owned();
        pm.ok(&[
            "import",
            "-q",
            "--change",
            "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            r#"CMD ["/bin/sh"]"#,
            &t,
            IMAGE,
        ]);
        if opts.infra_image {
            pm.ok(&[
                "import",
                "-q",
                "--change",
                "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "--change",
                r#"CMD ["sleep", "1000000000"]"#,
                "--change",
                "STOPSIGNAL SIGKILL",
                &t,
                INFRA_IMAGE,
            ]);
        }
        // Which monitor Podman resolved (the same lookup as for containers).
        let info = pm.ok(&["info", "--format", "{{.Host.Conmon.Path}}"]);
        assert_eq!(
            canon(Path::new(info.stdout.trim())),
            canon(&pm.pair.monitor),
            "{}: Podman resolved another monitor (did the configured one fail its --version probe?)",
            pm.pair.name
        );
        pm
    }

    /// The private directory.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// A scratch directory inside [`Podman::dir`] for test files.
    pub fn scratch(&self) -> PathBuf {
        self.path.join("scratch")
    }

    /// `podman ARGS` with the private configuration (not yet run).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--", "podman"]);
                c
            }
            None => Command::new("podman"),
        };
        c.env("CONTAINERS_CONF", self.path.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.path.join("storage.conf"))
            .env("TMPDIR", self.path.join("tmp"))
            .current_dir(&self.path);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.args(args);
        c
    }

    /// Runs `podman ARGS` (stdin /dev/null) with [`PODMAN_TIMEOUT`].
    pub fn run(&self, args: &[&str]) -> Out {
        exec(self.cmd(args), &self.scratch(), PODMAN_TIMEOUT)
    }

    /// Runs `podman ARGS` and panics unless it exits 0.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert!(out.ok(), "[{}] podman failed: {out}", self.pair.name);
        out
    }

    /// Runs `podman ARGS` with `input` on its stdin (then EOF).
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Out {
        let name = unique("pin");
        let out_path = self.scratch().join(format!("{name}.stdout"));
        let err_path = self.scratch().join(format!("{name}.stderr"));
        let mut cmd = self.cmd(args);
        cmd.stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out_path).expect("stdout file"))
            .stderr(std::fs::File::create(&err_path).expect("stderr file"));
        let cmdline = describe(&cmd);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
        let mut stdin = child.stdin.take().expect("stdin");
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let status = wait_child(&mut child, PODMAN_TIMEOUT, &cmdline);
        let _ = writer.join();
        Out {
            cmdline,
            status,
            stdout: crate::util::read_lossy(&out_path),
            stderr: crate::util::read_lossy(&err_path),
            stdout_path: out_path,
        }
    }

    /// Runs `podman ARGS` on a new terminal (its controlling tty: stdin,
    /// stdout and stderr), typing `input` into it. Everything the terminal
    /// showed is in `stdout`.
    pub fn run_tty(&self, args: &[&str], input: &str) -> Out {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let inner = self.cmd(args);
        // setsid -c: a new session whose controlling terminal is stdin (the pty).
        let mut cmd = Command::new("setsid");
        cmd.arg("-c").arg(inner.get_program());
        cmd.args(inner.get_args());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(d) = inner.get_current_dir() {
            cmd.current_dir(d);
        }
        let slave: OwnedFd = pty.slave;
        cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        let cmdline = describe(&cmd);
        let master = std::fs::File::from(pty.master);
        let mut writer = master.try_clone().expect("dup master");
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
        drop(cmd);
        let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
        let seen2 = seen.clone();
        let mut reader = master;
        let rd = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen2.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });
        if !input.is_empty() {
            // Let Podman put the terminal in raw mode first.
            std::thread::sleep(Duration::from_millis(300));
            let _ = writer.write_all(input.as_bytes());
        }
        let status = wait_child(&mut child, PODMAN_TIMEOUT, &cmdline);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !rd.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(writer);
        let text = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
        Out { cmdline, status, stdout: text, stderr: String::new(), stdout_path: PathBuf::new() }
    }

    /// `podman inspect --format FMT NAME`, trimmed.
    #[track_caller]
    pub fn inspect(&self, name: &str, fmt: &str) -> String {
        self.ok(&["inspect", "--format", fmt, name]).stdout.trim().to_string()
    }

    /// `podman run -d ARGS`: returns the container id after checking that its
    /// monitor and runtime are the pair's.
    #[track_caller]
    pub fn run_d(&self, args: &[&str]) -> String {
        let mut v = vec!["run", "-d"];
        v.extend_from_slice(args);
        let id = self.ok(&v).stdout.trim().lines().last().unwrap_or_default().to_string();
        self.assert_pair(&id);
        id
    }

    /// The container's main process pid (host view).
    #[track_caller]
    pub fn pid(&self, name: &str) -> i32 {
        self.inspect(name, "{{.State.Pid}}").parse().expect("pid")
    }

    /// The container's status (`created`, `running`, `paused`, `exited`, ...).
    #[track_caller]
    pub fn status(&self, name: &str) -> String {
        self.inspect(name, "{{.State.Status}}")
    }

    /// Checks that the running container `name` is monitored by the pair's
    /// monitor (`/proc/<ConmonPid>/exe`) and that the monitor drives the
    /// pair's runtime (its `-r` argument), and that Podman recorded the runtime.
    #[track_caller]
    pub fn assert_pair(&self, name: &str) {
        let p = &self.pair;
        let mon_pid: i32 = self.inspect(name, "{{.State.ConmonPid}}").parse().unwrap_or(0);
        assert!(mon_pid > 0, "[{}] {name}: no ConmonPid", p.name);
        let exe = std::fs::read_link(format!("/proc/{mon_pid}/exe")).unwrap_or_default();
        assert_eq!(
            canon(&exe),
            canon(&p.monitor),
            "[{}] {name}: the monitoring process {mon_pid} is {} (Podman fell back to another monitor?)",
            p.name,
            exe.display()
        );
        let argv = cmdline_of(mon_pid);
        let r = argv
            .iter()
            .position(|a| a == "-r" || a == "--runtime")
            .and_then(|i| argv.get(i + 1))
            .unwrap_or_else(|| panic!("[{}] monitor argv has no -r: {argv:?}", p.name));
        assert_eq!(canon(Path::new(r)), canon(&p.runtime), "[{}] monitor runs runtime {r}", p.name);
        // runtime_supports_json matched the runtime's basename: Podman asked for JSON error logs.
        assert!(
            argv.iter().any(|a| a == "--log-format=json"),
            "[{}] Podman did not pass --log-format=json to {} (runtime_supports_json): {argv:?}",
            p.name,
            p.runtime_name()
        );
        assert_eq!(self.inspect(name, "{{.OCIRuntime}}"), p.runtime_name(), "[{}] OCIRuntime", p.name);
    }

    /// Starts a short-lived sentinel container to prove the pair is in use
    /// (for tests whose own containers are too short-lived to inspect).
    #[track_caller]
    pub fn assert_pair_sentinel(&self) {
        let id = self.run_d(&["--network", "none", IMAGE, "sleep", "60"]);
        self.ok(&["rm", "-f", "-t", "0", &id]);
    }

    /// Polls `podman inspect` until the status is `want`.
    #[track_caller]
    pub fn wait_status(&self, name: &str, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let st = self.run(&["inspect", "--format", "{{.State.Status}}", name]);
            if st.ok() && st.stdout.trim() == want {
                return;
            }
            if Instant::now() > deadline {
                panic!("[{}] {name}: status {:?}, wanted {want}: {st}", self.pair.name, st.stdout.trim());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Live processes (not us) whose command line or environment mentions `dir`:
/// monitors, `podman container cleanup` exit commands, rootless pause processes.
pub fn procs_using(dir: &Path) -> Vec<i32> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me || !crate::util::pid_alive(pid) {
            continue;
        }
        let mentions = |f: &str| {
            std::fs::read(e.path().join(f)).map(|b| String::from_utf8_lossy(&b).contains(&needle)).unwrap_or(false)
        };
        if mentions("cmdline") || mentions("environ") {
            v.push(pid);
        }
    }
    v
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["pod", "rm", "-a", "-f", "-t", "0"]);
        let _ = self.run(&["rm", "-a", "-f", "-t", "0"]);
        let _ = self.run(&["image", "rm", "-a", "-f"]);
        // Rootless Podman leaves a pause process holding its user namespace; the
        // monitors' exit commands (`podman container cleanup`) may still be
        // running and would recreate the storage after it is gone: wait for
        // them, then kill what is left.
        let pause = |pid: i32| {
            cmdline_of(pid).first().is_some_and(|a| a.ends_with("catatonit"))
                && cmdline_of(pid).iter().any(|a| a == "-P")
        };
        let kill = |pid: i32| {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left: Vec<i32> = procs_using(&self.path).into_iter().filter(|p| !pause(*p)).collect();
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                crate::util::note(&format!(
                    "[{}] killing processes still using {}: {left:?}",
                    self.pair.name,
                    self.path.display()
                ));
                left.into_iter().for_each(kill);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        procs_using(&self.path).into_iter().for_each(kill);
        // The overlay driver keeps its home bind-mounted and may leave layer mounts.
        let clean = crate::leftovers::force_cleanup(&self.path, &self.path.join("no-rootfs"), "");
        if let Some(dir) = self.dir.take() {
            if clean {
                drop(dir);
            } else {
                let kept = dir.keep();
                crate::util::note(&format!("podman dir {} kept: mounts still present", kept.display()));
            }
        }
    }
}

/// The home directory of `user` (from /etc/passwd), "/" when unknown.
pub fn home_of(user: &str) -> String {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 5 && f[0] == user).then(|| f[5].to_string())
        })
        .unwrap_or_else(|| "/".to_string())
}

/// A `Podman` for a root user with the pair's name given as a string (for the test macro).
pub fn podman_for(pair: &str) -> Podman {
    Podman::new(Pair::get(pair))
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// True when the host has `tool` (an absolute path or a PATH lookup).
pub fn host_has(tool: &str) -> bool {
    Path::new(tool).is_file() || which(tool).is_some()
}
