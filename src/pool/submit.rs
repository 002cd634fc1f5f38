//! Single jobs: [`Pool::submit`](crate::Pool::submit), the handle it
//! returns, the queue of submitted jobs (with `close` and `join`), and the
//! coordinator thread that runs them.
//!
//! Submitted jobs form one batch of their own, driven by a coordinator
//! thread that the pool starts at the first `submit` and that ends when the
//! pool is closed (and every submitted job reported), terminated or halted.
//! Each finished job is handed to its [`JobHandle`]; the pool keeps nothing.
//!
//! The queue has its own lock, always taken while holding the pool's (and
//! never the other way round): whoever changes it so holds the pool's lock
//! too, and the threads that wait on the pool (the coordinator, `join`)
//! never miss a change.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::error::Error;
use crate::output::Output;
use crate::sync::{lock, wait_until};

use super::batch::Batch;
use super::dispatch::{Inner, State};
use super::input::{Input, Pull};
use super::job::Summary;
use super::job::{Done, HaltReason, Job};
use super::policy::Failure;

/// A job given to [`Pool::submit`](crate::Pool::submit): wait for it from
/// any thread, like Python's `AsyncResult`.
///
/// Dropping the handle does not stop the job; the pool still runs it.
///
/// # Examples
///
/// ```
/// use procession::{cmd, Pool};
/// # fn main() -> Result<(), procession::Error> {
/// let pool = Pool::new(2);
/// let job = pool.submit(cmd!("echo", "frame-1").stdout_capture());
/// assert_eq!(job.wait()?.stdout, b"frame-1\n");
/// assert_eq!(job.seq(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct JobHandle {
    seq: u64,
    cell: Arc<Cell>,
}

/// Where a submitted job's report lands.
#[derive(Default, Debug)]
pub(crate) struct Cell {
    done: OnceLock<Done>,
    mutex: Mutex<Waiters>,
    cv: Condvar,
}

/// The tasks awaiting the job (`JobHandle::wait_async`, `done_async`), by
/// future.
#[derive(Default, Debug)]
struct Waiters {
    wakers: Vec<(u64, std::task::Waker)>,
    next_id: u64,
}

impl Cell {
    fn resolve(&self, done: Done) {
        let _ = self.done.set(done);
        let wakers = {
            let mut waiters = lock(&self.mutex);
            self.cv.notify_all();
            std::mem::take(&mut waiters.wakers)
        };
        // Woken after unlocking: an executor may poll at once.
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    fn wait_until(&self, until: Option<Instant>) -> Option<&Done> {
        wait_until(&self.mutex, &self.cv, until, |_| self.done.get().is_some());
        self.done.get()
    }
}

impl JobHandle {
    /// The job's sequence number among the pool's submitted jobs, from 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let first = pool.submit(procession::cmd!("true"));
    /// let second = pool.submit(procession::cmd!("true"));
    /// assert_eq!((first.seq(), second.seq()), (1, 2));
    /// ```
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Waits until the job is over and returns its output.
    ///
    /// # Errors
    ///
    /// The job's error (see [`Done::result`]); every call returns the same.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let pool = procession::Pool::new(1);
    /// let job = pool.submit(procession::cmd!("echo", "hi").stdout_capture());
    /// assert_eq!(job.wait()?.stdout, b"hi\n");
    /// # Ok(()) }
    /// ```
    pub fn wait(&self) -> Result<&Output, Error> {
        self.done().result().as_ref().map_err(Clone::clone)
    }

    /// Waits until the job is over and returns its report.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let job = pool.submit(procession::cmd!("sh", "-c", "exit 4"));
    /// assert_eq!(job.done().status().and_then(|s| s.code()), Some(4));
    /// ```
    pub fn done(&self) -> &Done {
        self.cell
            .wait_until(None)
            .expect("waiting without a limit ends with a report")
    }

    /// The report if the job is over, `None` if it is queued or running.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let job = pool.submit(procession::cmd!("sleep", "10"));
    /// assert!(job.try_done().is_none());
    /// pool.terminate();
    /// assert!(job.try_done().is_some());
    /// ```
    pub fn try_done(&self) -> Option<&Done> {
        self.cell.done.get()
    }

    /// Waits at most `timeout` for the report. A timeout too long to add to
    /// the current time (`Duration::MAX`) waits to the end.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = procession::Pool::new(1);
    /// let job = pool.submit(procession::cmd!("sleep", "10"));
    /// assert!(job.wait_timeout(Duration::from_millis(10)).is_none());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Option<&Done> {
        self.cell
            .wait_until(crate::sync::after(Instant::now(), timeout))
    }

    /// A new id for a future awaiting this job.
    pub(crate) fn waiter_id(&self) -> u64 {
        let mut waiters = lock(&self.cell.mutex);
        waiters.next_id += 1;
        waiters.next_id
    }

    /// The report if the job is over; else registers `waker` under `id`
    /// (replacing that future's earlier one). Never waits for the lock: if
    /// it is taken, the task is woken to poll again.
    pub(crate) fn poll_done(&self, id: u64, waker: &std::task::Waker) -> Option<&Done> {
        if let Some(done) = self.cell.done.get() {
            return Some(done);
        }
        let Ok(mut waiters) = self.cell.mutex.try_lock() else {
            waker.wake_by_ref();
            return None;
        };
        // `resolve` sets the report before it takes the wakers.
        if let Some(done) = self.cell.done.get() {
            return Some(done);
        }
        match waiters.wakers.iter_mut().find(|(i, _)| *i == id) {
            Some((_, old)) if old.will_wake(waker) => {}
            Some((_, old)) => old.clone_from(waker),
            None => waiters.wakers.push((id, waker.clone())),
        }
        None
    }

    /// Forgets the waker of the future `id` (it is dropped).
    pub(crate) fn forget_waiter(&self, id: u64) {
        lock(&self.cell.mutex).wakers.retain(|(i, _)| *i != id);
    }
}

/// A job handed to [`submit`](crate::Pool::submit), waiting for a slot.
struct Submitted {
    seq: u64,
    job: Job,
    cell: Arc<Cell>,
}

/// The submitted jobs' state.
#[derive(Default)]
struct Queue {
    queue: VecDeque<Submitted>,
    next_seq: u64,
    /// Set by close: nothing more is submitted.
    closed: bool,
    /// Submitted and not yet reported.
    outstanding: u64,
    /// The coordinator's batch's counts.
    summary: Summary,
    /// Jobs refused or left in the queue, reported without running.
    skipped: u64,
    /// Set when the coordinator's batch halted: later jobs are refused.
    halted: Option<HaltReason>,
    /// The coordinator thread is running (or starting).
    coordinating: bool,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A pool's submitted jobs: their queue, and the coordinator that runs
/// them.
pub(crate) struct Submitter {
    inner: Arc<Inner>,
    /// Locked only while holding the pool's lock (see the module docs).
    queue: Mutex<Queue>,
}

/// The queue of submitted jobs, as a batch's input.
struct SubmitInput {
    submitter: Arc<Submitter>,
    /// The jobs taken from the queue, by sequence number: where their
    /// reports go, and their command lines.
    cells: HashMap<u64, (Arc<Cell>, String)>,
    /// How many jobs were taken from the queue.
    pulled: u64,
}

impl Input for SubmitInput {
    fn pull(&mut self) -> Pull {
        let (_state, mut queue) = self.submitter.lock();
        match queue.queue.pop_front() {
            Some(Submitted { seq, job, cell }) => {
                self.cells.insert(seq, (cell, job.to_string()));
                self.pulled += 1;
                Pull::Job(job, Some(seq))
            }
            None if queue.closed => Pull::End,
            None => Pull::Later,
        }
    }

    fn can_pull(&self) -> bool {
        let queue = lock(&self.submitter.queue);
        !queue.queue.is_empty() || queue.closed
    }

    fn remaining(&self) -> Option<u64> {
        None
    }

    fn ended(&self) -> bool {
        let queue = lock(&self.submitter.queue);
        queue.queue.is_empty() && queue.closed
    }

    fn total(&self) -> Option<u64> {
        let queue = lock(&self.submitter.queue);
        queue.closed.then(|| self.pulled + queue.queue.len() as u64)
    }
}

impl Submitter {
    pub(crate) fn new(inner: Arc<Inner>) -> Submitter {
        Submitter {
            inner,
            queue: Mutex::default(),
        }
    }

    /// Both locks, in their order: the pool's, then the queue's.
    fn lock(&self) -> (MutexGuard<'_, State>, MutexGuard<'_, Queue>) {
        let state = self.inner.lock();
        (state, lock(&self.queue))
    }

    /// Queues a job, starting the coordinator if it is not running.
    pub(crate) fn submit(self: &Arc<Self>, job: Job) -> JobHandle {
        let cell = Arc::new(Cell::default());
        let (state, mut queue) = self.lock();
        queue.next_seq += 1;
        let seq = queue.next_seq;
        let handle = JobHandle {
            seq,
            cell: cell.clone(),
        };
        if let Some(why) = refusal(&state, &queue) {
            queue.skipped += 1;
            drop((queue, state));
            cell.resolve(skipped(seq, &job.to_string(), why));
            return handle;
        }
        queue.queue.push_back(Submitted { seq, job, cell });
        queue.outstanding += 1;
        let start = !queue.coordinating;
        queue.coordinating = true;
        drop((queue, state));
        if start {
            let submitter = self.clone();
            let spawned = std::thread::Builder::new()
                .name("procession-pool".into())
                .spawn(move || submitter.coordinate());
            match spawned {
                Ok(thread) => self.lock().1.thread = Some(thread),
                Err(e) => {
                    self.lock().1.coordinating = false;
                    let why = format!("cannot start the pool's coordinator thread: {e}");
                    self.resolve_queued(&why);
                }
            }
        }
        self.inner.notify();
        handle
    }

    /// Refuses further jobs; those queued still run.
    pub(crate) fn close(&self) {
        self.lock().1.closed = true;
        self.inner.notify();
    }

    /// Waits until every job submitted so far is reported; the counts of
    /// the submitted jobs.
    pub(crate) fn join(&self) -> Summary {
        let mut state = self.inner.lock();
        while lock(&self.queue).outstanding > 0 {
            state = self.inner.wait(state, None);
        }
        let mut queue = lock(&self.queue);
        let mut summary = queue.summary.clone();
        summary.skipped += queue.skipped;
        let thread = if queue.closed || state.terminated.is_some() {
            queue.thread.take()
        } else {
            None
        };
        drop((queue, state));
        join_thread(thread);
        summary
    }

    /// The async twin of [`join`](Self::join): the counts once every job
    /// submitted so far is reported and, after a close or a terminate, the
    /// coordinator thread has ended (it ends right after its last report:
    /// until then the task is woken again every millisecond, so that
    /// joining it never waits).
    pub(crate) fn poll_join(&self, waker: &std::task::Waker) -> std::task::Poll<Summary> {
        let mut state = self.inner.lock();
        let mut queue = lock(&self.queue);
        if queue.outstanding > 0 {
            drop(queue);
            self.inner.register(&mut state, waker);
            return std::task::Poll::Pending;
        }
        let ending = queue.closed || state.terminated.is_some();
        if ending && queue.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            drop((queue, state));
            crate::reactor::wake_at(Instant::now() + COORDINATOR_ENDING, waker);
            return std::task::Poll::Pending;
        }
        let mut summary = queue.summary.clone();
        summary.skipped += queue.skipped;
        let thread = if ending { queue.thread.take() } else { None };
        drop((queue, state));
        join_thread(thread);
        std::task::Poll::Ready(summary)
    }

    /// The async twin of [`join_coordinator`](Self::join_coordinator):
    /// ready once the coordinator has ended (it is joined then, which does
    /// not wait), polled again every millisecond until then.
    pub(crate) fn poll_join_coordinator(&self, waker: &std::task::Waker) -> std::task::Poll<()> {
        let thread = {
            let (_state, mut queue) = self.lock();
            let own = queue
                .thread
                .as_ref()
                .is_some_and(|t| t.thread().id() == std::thread::current().id());
            if own {
                return std::task::Poll::Ready(());
            }
            if queue.thread.as_ref().is_some_and(|t| !t.is_finished()) {
                crate::reactor::wake_at(Instant::now() + COORDINATOR_ENDING, waker);
                return std::task::Poll::Pending;
            }
            queue.thread.take()
        };
        join_thread(thread);
        std::task::Poll::Ready(())
    }

    /// Once the pool was terminated (or is dropped) and its jobs reaped:
    /// waits for the coordinator to end, unless this is the coordinator
    /// (in an event callback of a submitted job: it ends by itself once
    /// the callback returns).
    pub(crate) fn join_coordinator(&self) {
        let thread = self.lock().1.thread.take();
        let own = thread
            .as_ref()
            .is_some_and(|t| t.thread().id() == std::thread::current().id());
        if own {
            self.lock().1.thread = thread;
        } else {
            join_thread(thread);
        }
    }

    /// Reports every queued job as skipped.
    fn resolve_queued(&self, why: &str) {
        let queued: Vec<Submitted> = {
            let (_state, mut queue) = self.lock();
            let queued: Vec<_> = queue.queue.drain(..).collect();
            queue.skipped += queued.len() as u64;
            queued
        };
        let count = queued.len() as u64;
        for s in queued {
            s.cell.resolve(skipped(s.seq, &s.job.to_string(), why));
        }
        self.lock().1.outstanding -= count;
        self.inner.notify();
    }

    /// The coordinator: drives the batch of submitted jobs until the pool
    /// is closed and drained, terminated or halted.
    fn coordinate(self: Arc<Self>) {
        let input = SubmitInput {
            submitter: self.clone(),
            cells: HashMap::new(),
            pulled: 0,
        };
        let mut batch = Batch::new(&self.inner, input, false);
        while let Some(done) = batch.next() {
            let cell = batch.input.cells.remove(&done.seq);
            if let Some((cell, _)) = cell {
                cell.resolve(done);
            }
            let summary = batch.summary();
            let (state, mut queue) = self.lock();
            queue.outstanding -= 1;
            queue.summary = summary;
            drop((queue, state));
            self.inner.notify();
        }
        // Jobs the batch took from the queue but never started (it halted).
        let unstarted: Vec<(u64, (Arc<Cell>, String))> = batch.input.cells.drain().collect();
        let summary = batch.summary();
        drop(batch);
        let why = match summary.halted {
            Some(HaltReason::Terminated) => "the pool was terminated",
            _ => "the pool's submitted jobs halted",
        };
        let count = unstarted.len() as u64;
        for (seq, (cell, command)) in unstarted {
            cell.resolve(skipped(seq, &command, why));
        }
        {
            let (_state, mut queue) = self.lock();
            queue.outstanding -= count;
            queue.halted = summary.halted;
            queue.coordinating = false;
            queue.summary = summary;
        }
        self.resolve_queued(why);
    }
}

/// How often an async join looks again whether the coordinator thread,
/// done with its last job, has ended.
const COORDINATOR_ENDING: Duration = Duration::from_millis(1);

fn join_thread(thread: Option<std::thread::JoinHandle<()>>) {
    if let Some(thread) = thread {
        let _ = thread.join();
    }
}

/// Why a new job is refused, if it is.
fn refusal(state: &State, queue: &Queue) -> Option<&'static str> {
    if state.terminated.is_some() {
        Some("the pool was terminated")
    } else if queue.closed {
        Some("the pool was closed")
    } else if queue.halted.is_some() {
        Some("the pool's submitted jobs halted")
    } else {
        None
    }
}

/// The report of a job that never started.
fn skipped(seq: u64, command: &str, why: &str) -> Done {
    Done {
        seq,
        slot: 0,
        attempts: 0,
        command: command.to_string(),
        start_time: SystemTime::now(),
        elapsed: Duration::ZERO,
        result: Err(Error::skipped(seq, why)),
        failure: Some(Failure::Skipped),
        ids: Default::default(),
    }
}
