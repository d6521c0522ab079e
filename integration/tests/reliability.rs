//! Issue 9, concurrency: 32 parallel create/start/kill/delete on one id (one winner per step,
//! clear errors for the others, state.json always parses), and 200 containers through their
//! lifecycle with 8 workers leaving nothing behind.

use integration::{unique, Bundle, Out, Runtime};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

const RACERS: usize = 32;

/// Runs `args` 32 times at once (a barrier releases them together).
fn race(rt: &Arc<Runtime>, args: &[&str]) -> Vec<Out> {
    let barrier = Arc::new(Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|_| {
            let rt = Arc::clone(rt);
            let barrier = Arc::clone(&barrier);
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            std::thread::spawn(move || {
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                let cmd = rt.cmd(&argv);
                barrier.wait();
                rt.exec(cmd)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().expect("racer")).collect()
}

/// The losers' errors: one line naming the id, one of `expected`, no panic.
#[track_caller]
fn check_losers(step: &str, id: &str, outs: &[Out], expected: &[&str]) {
    for o in outs.iter().filter(|o| !o.ok()) {
        o.assert_no_panic();
        let err = o.stderr.trim();
        assert_eq!(err.lines().count(), 1, "{step}: one error line: {o}");
        assert!(err.contains(id), "{step}: the error names the id: {o}");
        assert!(expected.iter().any(|e| err.contains(e)), "{step}: unexpected error (want one of {expected:?}): {o}");
    }
}

#[test]
fn thirty_two_racers_per_step_one_winner_and_state_json_always_parses() {
    let rt = Arc::new(Runtime::new());
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique("race");
    rt.track(&id);
    let state_file = rt.state_dir(&id).join("state.json");
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (stop, reads, state_file) = (Arc::clone(&stop), Arc::clone(&reads), state_file.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(bytes) = std::fs::read(&state_file) {
                    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                        panic!("state.json does not parse ({e}): {:?}", String::from_utf8_lossy(&bytes));
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    let bundle = b.path_str();
    let creates = race(&rt, &["create", "--bundle", &bundle, &id]);
    assert_eq!(
        creates.iter().filter(|o| o.ok()).count(),
        1,
        "exactly one create wins: {:?}",
        creates.iter().filter(|o| o.ok()).map(|o| &o.stderr).collect::<Vec<_>>()
    );
    check_losers("create", &id, &creates, &["already exists"]);
    assert_eq!(rt.status(&id), "created");

    let starts = race(&rt, &["start", &id]);
    assert_eq!(starts.iter().filter(|o| o.ok()).count(), 1, "exactly one start wins");
    check_losers(
        "start",
        &id,
        &starts,
        &["cannot start a container that is running", "cannot start a container that is stopped"],
    );
    assert_eq!(rt.status(&id), "running");

    // SIGKILL is delivered by the first kill, but init may still be dying when the next ones
    // look: more than one may succeed; every later one says "not running".
    let kills = race(&rt, &["kill", &id, "KILL"]);
    let won = kills.iter().filter(|o| o.ok()).count();
    assert!(won >= 1, "at least one kill wins");
    check_losers("kill", &id, &kills, &["not running"]);
    rt.wait_status(&id, "stopped");

    let deletes = race(&rt, &["delete", &id]);
    assert_eq!(deletes.iter().filter(|o| o.ok()).count(), 1, "exactly one delete wins");
    check_losers("delete", &id, &deletes, &["does not exist"]);

    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the reader thread saw only valid state.json");
    assert!(reads.load(Ordering::Relaxed) > 0, "the reader saw state.json at least once");
    rt.assert_clean(&id, &b);
    eprintln!(
        "race: {won} of {RACERS} kills succeeded; reader parsed state.json {} times",
        reads.load(Ordering::Relaxed)
    );
}

#[test]
fn two_hundred_containers_eight_workers_nothing_left() {
    let total: usize = std::env::var("RELIABILITY_CONTAINERS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let rt = Arc::new(Runtime::new());
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (rt, next) = (Arc::clone(&rt), Arc::clone(&next));
            std::thread::spawn(move || {
                // One bundle per worker, a fresh cgroup path per container.
                let mut b = Bundle::new(&["sleep", "1000"]);
                let mut done = 0;
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let id = unique(&format!("life{w}"));
                    let cg = format!("{}/{id}", integration::bundle::CGROUP_PARENT);
                    b.edit(|c| c["linux"]["cgroupsPath"] = serde_json::json!(cg));
                    // Alternate the endings: natural exit + delete, kill + delete, delete --force.
                    match done % 3 {
                        0 => {
                            b.set_args(&["true"]);
                            rt.create(&id, &b).assert_ok();
                            rt.start(&id).assert_ok();
                            rt.wait_status(&id, "stopped");
                            rt.delete(&id).assert_ok();
                        }
                        1 => {
                            b.set_args(&["sleep", "1000"]);
                            rt.create(&id, &b).assert_ok();
                            rt.start(&id).assert_ok();
                            rt.kill(&id, "KILL").assert_ok();
                            rt.wait_status(&id, "stopped");
                            rt.delete(&id).assert_ok();
                        }
                        _ => {
                            b.set_args(&["sleep", "1000"]);
                            rt.create(&id, &b).assert_ok();
                            rt.delete_force(&id).assert_ok();
                        }
                    }
                    rt.assert_clean(&id, &b);
                    done += 1;
                }
                done
            })
        })
        .collect();
    let done: usize = workers.into_iter().map(|h| h.join().expect("worker")).sum();
    assert_eq!(done, total);
    let left: Vec<_> =
        std::fs::read_dir(rt.root()).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "state dirs left in the root: {left:?}");
}
