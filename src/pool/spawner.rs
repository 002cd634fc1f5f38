//! A few threads that start jobs, shared by every pool.
//!
//! `posix_spawn` returns only once the child has called `exec` (the parent
//! waits while the child borrows its memory), which for a small program is
//! most of the program's life. A driver that spawned by itself could keep
//! only one `exec` in flight: with short jobs its slots would sit idle while
//! it waits. So the driver decides what to start and hands the spawn to one
//! of these threads, as many as the machine has cores (at most
//! [`MAX_THREADS`]), started at the first job and kept for the life of the
//! process. A job costs no thread of its own.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use crate::cancel::lock;

/// The most spawning threads, whatever the number of cores: spawns are
/// short and CPU-bound, so more would not help.
const MAX_THREADS: usize = 4;

/// A spawn to run.
pub(crate) type Task = Box<dyn FnOnce() + Send>;

struct Spawner {
    queue: Mutex<VecDeque<Task>>,
    cv: Condvar,
    /// No thread could be started: tasks run on the caller's thread.
    inline: AtomicBool,
}

/// Runs `task` (a spawn) on one of the spawning threads.
pub(crate) fn run(task: Task) {
    let spawner = spawner();
    if spawner.inline.load(Ordering::Relaxed) {
        task();
        return;
    }
    lock(&spawner.queue).push_back(task);
    spawner.cv.notify_one();
}

fn spawner() -> &'static Spawner {
    static SPAWNER: OnceLock<&'static Spawner> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let spawner: &'static Spawner = Box::leak(Box::new(Spawner {
            queue: Mutex::new(VecDeque::new()),
            cv: Condvar::new(),
            inline: AtomicBool::new(false),
        }));
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(MAX_THREADS);
        let started = (0..threads)
            .filter(|i| {
                std::thread::Builder::new()
                    .name(format!("procession-spawn-{i}"))
                    .spawn(move || work(spawner))
                    .is_ok()
            })
            .count();
        spawner.inline.store(started == 0, Ordering::Relaxed);
        spawner
    })
}

fn work(spawner: &'static Spawner) {
    loop {
        let task = {
            let mut queue = lock(&spawner.queue);
            loop {
                if let Some(task) = queue.pop_front() {
                    break task;
                }
                queue = spawner.cv.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
        };
        // A task reports its own errors and panics; this only keeps a
        // spawning thread alive whatever happens.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
    }
}
