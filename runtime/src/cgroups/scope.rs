//! The systemd driver's effects: the container's transient scope over D-Bus, with the cgroupfs
//! code doing what systemd leaves to the runtime (as runc's v1 systemd manager does).
//!
//! - `prepare` (create, before init is forked): reach the bus first, so an unreachable systemd
//!   fails before anything exists; translate the resources into unit properties; make the scope's
//!   directories in every hierarchy, because init bind-mounts them into its /sys/fs/cgroup while
//!   the runtime starts the scope.
//! - `PendingScope::start` (the join step, once init's pid is known): StartTransientUnit with PIDs=[init],
//!   Delegate, Slice and the resources; wait for the job's JobRemoved signal ("done"); move the
//!   pid into the hierarchies systemd did not put it in; write the resource files.
//! - `stop` (delete, or `PendingScope::stop_if_started` for a create that failed once the unit existed):
//!   StopUnit and wait for its job; the caller then removes the directories systemd left.
use super::dbus::{self, Body, Message, MANAGER_IFACE, SYSTEMD_PATH};
use super::dbus_conn::{self, BusError, Conn};
use super::dbus_decode::Arg;
use super::resources::ResourcePlan;
use super::systemd::{self, Properties, SystemdError, Value};
use super::{fs, CgroupError, Layout};
use super::{CgroupDirs, CgroupPlan, ScopePlan};
use crate::logging;
use std::time::{Duration, Instant};

/// How long systemd gets for a job, as runc waits.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(30);
pub const UNIT_EXISTS: &str = "org.freedesktop.systemd1.UnitExists";
pub const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";

/// A scope being created: what starting it needs besides the directories (the properties, the
/// resource writes, the open bus connection). create owns it from `prepare` to the end of create.
#[derive(Debug)]
pub struct PendingScope {
    unit: String,
    bus: String,
    /// The scope's cgroup path ("/system.slice/<unit>").
    path: String,
    properties: Properties,
    plan: ResourcePlan,
    conn: Option<Conn>,
    /// Set once systemd accepted StartTransientUnit: from then on the unit is ours to stop.
    started: bool,
}

fn bus_err(unit: &str, op: &'static str) -> impl FnOnce(BusError) -> SystemdError {
    let unit = unit.to_string();
    move |source| SystemdError::Bus { unit, op, source }
}

/// The bus to reach systemd on, from the environment (as runc finds it).
pub fn bus_from_env() -> String {
    dbus_conn::bus_address(dbus_conn::outside_uid(), |k| std::env::var(k).ok())
}

/// Everything up to the scope itself: see the module comment. `scope` is `plan`'s systemd
/// manager; `plan.resources` (the cgroupfs translation) is written once the scope exists.
pub fn prepare(
    layout: &Layout,
    plan: &CgroupPlan,
    scope: &ScopePlan,
) -> Result<(CgroupDirs, PendingScope), CgroupError> {
    let u = &scope.unit;
    let bus = bus_from_env();
    let deadline = Instant::now() + JOB_TIMEOUT;
    let mut conn = Conn::open(&bus, deadline).map_err(bus_err(&u.unit, "no connection to systemd"))?;
    let mut path = systemd::cgroup_dir(u).to_string_lossy().into_owned();
    if dbus_conn::outside_uid() != 0 {
        // A user's systemd instance puts its slices below its own cgroup, as runc finds it.
        let base = dbus_conn::manager_cgroup(&mut conn, deadline)
            .map_err(bus_err(&u.unit, "read the manager's ControlGroup"))?;
        path = format!("{}{path}", base.trim_end_matches('/'));
    }
    let dirs = fs::make_dirs(layout, &path, &plan.resources)?;
    let pending = PendingScope {
        unit: u.unit.clone(),
        bus,
        path,
        properties: scope.properties.clone(),
        plan: plan.resources.clone(),
        conn: Some(conn),
        started: false,
    };
    Ok((dirs, pending))
}

impl PendingScope {
    /// The join step: start the scope with `pid`, then finish with cgroupfs.
    pub fn start(&mut self, pid: i32) -> Result<(), CgroupError> {
        let deadline = Instant::now() + JOB_TIMEOUT;
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => Conn::open(&self.bus, deadline).map_err(bus_err(&self.unit, "no connection to systemd"))?,
        };
        let props = with_pid(&self.properties, pid);
        let result = start_unit(&mut conn, &self.unit, &props, &mut self.started, deadline);
        // Kept for `stop_if_started`, should a later step of create fail.
        self.conn = Some(conn);
        result?;
        let layout = Layout::detect()?;
        join_where_missing(&layout, &self.path, pid)?;
        fs::apply(&layout, &self.path, &self.plan)?;
        logging::debug(&format!("systemd scope {} started with pid {pid}", self.unit));
        Ok(())
    }

    /// For a create that failed: stops the unit if systemd has it.
    pub fn stop_if_started(&mut self) -> Result<(), SystemdError> {
        if !self.started {
            return Ok(());
        }
        stop(&self.unit, &self.bus, self.conn.take())
    }
}

/// The unit of a container created with --systemd-cgroup: the name of its cgroup directory,
/// which `systemd::cgroup_dir` makes the unit name.
pub fn unit_of(dirs: &CgroupDirs) -> Option<String> {
    let leaf = dirs.dirs.first()?.file_name()?.to_str()?;
    (leaf.ends_with(".scope") || leaf.ends_with(".slice")).then(|| leaf.to_string())
}

/// PIDs=[pid] in place of the placeholder.
fn with_pid(props: &Properties, pid: i32) -> Properties {
    props
        .iter()
        .map(|(n, v)| if n == "PIDs" { (n.clone(), Value::U32s(vec![pid as u32])) } else { (n.clone(), v.clone()) })
        .collect()
}

/// The match rule that makes the bus route systemd's JobRemoved broadcasts to us. systemd sends a
/// job's signals when the client that queued it is still connected, Subscribe or not, so no
/// Subscribe call (which would make it send every unit's changes).
pub fn job_removed_rule() -> String {
    format!(
        "type='signal',sender='{}',path='{SYSTEMD_PATH}',interface='{MANAGER_IFACE}',member='JobRemoved'",
        dbus::SYSTEMD_DEST
    )
}

fn add_match(conn: &mut Conn, unit: &str, deadline: Instant) -> Result<(), SystemdError> {
    let rule = job_removed_rule();
    conn.call(|s| dbus::bus_call(s, "AddMatch", &Body::new().str(&rule)), deadline, "the bus's AddMatch reply", |_| {})
        .map_err(bus_err(unit, "AddMatch"))?;
    Ok(())
}

fn start_unit(
    conn: &mut Conn,
    unit: &str,
    props: &Properties,
    started: &mut bool,
    deadline: Instant,
) -> Result<(), SystemdError> {
    add_match(conn, unit, deadline)?;
    let mut watch = JobWatch::default();
    for attempt in 0..2 {
        let what = format!("systemd's reply to StartTransientUnit({unit})");
        match conn.call(
            |s| dbus::start_transient_unit(s, unit, "replace", props),
            deadline,
            &what,
            |m| watch.observe(m),
        ) {
            Ok(reply) => {
                watch.set_job(&reply).map_err(|e| bus_err(unit, "StartTransientUnit")(e))?;
                break;
            }
            // A failed unit of an earlier container with this name stays loaded until reset;
            // runc resets it and retries once.
            Err(BusError::Remote { name, .. }) if name == UNIT_EXISTS && attempt == 0 => reset_failed(conn, unit),
            Err(e) => return Err(bus_err(unit, "StartTransientUnit")(e)),
        }
    }
    *started = true;
    let result = wait_job(conn, &mut watch, deadline, unit).map_err(bus_err(unit, "wait for the start job"))?;
    if result != "done" {
        reset_failed(conn, unit);
        return Err(SystemdError::JobFailed { unit: unit.into(), op: "start", result });
    }
    Ok(())
}

/// StopUnit and wait for its job; a unit systemd no longer has (it collects an empty scope by
/// itself) is not an error. `conn` is reused when there is one.
pub fn stop(unit: &str, bus: &str, conn: Option<Conn>) -> Result<(), SystemdError> {
    let deadline = Instant::now() + JOB_TIMEOUT;
    let mut conn = match conn {
        Some(c) => c,
        None => Conn::open(bus, deadline).map_err(bus_err(unit, "no connection to systemd"))?,
    };
    add_match(&mut conn, unit, deadline)?;
    let mut watch = JobWatch::default();
    let what = format!("systemd's reply to StopUnit({unit})");
    match conn.call(
        |s| dbus::manager_call(s, "StopUnit", &Body::new().str(unit).str("replace")),
        deadline,
        &what,
        |m| watch.observe(m),
    ) {
        Ok(reply) => watch.set_job(&reply).map_err(|e| bus_err(unit, "StopUnit")(e))?,
        Err(BusError::Remote { name, .. }) if name == NO_SUCH_UNIT => return Ok(()),
        Err(e) => return Err(bus_err(unit, "StopUnit")(e)),
    }
    let result = wait_job(&mut conn, &mut watch, deadline, unit).map_err(bus_err(unit, "wait for the stop job"))?;
    if result != "done" {
        // As runc: the directories are removed next all the same.
        logging::warn(&format!("systemd unit {unit}: the stop job ended {result:?}, not \"done\""));
    }
    // A unit that ended failed stays loaded and would refuse the next container of this name.
    reset_failed(&mut conn, unit);
    Ok(())
}

/// `update` of a container created with --systemd-cgroup: SetUnitProperties on the container's unit, so the unit says
/// what the cgroup files say (systemd rewrites the files from the unit on a daemon-reload).
pub fn update_unit(dirs: &CgroupDirs, layout: &Layout, res: &crate::spec::Resources) -> Result<(), SystemdError> {
    let Some(unit) = unit_of(dirs) else { return Ok(()) };
    let props = systemd::update_properties(res, layout.is_v2_only());
    if props.is_empty() {
        return Ok(());
    }
    set_properties(&unit, &bus_from_env(), &props)
}

fn set_properties(unit: &str, bus: &str, props: &Properties) -> Result<(), SystemdError> {
    let deadline = Instant::now() + JOB_TIMEOUT;
    let mut conn = Conn::open(bus, deadline).map_err(bus_err(unit, "no connection to systemd"))?;
    let what = format!("systemd's reply to SetUnitProperties({unit})");
    conn.call(|s| dbus::set_unit_properties(s, unit, props), deadline, &what, |_| {})
        .map_err(bus_err(unit, "SetUnitProperties"))?;
    Ok(())
}

/// ResetFailedUnit, best effort: systemd answers NoSuchUnit when there is nothing to reset.
fn reset_failed(conn: &mut Conn, unit: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let _ = conn.call(
        |s| dbus::manager_call(s, "ResetFailedUnit", &Body::new().str(unit)),
        deadline,
        "ResetFailedUnit",
        |_| {},
    );
}

fn wait_job(conn: &mut Conn, watch: &mut JobWatch, deadline: Instant, unit: &str) -> Result<String, BusError> {
    let what = format!("systemd's JobRemoved signal for {unit} ({} s)", JOB_TIMEOUT.as_secs());
    loop {
        if let Some(r) = watch.result() {
            return Ok(r.to_string());
        }
        let m = conn.recv(deadline, &what)?;
        watch.observe(&m);
    }
}

/// Follows one job: its path comes in the method's reply, its end in a JobRemoved signal that
/// may be read before the reply.
#[derive(Debug, Default)]
pub struct JobWatch {
    job: Option<String>,
    /// (job path, result) of every JobRemoved seen.
    removed: Vec<(String, String)>,
}

impl JobWatch {
    /// Notes a JobRemoved signal; other messages are ignored.
    pub fn observe(&mut self, m: &Message) {
        if let Some(j) = job_removed(m) {
            self.removed.push((j.job, j.result));
        }
    }

    /// Takes the job's object path from the reply to StartTransientUnit or StopUnit.
    pub fn set_job(&mut self, reply: &Message) -> Result<(), BusError> {
        let args = reply.args().map_err(|source| BusError::Wire { address: "systemd's reply".into(), source })?;
        match args.as_slice() {
            [Arg::Path(p)] => {
                self.job = Some(p.clone());
                Ok(())
            }
            _ => Err(BusError::Remote {
                name: "(unexpected reply)".into(),
                message: format!("signature {:?}, not a job path", reply.header.signature),
            }),
        }
    }

    /// The job's result ("done", "failed", "canceled", "timeout", ...) once it was removed.
    pub fn result(&self) -> Option<&str> {
        let job = self.job.as_deref()?;
        self.removed.iter().find(|(j, _)| j == job).map(|(_, r)| r.as_str())
    }
}

/// A JobRemoved(u id, o job, s unit, s result) signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRemoved {
    pub id: u32,
    pub job: String,
    pub unit: String,
    pub result: String,
}

/// Reads `m` as systemd's JobRemoved broadcast. A signal addressed to us alone is refused:
/// systemd broadcasts it, and only the bus can vouch (by the match rule's sender) that a
/// broadcast came from systemd.
pub fn job_removed(m: &Message) -> Option<JobRemoved> {
    if !m.is_signal(MANAGER_IFACE, "JobRemoved")
        || m.header.path.as_deref() != Some(SYSTEMD_PATH)
        || m.header.destination.is_some()
    {
        return None;
    }
    match m.args().ok()?.as_slice() {
        [Arg::U32(id), Arg::Path(job), Arg::Str(unit), Arg::Str(result)] => {
            Some(JobRemoved { id: *id, job: job.clone(), unit: unit.clone(), result: result.clone() })
        }
        _ => None,
    }
}

/// Moves `pid` into the scope in every hierarchy where systemd did not already put it (systemd
/// on cgroup v1 leaves cpuset, freezer and others to the runtime). Skipping the others saves a
/// cgroup.procs write each (on v1 the first one waits for an RCU grace period).
fn join_where_missing(layout: &Layout, path: &str, pid: i32) -> Result<(), CgroupError> {
    let proc_file = format!("/proc/{pid}/cgroup");
    let own =
        std::fs::read_to_string(&proc_file).map_err(oxsys::SysError::on("read", std::path::Path::new(&proc_file)))?;
    for h in layout.hierarchies.iter().filter(|h| layout.uses(h)) {
        if !in_cgroup(&own, &h.proc_key(), path) {
            fs::write_file(&layout.dir_for(h, path).join("cgroup.procs"), &pid.to_string())?;
        }
    }
    Ok(())
}

/// Whether /proc/PID/cgroup text places the process at `path` in the hierarchy `key`
/// ("memory", "cpu,cpuacct", "name=systemd", "" for v2).
pub fn in_cgroup(proc_cgroup: &str, key: &str, path: &str) -> bool {
    proc_cgroup.lines().any(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, k, p) = (parts.next(), parts.next(), parts.next());
        k == Some(key) && p.map(|p| p.trim_end_matches('/')) == Some(path.trim_end_matches('/'))
    })
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
