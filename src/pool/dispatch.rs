//! The dispatch of attempts to slots: what the threads of a pool share,
//! and how a freed slot is refilled.
//!
//! Shared, under one mutex: the free slots; the registry of running
//! attempts (so that `terminate` and drop reach every one); for each batch,
//! its inbox (its attempts' starts and ends, in order) and its queue of
//! prepared jobs.
//!
//! The refill path never waits for a batch's driver: a driver prepares a
//! few jobs ahead (pulled from its input, numbered, their output files
//! ready), and whoever frees a slot (the engine's background thread when an
//! attempt ends, a spawning thread when a spawn fails, a driver that just
//! prepared a job) hands the next prepared job to a spawning thread at
//! once. Critical sections are a few pushes and pops; no user code and no
//! system call runs under the lock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Instant, SystemTime};

use crate::error::{Error, catch_panic};
use crate::reactor::OnDone;
use crate::sync::lock;

use super::backend::{Backend, Launch, Started, StopHow, Stopper};
use super::config::Config;
use super::inbox::{Completion, Message, Spawned};
use super::job::Job;
use super::output::Sinks;
use super::policy::Halt;
use super::spawner::{self, Task};
use crate::trace::Span;

/// A running attempt's key: its batch and sequence number.
pub(crate) type Key = (u64, u64);

/// An attempt to stop at once, and how.
type StopNow = Option<(Arc<dyn Stopper>, StopHow)>;

/// An attempt ready to start as soon as a slot is free.
pub(crate) struct Prepared {
    pub(crate) key: Key,
    pub(crate) job: Job,
    /// Where its output goes, or why that could not be set up: such an
    /// attempt still goes through a spawn, which fails with that error, so
    /// that one rule judges every failure to start (see
    /// [`waits_for_descriptors`]).
    pub(crate) sinks: Result<Sinks, Error>,
    /// The job's span: its attempts' runs are its children.
    pub(crate) span: Span,
    /// For sinks that failed: the pool's counts from before they were set
    /// up.
    pub(crate) since: Since,
    /// It went back to the queue once for want of descriptors.
    pub(crate) requeued: bool,
}

/// How many attempts gave their descriptors back so far, read before an
/// attempt starts: what changes meanwhile may be what it ran short of.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Since {
    /// Attempts that ended, or failed to start for good.
    ends: u64,
    /// Attempts that went back to the queue for want of descriptors.
    yields: u64,
}

/// Whether an attempt that could not start (or whose output files could
/// not be set up) goes back to the queue to try again once descriptors are
/// given back, rather than fail. Only when the system was out of
/// descriptors or processes (`exhausted`: `EMFILE`, `ENFILE`, `EAGAIN`),
/// and then:
///
/// - while other attempts run or are being started (`others`): one of them
///   will end (or fail) and give its descriptors back;
/// - if one ended meanwhile (`ended`): it may have held them;
/// - if another went back to the queue meanwhile (`yielded`), unless this
///   one already did (`requeued`): two spawns short of descriptors at the
///   same time do not both fail, and two cannot keep yielding to each
///   other.
///
/// Otherwise nothing running is going to give descriptors back: the
/// attempt fails.
pub(crate) fn waits_for_descriptors(
    exhausted: bool,
    others: bool,
    ended: bool,
    yielded: bool,
    requeued: bool,
) -> bool {
    exhausted && (others || ended || (yielded && !requeued))
}

/// One batch's side of the shared state.
#[derive(Default)]
pub(crate) struct BatchEntry {
    pub(crate) inbox: VecDeque<Message>,
    /// Prepared attempts waiting for a slot, oldest first.
    pub(crate) prepared: VecDeque<Prepared>,
    /// Attempts that failed under a halt policy and that the driver has not
    /// judged yet: while there are any, nothing more of the batch starts
    /// (see [`Inner::resume`]).
    pauses: usize,
    /// What wakes the batch's driver while it sleeps; set by the driver
    /// before each sleep.
    pub(crate) wake: Wake,
    /// The batch has handed out its last job.
    pub(crate) over: bool,
}

/// What wakes a sleeping driver, besides what always does (an end it does
/// not coalesce, a failed start, a terminated pool, its own timer).
#[derive(Default, Clone, Copy)]
pub(crate) struct Wake {
    /// Every successful start (see [`Inner::spawned`]).
    pub(crate) starts: bool,
    /// Successful ends only in bulk: the driver sleeps with a short timer
    /// and takes the ends that came meanwhile all at once (see
    /// `Batch::wait`). An end still wakes it at once if it failed, or if it
    /// left no more than `low_water` prepared jobs waiting for a slot.
    pub(crate) coalesce: bool,
    pub(crate) low_water: usize,
}

impl BatchEntry {
    /// Whether an attempt's end (which just gave its slot away) must wake
    /// the driver now.
    fn wakes_for_end(&self, ok: bool) -> bool {
        !self.wake.coalesce || !ok || self.prepared.len() <= self.wake.low_water
    }
}

#[derive(Default)]
pub(crate) struct State {
    /// Slots given back, lowest first. Slots above `fresh` were never
    /// used, so memory follows the attempts running, not `jobs`.
    free: BinaryHeap<Reverse<usize>>,
    /// The lowest slot never used yet.
    fresh: usize,
    /// A spawn failed for want of descriptors or processes while other
    /// attempts ran or were being started: nothing starts until one of them
    /// ends or fails to start (and gives its descriptors back).
    starved: bool,
    /// Every running attempt of every batch; `None` while it is being
    /// spawned.
    running: HashMap<Key, Option<Arc<dyn Stopper>>>,
    batches: HashMap<u64, BatchEntry>,
    /// Set by terminate (cancel) or drop (kill): nothing more starts.
    pub(crate) terminated: Option<StopHow>,
    /// Threads waiting in [`Inner::wait`]: a report that finds none wakes
    /// nobody.
    waiters: usize,
    /// Async tasks waiting on the pool, woken by [`Inner::notify`].
    wakers: Vec<Waker>,
}

/// The pool itself, shared by its handle, its batches and its coordinator
/// of submitted jobs.
pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) backend: Box<dyn Backend>,
    state: Mutex<State>,
    cv: Condvar,
    next_batch: std::sync::atomic::AtomicU64,
    /// How many attempts gave their descriptors back: see [`Since`].
    ends: AtomicU64,
    yields: AtomicU64,
    /// [`State::wakers`] may hold some: only then does `notify` lock.
    has_wakers: AtomicBool,
}

impl Inner {
    pub(crate) fn new(config: Config, backend: Box<dyn Backend>) -> Inner {
        let state = State {
            fresh: 1,
            ..State::default()
        };
        Inner {
            config,
            backend,
            state: Mutex::new(state),
            cv: Condvar::new(),
            next_batch: Default::default(),
            ends: AtomicU64::new(0),
            yields: AtomicU64::new(0),
            has_wakers: Default::default(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// How many attempts gave their descriptors back so far.
    pub(crate) fn since(&self) -> Since {
        Since {
            ends: self.ends.load(Ordering::SeqCst),
            yields: self.yields.load(Ordering::SeqCst),
        }
    }

    /// Wakes every thread and task (after unlocking) waiting on the pool.
    pub(crate) fn notify(&self) {
        self.cv.notify_all();
        if self.has_wakers.load(Ordering::SeqCst) {
            let wakers = {
                let mut state = self.lock();
                self.has_wakers.store(false, Ordering::SeqCst);
                std::mem::take(&mut state.wakers)
            };
            wakers.into_iter().for_each(Waker::wake);
        }
    }

    /// The async twin of [`wait`](Inner::wait), under the lock the condition was read under.
    pub(crate) fn register(&self, state: &mut State, waker: &Waker) {
        if !state.wakers.iter().any(|w| w.will_wake(waker)) {
            state.wakers.push(waker.clone());
        }
        self.has_wakers.store(true, Ordering::SeqCst);
    }

    /// The async twin of [`wait_idle`](Inner::wait_idle).
    pub(crate) fn poll_idle(&self, waker: &Waker) -> Poll<()> {
        let mut state = self.lock();
        if state.running.is_empty() {
            return Poll::Ready(());
        }
        self.register(&mut state, waker);
        Poll::Pending
    }

    /// Waits for a notification, or until `until`.
    pub(crate) fn wait<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        until: Option<Instant>,
    ) -> MutexGuard<'a, State> {
        let mut guard = guard;
        guard.waiters += 1;
        let mut guard = match until {
            None => self.cv.wait(guard).unwrap_or_else(|e| e.into_inner()),
            Some(t) => {
                let timeout = t.saturating_duration_since(Instant::now());
                self.cv
                    .wait_timeout(guard, timeout)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
        guard.waiters -= 1;
        guard
    }

    /// A new batch with an empty inbox.
    pub(crate) fn open_batch(&self) -> u64 {
        let id = self
            .next_batch
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock().batches.insert(id, BatchEntry::default());
        id
    }

    pub(crate) fn close_batch(&self, id: u64) {
        self.lock().batches.remove(&id);
    }

    /// Queues a prepared attempt and starts what the free slots allow.
    pub(crate) fn prepare(self: &Arc<Self>, prepared: Prepared) {
        let tasks = {
            let mut state = self.lock();
            if let Some(shared) = state.batches.get_mut(&prepared.key.0) {
                shared.prepared.push_back(prepared);
            }
            self.dispatch(&mut state)
        };
        run_all(tasks);
    }

    /// The driver judged a failure that paused its batch (its
    /// [`Completion::paused`] or [`Spawned::paused`]): once every such
    /// failure is judged, the batch's prepared attempts may start again.
    ///
    /// Each failure lifts only its own pause: a failure that ends while the
    /// driver judges another attempt keeps the batch paused until it is
    /// judged in turn, so that a halt policy stops the batch before
    /// anything more starts.
    pub(crate) fn resume(self: &Arc<Self>, batch: u64) {
        let tasks = {
            let mut state = self.lock();
            match state.batches.get_mut(&batch) {
                Some(shared) if shared.pauses > 0 => {
                    shared.pauses -= 1;
                    if shared.pauses > 0 {
                        return;
                    }
                }
                _ => return,
            }
            self.dispatch(&mut state)
        };
        run_all(tasks);
    }

    /// Takes back a batch's prepared attempts that have not started.
    pub(crate) fn withdraw(&self, batch: u64) -> Vec<Prepared> {
        let mut state = self.lock();
        match state.batches.get_mut(&batch) {
            Some(shared) => shared.prepared.drain(..).collect(),
            None => Vec::new(),
        }
    }

    /// Pairs free slots with prepared attempts: each pair is registered and
    /// becomes a spawn task, to run once the lock is released.
    fn dispatch(self: &Arc<Self>, state: &mut State) -> Vec<Task> {
        let mut tasks = Vec::new();
        if state.terminated.is_some()
            || state.starved
            || self.config.deadline.is_some_and(|d| Instant::now() >= d)
        {
            return tasks;
        }
        while state.has_free_slot(self.config.jobs) {
            let next = state
                .batches
                .values_mut()
                .filter(|b| b.pauses == 0)
                .find_map(|b| b.prepared.pop_front());
            let Some(prepared) = next else {
                break;
            };
            let Some(slot) = state.take_slot(self.config.jobs) else {
                break;
            };
            state.running.insert(prepared.key, None);
            tasks.push(self.spawn_task(prepared, slot));
        }
        tasks
    }

    /// The task that spawns `prepared` in `slot` and reports how it went.
    fn spawn_task(self: &Arc<Self>, prepared: Prepared, slot: usize) -> Task {
        let inner = self.clone();
        Box::new(move || {
            let Prepared {
                key,
                job,
                sinks,
                span,
                since,
                requeued,
            } = prepared;
            // To queue the attempt again as it was, if the system is out of
            // descriptors or processes.
            let again = Prepared {
                key,
                job: job.clone(),
                sinks: sinks.clone(),
                span: span.clone(),
                since,
                requeued: true,
            };
            // Read before the spawn takes any descriptor; for sinks that
            // failed, before they were set up.
            let since = match &sinks {
                Ok(_) => inner.since(),
                Err(_) => since,
            };
            let at = Instant::now();
            let time = SystemTime::now();
            let on_done = inner.on_done(key, slot);
            let skipped = inner.lock().terminated.is_some();
            let mut result = catch_panic(|| {
                if skipped {
                    return Err(Error::skipped(key.1, "the pool was terminated"));
                }
                let launch = Launch {
                    seq: key.1,
                    slot,
                    timeout: inner.config.timeout,
                    deadline: inner.config.deadline,
                    job_env: inner.config.job_env,
                    sinks: sinks?,
                };
                span.in_scope(|| inner.backend.start(&job, launch, on_done))
            })
            .unwrap_or_else(|message| {
                Err(Error::panicked(
                    format!("starting job #{} panicked", key.1),
                    message,
                ))
            });
            // The spawner, not the backend, decides who drives the run.
            let run = result.as_mut().ok().and_then(Started::take_run);
            let spawned = Spawned {
                seq: key.1,
                slot,
                skipped,
                result,
                at,
                time,
                paused: false,
            };
            inner.spawned(key, slot, spawned, (again, requeued), since);
            run
        })
    }

    /// The callback that reports an attempt's end to its batch, and gives
    /// its slot to the next prepared attempt.
    pub(crate) fn on_done(self: &Arc<Self>, key: Key, slot: usize) -> OnDone {
        let inner = self.clone();
        // Under a halt policy, a failure must be judged before the batch
        // starts anything more.
        let pause_on_failure = self.config.halt != Halt::Never;
        Box::new(move |result| {
            let ended = Instant::now();
            let (wake, tasks) = {
                let mut state = inner.lock();
                state.finish(key, slot);
                inner.ends.fetch_add(1, Ordering::SeqCst);
                state.starved = false;
                let ok = result.is_ok();
                let paused = pause_on_failure && !ok;
                if let Some(shared) = state.batches.get_mut(&key.0) {
                    shared.pauses += usize::from(paused);
                    shared.inbox.push_back(Message::Done(Completion {
                        seq: key.1,
                        result,
                        ended,
                        paused,
                    }));
                }
                let tasks = inner.dispatch(&mut state);
                // `wait_idle` waits for the last attempt to end.
                let wake = (state.waiters > 0 || !state.wakers.is_empty())
                    && (state.running.is_empty()
                        || state
                            .batches
                            .get(&key.0)
                            .is_none_or(|s| s.wakes_for_end(ok)));
                (wake, tasks)
            };
            if wake {
                inner.notify();
            }
            run_all(tasks);
        })
    }

    /// Reports a spawn's outcome to its batch (from a spawning thread): the
    /// registry learns how to stop the attempt (and stops it at once if the
    /// pool was terminated meanwhile), or forgets it and frees its slot.
    ///
    /// A successful start wakes the batch's driver only if it asked for
    /// starts ([`Wake::starts`]): usually it learns of the start
    /// with the attempt's end, in one wake instead of two.
    ///
    /// A spawn (or the setting up of the output files before it) that
    /// failed for want of descriptors or processes is not the job's failure
    /// while other attempts run or gave descriptors back since it began
    /// (see [`waits_for_descriptors`]): it goes back to the front of its
    /// batch's queue as `again` (or, if its output files failed, back to its
    /// batch to set them up again), and while others run nothing starts
    /// until one of them ends. Otherwise it fails the attempt as usual.
    fn spawned(
        self: &Arc<Self>,
        key: Key,
        slot: usize,
        spawned: Spawned,
        (again, requeued): (Prepared, bool),
        since: Since,
    ) {
        let (stop_now, wake, tasks) = {
            let mut state = self.lock();
            let exhausted = spawned.result.as_ref().is_err_and(Error::is_exhaustion);
            let others = state.running.keys().any(|other| *other != key);
            let now = self.since();
            let ended = now.ends != since.ends;
            let yielded = now.yields != since.yields;
            if waits_for_descriptors(exhausted, others, ended, yielded, requeued) {
                self.yields.fetch_add(1, Ordering::SeqCst);
                state.finish(key, slot);
                // With nothing else running, no end will come to restart
                // it: it tries again at once.
                state.starved = others;
                let mut wake = false;
                if let Some(shared) = state.batches.get_mut(&key.0) {
                    if again.sinks.is_ok() {
                        shared.prepared.push_front(again);
                    } else {
                        shared.inbox.push_back(Message::Again(key.1));
                        wake = state.waiters > 0 || !state.wakers.is_empty();
                    }
                }
                let tasks = self.dispatch(&mut state);
                (None, wake, tasks)
            } else {
                self.report_start(&mut state, key, slot, spawned)
            }
        };
        if let Some((stopper, how)) = stop_now {
            stopper.stop(how);
        }
        if wake {
            self.notify();
        }
        run_all(tasks);
    }

    /// Records a spawn's outcome (see [`spawned`](Self::spawned)): what
    /// to stop at once, whether to wake the waiting threads, and what to
    /// start next.
    fn report_start(
        self: &Arc<Self>,
        state: &mut State,
        key: Key,
        slot: usize,
        mut spawned: Spawned,
    ) -> (StopNow, bool, Vec<Task>) {
        let mut tasks = Vec::new();
        let wants_starts = state
            .batches
            .get(&key.0)
            .is_none_or(|shared| shared.wake.starts);
        // An end that came first waits in the batch for this start.
        let ended = !state.running.contains_key(&key);
        let wake = (state.waiters > 0 || !state.wakers.is_empty())
            && (wants_starts || ended || spawned.result.is_err());
        let stop_now = match &spawned.result {
            Ok(started) => state
                .started(key, &started.stopper)
                .map(|how| (started.stopper.clone(), how)),
            Err(_) => {
                state.finish(key, slot);
                self.ends.fetch_add(1, Ordering::SeqCst);
                // What waited for descriptors may have waited for this
                // spawn's.
                state.starved = false;
                // A terminated pool starts nothing anyway.
                spawned.paused = self.config.halt != Halt::Never && !spawned.skipped;
                if let Some(shared) = state.batches.get_mut(&key.0) {
                    shared.pauses += usize::from(spawned.paused);
                }
                tasks = self.dispatch(state);
                None
            }
        };
        if let Some(shared) = state.batches.get_mut(&key.0) {
            shared.inbox.push_back(Message::Started(spawned));
        }
        (stop_now, wake, tasks)
    }

    /// Stops every running attempt of every batch, and marks the pool so
    /// that nothing more starts.
    pub(crate) fn terminate(&self, how: StopHow) {
        let stoppers: Vec<Arc<dyn Stopper>> = {
            let mut state = self.lock();
            if state.terminated != Some(StopHow::Kill) {
                state.terminated = Some(how);
            }
            state.running.values().flatten().cloned().collect()
        };
        for stopper in stoppers {
            stopper.stop(how);
        }
        self.notify();
    }

    /// Waits until no attempt of any batch is running.
    pub(crate) fn wait_idle(&self) {
        let mut state = self.lock();
        while !state.running.is_empty() {
            state = self.wait(state, None);
        }
    }
}

impl crate::signals::Settle for Inner {
    /// A forwarded Ctrl-C: nothing more starts, and the running jobs are
    /// stopped (reported as stopped by `terminate`).
    fn shut_down(&self) {
        self.terminate(StopHow::Cancel);
    }

    /// Every job has ended and every batch has handed out its reports (to
    /// the code that iterates over it, and to the job log).
    fn settled(&self) -> bool {
        let state = self.lock();
        state.running.is_empty() && state.batches.values().all(|b| b.over)
    }
}

fn run_all(tasks: Vec<Task>) {
    for task in tasks {
        spawner::run(task);
    }
}

impl State {
    /// Records how to stop a spawned attempt. Returns how to stop it at
    /// once if the pool was terminated meanwhile.
    fn started(&mut self, key: Key, stopper: &Arc<dyn Stopper>) -> Option<StopHow> {
        if let Some(entry) = self.running.get_mut(&key) {
            *entry = Some(stopper.clone());
            return self.terminated;
        }
        None
    }

    /// An attempt is over (or never started): it leaves the registry and
    /// frees its slot.
    fn finish(&mut self, key: Key, slot: usize) {
        if self.running.remove(&key).is_some() {
            self.free.push(Reverse(slot));
        }
    }

    fn has_free_slot(&self, jobs: usize) -> bool {
        !self.free.is_empty() || self.fresh <= jobs
    }

    /// The lowest free slot, if any of the `jobs` is free.
    fn take_slot(&mut self, jobs: usize) -> Option<usize> {
        if let Some(Reverse(slot)) = self.free.pop() {
            return Some(slot);
        }
        (self.fresh <= jobs).then(|| {
            self.fresh += 1;
            self.fresh - 1
        })
    }

    pub(crate) fn shared(&mut self, batch: u64) -> Option<&mut BatchEntry> {
        self.batches.get_mut(&batch)
    }

    /// How many of a batch's prepared attempts wait for a slot.
    pub(crate) fn prepared(&self, batch: u64) -> usize {
        self.batches
            .get(&batch)
            .map_or(0, |shared| shared.prepared.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_short_of_descriptors_waits_only_for_what_can_give_them_back() {
        // (exhausted, others, ended, yielded, requeued) -> waits
        let table = [
            ((false, true, true, true, false), false),
            ((true, false, false, false, false), false),
            ((true, true, false, false, false), true),
            ((true, true, false, false, true), true),
            ((true, false, true, false, true), true),
            ((true, false, false, true, false), true),
            ((true, false, false, true, true), false),
        ];
        for ((exhausted, others, ended, yielded, requeued), waits) in table {
            assert_eq!(
                waits_for_descriptors(exhausted, others, ended, yielded, requeued),
                waits,
                "{exhausted} {others} {ended} {yielded} {requeued}"
            );
        }
    }

    #[test]
    fn slots_are_taken_lowest_first_and_made_as_needed() {
        let mut state = State {
            fresh: 1,
            ..State::default()
        };
        let taken: Vec<_> = (0..4).map(|_| state.take_slot(3)).collect();
        assert_eq!(taken, [Some(1), Some(2), Some(3), None]);
        state.running.insert((0, 3), None);
        state.running.insert((0, 1), None);
        state.finish((0, 3), 3);
        state.finish((0, 1), 1);
        assert_eq!(state.take_slot(3), Some(1));
        assert_eq!(state.take_slot(3), Some(3));
        assert_eq!(state.take_slot(3), None);
        // A count of slots allowed costs nothing until they are used.
        let mut huge = State {
            fresh: 1,
            ..State::default()
        };
        assert_eq!(huge.take_slot(usize::MAX), Some(1));
        assert_eq!(huge.free.capacity(), 0);
    }
}
