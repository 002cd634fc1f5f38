//! What goes into a pool (a [`Job`]) and what comes out (a [`Done`], the
//! [`JobEvent`]s on the way, and a batch's [`Summary`]).

use std::time::{Duration, SystemTime};

use crate::command::Command;
use crate::error::Error;
use crate::output::Output;
use crate::status::ExitStatus;

use super::policy::Failure;

/// One unit of work for a [`Pool`](crate::Pool): a command or a pipeline
/// (anything a [`Command`] can be), or with the `duct` feature a
/// `duct::Expression`.
///
/// You rarely name this type: the pool's methods take anything that
/// converts into a `Job`.
///
/// # Examples
///
/// ```
/// use procession::{cmd, Job};
///
/// let job: Job = (cmd!("printf", "a\\nb\\n") | cmd!("wc", "-l")).into();
/// assert_eq!(job.to_string(), r"printf 'a\nb\n' | wc -l");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Job {
    /// A command or pipeline of this crate.
    Command(Command),
    /// A duct expression. It runs through duct's own spawning, so the pool
    /// cannot give it a process group: a per-job timeout, a halt, the
    /// deadline or [`Pool::terminate`](crate::Pool::terminate) kill only
    /// duct's direct children (with `SIGKILL`), not their descendants;
    /// [`JobOutput::Tagged`](crate::JobOutput::Tagged) is treated as
    /// [`Grouped`](crate::JobOutput::Grouped); a capture limit is applied
    /// after the fact (duct holds the whole output in memory first); the
    /// expression is always run `unchecked` and judged by its status (a
    /// non-zero exit is a failure, whatever the expression says); finished
    /// expressions are noticed by a shared watcher thread within a few
    /// milliseconds.
    #[cfg(feature = "duct")]
    Duct(duct::Expression),
}

impl From<Command> for Job {
    fn from(command: Command) -> Job {
        Job::Command(command)
    }
}

impl From<&Command> for Job {
    fn from(command: &Command) -> Job {
        Job::Command(command.clone())
    }
}

#[cfg(feature = "duct")]
impl From<duct::Expression> for Job {
    fn from(expression: duct::Expression) -> Job {
        Job::Duct(expression)
    }
}

#[cfg(feature = "duct")]
impl From<&duct::Expression> for Job {
    fn from(expression: &duct::Expression) -> Job {
        Job::Duct(expression.clone())
    }
}

impl std::fmt::Display for Job {
    /// The command line (secrets redacted), as the job log shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Job::Command(command) => write!(f, "{command}"),
            #[cfg(feature = "duct")]
            Job::Duct(expression) => write!(f, "{expression:?}"),
        }
    }
}

/// Where a remote attempt ran: its id on the remote system (a Slurm job
/// `1242` or step `1242.400`) and the node, once known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunIds {
    pub(crate) remote: Option<String>,
    pub(crate) host: Option<String>,
}

/// A finished job: its result and how it ran.
///
/// Every job a batch starts is reported exactly once, whether it succeeded,
/// failed, could not be started, or was stopped.
///
/// # Examples
///
/// ```
/// use procession::{cmd, Failure, Pool};
///
/// let pool = Pool::new(2);
/// let done: Vec<_> = pool.map([cmd!("true"), cmd!("sh", "-c", "exit 3")]).collect();
/// assert_eq!(done[0].seq(), 1);
/// assert!(done[0].is_success());
/// assert_eq!(done[1].status().and_then(|s| s.code()), Some(3));
/// assert_eq!(done[1].failure(), Some(Failure::Exit(3)));
/// assert_eq!(done[1].attempts(), 1);
/// ```
#[derive(Debug)]
pub struct Done {
    pub(crate) seq: u64,
    pub(crate) slot: usize,
    pub(crate) attempts: u32,
    pub(crate) command: String,
    pub(crate) start_time: SystemTime,
    pub(crate) elapsed: Duration,
    pub(crate) result: Result<Output, Error>,
    pub(crate) failure: Option<Failure>,
    /// Where its last attempt ran, for a remote backend.
    pub(crate) ids: RunIds,
}

impl Done {
    /// The job's sequence number in its batch, from 1 in input order (GNU
    /// parallel's `{#}`; the job sees it as `PROCESSION_SEQ`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let seqs: Vec<u64> = pool.map([procession::cmd!("true"), procession::cmd!("true")]).map(|d| d.seq()).collect();
    /// assert_eq!(seqs, [1, 2]);
    /// ```
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The slot its last attempt ran in, from 1 to the pool's size (GNU
    /// parallel's `{%}`; the job sees it as `PROCESSION_SLOT`). No two
    /// jobs run in the same slot at the same time. 0 if it never started.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let done = pool.map([procession::cmd!("true")]).next().unwrap();
    /// assert_eq!(done.slot(), 1);
    /// ```
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// How many attempts it took (more than 1 after retries).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// assert_eq!(pool.map([procession::cmd!("true")]).next().unwrap().attempts(), 1);
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The command line (secrets redacted).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let done = pool.map([procession::cmd!("echo", "a b")]).next().unwrap();
    /// assert_eq!(done.command(), "echo 'a b'");
    /// ```
    pub fn command(&self) -> &str {
        &self.command
    }

    /// When its last attempt started (wall clock).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let before = std::time::SystemTime::now();
    /// let done = pool.map([procession::cmd!("true")]).next().unwrap();
    /// assert!(done.start_time() >= before);
    /// ```
    pub fn start_time(&self) -> SystemTime {
        self.start_time
    }

    /// How long its last attempt ran, from spawn until it was reaped and its
    /// output read.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let done = pool.map([procession::cmd!("sleep", "0.1")]).next().unwrap();
    /// assert!(done.elapsed() >= std::time::Duration::from_millis(100));
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The result of its last attempt, as a [`Command::run`] would return it.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let done = pool.map([procession::cmd!("echo", "x").stdout_capture()]).next().unwrap();
    /// assert_eq!(done.result().as_ref().unwrap().stdout, b"x\n");
    /// ```
    pub fn result(&self) -> &Result<Output, Error> {
        &self.result
    }

    /// The result by value.
    ///
    /// # Errors
    ///
    /// The job's error: a failing status, a timeout, a spawn error, a stop.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let done = pool.map([procession::cmd!("false")]).next().unwrap();
    /// assert!(matches!(done.into_result(), Err(procession::Error::Exit(_))));
    /// ```
    pub fn into_result(self) -> Result<Output, Error> {
        self.result
    }

    /// The output, also for a job that failed or was stopped (`None` only if
    /// it never ran).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let job = procession::sh("echo why >&2; exit 1").stderr_capture();
    /// let done = pool.map([job]).next().unwrap();
    /// assert_eq!(done.output().unwrap().stderr, b"why\n");
    /// ```
    pub fn output(&self) -> Option<&Output> {
        match &self.result {
            Ok(output) => Some(output),
            Err(e) => e.output(),
        }
    }

    /// The error, if it did not succeed.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let done = pool.map([procession::cmd!("no-such-program-here")]).next().unwrap();
    /// assert!(matches!(done.error(), Some(procession::Error::Spawn(_))));
    /// ```
    pub fn error(&self) -> Option<&Error> {
        self.result.as_ref().err()
    }

    /// How it ended (`None` if it never ran).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let done = pool.map([procession::sh("exit 5")]).next().unwrap();
    /// assert_eq!(done.status().and_then(|s| s.code()), Some(5));
    /// ```
    pub fn status(&self) -> Option<ExitStatus> {
        self.output().map(|o| o.status)
    }

    /// `true` if it succeeded.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// assert!(pool.map([procession::cmd!("true")]).next().unwrap().is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        self.failure.is_none()
    }

    /// How it failed, `None` on success.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// let done = pool.map([procession::cmd!("false")]).next().unwrap();
    /// assert_eq!(done.failure(), Some(procession::Failure::Exit(1)));
    /// ```
    pub fn failure(&self) -> Option<Failure> {
        self.failure
    }

    /// The node its last attempt ran on, for a pool that runs its jobs on
    /// a cluster (see [`PoolBuilder::slurm`](crate::PoolBuilder)); `None`
    /// for a job run on this machine, or one that never reached a node.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// assert_eq!(pool.map([procession::cmd!("true")]).next().unwrap().host(), None);
    /// ```
    pub fn host(&self) -> Option<&str> {
        self.ids.host.as_deref()
    }

    /// The id its last attempt had on the cluster that ran it (a Slurm job
    /// id such as `1242`, or a step id such as `1242.3`); `None` for a job
    /// run on this machine, or one the cluster never gave an id.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(1);
    /// assert_eq!(pool.map([procession::cmd!("true")]).next().unwrap().remote_id(), None);
    /// ```
    pub fn remote_id(&self) -> Option<&str> {
        self.ids.remote.as_deref()
    }
}

/// What [`PoolBuilder::on_event`](crate::PoolBuilder::on_event) hears.
///
/// Events are delivered on the thread that drives the batch (the one
/// iterating over [`map`](crate::Pool::map) or
/// [`as_completed`](crate::Pool::as_completed), or the pool's coordinator
/// thread for submitted jobs).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use procession::{cmd, JobEvent, Pool};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let pool = Pool::builder()
///     .jobs(1)
///     .on_event(move |event| {
///         let line = match event {
///             JobEvent::Started { seq, slot, .. } => format!("#{seq} started in slot {slot}"),
///             JobEvent::Finished(done) => format!("#{} finished", done.seq()),
///             _ => return,
///         };
///         log.lock().unwrap().push(line);
///     })
///     .build();
/// pool.as_completed([cmd!("true")]).finish();
/// assert_eq!(*seen.lock().unwrap(), ["#1 started in slot 1", "#1 finished"]);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum JobEvent<'a> {
    /// An attempt started.
    Started {
        /// The job's sequence number.
        seq: u64,
        /// Its slot.
        slot: usize,
        /// Which attempt this is, from 1.
        attempt: u32,
        /// The process ids of its stages (empty where the backend does not
        /// know them).
        pids: &'a [u32],
        /// The command line.
        command: &'a str,
    },
    /// A job finished for good (after its retries).
    Finished(&'a Done),
}

/// Why a batch stopped starting jobs. See [`Summary::halted`].
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use procession::{cmd, HaltReason, Pool};
///
/// let pool = Pool::builder().deadline(Instant::now() + Duration::from_millis(100)).build();
/// let summary = pool.as_completed([cmd!("sleep", "10")]).finish();
/// assert_eq!(summary.halted, Some(HaltReason::Deadline));
/// assert_eq!(summary.stopped, 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum HaltReason {
    /// A [`Halt::Soon`](crate::Halt::Soon) policy fired.
    Soon,
    /// A [`Halt::Now`](crate::Halt::Now) policy fired: running jobs were
    /// stopped.
    Now,
    /// The pool's deadline passed.
    Deadline,
    /// [`Pool::terminate`](crate::Pool::terminate) was called.
    Terminated,
    /// Writing the jobs' [grouped](crate::JobOutput::Grouped) or
    /// [tagged](crate::JobOutput::Tagged) output to this process's stdout
    /// or stderr failed (the reader of a pipe exited, as `head` does): as
    /// with [`Now`](HaltReason::Now), no job starts and running jobs are
    /// stopped, since their output would have nowhere to go. The output
    /// stays closed for the rest of the process: a later batch with grouped
    /// or tagged output halts before it starts a job.
    OutputClosed,
}

/// Counts for one batch, so far or (once the batch is over) in all.
///
/// # Examples
///
/// ```
/// use procession::{cmd, Halt, Pool, Threshold};
///
/// let pool = Pool::builder().jobs(1).halt(Halt::Soon(Threshold::Failures(1))).build();
/// let jobs = vec![cmd!("true"), cmd!("false"), cmd!("true"), cmd!("true")];
/// let summary = pool.as_completed(jobs).finish();
/// assert_eq!((summary.succeeded, summary.failed, summary.skipped), (1, 1, 2));
/// assert!(summary.halted.is_some());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Jobs reported (succeeded + failed + stopped).
    pub finished: u64,
    /// Jobs that succeeded.
    pub succeeded: u64,
    /// Jobs that failed after their retries (spawn errors and timeouts
    /// included, stopped jobs not).
    pub failed: u64,
    /// Jobs the pool stopped (halt "now", the deadline, terminate).
    pub stopped: u64,
    /// Jobs never started because of a halt, the deadline or terminate:
    /// the rest of the input when its iterator knows its exact length
    /// (`size_hint`), otherwise only the jobs the pool already held (a
    /// submitted job, a retry waiting for its delay).
    pub skipped: u64,
    /// Attempts beyond the first, in all.
    pub retries: u64,
    /// Why the batch stopped starting jobs early, if it did.
    pub halted: Option<HaltReason>,
    /// Lines of the job log (one per attempt) that could not be written:
    /// 0 unless the pool has a job log and writing it failed (see
    /// [`Pool::joblog_error`](crate::Pool::joblog_error) for why).
    pub joblog_lost: u64,
}
