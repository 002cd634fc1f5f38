//! Single jobs: [`Pool::submit`](crate::Pool::submit), the handle it
//! returns, and the coordinator thread that runs submitted jobs.
//!
//! Submitted jobs form one batch of their own, driven by a coordinator
//! thread that the pool starts at the first `submit` and that ends when the
//! pool is closed (and every submitted job reported), terminated or halted.
//! Each finished job is handed to its [`JobHandle`]; the pool keeps nothing.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::error::Error;
use crate::output::Output;
use crate::sync::{lock, wait_until};

use super::batch::{Batch, Input, Pull};
use super::job::{Done, Job};
use super::policy::Failure;
use super::state::{Inner, State, Submitted};

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
    mutex: Mutex<()>,
    cv: Condvar,
}

impl Cell {
    fn resolve(&self, done: Done) {
        let _ = self.done.set(done);
        let _guard = lock(&self.mutex);
        self.cv.notify_all();
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
}

/// The queue of submitted jobs, as a batch's input.
#[derive(Default)]
struct SubmitInput {
    /// The jobs taken from the queue, by sequence number: where their
    /// reports go, and their command lines.
    cells: HashMap<u64, (Arc<Cell>, String)>,
}

impl Input for SubmitInput {
    fn pull(&mut self, inner: &Inner) -> Pull {
        let mut state = inner.lock();
        match state.submit.queue.pop_front() {
            Some(Submitted { seq, job, cell }) => {
                self.cells.insert(seq, (cell, job.to_string()));
                Pull::Job(job, Some(seq))
            }
            None if state.closed => Pull::End,
            None => Pull::Later,
        }
    }

    fn ready(&self, state: &State) -> bool {
        !state.submit.queue.is_empty() || state.closed
    }

    fn remaining(&self) -> Option<u64> {
        None
    }

    fn ended(&self, state: &State) -> bool {
        state.submit.queue.is_empty() && state.closed
    }
}

/// Queues a job, starting the coordinator if it is not running.
pub(crate) fn submit(inner: &Arc<Inner>, job: Job) -> JobHandle {
    let cell = Arc::new(Cell::default());
    let mut state = inner.lock();
    state.submit.next_seq += 1;
    let seq = state.submit.next_seq;
    let handle = JobHandle {
        seq,
        cell: cell.clone(),
    };
    if let Some(why) = refusal(&state) {
        state.submit.skipped += 1;
        drop(state);
        cell.resolve(skipped(seq, &job.to_string(), why));
        return handle;
    }
    state.submit.queue.push_back(Submitted { seq, job, cell });
    state.submit.outstanding += 1;
    let start = !state.submit.coordinating;
    state.submit.coordinating = true;
    drop(state);
    if start {
        let worker = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("procession-pool".into())
            .spawn(move || coordinate(worker));
        match spawned {
            Ok(thread) => inner.lock().submit.thread = Some(thread),
            Err(e) => {
                inner.lock().submit.coordinating = false;
                let why = format!("cannot start the pool's coordinator thread: {e}");
                resolve_queued(inner, &why);
            }
        }
    }
    inner.notify();
    handle
}

/// Why a new job is refused, if it is.
fn refusal(state: &State) -> Option<&'static str> {
    if state.terminated.is_some() {
        Some("the pool was terminated")
    } else if state.closed {
        Some("the pool was closed")
    } else if state.submit.halted.is_some() {
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
    }
}

/// Reports every queued job as skipped.
fn resolve_queued(inner: &Inner, why: &str) {
    let queued: Vec<Submitted> = {
        let mut state = inner.lock();
        let queued: Vec<_> = state.submit.queue.drain(..).collect();
        state.submit.skipped += queued.len() as u64;
        queued
    };
    let count = queued.len() as u64;
    for s in queued {
        s.cell.resolve(skipped(s.seq, &s.job.to_string(), why));
    }
    inner.lock().submit.outstanding -= count;
    inner.notify();
}

/// The coordinator: drives the batch of submitted jobs until the pool is
/// closed and drained, terminated or halted.
fn coordinate(inner: Arc<Inner>) {
    let mut batch = Batch::new(&inner, SubmitInput::default(), false);
    while let Some(done) = batch.next() {
        let cell = batch.input.cells.remove(&done.seq);
        if let Some((cell, _)) = cell {
            cell.resolve(done);
        }
        let summary = batch.summary();
        let mut state = inner.lock();
        state.submit.outstanding -= 1;
        state.submit.summary = summary;
        drop(state);
        inner.notify();
    }
    // Jobs the batch took from the queue but never started (it halted).
    let unstarted: Vec<(u64, (Arc<Cell>, String))> = batch.input.cells.drain().collect();
    let summary = batch.summary();
    drop(batch);
    let count = unstarted.len() as u64;
    for (seq, (cell, command)) in unstarted {
        cell.resolve(skipped(seq, &command, "the pool's submitted jobs halted"));
    }
    {
        let mut state = inner.lock();
        state.submit.outstanding -= count;
        state.submit.halted = summary.halted;
        state.submit.coordinating = false;
        state.submit.summary = summary;
    }
    resolve_queued(&inner, "the pool's submitted jobs halted");
}
