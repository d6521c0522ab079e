//! Helper threads the fork functions know about.
//!
//! `fork` and `clone3` without a new stack copy only the calling thread: a lock another thread
//! holds (malloc's, stdio's) stays locked forever in the child. oxrun starts its few helper
//! threads (the terminal relay of `run -t` and `exec -t`) through [`spawn`], which counts them,
//! and [`crate::fork`] and [`crate::clone3`] refuse to run while one may be alive, so the
//! single-thread promise they need is checked, not assumed. (runtime/clippy.toml forbids
//! `std::thread::spawn` in oxrun, so no thread escapes the count.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// A counted helper thread; it counts as alive until [`Counted::join`] returns (a thread never
/// joined counts forever, which only makes later forks refuse).
pub struct Counted<T> {
    handle: JoinHandle<T>,
}

impl<T> Counted<T> {
    /// Waits for the thread to end; from then on it no longer keeps forks from running.
    pub fn join(self) -> std::thread::Result<T> {
        let r = self.handle.join();
        LIVE.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

/// `std::thread::spawn`, counted.
pub fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Counted<T> {
    LIVE.fetch_add(1, Ordering::SeqCst);
    #[allow(clippy::disallowed_methods)] // the one counted place threads start
    let handle = std::thread::spawn(f);
    Counted { handle }
}

/// Counted threads that may be alive.
pub fn live() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// The number of threads of this process as the kernel counts them (field 20 of
/// /proc/self/stat), when /proc is there to ask.
pub fn kernel_count() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields after its last ')'.
    stat.rsplit_once(')')?.1.split_whitespace().nth(17)?.parse().ok()
}

/// Why a fork must not happen now, if it must not: a counted helper thread may be alive, or the
/// kernel counts more than one thread (one started by other means).
pub fn fork_hazard() -> Option<String> {
    let counted = live();
    if counted > 0 {
        return Some(format!("{counted} helper thread(s) may be running"));
    }
    match kernel_count() {
        Some(n) if n > 1 => Some(format!("the process has {n} threads")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_counts_this_test_thread_and_a_counted_one() {
        let before = kernel_count().expect("/proc/self/stat");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = spawn(move || rx.recv().ok());
        assert!(live() >= 1);
        assert!(kernel_count().unwrap() > before.min(1));
        assert!(fork_hazard().is_some());
        tx.send(()).unwrap();
        t.join().unwrap();
    }
}
