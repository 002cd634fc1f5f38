//! The narrow interface between the pool and whatever runs its jobs.
//!
//! The pool decides what to run, when, in which slot, and what a result
//! means; a [`Backend`] only starts one attempt, reports once when it is
//! over, and stops it on request. `local.rs` holds the backend that runs
//! jobs on this machine. Running jobs elsewhere (over ssh, on a cluster) is
//! a new backend, not a new pool.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Error;
#[cfg(any(test, feature = "duct", feature = "slurm"))]
use crate::error::{ExitError, SpawnError, SpawnFailure, StoppedError};
#[cfg(any(test, feature = "duct", feature = "slurm"))]
use crate::output::{Output, Stage};
use crate::reactor::OnDone;
use crate::run::Exec;
#[cfg(any(test, feature = "duct", feature = "slurm"))]
use crate::status::ExitStatus;

use super::job::{Job, RunIds};
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
    /// Where it runs, for a backend that learns it while the attempt runs
    /// (a remote one: read when the attempt is reported).
    pub(crate) ids: Option<SharedIds>,
}

/// [`RunIds`] filled in by the backend while the attempt runs.
pub(crate) type SharedIds = Arc<Mutex<RunIds>>;

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
    /// It can capture the job's output into memory that spills to a file
    /// past a limit ([`Keep::Spill`](crate::Keep::Spill)), for grouped
    /// output; else grouped output is spooled to files.
    pub(crate) spill_capture: bool,
}

/// Stops a running attempt; harmless once it is over. `stop` only asks:
/// the attempt's end is reported later, never on the calling thread (the
/// pool may call it while holding its own lock).
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

/// How an attempt that the crate's engine did not run ended, as its
/// backend reports it. [`Ended::into_result`] is the one place that turns
/// it into what the pool judges, so a backend never builds an [`Output`] or
/// an [`Error`] itself.
#[cfg(any(test, feature = "duct", feature = "slurm"))]
pub(crate) struct Ended {
    pub(crate) status: Status,
    pub(crate) out: Captured,
    /// The process id of its top process, where known (0 if not).
    pub(crate) pid: u32,
    pub(crate) elapsed: Duration,
}

/// How an attempt ended.
#[cfg(any(test, feature = "duct", feature = "slurm"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signaled { signal: i32, core: bool },
    /// Its backend stopped it when its timeout passed.
    TimedOut,
    /// Its backend stopped it on the pool's request.
    Stopped(StopHow),
    /// It never ran: the program is missing, or the submission was
    /// rejected. Named by the failure and its reason. (Only the fake
    /// backend reports it yet: duct's spawn errors come from `start`.)
    #[cfg_attr(not(test), allow(dead_code))]
    NotStarted(SpawnFailure, String),
}

/// What an attempt wrote, as far as it was captured.
#[cfg(any(test, feature = "duct", feature = "slurm"))]
#[derive(Clone, Debug, Default)]
pub(crate) struct Captured {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) stdout_truncated: bool,
    pub(crate) stderr_truncated: bool,
}

#[cfg(any(test, feature = "duct", feature = "slurm"))]
impl Ended {
    /// The attempt's result, as a command run by the engine would report
    /// it. `command` names it in errors; `timeout` is the limit it had.
    pub(crate) fn into_result(
        self,
        command: &str,
        timeout: Option<Duration>,
    ) -> Result<Output, Error> {
        let status = match &self.status {
            Status::Exited(code) => ExitStatus::from_code(*code),
            Status::Signaled { signal, core } => ExitStatus::from_signal(*signal, *core),
            Status::TimedOut | Status::Stopped(_) => ExitStatus::from_signal(9, false),
            Status::NotStarted(failure, reason) => {
                return Err(Error::Spawn(Box::new(SpawnError {
                    command: command.to_string(),
                    program: command.to_string(),
                    stage: None,
                    dir: None,
                    failure: *failure,
                    detail: Some(reason.clone()),
                    source: None,
                })));
            }
        };
        let Captured {
            stdout,
            stderr,
            stdout_truncated,
            stderr_truncated,
        } = self.out;
        let output = Output {
            status,
            stdout,
            stderr,
            stdout_spilled: None,
            stderr_spilled: None,
            stdout_truncated,
            stderr_truncated,
            incomplete: false,
            escaped: Vec::new(),
            elapsed: self.elapsed,
            stages: vec![Stage {
                command: command.to_string(),
                pid: self.pid,
                status,
                stdout: Vec::new(),
                stderr: Vec::new(),
                stdout_spilled: None,
                stderr_spilled: None,
            }],
        };
        let stopped = |cancelled, output| StoppedError {
            command: command.to_string(),
            limit: if cancelled { None } else { timeout },
            cancelled,
            stopped_by: None,
            signal: 9,
            output: Arc::new(output),
        };
        match self.status {
            Status::TimedOut => Err(Error::Timeout(Box::new(stopped(false, output)))),
            Status::Stopped(_) => Err(Error::Cancelled(Box::new(stopped(true, output)))),
            _ if status.success() => Ok(output),
            _ => Err(Error::Exit(Box::new(ExitError {
                command: command.to_string(),
                stage: None,
                output: Arc::new(output),
            }))),
        }
    }
}
