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
//!
//! **A spawning thread with nothing to spawn drives the job it just
//! started** (the run a [`Task`] returns), the way a plain spawn-and-wait loop would:
//! when the job ends, the same thread reports it and, if that frees a slot,
//! takes the next spawn without waking anyone. As soon as a spawn is queued
//! it hands the running job to the crate's background loop and spawns. So a
//! small pool of short jobs costs no hand-off between threads, and a large
//! one still has at most one job per spawning thread outside the loop.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use crate::error::catch_panic;
use crate::reactor::{self, OnDone};
use crate::run::Exec;
use crate::sync::lock;
use crate::sys::Waker;

/// The most spawning threads, whatever the number of cores: spawns are
/// short and CPU-bound, so more would not help.
const MAX_THREADS: usize = 4;

/// A spawn to run. It returns the engine run it started, if any, for the
/// spawner to drive: on a spawning thread, the thread drives it once the
/// task returns (see the module docs); anywhere else it goes to the
/// background loop.
pub(crate) type Task = Box<dyn FnOnce() -> Option<Run> + Send>;

/// A started run of the engine and the report of its end.
pub(crate) type Run = (Exec, OnDone);

struct Spawner {
    queue: Mutex<VecDeque<Task>>,
    /// How many tasks wait in `queue`, read without the lock by the threads
    /// that drive a job.
    queued: AtomicUsize,
    cv: Condvar,
    /// The wakers of the threads driving a job, to call them back to spawn.
    driving: Mutex<Vec<Arc<Waker>>>,
    /// No thread could be started: tasks run on the caller's thread.
    inline: AtomicBool,
}

thread_local! {
    /// Set on the spawning threads.
    static SPAWNING_THREAD: Cell<bool> = const { Cell::new(false) };
    /// The current thread drives a job (so it will not take a task at once).
    static DRIVING: Cell<bool> = const { Cell::new(false) };
    /// A free spawning thread queued a task that it will take itself.
    static CLAIMED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `task` (a spawn) on one of the spawning threads.
pub(crate) fn run(task: Task) {
    let spawner = spawner();
    if spawner.inline.load(Ordering::Relaxed) {
        if let Some((exec, on_done)) = task() {
            reactor::submit_or_run_here(exec, on_done);
        }
        return;
    }
    lock(&spawner.queue).push_back(task);
    spawner.queued.fetch_add(1, Ordering::SeqCst);
    // A spawning thread that is free takes its first task itself when it
    // loops: waking another thread for it would only hand the spawn over
    // (one wake-up per job, for a pool that starts a job as one ends).
    let free_spawning_thread = SPAWNING_THREAD.get() && !DRIVING.get();
    if free_spawning_thread && !CLAIMED.replace(true) {
        return;
    }
    spawner.cv.notify_one();
    // Call the driving threads back to spawn, unless a free spawning
    // thread will.
    if !free_spawning_thread {
        for waker in lock(&spawner.driving).iter() {
            waker.wake();
        }
    }
}

fn spawner() -> &'static Spawner {
    static SPAWNER: OnceLock<&'static Spawner> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let spawner: &'static Spawner = Box::leak(Box::new(Spawner {
            queue: Mutex::new(VecDeque::new()),
            queued: AtomicUsize::new(0),
            cv: Condvar::new(),
            driving: Mutex::new(Vec::new()),
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
    SPAWNING_THREAD.set(true);
    // Without an eventfd this thread still spawns; it just drives nothing.
    let waker = Waker::new().ok().map(Arc::new);
    loop {
        CLAIMED.set(false);
        let task = {
            let mut queue = lock(&spawner.queue);
            loop {
                if let Some(task) = queue.pop_front() {
                    spawner.queued.fetch_sub(1, Ordering::SeqCst);
                    break task;
                }
                queue = spawner.cv.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
        };
        // A task reports its own errors and panics; this only keeps a
        // spawning thread alive whatever happens.
        if let Ok(Some((exec, on_done))) = catch_panic(task) {
            match &waker {
                Some(waker) => drive_while_idle(spawner, waker, exec, on_done),
                None => reactor::submit_or_run_here(exec, on_done),
            }
        }
    }
}

/// Drives `exec` on this thread until it ends or a spawn is queued; then
/// reports it, or hands it to the background loop.
fn drive_while_idle(spawner: &Spawner, waker: &Arc<Waker>, mut exec: Exec, on_done: OnDone) {
    waker.reset();
    exec.control().set_waker(waker.clone());
    lock(&spawner.driving).push(waker.clone());
    DRIVING.set(true);
    reactor::drive(&mut exec, waker, |_| {
        spawner.queued.load(Ordering::SeqCst) > 0
    });
    DRIVING.set(false);
    lock(&spawner.driving).retain(|w| !Arc::ptr_eq(w, waker));
    if exec.finished() {
        // `on_done` may queue the next spawn, which this thread then takes.
        reactor::finish(exec, on_done);
    } else if let Err(rejected) = reactor::submit(exec, on_done) {
        // No background loop: drive it here to its end.
        let reactor::Rejected {
            mut exec, on_done, ..
        } = *rejected;
        reactor::drive(&mut exec, waker, |_| false);
        reactor::finish(exec, on_done);
    }
}
