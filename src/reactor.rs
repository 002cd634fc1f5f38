//! The poll loops that drive runs.
//!
//! [`turn`] is one round: gather what every run wants watched, `poll` with
//! the earliest timer as the limit, hand out what became ready, then let each
//! run handle its requests and timers. A blocking run turns the loop on the
//! caller's thread ([`drive`]); started handles and the pool share one
//! background thread ([`submit`]) that drives all of them, so hundreds of
//! running commands cost one thread, not one per pipe.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task;
use std::time::Instant;

use crate::error::{Error, catch_panic};
use crate::output::Output;
use crate::run::{Exec, Watched};
use crate::sync::{get_or_try_init, lock};
use crate::sys::{self, Interest, Waker};
use crate::watch::{LiveWatch, Watches};

/// What a ready descriptor belongs to.
#[derive(Clone, Copy)]
enum Owner {
    Waker,
    Exec(usize, Watched),
    Orphan(usize),
    /// A one-shot fd watch of the background loop (see [`watch`]).
    Watch(usize),
}

/// One round of the loop over `execs` (and pipes being drained for nobody).
/// Waits at most until `limit`, and no longer than the earliest timer.
///
/// A panic while handling one run (a bug, or a line sink that panics)
/// breaks that run only (see [`Exec::broken`]): its owner gets an error,
/// its tree is killed and reaped, and the other runs go on.
pub(crate) fn turn(
    execs: &mut [&mut Exec],
    waker: &Waker,
    orphans: &mut Vec<OwnedFd>,
    watches: &mut [LiveWatch],
    limit: Option<Instant>,
) -> io::Result<()> {
    let mut owners = Vec::new();
    let mut ready = Vec::new();
    {
        let mut fds = vec![(waker.fd(), Interest::Read)];
        owners.push(Owner::Waker);
        let mut wanted = Vec::new();
        for (k, exec) in execs.iter().enumerate() {
            wanted.clear();
            exec.interests(&mut wanted);
            for (fd, interest, source) in wanted.drain(..) {
                fds.push((fd, interest));
                owners.push(Owner::Exec(k, source));
            }
        }
        for (j, fd) in orphans.iter().enumerate() {
            fds.push((fd.as_fd(), Interest::Read));
            owners.push(Owner::Orphan(j));
        }
        for (j, watch) in watches.iter().enumerate() {
            fds.push((watch.fd.as_fd(), watch.interest));
            owners.push(Owner::Watch(j));
        }
        let timer = execs
            .iter()
            .filter_map(|e| e.next_timer())
            .chain(limit)
            .min();
        let now = Instant::now();
        let timeout = timer.map(|t| t.saturating_duration_since(now));
        sys::poll(&fds, timeout, &mut ready)?;
    }
    let mut closed_orphans = Vec::new();
    for (owner, _) in owners.iter().zip(&ready).filter(|(_, r)| **r) {
        match *owner {
            Owner::Waker => waker.reset(),
            Owner::Exec(k, watched) => guard(execs[k], |exec| exec.on_ready(watched)),
            Owner::Orphan(j) => {
                let mut buf = [0u8; 16 * 1024];
                if !matches!(
                    sys::read(orphans[j].as_fd(), &mut buf),
                    Ok(None) | Ok(Some(1..))
                ) {
                    closed_orphans.push(j);
                }
            }
            Owner::Watch(j) => watches[j].fired = true,
        }
    }
    for j in closed_orphans.into_iter().rev() {
        orphans.swap_remove(j);
    }
    let now = Instant::now();
    for exec in execs.iter_mut() {
        guard(exec, |exec| exec.tick(now));
    }
    Ok(())
}

/// Runs `f` on `exec` unless it is broken; a panic breaks it.
fn guard(exec: &mut Exec, f: impl FnOnce(&mut Exec)) {
    if exec.is_broken() {
        return;
    }
    if let Err(message) = catch_panic(|| f(exec)) {
        exec.broken(message);
    }
}

/// A finished run's outcome; a panic while building it is an error.
fn outcome_of(exec: Exec) -> Result<Output, Error> {
    let display = exec.display().to_string();
    catch_panic(|| exec.outcome()).unwrap_or_else(|message| {
        Err(Error::panicked(
            format!("the outcome of {display:?} could not be built"),
            message,
        ))
    })
}

/// Drives `exec` on this thread until `stop(exec)` or the run is over.
pub(crate) fn drive(exec: &mut Exec, waker: &Arc<Waker>, mut stop: impl FnMut(&Exec) -> bool) {
    let mut orphans = Vec::new();
    while !exec.finished() && !stop(exec) {
        if let Err(e) = turn(&mut [&mut *exec], waker, &mut orphans, &mut [], None) {
            // Polling itself failed (out of memory for the fd set): stop the
            // tree rather than spin or hang.
            exec.fail(Error::io("cannot poll the child's pipes", e));
        }
    }
    adopt(exec.take_abandoned());
}

/// A waker for a run driven on the caller's thread, registered so that other
/// threads (a cancel, a signal forwarder) can interrupt its poll.
pub(crate) fn local_waker(exec: &Exec) -> Result<Arc<Waker>, Error> {
    let waker = Arc::new(Waker::new().map_err(|e| Error::io("cannot create an eventfd", e))?);
    exec.control().set_waker(waker.clone());
    Ok(waker)
}

/// Drives `exec` to its end on this thread and returns its outcome.
///
/// The thread keeps one waker for such runs: a run started and finished
/// here is the only one using it meanwhile, and reusing it saves creating
/// and closing an eventfd per run.
pub(crate) fn run_here(mut exec: Exec) -> Result<Output, Error> {
    thread_local! {
        static WAKER: std::cell::OnceCell<Arc<Waker>> = const { std::cell::OnceCell::new() };
    }
    let waker = WAKER.with(|cell| match cell.get() {
        Some(waker) => Ok(waker.clone()),
        None => {
            let waker =
                Arc::new(Waker::new().map_err(|e| Error::io("cannot create an eventfd", e))?);
            Ok(cell.get_or_init(|| waker).clone())
        }
    })?;
    // Clear a wake-up meant for an earlier run before this run's requests
    // can arrive; `set_waker` wakes again if some came already.
    waker.reset();
    exec.control().set_waker(waker.clone());
    drive(&mut exec, &waker, |_| false);
    exec.outcome()
}

/// What to do with a finished run's result.
pub(crate) type OnDone = Box<dyn FnOnce(Result<Output, Error>) + Send>;

/// Hands a finished run's result to its callback. A panicking callback must
/// not take down the thread that drives other runs.
pub(crate) fn deliver(on_done: OnDone, outcome: Result<Output, Error>) {
    let _ = catch_panic(|| on_done(outcome));
}

/// Hands a finished run's outcome to its callback.
pub(crate) fn finish(exec: Exec, on_done: OnDone) {
    deliver(on_done, outcome_of(exec));
}

/// The shared background loop's side of the state.
struct Global {
    waker: Arc<Waker>,
    inbox: Mutex<Inbox>,
    /// One-shot descriptor watches (see [`watch`]).
    watches: Watches,
    /// Wakers of async tasks to wake at a time (see [`wake_at`]).
    timers: Mutex<Timers>,
}

#[derive(Default)]
struct Inbox {
    execs: Vec<(Exec, OnDone)>,
    orphans: Vec<OwnedFd>,
}

/// The background loop, started at its first use. If its eventfd or its
/// thread cannot be had (descriptors or threads exhausted), this is an
/// error, and the next use tries again.
fn global() -> Result<&'static Global, Error> {
    static GLOBAL: OnceLock<Arc<Global>> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    let global = get_or_try_init(&GLOBAL, &STARTING, || {
        let waker = Waker::new()
            .map_err(|e| Error::io("cannot create an eventfd for the background thread", e))?;
        let global = Arc::new(Global {
            waker: Arc::new(waker),
            inbox: Mutex::default(),
            watches: Watches::default(),
            timers: Mutex::default(),
        });
        let looped = global.clone();
        std::thread::Builder::new()
            .name("procession".into())
            .spawn(move || background(&looped))
            .map_err(|e| {
                Error::io(
                    "cannot start the background thread that drives started commands",
                    e,
                )
            })?;
        Ok(global)
    })?;
    Ok(global)
}

/// A run the background loop could not take, given back with the reason.
pub(crate) struct Rejected {
    pub(crate) exec: Exec,
    pub(crate) on_done: OnDone,
    pub(crate) error: Error,
}

/// Hands a started run to the background loop; `on_done` gets its result.
/// If the loop cannot be started, the run is given back.
pub(crate) fn submit(exec: Exec, on_done: OnDone) -> Result<(), Box<Rejected>> {
    let global = match global() {
        Ok(global) => global,
        Err(error) => {
            return Err(Box::new(Rejected {
                exec,
                on_done,
                error,
            }));
        }
    };
    exec.control().set_waker(global.waker.clone());
    lock(&global.inbox).execs.push((exec, on_done));
    global.waker.wake();
    Ok(())
}

/// Hands a started run to the background loop or, if that cannot be
/// started, drives it to its end on this thread.
pub(crate) fn submit_or_run_here(exec: Exec, on_done: OnDone) {
    if let Err(rejected) = submit(exec, on_done) {
        let Rejected { exec, on_done, .. } = *rejected;
        deliver(on_done, run_here(exec));
    }
}

/// Drains pipes nobody reads any more until their writers close them.
/// Without a background loop they are closed instead.
pub(crate) fn adopt(orphans: Vec<OwnedFd>) {
    if orphans.is_empty() {
        return;
    }
    let Ok(global) = global() else {
        return;
    };
    lock(&global.inbox).orphans.extend(orphans);
    global.waker.wake();
}

/// The background loop: runs forever, driving every submitted run. A
/// panic in a round that no run can be blamed for breaks every run of the
/// round (they are reported and killed), and the loop goes on.
fn background(global: &Global) {
    let mut runs: Vec<(Exec, OnDone)> = Vec::new();
    let mut orphans: Vec<OwnedFd> = Vec::new();
    loop {
        let round = catch_panic(|| background_round(global, &mut runs, &mut orphans));
        if let Err(message) = round {
            for (exec, _) in &mut runs {
                exec.broken(message.clone());
            }
        }
        let mut i = 0;
        while i < runs.len() {
            if runs[i].0.finished() {
                let (mut exec, on_done) = runs.swap_remove(i);
                orphans.extend(exec.take_abandoned());
                finish(exec, on_done);
            } else {
                i += 1;
            }
        }
    }
}

/// One round of the background loop: take new runs and orphans, turn.
fn background_round(global: &Global, runs: &mut Vec<(Exec, OnDone)>, orphans: &mut Vec<OwnedFd>) {
    {
        let mut inbox = lock(&global.inbox);
        let now = Instant::now();
        for (mut exec, on_done) in inbox.execs.drain(..) {
            // A request posted before the run arrived here may have had
            // its wake-up consumed by an earlier round: act on it now.
            guard(&mut exec, |exec| exec.tick(now));
            runs.push((exec, on_done));
        }
        orphans.append(&mut inbox.orphans);
    }
    let mut live = global.watches.live();
    let limit = lock(&global.timers).next();
    let mut execs: Vec<&mut Exec> = runs.iter_mut().map(|(e, _)| e).collect();
    let turned = turn(&mut execs, &global.waker, orphans, &mut live, limit);
    fire_timers(global);
    if let Err(e) = turned {
        for exec in execs {
            exec.fail(Error::io(
                "cannot poll the children's pipes",
                e.kind().into(),
            ));
        }
    }
    global.watches.settle(live);
}

// --- One-shot descriptor watches ("wake me when writable"), for
// `aio::AsyncStdin`: the list is in `watch.rs`; a watch belongs to no run.

/// Asks the background loop to wake `waker` once `fd` is ready for
/// `interest` (see [`Watches::add`]). Once every other `Arc` of `fd` is
/// dropped, call [`wake_loop`]: the loop holds the descriptor open for at
/// most the round it is in.
pub(crate) fn watch(
    fd: Weak<OwnedFd>,
    interest: Interest,
    waker: &task::Waker,
) -> Result<(), Error> {
    let global = global()?;
    global.watches.add(fd, interest, waker);
    global.waker.wake();
    Ok(())
}

/// Wakes the background loop, if it runs, so that it ends its round (and
/// lets go of descriptors it held for watches).
pub(crate) fn wake_loop() {
    if let Ok(global) = global() {
        global.waker.wake();
    }
}

/// Whether the background loop keeps a watch on `fd`.
#[cfg(test)]
pub(crate) fn watching(fd: &Weak<OwnedFd>) -> bool {
    global().expect("the loop runs").watches.holds(fd)
}

// ---- Timers for async tasks: `wake_at` ----

/// A task's waker to wake at a time.
struct Timer {
    at: Instant,
    /// Registration order, so that equal times keep it.
    seq: u64,
    waker: std::task::Waker,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Timer) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Timer {}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Timer) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timer {
    fn cmp(&self, other: &Timer) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The background loop's timers, earliest first.
#[derive(Default)]
struct Timers {
    heap: std::collections::BinaryHeap<std::cmp::Reverse<Timer>>,
    next_seq: u64,
}

impl Timers {
    /// Adds a timer, unless the same task already has one at that time.
    /// Returns whether it is now the earliest.
    fn add(&mut self, at: Instant, waker: &std::task::Waker) -> bool {
        let duplicate = self
            .heap
            .iter()
            .any(|t| t.0.at == at && t.0.waker.will_wake(waker));
        if duplicate {
            return false;
        }
        self.next_seq += 1;
        self.heap.push(std::cmp::Reverse(Timer {
            at,
            seq: self.next_seq,
            waker: waker.clone(),
        }));
        self.next() == Some(at)
    }

    /// When the earliest timer is due.
    fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|t| t.0.at)
    }

    /// Takes the timers due at `now`, earliest first.
    fn take_due(&mut self, now: Instant) -> Vec<std::task::Waker> {
        let mut due = Vec::new();
        while self.next().is_some_and(|at| at <= now) {
            if let Some(std::cmp::Reverse(timer)) = self.heap.pop() {
                due.push(timer.waker);
            }
        }
        due
    }
}

/// Wakes `waker` at `at` (or soon after), from the background loop: an
/// async task's own timer (a retry delay, a pool deadline) with no runtime
/// timer and no thread of its own. A task that registers the same time
/// twice is woken once. Without a background loop (no thread or eventfd
/// could be had), the task is woken at once, to poll again.
pub(crate) fn wake_at(at: Instant, waker: &std::task::Waker) {
    let Ok(global) = global() else {
        waker.wake_by_ref();
        return;
    };
    if lock(&global.timers).add(at, waker) {
        // The loop may sleep past it: let it take the new limit.
        global.waker.wake();
    }
}

/// Wakes the tasks whose time came (after unlocking: a task may be polled
/// at once, and register again).
fn fire_timers(global: &Global) {
    let due = lock(&global.timers).take_due(Instant::now());
    for waker in due {
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::Command;
    use crate::plan::Mode;
    use crate::test_support::{procfs, pt};

    /// An upper bound on "did not hang".
    const HANG: Duration = Duration::from_secs(30);

    #[test]
    fn a_panic_while_driving_one_run_fails_that_run_only() {
        // Another run on the background loop, whose timeout must still fire.
        let other = Command::new(pt())
            .args(["sleep", "10"])
            .timeout(Duration::from_millis(100))
            .start()
            .expect("starts");
        // `pt yes` prints lines until it is killed; its line sink panics.
        let (mut exec, _) = Command::new(pt())
            .arg("yes")
            .exec(Mode::Events)
            .expect("spawns");
        let pid = exec.pids()[0];
        exec.set_line_sink(Box::new(|_| panic!("a bug in a line sink")));
        let (tx, rx) = mpsc::channel();
        let on_done: OnDone = Box::new(move |outcome| {
            let _ = tx.send(outcome.map(drop));
        });
        assert!(submit(exec, on_done).is_ok());
        let Ok(outcome) = rx.recv_timeout(HANG) else {
            // The loop is gone: dropping `other` would wait for ever.
            std::mem::forget(other);
            panic!("the panicking run was never reported");
        };
        let err = outcome.expect_err("a panic is an error");
        assert!(err.to_string().contains("a bug in a line sink"), "{err}");
        assert!(procfs::stat(pid).is_none(), "pt yes ({pid}) was not reaped");
        if matches!(other.wait_timeout(HANG), Ok(None)) {
            std::mem::forget(other);
            panic!("the other run's timeout never fired");
        }
        let err = other.wait().expect_err("times out");
        assert!(matches!(err, Error::Timeout(_)), "{err}");
    }

    /// Counts its wakes, in the order they came.
    struct Order {
        id: usize,
        log: Arc<Mutex<Vec<usize>>>,
    }

    impl std::task::Wake for Order {
        fn wake(self: Arc<Self>) {
            lock(&self.log).push(self.id);
        }
    }

    #[test]
    fn timers_fire_in_time_order_once() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let waker = |id| {
            std::task::Waker::from(Arc::new(Order {
                id,
                log: log.clone(),
            }))
        };
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        assert!(timers.add(now + ms(30), &waker(3)));
        assert!(timers.add(now + ms(10), &waker(1)));
        assert!(!timers.add(now + ms(20), &waker(2)));
        let second = waker(2);
        assert!(!timers.add(now + ms(20), &second));
        assert!(!timers.add(now + ms(20), &second), "a duplicate");
        assert_eq!(timers.next(), Some(now + ms(10)));
        assert!(timers.take_due(now).is_empty());
        for w in timers.take_due(now + ms(25)) {
            w.wake();
        }
        assert_eq!(*lock(&log), [1, 2, 2]);
        assert_eq!(timers.next(), Some(now + ms(30)));
    }

    #[test]
    fn wake_at_wakes_from_the_background_loop() {
        let (tx, rx) = mpsc::channel();
        struct Sender(Mutex<mpsc::Sender<Instant>>);
        impl std::task::Wake for Sender {
            fn wake(self: Arc<Self>) {
                let _ = lock(&self.0).send(Instant::now());
            }
        }
        let at = Instant::now() + Duration::from_millis(50);
        wake_at(
            at,
            &std::task::Waker::from(Arc::new(Sender(Mutex::new(tx)))),
        );
        let woken = rx.recv_timeout(HANG).expect("woken");
        assert!(woken >= at, "woken early");
    }
}
