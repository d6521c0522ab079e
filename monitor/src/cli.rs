//! conmon-compatible command line parsing.
//!
//! conmon uses GLib's `GOptionContext`: `--opt value` and `--opt=value` are both accepted, array
//! options may repeat, `--api-version` takes no value (Podman's trailing `1` becomes a stray
//! positional, which is ignored like every other positional).

use thiserror::Error;

/// Errors from parsing the command line.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CliError {
    #[error("Unknown option {0}")]
    Unknown(String),
    #[error("Missing argument for {0}")]
    MissingValue(String),
    #[error("Cannot parse integer value \"{value}\" for {opt}")]
    BadInt { opt: String, value: String },
    #[error("Integer value \"{value}\" for {opt} out of range")]
    OutOfRange { opt: String, value: String },
    #[error("Option {0} does not take a value")]
    UnexpectedValue(String),
}

/// Every option conmon 2.1.x understands (plus a few newer ones that are parsed and mostly ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub api_version: i32,
    pub cid: Option<String>,
    pub cuuid: Option<String>,
    pub name: Option<String>,
    pub runtime: Option<String>,
    pub bundle: Option<String>,
    pub container_pidfile: Option<String>,
    pub conmon_pidfile: Option<String>,
    pub log_paths: Vec<String>,
    pub log_level: Option<String>,
    pub log_size_max: i64,
    pub log_global_size_max: i64,
    pub log_tag: Option<String>,
    pub log_labels: Vec<String>,
    pub log_rotate: bool,
    pub log_max_files: i64,
    pub log_allowlist_dirs: Vec<String>,
    pub no_container_partial_message: bool,
    pub exit_dir: Option<String>,
    pub exit_command: Option<String>,
    pub exit_command_args: Vec<String>,
    pub exit_delay: i64,
    pub persist_dir: Option<String>,
    pub socket_dir_path: Option<String>,
    pub systemd_cgroup: bool,
    pub terminal: bool,
    pub stdin: bool,
    pub leave_stdin_open: bool,
    pub full_attach: bool,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub runtime_args: Vec<String>,
    pub runtime_opts: Vec<String>,
    pub replace_listen_pid: bool,
    pub exec: bool,
    pub exec_attach: bool,
    pub exec_process_spec: Option<String>,
    pub restore: Option<String>,
    pub sync: bool,
    pub syslog: bool,
    pub timeout: i64,
    pub no_sync_log: bool,
    pub sdnotify_socket: Option<String>,
    pub seccomp_notify_socket: Option<String>,
    pub seccomp_notify_plugins: Option<String>,
    pub version: bool,
    pub help: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            api_version: 0,
            cid: None,
            cuuid: None,
            name: None,
            runtime: None,
            bundle: None,
            container_pidfile: None,
            conmon_pidfile: None,
            log_paths: Vec::new(),
            log_level: None,
            log_size_max: -1,
            log_global_size_max: -1,
            log_tag: None,
            log_labels: Vec::new(),
            log_rotate: false,
            log_max_files: 1,
            log_allowlist_dirs: Vec::new(),
            no_container_partial_message: false,
            exit_dir: None,
            exit_command: None,
            exit_command_args: Vec::new(),
            exit_delay: 0,
            persist_dir: None,
            socket_dir_path: None,
            systemd_cgroup: false,
            terminal: false,
            stdin: false,
            leave_stdin_open: false,
            full_attach: false,
            no_pivot: false,
            no_new_keyring: false,
            runtime_args: Vec::new(),
            runtime_opts: Vec::new(),
            replace_listen_pid: false,
            exec: false,
            exec_attach: false,
            exec_process_spec: None,
            restore: None,
            sync: false,
            syslog: false,
            timeout: 0,
            no_sync_log: false,
            sdnotify_socket: None,
            seccomp_notify_socket: None,
            seccomp_notify_plugins: None,
            version: false,
            help: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Flag,
    Value,
}

/// Long name, short name, kind, `--help` text. The first long name is the canonical one.
const TABLE: &[(&str, Option<char>, Kind, &str)] = &[
    ("api-version", None, Kind::Flag, "Conmon API version to use"),
    ("cid", Some('c'), Kind::Value, "Identification of Container"),
    ("cuuid", Some('u'), Kind::Value, "Container UUID"),
    ("name", Some('n'), Kind::Value, "Container name"),
    ("runtime", Some('r'), Kind::Value, "Path to the OCI runtime binary"),
    ("bundle", Some('b'), Kind::Value, "Location of the OCI Bundle path"),
    ("container-pidfile", Some('p'), Kind::Value, "PID file for the initial pid inside of container"),
    ("pidfile", None, Kind::Value, "PID file (DEPRECATED alias of --container-pidfile)"),
    ("conmon-pidfile", Some('P'), Kind::Value, "PID file for the conmon process"),
    (
        "log-path",
        Some('l'),
        Kind::Value,
        "Log file path (k8s-file:PATH, journald, none, passthrough). Can be specified multiple times",
    ),
    ("log-level", None, Kind::Value, "Print debug logs based on log level"),
    ("log-size-max", None, Kind::Value, "Maximum size of log file"),
    ("log-global-size-max", None, Kind::Value, "Maximum size of all log files"),
    ("log-tag", None, Kind::Value, "Additional tag to use for logging"),
    (
        "log-label",
        None,
        Kind::Value,
        "Additional journald field KEY=VALUE for every log entry. Can be specified multiple times",
    ),
    ("log-rotate", None, Kind::Flag, "Rotate the log file at --log-size-max instead of truncating it"),
    ("log-max-files", None, Kind::Value, "Number of rotated log files to keep with --log-rotate (default: 1)"),
    (
        "log-allowlist-dir",
        None,
        Kind::Value,
        "Refuse log paths outside this directory. Can be specified multiple times",
    ),
    (
        "no-container-partial-message",
        None,
        Kind::Flag,
        "Do not set CONTAINER_PARTIAL_MESSAGE on partial journald entries",
    ),
    ("exit-dir", None, Kind::Value, "Path to the directory where exit files are written"),
    ("exit-command", None, Kind::Value, "Path to the program to execute when the container terminates its execution"),
    (
        "exit-command-arg",
        None,
        Kind::Value,
        "Additional arg to pass to the exit command.  Can be specified multiple times",
    ),
    ("exit-delay", None, Kind::Value, "Delay before invoking the exit command (in seconds)"),
    (
        "persist-dir",
        Some('0'),
        Kind::Value,
        "Persistent directory for a container that can be used for storing container data",
    ),
    ("socket-dir-path", None, Kind::Value, "Location of container attach sockets"),
    ("systemd-cgroup", Some('s'), Kind::Flag, "Enable systemd cgroup manager, rather then use the cgroupfs directly"),
    ("terminal", Some('t'), Kind::Flag, "Allocate a pseudo-TTY. The default is false"),
    ("stdin", Some('i'), Kind::Flag, "Open up a pipe to pass stdin to the container"),
    ("leave-stdin-open", None, Kind::Flag, "Leave stdin open when attached client disconnects"),
    (
        "full-attach",
        None,
        Kind::Flag,
        "Don't truncate the path to the attach socket. This option causes conmon to ignore --socket-dir-path",
    ),
    ("no-pivot", None, Kind::Flag, "Do not use pivot_root"),
    ("no-new-keyring", None, Kind::Flag, "Do not create a new session keyring for the container"),
    ("runtime-arg", None, Kind::Value, "Additional arg to pass to the runtime. Can be specified multiple times"),
    (
        "runtime-opt",
        None,
        Kind::Value,
        "Additional opts to pass to the restore or exec command. Can be specified multiple times",
    ),
    (
        "restore-arg",
        None,
        Kind::Value,
        "Additional arg to pass to the restore command (DEPRECATED alias of --runtime-opt)",
    ),
    ("replace-listen-pid", None, Kind::Flag, "Replace listen pid if set for oci-runtime pid"),
    ("exec", Some('e'), Kind::Flag, "Exec a command into a running container"),
    ("exec-attach", None, Kind::Flag, "Attach to an exec session"),
    ("exec-process-spec", None, Kind::Value, "Path to the process spec for execution"),
    ("restore", None, Kind::Value, "Restore a container from a checkpoint"),
    ("sync", None, Kind::Flag, "Keep the main conmon process as its child by only forking once"),
    ("syslog", None, Kind::Flag, "Log to syslog (use with cgroupfs cgroup manager)"),
    ("timeout", Some('T'), Kind::Value, "Kill container after specified timeout in seconds."),
    ("no-sync-log", None, Kind::Flag, "Do not manually call sync on logs after container shutdown"),
    ("sdnotify-socket", None, Kind::Value, "Path to the host's sd-notify socket to relay messages to"),
    (
        "seccomp-notify-socket",
        None,
        Kind::Value,
        "Path to the socket where the seccomp notification fd is received (ignored)",
    ),
    ("seccomp-notify-plugins", None, Kind::Value, "Plugins to use for managing the seccomp notifications (ignored)"),
    ("version", None, Kind::Flag, "Print the version and exit"),
    ("help", Some('h'), Kind::Flag, "Show help options"),
];

fn lookup_long(name: &str) -> Option<(&'static str, Kind)> {
    TABLE.iter().find(|(l, _, _, _)| *l == name).map(|(l, _, k, _)| (*l, *k))
}

fn lookup_short(c: char) -> Option<(&'static str, Kind)> {
    TABLE.iter().find(|(_, s, _, _)| *s == Some(c)).map(|(l, _, k, _)| (*l, *k))
}

fn parse_int(opt: &str, value: &str) -> Result<i64, CliError> {
    value.trim().parse::<i64>().map_err(|_| CliError::BadInt { opt: format!("--{opt}"), value: value.to_string() })
}

/// A `G_OPTION_ARG_INT` value: conmon's option parser refuses what does not fit an `int`.
fn parse_c_int(opt: &str, value: &str) -> Result<i64, CliError> {
    let v = parse_int(opt, value)?;
    if i32::try_from(v).is_err() {
        return Err(CliError::OutOfRange { opt: format!("--{opt}"), value: value.to_string() });
    }
    Ok(v)
}

impl Options {
    fn set_flag(&mut self, name: &str) {
        match name {
            "api-version" => self.api_version = 1,
            "log-rotate" => self.log_rotate = true,
            "no-container-partial-message" => self.no_container_partial_message = true,
            "systemd-cgroup" => self.systemd_cgroup = true,
            "terminal" => self.terminal = true,
            "stdin" => self.stdin = true,
            "leave-stdin-open" => self.leave_stdin_open = true,
            "full-attach" => self.full_attach = true,
            "no-pivot" => self.no_pivot = true,
            "no-new-keyring" => self.no_new_keyring = true,
            "replace-listen-pid" => self.replace_listen_pid = true,
            "exec" => self.exec = true,
            "exec-attach" => self.exec_attach = true,
            "sync" => self.sync = true,
            "syslog" => self.syslog = true,
            "no-sync-log" => self.no_sync_log = true,
            "version" => self.version = true,
            _ => self.help = true,
        }
    }

    fn set_value(&mut self, name: &str, v: String) -> Result<(), CliError> {
        match name {
            "cid" => self.cid = Some(v),
            "cuuid" => self.cuuid = Some(v),
            "name" => self.name = Some(v),
            "runtime" => self.runtime = Some(v),
            "bundle" => self.bundle = Some(v),
            "container-pidfile" | "pidfile" => self.container_pidfile = Some(v),
            "conmon-pidfile" => self.conmon_pidfile = Some(v),
            "log-path" => self.log_paths.push(v),
            "log-level" => self.log_level = Some(v),
            "log-size-max" => self.log_size_max = parse_int(name, &v)?,
            "log-global-size-max" => self.log_global_size_max = parse_int(name, &v)?,
            "log-tag" => self.log_tag = Some(v),
            "log-label" => self.log_labels.push(v),
            "log-max-files" => self.log_max_files = parse_c_int(name, &v)?,
            "log-allowlist-dir" => self.log_allowlist_dirs.push(v),
            "exit-dir" => self.exit_dir = Some(v),
            "exit-command" => self.exit_command = Some(v),
            "exit-command-arg" => self.exit_command_args.push(v),
            "exit-delay" => self.exit_delay = parse_int(name, &v)?,
            "persist-dir" => self.persist_dir = Some(v),
            "socket-dir-path" => self.socket_dir_path = Some(v),
            "runtime-arg" => self.runtime_args.push(v),
            "runtime-opt" | "restore-arg" => self.runtime_opts.push(v),
            "exec-process-spec" => self.exec_process_spec = Some(v),
            "restore" => self.restore = Some(v),
            "timeout" => self.timeout = parse_int(name, &v)?,
            "sdnotify-socket" => self.sdnotify_socket = Some(v),
            "seccomp-notify-socket" => self.seccomp_notify_socket = Some(v),
            _ => self.seccomp_notify_plugins = Some(v),
        }
        Ok(())
    }
}

/// Parses `args` (without argv\[0\]). Positional arguments are ignored, as GLib leaves them.
pub fn parse<I, S>(args: I) -> Result<Options, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut opts = Options::default();
    let mut it = args.into_iter().map(Into::into);
    while let Some(arg) = it.next() {
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let (canon, kind) = lookup_long(name).ok_or_else(|| CliError::Unknown(arg.clone()))?;
            match (kind, inline) {
                (Kind::Flag, None) => opts.set_flag(canon),
                (Kind::Flag, Some(_)) => return Err(CliError::UnexpectedValue(arg.clone())),
                (Kind::Value, Some(v)) => opts.set_value(canon, v)?,
                (Kind::Value, None) => {
                    let v = it.next().ok_or_else(|| CliError::MissingValue(arg.clone()))?;
                    opts.set_value(canon, v)?;
                }
            }
        } else if arg.len() > 1 && arg.starts_with('-') {
            parse_short_group(&mut opts, &arg, &mut it)?;
        }
        // Anything else is a stray positional (e.g. the `1` after `--api-version`): ignored.
    }
    Ok(opts)
}

fn parse_short_group(opts: &mut Options, arg: &str, it: &mut impl Iterator<Item = String>) -> Result<(), CliError> {
    let body = &arg[1..];
    for (idx, c) in body.char_indices() {
        let (canon, kind) = lookup_short(c).ok_or_else(|| CliError::Unknown(format!("-{c}")))?;
        if kind == Kind::Flag {
            opts.set_flag(canon);
            continue;
        }
        let rest = &body[idx + c.len_utf8()..];
        let value = if rest.is_empty() {
            it.next().ok_or_else(|| CliError::MissingValue(format!("-{c}")))?
        } else {
            rest.to_string()
        };
        return opts.set_value(canon, value);
    }
    Ok(())
}

/// Validates `--log-level` like conmon (case-insensitive), returning the canonical level.
pub fn validate_log_level(level: &str) -> Option<&'static str> {
    match level.to_ascii_lowercase().as_str() {
        "error" | "fatal" | "panic" => Some("error"),
        "warn" | "warning" => Some("warning"),
        "info" => Some("info"),
        "debug" => Some("debug"),
        "trace" => Some("trace"),
        _ => None,
    }
}

/// The `--help` text in GLib's layout (as conmon prints it): one line per option, the help
/// option first in its own group, descriptions aligned in one column.
pub fn help_text(prog: &str) -> String {
    let label = |long: &str, short: Option<char>| match short {
        Some(c) => format!("-{c}, --{long}"),
        None => format!("--{long}"),
    };
    let width = TABLE.iter().map(|(l, s, _, _)| label(l, *s).len()).max().unwrap_or(0).max(27) + 2;
    let line = |long: &str, short: Option<char>, text: &str| format!("  {:<width$}{text}\n", label(long, short));
    let mut out = format!("Usage:\n  {prog} [OPTION\u{2026}] - conmon utility\n\nHelp Options:\n");
    for (long, short, _, text) in TABLE.iter().filter(|(l, ..)| *l == "help") {
        out.push_str(&line(long, *short, text));
    }
    out.push_str("\nApplication Options:\n");
    for (long, short, _, text) in TABLE.iter().filter(|(l, ..)| *l != "help") {
        out.push_str(&line(long, *short, text));
    }
    out.push('\n');
    out
}

/// The `--version` text. The first line satisfies Podman's probe regex.
pub fn version_text() -> String {
    format!("conmon version 2.1.6\ncommit: oxmon {}\n", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Options {
        parse(args.iter().copied()).expect("parse")
    }

    #[test]
    fn podman_create_argv() {
        let o = p(&[
            "--api-version",
            "1",
            "-c",
            "abc",
            "-u",
            "abc",
            "-r",
            "/usr/bin/runc",
            "-b",
            "/b",
            "-p",
            "/r/pidfile",
            "-n",
            "name",
            "--exit-dir",
            "/e",
            "--full-attach",
            "-s",
            "-l",
            "k8s-file:/l",
            "--log-level",
            "warning",
            "--runtime-arg",
            "--log-format=json",
            "--runtime-arg",
            "--log",
            "--runtime-arg=/r/oci-log",
            "-i",
            "--timeout=5",
            "--conmon-pidfile",
            "/r/conmon.pid",
            "--exit-command",
            "/usr/bin/podman",
            "--exit-command-arg",
            "a",
            "--exit-command-arg",
            "b",
        ]);
        assert_eq!(o.api_version, 1);
        assert_eq!(o.cid.as_deref(), Some("abc"));
        assert_eq!(o.runtime_args, vec!["--log-format=json", "--log", "/r/oci-log"]);
        assert_eq!(o.exit_command_args, vec!["a", "b"]);
        assert_eq!(o.timeout, 5);
        assert!(o.systemd_cgroup && o.stdin && o.full_attach && !o.terminal);
        assert_eq!(o.log_paths, vec!["k8s-file:/l"]);
    }

    #[test]
    fn newer_flags_and_aliases() {
        let o = p(&[
            "-0",
            "/persist",
            "--log-tag=t",
            "--log-label",
            "a=b",
            "--syslog",
            "--sdnotify-socket=/s",
            "--log-global-size-max",
            "10",
            "--restore-arg",
            "x",
            "--pidfile",
            "/p",
            "-T",
            "3",
            "-l",
            "none",
            "-l",
            "journald",
        ]);
        assert_eq!(o.persist_dir.as_deref(), Some("/persist"));
        assert_eq!(o.log_tag.as_deref(), Some("t"));
        assert_eq!(o.log_labels, vec!["a=b"]);
        assert!(o.syslog);
        assert_eq!(o.sdnotify_socket.as_deref(), Some("/s"));
        assert_eq!(o.log_global_size_max, 10);
        assert_eq!(o.runtime_opts, vec!["x"]);
        assert_eq!(o.container_pidfile.as_deref(), Some("/p"));
        assert_eq!(o.timeout, 3);
        assert_eq!(o.log_paths.len(), 2);
    }

    #[test]
    fn short_groups_and_errors() {
        let o = p(&["-ti", "-cID"]);
        assert!(o.terminal && o.stdin);
        assert_eq!(o.cid.as_deref(), Some("ID"));
        assert!(matches!(parse(["--bogus"]), Err(CliError::Unknown(_))));
        assert!(matches!(parse(["-c"]), Err(CliError::MissingValue(_))));
        assert!(matches!(parse(["--timeout", "x"]), Err(CliError::BadInt { .. })));
        assert!(matches!(parse(["--exec=1"]), Err(CliError::UnexpectedValue(_))));
    }

    #[test]
    fn version_matches_podman_probe() {
        let v = version_text();
        let first = v.lines().next().unwrap();
        assert!(first.starts_with("conmon version 2."));
        assert!(p(&["--version"]).version);
    }

    #[test]
    fn help_lists_every_option_once() {
        let h = help_text("oxmon");
        for (long, short, _, text) in TABLE {
            let opt = |l: &str| l.trim_start().split(' ').any(|w| w == format!("--{long}"));
            let lines: Vec<_> = h.lines().filter(|l| opt(l.split("  ").nth(1).unwrap_or(""))).collect();
            assert_eq!(lines.len(), 1, "--{long}: {lines:?}");
            assert!(lines[0].ends_with(text) && !text.is_empty());
            if let Some(c) = short {
                assert!(lines[0].starts_with(&format!("  -{c}, --{long} ")));
            }
        }
        let col = h.lines().find(|l| l.contains("--api-version")).unwrap().find("Conmon").unwrap();
        assert!(h.lines().filter(|l| l.starts_with("  -")).all(|l| !l[col..].starts_with(' ')));
    }

    #[test]
    fn repeated_allowlist_dirs() {
        let o = p(&["--log-allowlist-dir", "/a", "--log-allowlist-dir=/b", "--log-rotate", "--log-max-files", "3"]);
        assert_eq!(o.log_allowlist_dirs, vec!["/a", "/b"]);
        assert!(o.log_rotate);
        assert_eq!(o.log_max_files, 3);
    }

    #[test]
    fn int_options_fit_a_c_int() {
        assert_eq!(p(&["--log-max-files", "2147483647"]).log_max_files, i64::from(i32::MAX));
        assert_eq!(p(&["--log-max-files", "-1"]).log_max_files, -1);
        let e = parse(["--log-max-files", "2147483648"]).unwrap_err();
        assert!(matches!(e, CliError::OutOfRange { .. }));
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn log_levels() {
        assert_eq!(validate_log_level("WARNING"), Some("warning"));
        assert_eq!(validate_log_level("fatal"), Some("error"));
        assert_eq!(validate_log_level("loud"), None);
    }
}
