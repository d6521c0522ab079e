//! Test helper: marks itself a child subreaper, then execs its arguments. The mark survives
//! execve, so a test can see which process adopts the orphans of the commands it runs (as conmon
//! adopts the process of `exec --detach`).
use std::os::unix::process::CommandExt;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((prog, rest)) = args.split_first() else {
        eprintln!("usage: subreaper COMMAND [ARG...]");
        std::process::exit(2);
    };
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("subreaper: PR_SET_CHILD_SUBREAPER: {e}");
        std::process::exit(1);
    }
    let err = std::process::Command::new(prog).args(rest).exec();
    eprintln!("subreaper: exec {prog}: {err}");
    std::process::exit(127);
}
