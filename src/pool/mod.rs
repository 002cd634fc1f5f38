//! Running many commands, N at a time: the pool.
//!
//! Layout, from the public surface down:
//! - `mod.rs`: the public [`Pool`] and its builder; `config.rs` the
//!   settings it fixes.
//! - `iter.rs`: the iterators of [`map`](Pool::map) and
//!   [`as_completed`](Pool::as_completed); `submit.rs`: single jobs, their
//!   handles, their queue and its coordinator thread.
//! - `batch.rs`: the driver of one batch (the scheduling core), with
//!   `input.rs` (where its jobs come from), `inbox.rs` (its attempts' starts
//!   and ends, in order), `window.rs` (its outbox and the order window) and
//!   `report.rs` (events, job log, counts, bar, halt rule).
//! - `dispatch.rs`: what the pool's threads share, and the refill of freed
//!   slots; `spawner.rs`: the shared spawning threads.
//! - `backend.rs`: the one narrow interface to whatever runs an attempt
//!   (start it, learn it ended, stop it); `local.rs`: the backend that runs
//!   jobs on this machine; `duct.rs`: duct expressions as jobs; `fake.rs`
//!   (tests only) a backend that runs nothing, and `contract.rs` the
//!   suite every backend passes; `slurm/` (feature `slurm`) the backend
//!   that runs each attempt through `srun` on a Slurm cluster, and
//!   `srun.rs` the rules that read srun's own lines.
//! - `job.rs`: jobs and their reports; `policy.rs`: the retry and halt
//!   rules as pure functions; `output.rs`, `joblog.rs` and `progress.rs`:
//!   the outputs.
//!
//! Why this file is long: most of it is the public API's documentation and
//! examples (the pool, its builder), which belong with the items.

mod backend;
mod batch;
mod config;
#[cfg(test)]
mod contract;
mod dispatch;
#[cfg(feature = "duct")]
mod duct;
#[cfg(test)]
mod fake;
mod inbox;
mod input;
mod iter;
mod job;
mod joblog;
mod local;
mod output;
mod policy;
mod progress;
mod report;
#[cfg(feature = "slurm")]
mod slurm;
pub(crate) mod spawner;
#[cfg(any(test, feature = "slurm"))]
mod srun;
mod submit;
mod window;

use crate::error::Error;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use iter::{Completed, Ordered};
pub use job::{Done, HaltReason, Job, JobEvent, Summary};
pub use output::JobOutput;
pub use policy::{Failure, Halt, ParseHaltError, Retry, StopCause, Threshold};
#[cfg(feature = "slurm")]
pub use slurm::Slurm;
pub use submit::JobHandle;

pub(crate) use batch::Batch;
pub(crate) use input::IterInput;
pub(crate) use output::{Spool, copy_captured};
pub(crate) use progress::suspend as suspend_bars;

use backend::{Backend, StopHow};
use config::Config;
use dispatch::Inner;
use joblog::JobLog;
use local::Local;
use submit::Submitter;

/// Runs external programs N at a time, like Python's
/// `multiprocessing.Pool` or GNU parallel, for commands and pipelines.
///
/// ```
/// use procession::{cmd, Pool};
///
/// let pool = Pool::new(4);
/// // Results in input order (an iterator: `collect` it for a Vec):
/// let words: Vec<String> = pool
///     .map(["a", "b", "c"].iter().map(|w| cmd!("echo", w).stdout_capture()))
///     .map(|done| done.output().unwrap().stdout_lossy())
///     .collect();
/// assert_eq!(words, ["a\n", "b\n", "c\n"]);
///
/// // Results as they finish, with how each ran:
/// for done in pool.as_completed((1..=3).map(|i| cmd!("sh", "-c", format!("exit {}", i % 2)))) {
///     println!("#{} {:?} in {:?}", done.seq(), done.status(), done.elapsed());
/// }
///
/// // One job, like `apply_async`:
/// let job = pool.submit(cmd!("true"));
/// assert!(job.wait().is_ok());
/// ```
///
/// # Jobs and batches
///
/// A job is a [`Command`](crate::Command) (a program or a pipeline), or with
/// the `duct` feature a `duct::Expression` (see [`Job`]'s `Duct` variant for
/// its limits). Each call of [`map`](Pool::map) or
/// [`as_completed`](Pool::as_completed) is a **batch**: its jobs are numbered
/// from 1 in input order, pulled from your iterator lazily as slots free up
/// (at most four per slot ahead, sixteen in all, so a million jobs run in
/// constant memory), started
/// while you iterate, and reported exactly once each, whatever happened to
/// them. Between two calls of `next`, running jobs go on and the few
/// prepared ones start as slots free up, but nothing more is pulled: keep
/// the loop body short, or `collect`. Jobs given to
/// [`submit`](Pool::submit) form one more batch, run by a coordinator
/// thread. All batches share the pool's slots: at most `jobs` run at once
/// in the whole pool, and each runs in a slot numbered from 1.
///
/// Each job's process sees `PROCESSION_SEQ` and `PROCESSION_SLOT` in its
/// environment (GNU parallel's `{#}` and `{%}`; see
/// [`job_env`](PoolBuilder::job_env)), reads stdin from
/// `/dev/null` unless its command says otherwise, and runs in its own
/// process group, so a timeout or a stop reaches its whole tree.
///
/// # Life cycle
///
/// [`close`](Pool::close) refuses further [`submit`](Pool::submit)s;
/// [`join`](Pool::join) waits for the submitted jobs;
/// [`terminate`](Pool::terminate) stops every running job (with its stop
/// sequence), waits until they are reaped and starts nothing more. Dropping
/// the pool kills (`SIGKILL`) and reaps every running job's tree.
///
/// # Threads
///
/// Running jobs cost no thread: the crate's one background thread watches
/// every job's pipes and exit. A batch is driven by the thread that
/// iterates over it (the coordinator thread, for submitted jobs), which
/// keeps a few jobs prepared ahead; the spawns themselves run on a few
/// spawning threads shared by every pool (one per core, at most four),
/// because `posix_spawn` returns only once the child has called `exec`, and
/// one thread could keep only one `exec` in flight. A spawning thread with
/// nothing to spawn watches the job it just started itself, like a plain
/// spawn-and-wait loop, and hands it to the background thread as soon as
/// another spawn is waiting: short jobs then pass between no threads at all.
/// A pool of 256 running jobs with captured output runs in four or five
/// threads in all.
///
/// While jobs end faster than one a millisecond, a batch's thread is not
/// woken for each: it takes the ends that came in the last millisecond at
/// once (a failure still wakes it at once). A result can so reach you up to
/// 1 ms after its job ended; [`Done::elapsed`] is exact.
///
/// A job that fails under a [`Halt`] policy pauses its batch's starts until
/// the driver has judged it, so a halt never starts one job too many.
pub struct Pool {
    inner: Arc<Inner>,
    submitter: Arc<Submitter>,
}

impl Pool {
    /// A pool running at most `jobs` jobs at once (0 counts as 1), with
    /// the default settings (see [`PoolBuilder`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::new(4);
    /// assert_eq!(pool.jobs(), 4);
    /// ```
    pub fn new(jobs: usize) -> Pool {
        Pool::builder().jobs(jobs).build()
    }

    /// A builder for a pool with more settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::{Halt, JobOutput, Pool, Retry, Threshold};
    ///
    /// let pool = Pool::builder()
    ///     .jobs(8)
    ///     .timeout(Duration::from_secs(60))
    ///     .retry(Retry::attempts(2))
    ///     .halt(Halt::Soon(Threshold::Failures(3)))
    ///     .output(JobOutput::Grouped)
    ///     .build();
    /// assert_eq!(pool.jobs(), 8);
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// How many jobs run at most at once.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(procession::Pool::new(3).jobs(), 3);
    /// ```
    pub fn jobs(&self) -> usize {
        self.inner.config.jobs
    }

    /// Runs `jobs` and returns their reports **in input order**, as an
    /// iterator (see [`Ordered`] for its memory bound).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(3);
    /// let jobs = [0.2, 0.0, 0.1].map(|s| cmd!("sleep", s.to_string()));
    /// let order: Vec<u64> = pool.map(jobs).map(|d| d.seq()).collect();
    /// assert_eq!(order, [1, 2, 3]);
    /// ```
    pub fn map<I>(&self, jobs: I) -> Ordered<'_, I::IntoIter>
    where
        I: IntoIterator,
        I::Item: Into<Job>,
    {
        Ordered::new(Batch::new(&self.inner, IterInput(jobs.into_iter()), true))
    }

    /// Runs `jobs` and returns their reports **as they finish**.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(2);
    /// let jobs = [cmd!("sleep", "0.3"), cmd!("true")];
    /// let order: Vec<u64> = pool.as_completed(jobs).map(|d| d.seq()).collect();
    /// assert_eq!(order, [2, 1]);
    /// ```
    pub fn as_completed<I>(&self, jobs: I) -> Completed<'_, I::IntoIter>
    where
        I: IntoIterator,
        I::Item: Into<Job>,
    {
        Completed::new(Batch::new(&self.inner, IterInput(jobs.into_iter()), false))
    }

    /// Queues one job and returns a handle to wait for it. It starts as soon
    /// as a slot is free, whether or not anyone waits. After
    /// [`close`](Pool::close), [`terminate`](Pool::terminate) or a halt of
    /// the submitted jobs, the handle reports the job as
    /// [`Failure::Skipped`] at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    /// # fn main() -> Result<(), procession::Error> {
    /// let pool = Pool::new(2);
    /// let job = pool.submit(cmd!("sh", "-c", "echo rendered").stdout_capture());
    /// assert_eq!(job.wait()?.stdout_lossy(), "rendered\n");
    /// # Ok(()) }
    /// ```
    pub fn submit(&self, job: impl Into<Job>) -> JobHandle {
        self.submitter.submit(job.into())
    }

    /// Refuses further [`submit`](Pool::submit)s; jobs already submitted
    /// still run. Batches ([`map`](Pool::map),
    /// [`as_completed`](Pool::as_completed)) are not affected.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Failure, Pool};
    ///
    /// let pool = Pool::new(1);
    /// let before = pool.submit(cmd!("true"));
    /// pool.close();
    /// let after = pool.submit(cmd!("true"));
    /// assert!(before.wait().is_ok());
    /// assert_eq!(after.done().failure(), Some(Failure::Skipped));
    /// ```
    pub fn close(&self) {
        self.submitter.close();
    }

    /// Waits until every job submitted so far is reported, and returns the
    /// counts of the submitted jobs. Usually called after
    /// [`close`](Pool::close) (as in Python); without it, jobs submitted
    /// meanwhile by other threads are waited for too.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(4);
    /// for i in 0..5 {
    ///     pool.submit(cmd!("sh", "-c", format!("exit {}", i % 2)));
    /// }
    /// pool.close();
    /// let summary = pool.join();
    /// assert_eq!((summary.succeeded, summary.failed), (3, 2));
    /// ```
    pub fn join(&self) -> Summary {
        self.submitter.join()
    }

    /// Stops every running job of every batch with its stop sequence
    /// (`SIGTERM`, a grace period, `SIGKILL`, to the whole tree), waits until
    /// they are reaped, and starts nothing more: running batches end (their
    /// stopped jobs are reported with [`StopCause::Terminate`]), new ones run
    /// nothing, queued submitted jobs are reported as skipped.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Failure, Pool, StopCause};
    ///
    /// let pool = Pool::new(1);
    /// let job = pool.submit(cmd!("sleep", "10"));
    /// let queued = pool.submit(cmd!("sleep", "10"));
    /// pool.terminate();
    /// // The first job was stopped, or terminate came before it started:
    /// assert!(matches!(
    ///     job.done().failure(),
    ///     Some(Failure::Stopped(StopCause::Terminate) | Failure::Skipped)
    /// ));
    /// assert_eq!(queued.done().failure(), Some(Failure::Skipped));
    /// ```
    pub fn terminate(&self) {
        self.stop_all(StopHow::Cancel);
    }

    /// A batch for the async streams: it holds the pool's shared state, so
    /// it is `'static`.
    pub(crate) fn batch<I>(&self, jobs: I, ordered: bool) -> Batch<'static, IterInput<I>>
    where
        I: Iterator,
        I::Item: Into<Job>,
    {
        Batch::new(&self.inner, IterInput(jobs), ordered)
    }

    /// For [`join_async`](Pool::join_async).
    pub(crate) fn poll_join(&self, waker: &std::task::Waker) -> std::task::Poll<Summary> {
        self.submitter.poll_join(waker)
    }

    /// For [`terminate_async`](Pool::terminate_async): posts the stop at the
    /// first call (`*posted` false), then is ready once the jobs are reaped
    /// and the coordinator has ended.
    pub(crate) fn poll_terminate(
        &self,
        posted: &mut bool,
        waker: &std::task::Waker,
    ) -> std::task::Poll<()> {
        if !*posted {
            *posted = true;
            self.inner.terminate(StopHow::Cancel);
        }
        if self.inner.poll_idle(waker).is_pending() {
            return std::task::Poll::Pending;
        }
        self.submitter.poll_join_coordinator(waker)
    }

    fn stop_all(&self, how: StopHow) {
        self.inner.terminate(how);
        self.inner.wait_idle();
        self.submitter.join_coordinator();
    }
}

impl Pool {
    /// Why the job log could not be written, if it could not: its first
    /// failed write (the header's or a line's), as an [`Error::Io`]. After
    /// it, no more lines are written; each batch's
    /// [`Summary::joblog_lost`] counts them. `None` without a job log or
    /// while every write succeeded.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    /// # fn main() -> std::io::Result<()> {
    /// // A device that is always full.
    /// let full = std::fs::OpenOptions::new().write(true).open("/dev/full")?;
    /// let pool = Pool::builder().joblog(full).build();
    /// let summary = pool.as_completed([cmd!("true")]).finish();
    /// assert_eq!((summary.succeeded, summary.joblog_lost), (1, 1));
    /// let error = pool.joblog_error().expect("the log failed");
    /// assert!(error.to_string().contains("cannot write the job log"));
    /// # Ok(()) }
    /// ```
    pub fn joblog_error(&self) -> Option<Error> {
        self.inner.config.joblog.as_ref()?.error()
    }

    /// Runs `f` with every progress bar of this process hidden, then draws
    /// them again: print your own lines to the terminal inside it, and they
    /// stay above the bars instead of leaving stale copies of them behind
    /// (see `PoolBuilder::progress`, feature `progress`). Without a bar on the screen (or
    /// without the `progress` feature), it just runs `f`.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::new(2);
    /// for done in pool.as_completed([cmd!("true"), cmd!("false")]) {
    ///     if !done.is_success() {
    ///         pool.suspend(|| println!("job #{} failed", done.seq()));
    ///     }
    /// }
    /// ```
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        progress::suspend(f)
    }
}

impl Default for Pool {
    /// A pool of as many jobs as this machine has cores.
    fn default() -> Pool {
        Pool::builder().build()
    }
}

impl Drop for Pool {
    /// Kills (`SIGKILL`) every running job's tree and waits until they are
    /// reaped.
    fn drop(&mut self) {
        self.stop_all(StopHow::Kill);
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("jobs", &self.jobs()).finish()
    }
}

/// Settings for a [`Pool`]. Every one has a default: as many jobs as cores,
/// no timeout, no deadline, no retries, keep going on failures, output as
/// each command says, no events, no job log.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use procession::{cmd, JobEvent, Pool};
///
/// let started = Arc::new(AtomicUsize::new(0));
/// let counter = started.clone();
/// let pool = Pool::builder()
///     .jobs(2)
///     .on_event(move |event| {
///         if let JobEvent::Started { .. } = event {
///             counter.fetch_add(1, Ordering::Relaxed);
///         }
///     })
///     .build();
/// pool.as_completed([cmd!("true"), cmd!("true")]).finish();
/// assert_eq!(started.load(Ordering::Relaxed), 2);
/// ```
#[must_use = "builder methods return a changed copy: build() makes the pool"]
pub struct PoolBuilder {
    jobs: Option<usize>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    halt: Halt,
    retry: Retry,
    output: JobOutput,
    on_event: Option<config::OnEvent>,
    joblog: Option<Box<dyn Write + Send>>,
    window: Option<usize>,
    progress: bool,
    progress_interval: Duration,
    job_env: bool,
    #[cfg(feature = "slurm")]
    slurm: Option<Slurm>,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            jobs: None,
            timeout: None,
            deadline: None,
            halt: Halt::Never,
            retry: Retry::default(),
            output: JobOutput::AsCommand,
            on_event: None,
            joblog: None,
            window: None,
            progress: false,
            progress_interval: progress::DEFAULT_INTERVAL,
            job_env: true,
            #[cfg(feature = "slurm")]
            slurm: None,
        }
    }
}

impl PoolBuilder {
    /// At most `jobs` jobs at once (0 counts as 1). Default: the number of
    /// cores.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(procession::Pool::builder().jobs(6).build().jobs(), 6);
    /// ```
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = Some(jobs.max(1));
        self
    }

    /// Stops each attempt that runs longer than `timeout` (its whole tree,
    /// with the command's stop sequence); it fails with
    /// [`Failure::Timeout`]. A command's own shorter timeout still applies.
    /// Time spent stopped by job control (Ctrl-Z with
    /// [`forward_signals`](crate::forward_signals)) does not count. A
    /// timeout too long to add to the current time (`Duration::MAX`) is no
    /// limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::{cmd, Failure, Pool};
    ///
    /// let pool = Pool::builder().timeout(Duration::from_millis(50)).build();
    /// let done: Vec<_> = pool.map([cmd!("sleep", "10")]).collect();
    /// assert_eq!(done[0].failure(), Some(Failure::Timeout));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// An overall deadline: no job starts after it, and jobs still running
    /// then are stopped with their stop sequence (reported with
    /// [`StopCause::Deadline`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use procession::{cmd, Failure, Pool, StopCause};
    ///
    /// let pool = Pool::builder().jobs(1).deadline(Instant::now() + Duration::from_millis(100)).build();
    /// let done: Vec<_> = pool.map([cmd!("sleep", "10"), cmd!("true")]).collect();
    /// assert_eq!(done.len(), 1); // the second job never started
    /// assert_eq!(done[0].failure(), Some(Failure::Stopped(StopCause::Deadline)));
    /// ```
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// When to give up after failures (see [`Halt`]). Default: never.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Halt, Pool};
    ///
    /// let pool = Pool::builder().jobs(1).halt("soon,fail=1".parse().unwrap()).build();
    /// let summary = pool.as_completed([cmd!("false"), cmd!("true")]).finish();
    /// assert_eq!((summary.failed, summary.skipped), (1, 1));
    /// ```
    pub fn halt(mut self, halt: Halt) -> Self {
        self.halt = halt;
        self
    }

    /// When to retry failed jobs (see [`Retry`]). Default: never.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool, Retry};
    ///
    /// let pool = Pool::builder().retry(Retry::attempts(2)).build();
    /// let summary = pool.as_completed([cmd!("false")]).finish();
    /// assert_eq!((summary.failed, summary.retries), (1, 1));
    /// ```
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Where jobs' stdout and stderr go (see [`JobOutput`]). Default: as
    /// each command says.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, JobOutput, Pool};
    ///
    /// let dir = std::env::temp_dir().join(format!("pool-output-doc-{}", std::process::id()));
    /// let pool = Pool::builder().output(JobOutput::Files(dir.clone())).build();
    /// pool.as_completed([cmd!("echo", "saved")]).finish();
    /// assert_eq!(std::fs::read_to_string(dir.join("1/stdout")).unwrap(), "saved\n");
    /// # std::fs::remove_dir_all(dir).unwrap();
    /// ```
    pub fn output(mut self, output: JobOutput) -> Self {
        self.output = output;
        self
    }

    /// Calls `on_event` when an attempt starts and when a job is finished
    /// (see [`JobEvent`]), on the thread driving the batch. A callback that
    /// panics does not stop the pool: the panic is caught and becomes the
    /// job's error (an [`Error::Panicked`](crate::Error::Panicked), whose
    /// [`Failure`] is [`Failure::Other`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Failure, JobEvent, Pool};
    ///
    /// let pool = Pool::builder()
    ///     .on_event(|event| {
    ///         if let JobEvent::Finished(_) = event {
    ///             panic!("a bug in the callback");
    ///         }
    ///     })
    ///     .build();
    /// let done: Vec<_> = pool.map([cmd!("true")]).collect();
    /// assert_eq!(done[0].failure(), Some(Failure::Other));
    /// ```
    pub fn on_event(mut self, on_event: impl Fn(&JobEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(on_event));
        self
    }

    /// Writes a job log in GNU parallel's `--joblog` format (as of GNU
    /// parallel 20221122) to `out`: a header when the pool is built, then
    /// one line per attempt (a retried job has a line for each), flushed
    /// at once.
    ///
    /// Columns: `Seq Host Starttime JobRuntime Send Receive Exitval Signal
    /// Command`, tab-separated; `Host` is `:`, `Send` and `Receive` 0, times
    /// in seconds with three decimals. A job killed by signal N logs
    /// `Exitval` 128+N and `Signal` N (`139 11` for a `SIGSEGV`), as a shell
    /// reports it; a job that could not start logs 127 (not found) or 126,
    /// and a failure without a failing status logs -1.
    ///
    /// A failing writer never fails a job, and is not ignored either: the
    /// first failed write ends the log (it holds whole lines up to there),
    /// each batch's [`Summary::joblog_lost`] counts the lines not written,
    /// and [`Pool::joblog_error`] returns the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    /// # fn main() -> std::io::Result<()> {
    /// let path = std::env::temp_dir().join(format!("joblog-doc-{}", std::process::id()));
    /// let pool = Pool::builder().joblog(std::fs::File::create(&path)?).build();
    /// pool.as_completed([cmd!("sh", "-c", "exit 2")]).finish();
    /// let log = std::fs::read_to_string(&path)?;
    /// let row: Vec<&str> = log.lines().nth(1).unwrap().split('\t').collect();
    /// assert_eq!((row[0], row[1], row[6], row[7]), ("1", ":", "2", "0"));
    /// assert_eq!(row[8], "sh -c 'exit 2'");
    /// # std::fs::remove_file(&path) }
    /// ```
    pub fn joblog(mut self, out: impl Write + Send + 'static) -> Self {
        self.joblog = Some(Box::new(out));
        self
    }

    /// For [`map`](Pool::map): the most jobs that may be started beyond the
    /// oldest one not yet handed out, which bounds how many finished jobs
    /// wait for their turn (each holds its captured output: for
    /// [`JobOutput::Grouped`], up to 64 KiB per stream in memory and a
    /// temporary file for the rest). Default: 4 times the
    /// number of jobs, at least 16.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool};
    ///
    /// let pool = Pool::builder().jobs(4).reorder_window(8).build();
    /// assert_eq!(pool.map((0..20).map(|_| cmd!("true"))).finish().succeeded, 20);
    /// ```
    pub fn reorder_window(mut self, window: usize) -> Self {
        self.window = Some(window.max(1));
        self
    }

    /// Reports each batch's progress (jobs finished, failures, elapsed
    /// time, ETA) on stderr.
    ///
    /// When stderr is a terminal, a bar is drawn as soon as a batch starts
    /// (jobs given to [`submit`](Pool::submit) show a spinner until
    /// [`close`](Pool::close) tells their total, then a bar); when the batch
    /// ends, its last state stays as a line. Everything the pool writes to
    /// the terminal is written above the bar, and so is the output of jobs
    /// under [`JobOutput::AsCommand`] that would go to the terminal (see
    /// there for the trade-off); write your own lines through
    /// [`Pool::suspend`].
    ///
    /// When stderr is not a terminal (a CI log, `nohup`), a plain line is
    /// written instead every few seconds (see
    /// [`progress_interval`](PoolBuilder::progress_interval)) and when the
    /// batch ends:
    ///
    /// ```text
    /// progress: 12/40 jobs, 1 failed, 30s elapsed, ETA 1m10s
    /// ```
    ///
    /// Lines and bar are updated while the batch is driven: while you
    /// iterate over [`map`](Pool::map) or
    /// [`as_completed`](Pool::as_completed), and all along for submitted
    /// jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// // A progress line on stderr when the batch ends.
    /// let pool = procession::Pool::builder().progress(true).build();
    /// pool.as_completed([procession::cmd!("true")]).finish();
    /// ```
    #[cfg(feature = "progress")]
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// How often a plain progress line is written when stderr is not a
    /// terminal (see [`progress`](PoolBuilder::progress)). Default: 5
    /// seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = procession::Pool::builder()
    ///     .progress(true)
    ///     .progress_interval(Duration::from_secs(30))
    ///     .build();
    /// # drop(pool);
    /// ```
    #[cfg(feature = "progress")]
    pub fn progress_interval(mut self, interval: Duration) -> Self {
        self.progress_interval = interval;
        self
    }

    /// Whether each job gets `PROCESSION_SEQ` and `PROCESSION_SLOT` in its
    /// environment (default: yes).
    ///
    /// Setting a child's environment is not free: std then builds the
    /// child's whole environment afresh for every spawn (about a third of a
    /// microsecond per variable of this process's environment, so 10 to
    /// 40 µs with 30 to 100 variables), where an unchanged environment is
    /// passed as it is. That is nothing next to a real job, and 5% of the
    /// time of a batch of `/bin/true`s: turn it off for batches of tiny jobs
    /// that do not read the variables.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, JobOutput, Keep, Pool};
    ///
    /// let capture = JobOutput::Capture { limit: None, keep: Keep::Head };
    /// let pool = Pool::builder().job_env(false).output(capture).build();
    /// let done = pool.submit(cmd!("sh", "-c", "echo \"${PROCESSION_SEQ:-unset}\""));
    /// assert_eq!(done.wait().unwrap().stdout, b"unset\n");
    /// ```
    pub fn job_env(mut self, on: bool) -> Self {
        self.job_env = on;
        self
    }

    /// The pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = procession::Pool::builder().build();
    /// assert!(pool.jobs() >= 1);
    /// ```
    pub fn build(self) -> Pool {
        #[cfg(feature = "slurm")]
        if let Some(slurm) = self.slurm.clone() {
            let jobs = self.jobs.or_else(|| slurm.default_jobs());
            return PoolBuilder { jobs, ..self }
                .build_with(Box::new(slurm::SlurmBackend::new(slurm)));
        }
        self.build_with(Box::new(Local))
    }

    /// Runs the pool's jobs on a Slurm cluster, each attempt through
    /// `srun` (feature `slurm`): see [`Slurm`] for where and how, and the
    /// README's "Running on a cluster" for what differs from running here.
    /// Inside an allocation the pool's size defaults to the allocation's
    /// number of tasks.
    ///
    /// A job must be a single program reading no stdin; a pipeline, a
    /// stdin, a stderr file path or a duct expression is a
    /// [`Failure::Spawn`] naming the cause. Tagged output is written line
    /// by line as the jobs' lines come back through srun, as for local
    /// jobs, without srun's own lines.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use procession::{cmd, Pool, Slurm};
    ///
    /// let pool = Pool::builder().slurm(Slurm::auto()).jobs(8).build();
    /// let done: Vec<_> = pool.map((0..8).map(|i| cmd!("hostname").stdout_capture())).collect();
    /// ```
    #[cfg(feature = "slurm")]
    pub fn slurm(mut self, slurm: Slurm) -> Self {
        self.slurm = Some(slurm);
        self
    }

    /// The pool, running its jobs through `backend`.
    fn build_with(self, backend: Box<dyn Backend>) -> Pool {
        let jobs = self.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let config = Config {
            jobs,
            timeout: self.timeout,
            deadline: self.deadline,
            halt: self.halt,
            retry: self.retry,
            output: self.output,
            on_event: self.on_event,
            joblog: self.joblog.map(JobLog::new),
            window: self.window.unwrap_or(jobs.saturating_mul(4).max(16)),
            progress: self.progress,
            progress_interval: self.progress_interval,
            job_env: self.job_env,
        };
        let inner = Arc::new(Inner::new(config, backend));
        // A forwarded Ctrl-C stops the pool's jobs and waits for its
        // batches to report them.
        let settle: std::sync::Weak<Inner> = Arc::downgrade(&inner);
        crate::signals::register_settle(settle as std::sync::Weak<dyn crate::signals::Settle>);
        let submitter = Arc::new(Submitter::new(inner.clone()));
        Pool { inner, submitter }
    }
}

impl std::fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("jobs", &self.jobs)
            .field("timeout", &self.timeout)
            .field("halt", &self.halt)
            .field("retry", &self.retry)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}
