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
}

/// Stops a running attempt; harmless once it is over.
pub(crate) trait Stopper: Send + Sync {
    fn stop(&self, how: StopHow);
}

/// Runs attempts of jobs.
pub(crate) trait Backend: Send + Sync {
    /// Starts one attempt of `job` (called on one of the pool's spawning
    /// threads, so it may block while the job starts). `on_done` is called
    /// exactly once with its result when it is over, from any thread,
    /// possibly before `start` returns. An error means nothing was started
    /// and `on_done` is dropped without being called.
    fn start(&self, job: &Job, launch: Launch, on_done: OnDone) -> Result<Started, Error>;
}
