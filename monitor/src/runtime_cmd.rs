//! Builds the runtime argv exactly as conmon's `configure_runtime_args` does (pure).

use crate::cli::Options;

/// Inputs that are resolved at run time (defaults applied) and not part of [`Options`].
pub struct RuntimeCall<'a> {
    pub runtime: &'a str,
    pub cid: &'a str,
    pub bundle: &'a str,
    pub pidfile: &'a str,
    pub console_socket: Option<&'a str>,
}

/// Returns argv (argv\[0\] is the runtime path).
pub fn build_argv(opts: &Options, call: &RuntimeCall<'_>) -> Vec<String> {
    let mut argv: Vec<String> = vec![call.runtime.to_string()];
    let mut push = |a: &str| argv.push(a.to_string());
    if !opts.exec && opts.systemd_cgroup {
        push("--systemd-cgroup");
    }
    for a in &opts.runtime_args {
        push(a);
    }
    if opts.exec {
        push("exec");
        push("--pid-file");
        push(call.pidfile);
        push("--process");
        push(opts.exec_process_spec.as_deref().unwrap_or(""));
        push("--detach");
    } else {
        push(if opts.restore.is_some() { "restore" } else { "create" });
        push("--bundle");
        push(call.bundle);
        push("--pid-file");
        push(call.pidfile);
        if opts.no_pivot {
            push("--no-pivot");
        }
        if opts.no_new_keyring {
            push("--no-new-keyring");
        }
        if let Some(image) = &opts.restore {
            push("--detach");
            push("--image-path");
            push(image);
            push("--work-path");
            push(call.bundle);
        }
    }
    if opts.exec && opts.terminal {
        push("--tty");
    }
    for a in &opts.runtime_opts {
        push(a);
    }
    if let Some(sock) = call.console_socket {
        push("--console-socket");
        push(sock);
    }
    push(call.cid);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse;

    fn call(cs: Option<&'static str>) -> RuntimeCall<'static> {
        RuntimeCall { runtime: "/rt", cid: "ID", bundle: "/b", pidfile: "/p", console_socket: cs }
    }

    #[test]
    fn create_argv() {
        let o = parse([
            "-s",
            "--runtime-arg",
            "--log-format=json",
            "--runtime-arg",
            "--log",
            "--runtime-arg",
            "/l",
            "--no-pivot",
            "--no-new-keyring",
            "--runtime-opt",
            "--preserve-fds",
            "--runtime-opt",
            "2",
        ])
        .unwrap();
        let argv = build_argv(&o, &call(Some("/tmp/conmon-term.x")));
        assert_eq!(
            argv.join(" "),
            "/rt --systemd-cgroup --log-format=json --log /l create --bundle /b --pid-file /p \
             --no-pivot --no-new-keyring --preserve-fds 2 --console-socket /tmp/conmon-term.x ID"
        );
    }

    #[test]
    fn exec_argv_has_no_systemd_cgroup() {
        let o = parse(["-s", "-e", "-t", "--exec-process-spec", "/spec", "--runtime-arg", "--x"]).unwrap();
        let argv = build_argv(&o, &call(Some("/cs")));
        assert_eq!(argv.join(" "), "/rt --x exec --pid-file /p --process /spec --detach --tty --console-socket /cs ID");
    }

    #[test]
    fn restore_argv() {
        let o = parse(["--restore", "/ckpt", "--runtime-opt", "--tcp-established"]).unwrap();
        let argv = build_argv(&o, &call(None));
        assert_eq!(
            argv.join(" "),
            "/rt restore --bundle /b --pid-file /p --detach --image-path /ckpt --work-path /b \
             --tcp-established ID"
        );
    }
}
