//! Issue 7: Podman 4.3.1 (Debian) on oxrun + oxmon, and each of them as a
//! drop-in on its own: every case runs per runtime + monitor pair.
//!
//! The suite is slow (real Podman, images, networks), so its tests are
//! `#[ignore]`d in the plain integration run; `make test-podman` runs them:
//!
//! ```sh
//! OXRUN_BIN=target/release/oxrun OXMON_BIN=target/release/oxmon \
//!   cargo test --release -p integration --test podman -- --ignored --test-threads=3
//! ```
//!
//! Test names are `<case>::<pair>`; `-- --ignored oxrun_conmon` runs one pair.
//! Cases marked `all` run on the three pairs of [`PAIRS`]: everything the
//! monitor takes part in (errors, run, exit codes, stop/kill/restart/wait/rm,
//! pause, states, healthchecks, stdin, tty, logs, exec, attach, OOM, pods,
//! rootless). Cases marked `full` run only on oxrun + oxmon: they exercise
//! runtime features (capabilities, seccomp, cgroup limits, mounts, networks,
//! build) that the monitor only passes through.

#[path = "podman_cases/build.rs"]
mod build;
#[path = "podman_cases/errors.rs"]
mod errors;
#[path = "podman_cases/install.rs"]
mod install;
#[path = "podman_cases/io.rs"]
mod io;
#[path = "podman_cases/lifecycle.rs"]
mod lifecycle;
#[path = "podman_cases/net.rs"]
mod net;
#[path = "podman_cases/resources.rs"]
mod resources;
#[path = "podman_cases/rootless.rs"]
mod rootless;
#[path = "podman_cases/security.rs"]
mod security;

use integration::podman::PAIRS;

/// The pairs the macro generates tests for, in the order of [`PAIRS`].
const GENERATED: [&str; 3] = ["oxrun_oxmon", "oxrun_conmon", "runc_oxmon"];

macro_rules! podman_case {
    ($m:ident :: $f:ident, all) => {
        mod $f {
            #[test]
            #[ignore = "Podman suite: make test-podman"]
            fn oxrun_oxmon() {
                super::$m::$f(super::GENERATED[0])
            }
            #[test]
            #[ignore = "Podman suite: make test-podman"]
            fn oxrun_conmon() {
                super::$m::$f(super::GENERATED[1])
            }
            #[test]
            #[ignore = "Podman suite: make test-podman"]
            fn runc_oxmon() {
                super::$m::$f(super::GENERATED[2])
            }
        }
    };
    ($m:ident :: $f:ident, full) => {
        mod $f {
            #[test]
            #[ignore = "Podman suite: make test-podman"]
            fn oxrun_oxmon() {
                super::$m::$f(super::GENERATED[0])
            }
        }
    };
}

macro_rules! podman_cases {
    ($($m:ident :: $f:ident => $scope:ident;)*) => {
        $( podman_case!($m::$f, $scope); )*
    };
}

podman_cases! {
    // Point 1: make install and the containers.conf drop-in.
    install::make_install_and_dropin => full;
    // Point 2: runtime errors as the Podman user sees them.
    errors::not_found_is_127 => all;
    errors::permission_denied_is_126 => all;
    errors::other_runtime_error_is_oci_runtime_error => all;
    // Point 3: everyday Podman.
    lifecycle::run_rm_name_and_default_ulimits => all;
    lifecycle::exit_codes_and_signals => all;
    lifecycle::init_catatonit => full;
    lifecycle::detached_stop_kill_restart_wait_rm => all;
    lifecycle::stop_with_handler_exits_with_its_code => all;
    lifecycle::pause_unpause => all;
    lifecycle::top => full;
    lifecycle::inspect_states => all;
    lifecycle::healthcheck => all;
    io::stdin_interactive => all;
    io::tty => all;
    io::logs_k8s_file => all;
    io::logs_max_size => all;
    io::exec_plain_user_codes => all;
    io::exec_tty => all;
    io::attach => all;
    resources::limits_in_cgroups_and_rlimits => full;
    resources::memory_limit_oom_kills => all;
    resources::pids_limit_enforced => full;
    security::capabilities => full;
    security::read_only_and_user => full;
    security::seccomp_default_profile => full;
    security::seccomp_custom_profile_denies_mkdir => full;
    security::seccomp_unconfined => full;
    security::no_new_privileges => full;
    net::mounts_volume_tmpfs_device => full;
    net::network_none => full;
    net::default_network_and_published_port => full;
    net::pod_shares_infra_namespaces => all;
    build::build_with_run_steps => full;
    rootless::rootless_run_and_exec => all;
}

#[test]
fn generated_pairs_are_the_harness_pairs() {
    assert_eq!(GENERATED, PAIRS, "update the podman_case! macro when integration::podman::PAIRS changes");
}
