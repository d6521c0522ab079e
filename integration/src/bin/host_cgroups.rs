//! `host_cgroups save FILE` records the host's cgroup state the test suites must leave as found
//! (see `leftovers::HostCgroups`); `host_cgroups check FILE` compares the host with it and fails,
//! naming each difference, when a suite changed `cgroup.subtree_control` or left the tests'
//! parent cgroup. `host_cgroups tidy-podman FILE` first removes the `libpod_parent` cgroups
//! Podman made since FILE was saved (it never removes them itself). The Makefile runs it around
//! the integration and Podman suites.
use integration::leftovers::HostCgroups;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("save"), Some(file)) => {
            let text = serde_json::to_string_pretty(&HostCgroups::snapshot()).expect("serializes");
            if let Err(e) = std::fs::write(file, text) {
                eprintln!("host_cgroups: write {file}: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        (Some(cmd @ ("check" | "tidy-podman")), Some(file)) => {
            let before: HostCgroups = match std::fs::read_to_string(file)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("host_cgroups: read {file}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if cmd == "tidy-podman" {
                for line in before.tidy_podman() {
                    eprintln!("host_cgroups: {line}");
                }
            }
            // A v1 hierarchy unmounted a moment ago is released once its dying cgroups are gone.
            let mut diffs = before.differences(&HostCgroups::snapshot());
            for _ in 0..30 {
                if diffs.is_empty() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
                diffs = before.differences(&HostCgroups::snapshot());
            }
            for d in &diffs {
                eprintln!("host_cgroups: the tests changed the host: {d}");
            }
            if diffs.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("usage: host_cgroups save|check|tidy-podman FILE");
            ExitCode::from(2)
        }
    }
}
