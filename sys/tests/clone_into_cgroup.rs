//! `clone3` with CLONE_INTO_CGROUP on the real kernel: the child is in the target cgroup2
//! directory before it runs its first instruction (it reads /proc/self/cgroup at once), and the
//! parent never joined it. Needs root and a mounted cgroup2 hierarchy (a v2 host, or a hybrid
//! one's /sys/fs/cgroup/unified); it says so and skips otherwise.
//!
//! Runs without libtest's harness (Cargo.toml: harness = false): libtest runs tests on a thread
//! of their own, and oxsys::clone3 refuses to fork a process with more than one thread.
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split(' ').next() != Some("cgroup2") {
            return None;
        }
        pre.split(' ').nth(4).map(PathBuf::from)
    })
}

/// Our own cgroup2 path (the `0::` line).
fn own_cgroup2_path() -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    text.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/").to_string()
}

struct RemoveDir(PathBuf);
impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn main() {
    child_is_born_in_the_cgroup();
    // A second thread makes clone3 refuse (the child would inherit its locks).
    clone3_refuses_while_a_thread_runs();
    println!("clone_into_cgroup: 2 passed");
}

fn clone3_refuses_while_a_thread_runs() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = oxsys::threads::spawn(move || rx.recv().ok());
    let err = oxsys::clone3(0, None).map(|_| ()).expect_err("clone3 with a live helper thread");
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(oxsys::fork().is_err(), "fork with a live helper thread");
    tx.send(()).unwrap();
    t.join().unwrap();
}

fn child_is_born_in_the_cgroup() {
    let Some(mount) = cgroup2_mount() else {
        eprintln!("NOTE: skipping: no cgroup2 hierarchy is mounted here");
        return;
    };
    let ours = own_cgroup2_path();
    let name = format!("oxsys-clone-into-{}", std::process::id());
    let dir = mount.join(ours.trim_start_matches('/')).join(&name);
    if let Err(e) = std::fs::create_dir(&dir) {
        eprintln!("NOTE: skipping: cannot create {} ({e}); this test needs root", dir.display());
        return;
    }
    let _cleanup = RemoveDir(dir.clone());
    let cg: OwnedFd = std::fs::File::open(&dir).unwrap().into();
    let (rd, wr) = nix::unistd::pipe().unwrap();
    match oxsys::clone3(0, Some(cg.as_fd())).expect("clone3 with CLONE_INTO_CGROUP") {
        oxsys::Forked::Child => {
            // Only async-signal-safe work here: read, write, _exit.
            let mut buf = [0u8; 4096];
            let n =
                match nix::fcntl::open("/proc/self/cgroup", nix::fcntl::OFlag::O_RDONLY, nix::sys::stat::Mode::empty())
                {
                    Ok(fd) => nix::unistd::read(fd.as_raw_fd(), &mut buf).unwrap_or(0),
                    Err(_) => 0,
                };
            let _ = nix::unistd::write(&wr, &buf[..n]);
            oxsys::exit_now(0)
        }
        oxsys::Forked::Parent(pid) => {
            drop(wr);
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match nix::unistd::read(rd.as_raw_fd(), &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            let text = String::from_utf8_lossy(&out);
            let want = format!("{}/{name}", ours.trim_end_matches('/'));
            assert!(
                text.lines().any(|l| l == format!("0::{want}")),
                "the child's first look at /proc/self/cgroup: {text:?}, want 0::{want}"
            );
            assert_eq!(own_cgroup2_path(), ours, "the parent stayed where it was");
        }
    }
}
