//! The state directory: `<root>/<id>/state.json`, its lock, and the container's live status.
//!
//! state.json is written to a temporary file and renamed, so a reader sees the old or the new
//! state, never half of one. Commands on one id take an flock on the state directory itself;
//! `create` makes the directory with mkdir(2), which fails for a duplicate id.
//! The status is derived from live facts, not stored: a pid whose start time differs from the one
//! recorded is a reused pid, and the container is stopped.
pub use crate::cgroups::CgroupDirs;
use crate::spec::{Hooks, IdMapping};
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use oxsys::SysError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The exec fifo: present from create until start, so "created" is a fact on disk.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";
/// Written by `create` before state.json: the cgroups, then init's pid and start time, so a
/// `delete` after a create that was killed half-way finds what to kill and remove.
const CREATING_FILE: &str = "creating.json";
/// The seccomp profile the container was created with (see [`StateDir::save_seccomp`]).
const SECCOMP_FILE: &str = "seccomp.json";

/// The seccomp profile saved at create: Some(None) when it had none, None when the container
/// predates the file (then the bundle's config.json is all there is).
pub fn saved_seccomp(root: &Path, id: &str) -> Result<Option<Option<serde_json::Value>>, StateError> {
    let file = root.join(id).join(SECCOMP_FILE);
    match fs::read(&file) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|source| StateError::Parse { path: file, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SysError::at("read", &file, e).into()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid container id {0:?}: ids may not be empty, contain '/' or be '.' or '..'")]
    InvalidId(String),
    #[error("container does not exist")]
    NotFound,
    #[error("container already exists")]
    Exists,
    #[error(transparent)]
    Io {
        #[from]
        source: SysError,
    },
    #[error("parse {path}: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
}

/// A container's status, as the runtime-spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// What is persisted in state.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat).
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub owner: u32,
    #[serde(default)]
    pub systemd_cgroup: bool,
    #[serde(default)]
    pub cgroup: CgroupDirs,
    #[serde(default)]
    pub hooks: Option<Hooks>,
    /// Whether the container has its own pid namespace (then killing init kills everything).
    #[serde(default)]
    pub own_pid_ns: bool,
    #[serde(default)]
    pub uid_mappings: Vec<IdMapping>,
    /// Without a mount namespace the container's mounts are made in the runtime's mount table:
    /// the mount points at or under the rootfs that were there before create, which delete
    /// leaves alone while it unmounts the rest. None when the container has its own namespace.
    #[serde(default)]
    pub host_mounts_before: Option<Vec<PathBuf>>,
}

/// runc's `state` output: the runtime-spec state plus `rootfs`, `created`, `owner`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateView<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
    pub owner: String,
}

impl State {
    /// The spec-shaped view of this state with a live status; `pid` is 0 once stopped.
    pub fn view(&self, status: Status, owner: String) -> StateView<'_> {
        StateView {
            // The version the state complies with is the runtime's, whatever the config says
            // (runtime-spec runtime.md; runc prints its own spec version too).
            oci_version: crate::spec::OCI_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped { 0 } else { self.pid },
            status,
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            annotations: &self.annotations,
            owner,
        }
    }
}

/// Checks a container id: non-empty, no '/', not "." or "..", no NUL or newline.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let bad = id.is_empty()
        || id == "."
        || id == ".."
        || id.contains('/')
        || id.contains('\0')
        || id.contains('\n')
        || id.len() > 1024;
    if bad {
        return Err(StateError::InvalidId(id.to_string()));
    }
    Ok(())
}

/// The state root: `--root`, else /run/oxrun for root, else `$XDG_RUNTIME_DIR/oxrun`.
///
/// Podman calls kill/delete with no PATH and no HOME and, for root, an empty XDG_RUNTIME_DIR: the
/// answer depends on the euid, whether we run inside a user namespace (rootless Podman runs us as
/// uid 0 of its own namespace) and XDG_RUNTIME_DIR only, so every subcommand finds the same dir.
pub fn default_root(euid: u32, in_userns: bool, xdg_runtime_dir: Option<&str>) -> PathBuf {
    let xdg = xdg_runtime_dir.filter(|d| !d.is_empty());
    if euid != 0 || in_userns {
        if let Some(dir) = xdg {
            return Path::new(dir).join("oxrun");
        }
        if euid != 0 {
            return PathBuf::from(format!("/run/user/{euid}/oxrun"));
        }
    }
    PathBuf::from("/run/oxrun")
}

/// Whether this process runs in a user namespace other than the initial one (its uid_map is not
/// the identity map of all ids).
pub fn in_user_namespace() -> bool {
    fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| !is_initial_uid_map(&m))
}

fn is_initial_uid_map(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

/// Rootless: not root, or root only inside a user namespace (cgroups and some mounts may be
/// unavailable, and failures there are expected rather than fatal).
pub fn is_rootless() -> bool {
    !nix::unistd::geteuid().is_root() || in_user_namespace()
}

/// A locked state directory.
#[derive(Debug)]
pub struct StateDir {
    pub path: PathBuf,
    _lock: Flock<fs::File>,
}

impl StateDir {
    /// Makes a new state directory for `id` and locks it; fails if the id is taken.
    pub fn create(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(SysError::on("create root directory", root))?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(StateError::Exists),
            Err(e) => return Err(SysError::at("create state directory", &path, e).into()),
        }
        let lock = lock_dir(&path)?;
        Ok(StateDir { path, _lock: lock })
    }

    /// Opens and locks the state directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<StateDir, StateError> {
        validate_id(id)?;
        let path = root.join(id);
        let lock = match lock_dir(&path) {
            Err(StateError::Io { source }) if source.source.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound)
            }
            other => other?,
        };
        // A concurrent delete may have removed the directory while we waited for the lock.
        if !path.exists() {
            return Err(StateError::NotFound);
        }
        Ok(StateDir { path, _lock: lock })
    }

    /// Reads state.json; `NotFound` when it does not exist (a create that never finished).
    pub fn load(&self) -> Result<State, StateError> {
        let file = self.path.join(STATE_FILE);
        let bytes = match fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StateError::NotFound),
            Err(e) => return Err(SysError::at("read", &file, e).into()),
        };
        serde_json::from_slice(&bytes).map_err(|source| StateError::Parse { path: file, source })
    }

    /// Writes state.json atomically.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(state).expect("state serializes");
        write_atomic(&self.path.join(STATE_FILE), &bytes, 0o600)
    }

    /// Keeps the seccomp profile create applied (`null` for none): exec applies the same one,
    /// as runc does, whatever config.json says by then. Written in place, before state.json: no
    /// reader looks for it before state.json exists, so it needs no rename (on ext4 each rename
    /// cost ~45 µs of a ~8 ms `run`).
    pub fn save_seccomp(&self, profile: Option<&serde_json::Value>) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(&profile).expect("profile serializes");
        let path = self.path.join(SECCOMP_FILE);
        write_in_place(&path, &bytes, 0o600).map_err(|e| SysError::at("write", &path, e).into())
    }

    /// Records a create in progress (see [`CREATING_FILE`]), atomically: the first record is
    /// written once the cgroups exist, and `delete --force` of a create killed at any moment
    /// must find them in a whole record (a file cut short would leave them behind).
    pub fn save_creating(&self, state: &State) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(state).expect("state serializes");
        write_atomic(&self.path.join(CREATING_FILE), &bytes, 0o600)
    }

    /// The record of a create that never wrote state.json; `NotFound` when there is none.
    pub fn load_creating(&self) -> Result<State, StateError> {
        let file = self.path.join(CREATING_FILE);
        let bytes = match fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StateError::NotFound),
            Err(e) => return Err(SysError::at("read", &file, e).into()),
        };
        serde_json::from_slice(&bytes).map_err(|source| StateError::Parse { path: file, source })
    }

    /// Drops the in-progress record once state.json exists.
    pub fn remove_creating(&self) {
        let _ = fs::remove_file(self.path.join(CREATING_FILE));
    }

    /// The descriptor holding the lock. A process forked during `create` must close its copy:
    /// the lock belongs to the open file, so a copy outliving a killed create keeps it held.
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&*self._lock)
    }

    /// Path of a file inside the state directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<(), StateError> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SysError::at("remove state directory", &self.path, e).into()),
        }
    }
}

fn lock_dir(path: &Path) -> Result<Flock<fs::File>, StateError> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_DIRECTORY | OFlag::O_CLOEXEC).bits())
        .open(path)
        .map_err(SysError::on("open state directory", path))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| SysError::on("lock state directory", path)(errno).into())
}

/// Writes `bytes` to `path` in place, with no temporary file: for files nobody reads before
/// they are complete.
fn write_in_place(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true).mode(mode).custom_flags(libc::O_CLOEXEC);
    opts.open(path)?.write_all(bytes)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(bytes)?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        SysError::at("write", path, e).into()
    })
}

/// Facts about a live process read from /proc/PID/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
}

/// Parses the text of /proc/PID/stat (the command name may contain spaces and parentheses).
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) comes field 4; starttime is field 22.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// Reads /proc/PID/stat; None when the process does not exist.
/// The mount points at or under `rootfs` in this process's mount table, in mount order
/// (/proc/self/mountinfo's order); empty when it cannot be read.
pub fn mounts_at_or_under(rootfs: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(rootfs))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash in a path as \ooo (octal).
fn unescape_mountinfo(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) if b[i] == b'\\' => {
                out.push(d.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    if pid <= 0 {
        return None;
    }
    parse_proc_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether the container's init is the process we recorded and it has not exited.
pub fn init_alive(state: &State) -> bool {
    matches!(proc_stat(state.pid), Some(s) if s.start_time == state.init_start_time && s.state != 'Z' && s.state != 'X')
}

/// The live status of a container whose state was loaded from `dir`.
pub fn status(dir: &StateDir, state: &State) -> Status {
    if !init_alive(state) {
        return Status::Stopped;
    }
    if crate::cgroups::is_frozen(&state.cgroup) {
        return Status::Paused;
    }
    if dir.file(EXEC_FIFO).exists() {
        return Status::Created;
    }
    Status::Running
}

/// Creates the exec fifo with mode 0600.
pub fn make_exec_fifo(dir: &StateDir) -> Result<PathBuf, StateError> {
    let path = dir.file(EXEC_FIFO);
    nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).map_err(SysError::on("mkfifo", &path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b\011c\134d"), "/tmp/a b\tc\\d");
        assert_eq!(unescape_mountinfo(r"/plain/path\9"), r"/plain/path\9");
    }

    #[test]
    fn ids_are_validated() {
        for bad in ["", ".", "..", "a/b", "../x", "a\nb"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "abc-123_x.y", "..a", "a.."] {
            assert!(validate_id(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn default_root_depends_only_on_euid_userns_and_xdg() {
        assert_eq!(default_root(0, false, Some("/run/user/0")), PathBuf::from("/run/oxrun"));
        assert_eq!(default_root(0, false, None), PathBuf::from("/run/oxrun"));
        assert_eq!(default_root(1000, false, Some("/run/user/1000")), PathBuf::from("/run/user/1000/oxrun"));
        assert_eq!(default_root(1000, false, Some("")), PathBuf::from("/run/user/1000/oxrun"));
        // Rootless Podman: uid 0 inside its user namespace, with the user's runtime dir.
        assert_eq!(default_root(0, true, Some("/run/user/1000")), PathBuf::from("/run/user/1000/oxrun"));
        assert_eq!(default_root(0, true, Some("")), PathBuf::from("/run/oxrun"));
    }

    #[test]
    fn the_initial_uid_map_is_recognised() {
        assert!(is_initial_uid_map("         0          0 4294967295\n"));
        assert!(!is_initial_uid_map("         0       1000          1\n"));
        assert!(!is_initial_uid_map("0 1000 1\n1 100000 65536\n"));
    }

    #[test]
    fn proc_stat_parses_names_with_spaces_and_parens() {
        let text = "42 (we (ird) name) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(parse_proc_stat(text), Some(ProcStat { state: 'S', start_time: 123456 }));
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn create_refuses_duplicates_and_open_finds_only_existing() {
        let root = tempfile::tempdir().unwrap();
        let dir = StateDir::create(root.path(), "c1").unwrap();
        drop(dir);
        assert!(matches!(StateDir::create(root.path(), "c1"), Err(StateError::Exists)));
        assert!(matches!(StateDir::open(root.path(), "nope"), Err(StateError::NotFound)));
        let dir = StateDir::open(root.path(), "c1").unwrap();
        assert!(matches!(dir.load(), Err(StateError::NotFound)));
        dir.remove().unwrap();
        assert!(!root.path().join("c1").exists());
    }

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
