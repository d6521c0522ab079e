//! The `oxrun` binary: parse, dispatch, and turn any error into one line and exit code 1.
use clap::Parser;
use oxrun::cli::{Cli, Command};
use oxrun::commands::create::{self, CreateRequest};
use oxrun::commands::{exec, features, lifecycle, list, operate, run, spec};
use oxrun::error::{CommandError, Error};
use oxrun::logging;
use oxrun::plan::CreateOptions;
use std::path::PathBuf;

/// Memory from a static region first: a `run` makes thousands of small allocations that all live
/// until exit (sys/src/arena_alloc.rs has the measurements).
#[global_allocator]
static ALLOCATOR: oxsys::arena_alloc::ArenaThenSystem = oxsys::arena_alloc::ArenaThenSystem;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if oxrun::cli::starts_container_processes(&argv) {
        // Errors are reported below, once `--log` is known (the second attempt fails the same way).
        let _ = oxrun::exe_guard::ensure_protected_exe();
    }
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => std::process::exit(usage_error(&argv, e)),
    };
    logging::init(cli.log.as_deref(), cli.log_format == "json", cli.debug);
    if cli.version {
        let text = format!("oxrun version {}\nspec: {}\n", env!("CARGO_PKG_VERSION"), oxrun::spec::OCI_VERSION);
        if let Err(e) = oxrun::error::print_stdout(&text) {
            fail(CommandError { id: None, op: "version", error: e });
        }
        return;
    }
    let Some(command) = cli.command.as_ref() else {
        logging::error("a command is required (see --help)");
        std::process::exit(1);
    };
    // Commands that start container processes first make sure those processes run from a
    // binary the container cannot overwrite (CVE-2019-5736); this may re-exec us once.
    if matches!(command, Command::Create(_) | Command::Run(_) | Command::Exec(_)) {
        if let Err(e) = oxrun::exe_guard::ensure_protected_exe() {
            logging::error(&format!("cannot protect the runtime binary from the container (CVE-2019-5736): {e}"));
            std::process::exit(1);
        }
    }
    match dispatch(&cli, command) {
        Ok(code) => std::process::exit(code),
        Err(e) => fail(e),
    }
}

/// Reports a failed command as one line and exits: 255 when exec fails, 1 otherwise (runc's
/// codes). A reader of stdout that went away ends us quietly by SIGPIPE, as it ends runc.
fn fail(e: CommandError) -> ! {
    if e.error.is_closed_stdout() {
        oxsys::die_of_sigpipe();
    }
    logging::error(&e.to_string());
    std::process::exit(if e.op == "exec" { 255 } else { 1 });
}

/// Reports a command-line error as one line (also to `--log`, which is found by a plain scan
/// because clap could not parse it).
fn usage_error(argv: &[String], e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return 0;
    }
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        if let Err(err) = oxrun::error::print_stdout(&e.render().to_string()) {
            fail(CommandError { id: None, op: "help", error: err });
        }
        return 0;
    }
    let value_of = |flag: &str| {
        argv.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix(&format!("{flag}="))
                .map(str::to_string)
                .or_else(|| (a == flag).then(|| argv.get(i + 1).cloned()).flatten())
        })
    };
    let log = value_of("--log").map(PathBuf::from);
    let json = value_of("--log-format").as_deref() == Some("json");
    logging::init(log.as_deref(), json, false);
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
    logging::error(&format!("usage: {first} (see --help)"));
    1
}

fn root_dir(cli: &Cli) -> PathBuf {
    cli.root.clone().unwrap_or_else(|| {
        let xdg = std::env::var("XDG_RUNTIME_DIR").ok();
        oxrun::state::default_root(nix::unistd::geteuid().as_raw(), oxrun::state::in_user_namespace(), xdg.as_deref())
    })
}

// One error per command run, returned once: its size costs nothing worth a Box.
#[allow(clippy::result_large_err)]
fn dispatch(cli: &Cli, command: &Command) -> Result<i32, CommandError> {
    let root = root_dir(cli);
    fn with(id: &str, op: &'static str) -> impl FnOnce(Error) -> CommandError {
        let id = Some(id.to_string());
        move |error| CommandError { id, op, error }
    }
    match command {
        Command::Create(a) => {
            let req = create_request(cli, a, false);
            create::create(&root, &req).map(|_| 0).map_err(with(&a.id, "create"))
        }
        Command::Start(a) => lifecycle::start(&root, &a.id).map(|_| 0).map_err(with(&a.id, "start")),
        Command::State(a) => lifecycle::print_state(&root, &a.id).map(|_| 0).map_err(with(&a.id, "state")),
        Command::Kill(a) => {
            let sig = a.signal.as_deref().unwrap_or("SIGTERM");
            let signal = oxrun::signal::parse(sig)
                .ok_or_else(|| with(&a.id, "kill")(Error::Usage(format!("invalid signal {sig:?}"))))?;
            lifecycle::kill(&root, &a.id, signal, a.all).map(|_| 0).map_err(with(&a.id, "kill"))
        }
        Command::Delete(a) => lifecycle::delete(&root, &a.id, a.force).map(|_| 0).map_err(with(&a.id, "delete")),
        Command::Run(a) => {
            let req = create_request(cli, &a.create, !a.detach);
            run::run(&root, &req, a.detach, a.keep).map_err(with(&a.create.id, "run"))
        }
        Command::List(a) => list::list(&root, a.quiet, a.format == "json").map(|_| 0).map_err(|error| CommandError {
            id: None,
            op: "list",
            error,
        }),
        Command::Spec(a) => spec::write_spec(&a.bundle, a.rootless).map(|_| 0).map_err(|error| CommandError {
            id: None,
            op: "spec",
            error,
        }),
        Command::Exec(a) => exec::exec(&root, a).map_err(with(&a.id, "exec")),
        Command::Pause(a) => operate::pause(&root, &a.id).map(|_| 0).map_err(with(&a.id, "pause")),
        Command::Resume(a) => operate::resume(&root, &a.id).map(|_| 0).map_err(with(&a.id, "resume")),
        Command::Ps(a) => {
            operate::ps(&root, &a.id, a.format == "json", &a.ps_args).map(|_| 0).map_err(with(&a.id, "ps"))
        }
        Command::Update(a) => operate::update(&root, a).map(|_| 0).map_err(with(&a.id, "update")),
        Command::Events(a) => {
            operate::events(&root, &a.id, a.stats, &a.interval).map(|_| 0).map_err(with(&a.id, "events"))
        }
        Command::Features => {
            let text =
                format!("{}\n", serde_json::to_string_pretty(&features::features()).expect("features serialize"));
            oxrun::error::print_stdout(&text).map(|_| 0).map_err(|error| CommandError {
                id: None,
                op: "features",
                error,
            })
        }
    }
}

fn create_request(cli: &Cli, a: &oxrun::cli::CreateArgs, foreground: bool) -> CreateRequest {
    CreateRequest {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        options: CreateOptions {
            no_pivot: a.no_pivot,
            no_new_keyring: a.no_new_keyring,
            preserve_fds: a.preserve_fds,
            console_socket: a.console_socket.is_some(),
            foreground,
            systemd_cgroup: cli.systemd_cgroup || cli.cgroup_manager.as_deref() == Some("systemd"),
            no_cgroups: cli.cgroup_manager.as_deref() == Some("disabled"),
        },
    }
}
