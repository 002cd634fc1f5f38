//! The narrow interface between the pool and whatever runs its jobs.
//!
//! The pool decides what to run, when, in which slot, and what a result
//! means; a [`Backend`] only starts one attempt, reports once when it is
//! over, and stops it on request. `local.rs` holds the backend that runs
//! jobs on this machine. Running jobs elsewhere (over ssh, on a cluster) is
//! a new backend, not a new pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::exec::Exec;
use crate::reactor::OnDone;

use super::job::Job;
use super::output::Sinks;

/// Everything about one attempt that is not the job itself.
pub(crate) struct Launch {
    pub(crate) seq: u64,
    pub(crate) slot: usize,
    /// The per-job timeout (the command's own, if shorter, still applies).
    pub(crate) timeout: Option<Duration>,
    /// The pool's deadline.
    pub(crate) deadline: Option<Instant>,
    /// Set `PROCESSION_SEQ` and `PROCESSION_SLOT`.
    pub(crate) job_env: bool,
    pub(crate) sinks: Sinks,
}

impl Launch {
    /// The variables the attempt gets: `PROCESSION_SEQ` and
    /// `PROCESSION_SLOT`, unless `job_env` is off.
    pub(crate) fn env_vars(&self) -> impl Iterator<Item = (&'static str, String)> {
        let vars = || {
            [
                ("PROCESSION_SEQ", self.seq.to_string()),
                ("PROCESSION_SLOT", self.slot.to_string()),
            ]
        };
        self.job_env.then(vars).into_iter().flatten()
    }
}

/// How to stop a running attempt.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum StopHow {
    /// With the job's stop sequence; reported as a cancel.
    Cancel,
    /// With `SIGKILL`, at once.
    Kill,
}

/// A started attempt, as the pool holds it.
pub(crate) struct Started {
    pub(crate) stopper: Arc<dyn Stopper>,
    /// The process ids, where known.
    pub(crate) pids: Vec<u32>,
    /// Who watches the attempt until it ends.
    pub(crate) watch: Watch,
}

/// Who watches a started attempt until it ends.
pub(crate) enum Watch {
    /// A run of the crate's engine, with the report of its end: the pool's
    /// spawner, not the backend, decides which thread drives it (see
    /// `spawner`).
    Engine(Box<Exec>, OnDone),
    /// The backend watches the attempt itself and reports its end.
    Own,
}

impl Started {
    /// Takes the engine run to drive, if any, leaving [`Watch::Own`].
    pub(crate) fn take_run(&mut self) -> Option<(Exec, OnDone)> {
        match std::mem::replace(&mut self.watch, Watch::Own) {
            Watch::Engine(exec, on_done) => Some((*exec, on_done)),
            Watch::Own => None,
        }
    }
}

/// What a backend can do with a job, asked by the scheduler instead of
/// matching on the job's kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Caps {
    /// It can hand the job's output over line by line as it comes (for
    /// tagged output, and lines printed above the progress bar).
    pub(crate) stream_lines: bool,
}

/// Stops a running attempt; harmless once it is over.
pub(crate) trait Stopper: Send + Sync {
    fn stop(&self, how: StopHow);
}

/// Runs attempts of jobs.
pub(crate) trait Backend: Send + Sync {
    /// What this backend can do with `job`.
    fn caps(&self, job: &Job) -> Caps;

    /// Starts one attempt of `job` (called on one of the pool's spawning
    /// threads, so it may block while the job starts). `on_done` is called
    /// exactly once with its result when it is over, from any thread,
    /// possibly before `start` returns. An error means nothing was started
    /// and `on_done` is dropped without being called. A backend that runs
    /// the attempt through the crate's engine returns it with `on_done` as
    /// [`Watch::Engine`] rather than driving it itself.
    fn start(&self, job: &Job, launch: Launch, on_done: OnDone) -> Result<Started, Error>;
}
