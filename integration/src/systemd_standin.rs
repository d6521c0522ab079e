//! A private system-like D-Bus bus and a stand-in for systemd on it, for the `--systemd-cgroup`
//! tests: this host has no systemd (PID 1 is not systemd), so nothing else would answer.
//!
//! The stand-in owns org.freedesktop.systemd1 on a real dbus-daemon and answers
//! StartTransientUnit, StopUnit and ResetFailedUnit as systemd does on a cgroup v1 host: it
//! replies with a job path, then makes the scope's directory in the hierarchies systemd manages
//! there (name=systemd, the cgroup2 mount, cpu, cpuacct, blkio, memory, devices, pids; not
//! cpuset or freezer, which the runtime joins itself), moves the PIDs in, writes MemoryLimit and
//! broadcasts JobRemoved. It is not systemd: no unit files, dependencies, slice units, kill
//! timeouts or persistence.

use crate::dbus_wire::{Msg, Peer, CALL, SIGNAL, V};
use crate::leftovers::cgroup_roots;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const SYSTEMD_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// A dbus-daemon with a system-bus-like configuration (EXTERNAL auth, everything allowed, no
/// service activation) on a socket in a temporary directory. Killed on drop.
pub struct PrivateBus {
    daemon: Child,
    monitor: Option<Child>,
    _dir: tempfile::TempDir,
    /// `unix:path=...`
    pub address: String,
}

impl PrivateBus {
    /// Starts the daemon and waits until its socket accepts connections. With
    /// `OXRUN_TEST_DBUS_MONITOR=<file>`, `dbus-monitor --binary` records the traffic there.
    pub fn start() -> PrivateBus {
        let dir = tempfile::Builder::new().prefix("oxrun-dbus-").tempdir().expect("bus tempdir");
        let sock = dir.path().join("system_bus_socket");
        let conf = dir.path().join("bus.conf");
        std::fs::write(&conf, config(&sock)).expect("write bus config");
        let daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .arg("--nofork")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let address = format!("unix:path={}", sock.display());
        let up =
            crate::util::poll_until(Duration::from_secs(10), || std::os::unix::net::UnixStream::connect(&sock).is_ok());
        assert!(up, "dbus-daemon did not listen on {}", sock.display());
        let monitor = std::env::var_os("OXRUN_TEST_DBUS_MONITOR").map(|out| {
            let file = std::fs::File::create(out).expect("monitor output");
            let child = Command::new("dbus-monitor")
                .args(["--address", &address, "--binary"])
                .stdout(file)
                .stderr(Stdio::null())
                .spawn()
                .expect("dbus-monitor");
            std::thread::sleep(Duration::from_millis(300));
            child
        });
        PrivateBus { daemon, monitor, _dir: dir, address }
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        for c in self.monitor.iter_mut().chain(std::iter::once(&mut self.daemon)) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn config(sock: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"#,
        sock.display()
    )
}

/// One method call the stand-in received.
#[derive(Debug, Clone)]
pub struct Call {
    pub member: String,
    pub args: Vec<V>,
}

impl Call {
    /// StartTransientUnit's properties by name (variants unwrapped).
    pub fn properties(&self) -> BTreeMap<String, V> {
        let Some(V::A(props)) = self.args.get(2) else {
            return BTreeMap::new();
        };
        props
            .iter()
            .filter_map(|p| match p {
                V::R(kv) => match (&kv[0], &kv[1]) {
                    (V::S(k), V::Var(v)) => Some((k.clone(), (**v).clone())),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }
}

/// How the stand-in misbehaves, to test oxrun's error paths.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Answer every StartTransientUnit with this error (name, message).
    pub start_error: Option<(String, String)>,
    /// The result JobRemoved reports for start jobs ("done" unless testing a failure).
    pub start_result: String,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour { start_error: None, start_result: "done".into() }
    }
}

#[derive(Default)]
struct Shared {
    calls: Vec<Call>,
    /// unit → its directories (empty while the unit exists without a cgroup: a failed start).
    units: BTreeMap<String, Vec<PathBuf>>,
    /// Slice directories we created, removed again on drop when empty.
    slices: Vec<PathBuf>,
}

/// The stand-in's connection and its serving thread.
pub struct StandIn {
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StandIn {
    /// Connects to `address`, takes the name org.freedesktop.systemd1 and serves calls.
    pub fn start(address: &str, behaviour: Behaviour) -> StandIn {
        let mut peer = Peer::connect(address).expect("stand-in connects to the bus");
        // DBUS_NAME_FLAG_DO_NOT_QUEUE; 1 = we are the primary owner.
        let r =
            peer.call_bus("RequestName", vec![V::S("org.freedesktop.systemd1".into()), V::U(4)]).expect("RequestName");
        assert_eq!(r.body, vec![V::U(1)], "the stand-in must own org.freedesktop.systemd1");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut server = Server { peer, shared: s, behaviour, next_job: 0 };
            while !st.load(Ordering::SeqCst) {
                match server.peer.recv(Duration::from_millis(100)) {
                    Ok(Some(m)) if m.kind == CALL => server.handle(&m),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        StandIn { shared, stop, thread: Some(thread) }
    }

    /// Every call received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().unwrap().calls.clone()
    }

    /// Units the stand-in currently has.
    pub fn units(&self) -> Vec<String> {
        self.shared.lock().unwrap().units.keys().cloned().collect()
    }

    /// Drops a unit as systemd does when a scope's last process exits (its directories stay
    /// for the runtime to remove).
    pub fn forget(&self, unit: &str) {
        self.shared.lock().unwrap().units.remove(unit);
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut sh = self.shared.lock().unwrap();
        for dirs in std::mem::take(&mut sh.units).into_values() {
            remove_scope(&dirs);
        }
        // Deepest first; a slice still in use (ENOTEMPTY/EBUSY) stays.
        for d in sh.slices.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

struct Server {
    peer: Peer,
    shared: Arc<Mutex<Shared>>,
    behaviour: Behaviour,
    next_job: u32,
}

impl Server {
    fn handle(&mut self, m: &Msg) {
        let member = m.member.clone().unwrap_or_default();
        self.shared.lock().unwrap().calls.push(Call { member: member.clone(), args: m.body.clone() });
        let unit = m.body.first().and_then(V::text).unwrap_or_default().to_string();
        let ours = m.path.as_deref() == Some(SYSTEMD_PATH) && m.iface.as_deref() == Some(MANAGER);
        let known = self.shared.lock().unwrap().units.contains_key(&unit);
        let no_such = || Err(("org.freedesktop.systemd1.NoSuchUnit".to_string(), format!("Unit {unit} not loaded.")));
        match member.as_str() {
            "StartTransientUnit" if ours => self.start(m, &unit),
            "StopUnit" if ours && !known => self.reply(m, no_such()),
            "StopUnit" if ours => self.stop(m, &unit),
            "ResetFailedUnit" if ours && !known => self.reply(m, no_such()),
            "ResetFailedUnit" if ours => {
                // A unit without a cgroup is a failed start: resetting lets systemd drop it.
                let mut sh = self.shared.lock().unwrap();
                if sh.units.get(&unit).is_some_and(|d| d.is_empty()) {
                    sh.units.remove(&unit);
                }
                drop(sh);
                self.reply(m, Ok(vec![]))
            }
            _ => self
                .reply(m, Err(("org.freedesktop.DBus.Error.UnknownMethod".into(), format!("Unknown method {member}")))),
        }
    }

    fn reply(&mut self, call: &Msg, result: Result<Vec<V>, (String, String)>) {
        let _ = self.peer.reply(call, result);
    }

    /// Replies with a new job's path; returns (id, path).
    fn new_job(&mut self, call: &Msg) -> (u32, String) {
        self.next_job += 1;
        let path = format!("{SYSTEMD_PATH}/job/{}", self.next_job);
        self.reply(call, Ok(vec![V::O(path.clone())]));
        (self.next_job, path)
    }

    fn job_removed(&mut self, id: u32, job: String, unit: &str, result: &str) {
        let _ = self.peer.send(Msg {
            kind: SIGNAL,
            path: Some(SYSTEMD_PATH.into()),
            iface: Some(MANAGER.into()),
            member: Some("JobRemoved".into()),
            body: vec![V::U(id), V::O(job), V::S(unit.into()), V::S(result.into())],
            ..Msg::default()
        });
    }

    fn start(&mut self, call: &Msg, unit: &str) {
        if let Some(err) = self.behaviour.start_error.clone() {
            return self.reply(call, Err(err));
        }
        if self.shared.lock().unwrap().units.contains_key(unit) {
            return self.reply(
                call,
                Err(("org.freedesktop.systemd1.UnitExists".into(), format!("Unit {unit} already exists."))),
            );
        }
        let c = Call { member: String::new(), args: call.body.clone() };
        let props = c.properties();
        let (id, job) = self.new_job(call);
        // systemd runs the job after replying: realize the scope, then report.
        let mut result = self.behaviour.start_result.clone();
        let mut dirs = Vec::new();
        if result == "done" {
            let slice = props.get("Slice").and_then(V::text).unwrap_or("system.slice").to_string();
            let pids: Vec<u32> = match props.get("PIDs") {
                Some(V::A(p)) => p.iter().filter_map(|v| if let V::U(n) = v { Some(*n) } else { None }).collect(),
                _ => Vec::new(),
            };
            let limit = match props.get("MemoryLimit") {
                Some(V::T(n)) => Some(*n),
                _ => None,
            };
            let mut slices = Vec::new();
            match realize(&slice, unit, &pids, limit, &mut dirs, &mut slices) {
                Ok(()) => {}
                Err(e) => {
                    eprintln!("systemd stand-in: start {unit}: {e}");
                    remove_scope(&dirs);
                    dirs.clear();
                    result = "failed".into();
                }
            }
            self.shared.lock().unwrap().slices.extend(slices);
        }
        self.shared.lock().unwrap().units.insert(unit.to_string(), dirs);
        self.job_removed(id, job, unit, &result);
    }

    fn stop(&mut self, call: &Msg, unit: &str) {
        let (id, job) = self.new_job(call);
        let dirs = self.shared.lock().unwrap().units.remove(unit).unwrap_or_default();
        remove_scope(&dirs);
        self.job_removed(id, job, unit, "done");
    }
}

/// The hierarchies systemd realizes a unit's cgroup in on a v1 (hybrid) host.
fn managed_roots() -> Vec<PathBuf> {
    const MANAGED: [&str; 10] =
        ["systemd", "unified", "cpu", "cpuacct", "cpu,cpuacct", "cpuacct,cpu", "blkio", "memory", "devices", "pids"];
    cgroup_roots()
        .into_iter()
        .filter(|r| r.file_name().and_then(|n| n.to_str()).is_some_and(|n| MANAGED.contains(&n)))
        .collect()
}

/// "a-b.slice" → "a.slice/a-b.slice", as systemd nests slices.
fn slice_path(slice: &str) -> PathBuf {
    let stem = slice.trim_end_matches(".slice");
    let mut out = PathBuf::new();
    if stem == "-" {
        return out;
    }
    let parts: Vec<&str> = stem.split('-').collect();
    for i in 1..=parts.len() {
        out.push(format!("{}.slice", parts[..i].join("-")));
    }
    out
}

fn realize(
    slice: &str,
    unit: &str,
    pids: &[u32],
    limit: Option<u64>,
    dirs: &mut Vec<PathBuf>,
    slices: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for root in managed_roots() {
        let mut at = root.clone();
        for comp in slice_path(slice).components() {
            at.push(comp);
            if !at.exists() {
                std::fs::create_dir(&at)?;
                slices.push(at.clone());
            }
        }
        let dir = at.join(unit);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            // The runtime makes the directories before it asks (for init's bind mounts).
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        dirs.push(dir.clone());
        for pid in pids {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string())?;
        }
        if let (Some(limit), true) = (limit, root.ends_with("memory")) {
            std::fs::write(dir.join("memory.limit_in_bytes"), limit.to_string())?;
        }
    }
    Ok(())
}

/// Kills what is in the scope and removes its directories, as systemd stops a scope.
fn remove_scope(dirs: &[PathBuf]) {
    for _ in 0..200 {
        let mut any = false;
        for d in dirs {
            for pid in std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
            {
                any = true;
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        if !any {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for d in dirs {
        let _ = std::fs::remove_dir(d);
    }
}
