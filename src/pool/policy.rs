//! The pool's rules as small pure functions: how a finished job is
//! classified, whether a failed attempt is retried, and when a batch halts.
//!
//! Nothing here touches a process; the driver (`batch.rs`) feeds these
//! functions what it saw and acts on their answers, so every rule is tested
//! by a table below.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;
use crate::output::Output;

/// How a job that did not succeed failed. See [`Done::failure`](crate::Done::failure).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use procession::{cmd, Failure, Pool};
///
/// let pool = Pool::builder().timeout(Duration::from_millis(100)).build();
/// let jobs = [
///     cmd!("sh", "-c", "exit 2"),
///     cmd!("sh", "-c", "kill -9 $$"),
///     cmd!("sleep", "10"),
///     cmd!("no-such-program-here"),
/// ];
/// let failures: Vec<_> = pool.map(jobs).map(|d| d.failure()).collect();
/// assert_eq!(
///     failures,
///     [Some(Failure::Exit(2)), Some(Failure::Signal(9)), Some(Failure::Timeout), Some(Failure::Spawn)]
/// );
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Failure {
    /// It exited with this non-zero code (one its command does not accept).
    Exit(i32),
    /// A signal killed it (a crash, or a kill from outside the pool).
    Signal(i32),
    /// It ran past its timeout (the pool's per-job timeout or the
    /// command's own) and was stopped.
    Timeout,
    /// It could not be started: missing program, bad working directory,
    /// invalid command, unopenable redirection.
    Spawn,
    /// The pool stopped it (see [`StopCause`]).
    Stopped(StopCause),
    /// A [`CancelToken`](crate::CancelToken) of the command's own stopped it.
    Cancelled,
    /// It never started: it was submitted to a pool that was closed,
    /// terminated, past its deadline or halted.
    Skipped,
    /// Anything else: an I/O error of the pool or the engine, or an event
    /// callback that panicked on this job.
    Other,
}

/// Why the pool stopped a running job.
///
/// # Examples
///
/// ```
/// use procession::{cmd, Failure, Halt, Pool, StopCause, Threshold};
///
/// let pool = Pool::builder().jobs(2).halt(Halt::Now(Threshold::Failures(1))).build();
/// let done: Vec<_> = pool.map([cmd!("sleep", "10"), cmd!("false")]).collect();
/// assert_eq!(done[0].failure(), Some(Failure::Stopped(StopCause::Halt)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum StopCause {
    /// A "now" [`Halt`] policy fired.
    Halt,
    /// The pool's overall deadline passed.
    Deadline,
    /// [`Pool::terminate`](crate::Pool::terminate) was called.
    Terminate,
}

impl StopCause {
    /// Who stopped the job, for its error message: "was stopped by ...".
    pub(crate) fn who(self) -> &'static str {
        match self {
            StopCause::Halt => "the pool's halt policy",
            StopCause::Deadline => "the pool's deadline",
            StopCause::Terminate => "Pool::terminate",
        }
    }
}

/// Classifies the result of one attempt. `stopped` is set when the pool
/// itself stopped the job; `None` is a success.
pub(crate) fn classify(
    result: &Result<Output, Error>,
    stopped: Option<StopCause>,
) -> Option<Failure> {
    let error = result.as_ref().err()?;
    if let Some(cause) = stopped {
        return Some(Failure::Stopped(cause));
    }
    Some(match error {
        Error::Exit(e) => match (e.status().code(), e.status().signal()) {
            (Some(code), _) => Failure::Exit(code),
            (None, Some(signal)) => Failure::Signal(signal),
            (None, None) => Failure::Other,
        },
        Error::Timeout(_) => Failure::Timeout,
        Error::Cancelled(_) => Failure::Cancelled,
        Error::Spawn(_) | Error::InvalidInput(_) => Failure::Spawn,
        Error::Skipped(_) => Failure::Skipped,
        _ => Failure::Other,
    })
}

/// When to retry a failed job. The default makes one attempt (no retries).
///
/// Only the failures you select are retried: an exit with a non-zero code,
/// a death by signal, a timeout (all three by default). A job that could not
/// be started, or that the pool stopped, is never retried. The job keeps its
/// sequence number; only the last attempt is reported.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use procession::{cmd, Pool, Retry};
///
/// let pool = Pool::builder()
///     .jobs(2)
///     .retry(Retry::attempts(3).delay(Duration::from_millis(10)).on_timeout(false))
///     .build();
/// let done: Vec<_> = pool.as_completed([cmd!("false")]).collect();
/// assert_eq!(done[0].attempts(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "builder methods return a changed copy"]
pub struct Retry {
    attempts: u32,
    delay: Duration,
    on_exit: bool,
    on_signal: bool,
    on_timeout: bool,
}

impl Default for Retry {
    fn default() -> Self {
        Retry::attempts(1)
    }
}

impl Retry {
    /// At most `attempts` attempts in all (`1`, or `0`, means no retry).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(procession::Retry::attempts(0).max_attempts(), 1);
    /// assert_eq!(procession::Retry::attempts(4).max_attempts(), 4);
    /// ```
    pub fn attempts(attempts: u32) -> Retry {
        Retry {
            attempts: attempts.max(1),
            delay: Duration::ZERO,
            on_exit: true,
            on_signal: true,
            on_timeout: true,
        }
    }

    /// Waits `delay` before each new attempt (the job holds no slot
    /// meanwhile). A delay too long to add to the current time
    /// (`Duration::MAX`) has no limit: the retry waits until the batch
    /// stops (halt, deadline, terminate), which reports the last attempt.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let retry = procession::Retry::attempts(3).delay(Duration::from_millis(500));
    /// assert_eq!(retry.max_attempts(), 3);
    /// ```
    pub fn delay(mut self, delay: Duration) -> Retry {
        self.delay = delay;
        self
    }

    /// Whether a non-zero exit code is retried (default `true`).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool, Retry};
    ///
    /// let pool = Pool::builder().retry(Retry::attempts(3).on_exit(false)).build();
    /// let done: Vec<_> = pool.map([cmd!("false")]).collect();
    /// assert_eq!(done[0].attempts(), 1);
    /// ```
    pub fn on_exit(mut self, yes: bool) -> Retry {
        self.on_exit = yes;
        self
    }

    /// Whether a death by signal is retried (default `true`).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Pool, Retry};
    ///
    /// let pool = Pool::builder().retry(Retry::attempts(3).on_signal(false)).build();
    /// let done: Vec<_> = pool.map([cmd!("sh", "-c", "kill -9 $$")]).collect();
    /// assert_eq!(done[0].attempts(), 1);
    /// ```
    pub fn on_signal(mut self, yes: bool) -> Retry {
        self.on_signal = yes;
        self
    }

    /// Whether a timeout is retried (default `true`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::{cmd, Pool, Retry};
    ///
    /// let pool = Pool::builder()
    ///     .timeout(Duration::from_millis(50))
    ///     .retry(Retry::attempts(3).on_timeout(false))
    ///     .build();
    /// let done: Vec<_> = pool.map([cmd!("sleep", "10")]).collect();
    /// assert_eq!(done[0].attempts(), 1);
    /// ```
    pub fn on_timeout(mut self, yes: bool) -> Retry {
        self.on_timeout = yes;
        self
    }

    /// The most attempts a job gets.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(procession::Retry::default().max_attempts(), 1);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }
}

/// The retry rule: after `attempts_done` attempts, the last of which failed
/// with `failure`, wait this long and try again; `None`: report the failure.
pub(crate) fn retry_after(retry: &Retry, attempts_done: u32, failure: Failure) -> Option<Duration> {
    if attempts_done >= retry.attempts {
        return None;
    }
    let selected = match failure {
        Failure::Exit(_) => retry.on_exit,
        Failure::Signal(_) => retry.on_signal,
        Failure::Timeout => retry.on_timeout,
        Failure::Spawn
        | Failure::Stopped(_)
        | Failure::Cancelled
        | Failure::Skipped
        | Failure::Other => false,
    };
    selected.then_some(retry.delay)
}

/// How many failures make a [`Halt`] policy fire.
///
/// # Examples
///
/// ```
/// use procession::{cmd, Halt, Pool, Threshold};
///
/// // Give up once half the finished jobs (at least 3 finished) failed.
/// let pool = Pool::builder().jobs(1).halt(Halt::Soon(Threshold::Percent(50.0))).build();
/// let jobs = [cmd!("true"), cmd!("false"), cmd!("false"), cmd!("true")];
/// assert_eq!(pool.as_completed(jobs).finish().skipped, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Threshold {
    /// After this many failed jobs (at least 1).
    Failures(u64),
    /// When at least this percentage of the finished jobs failed, counted
    /// once at least 3 jobs have finished (as GNU parallel does).
    Percent(f64),
}

/// When a batch gives up after failures. The default keeps going.
///
/// A failure is a job reported as failed after its retries; jobs the pool
/// stopped do not count. Halting is per batch (one
/// [`map`](crate::Pool::map) or [`as_completed`](crate::Pool::as_completed)
/// call, or the jobs given to [`submit`](crate::Pool::submit)), and its
/// [`Summary`](crate::Summary) says what was skipped or stopped.
///
/// Parses GNU parallel's `--halt` syntax:
///
/// ```
/// use procession::{Halt, Threshold};
///
/// assert_eq!("now,fail=1".parse::<Halt>()?, Halt::Now(Threshold::Failures(1)));
/// assert_eq!("soon,fail=20%".parse::<Halt>()?, Halt::Soon(Threshold::Percent(20.0)));
/// assert_eq!("never".parse::<Halt>()?, Halt::Never);
/// assert!("later,fail=1".parse::<Halt>().is_err());
/// # Ok::<(), procession::ParseHaltError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[non_exhaustive]
pub enum Halt {
    /// Run every job whatever fails (the default).
    #[default]
    Never,
    /// Start no new job once the threshold is reached; let running ones end.
    Soon(Threshold),
    /// Stop the running jobs (with their stop sequence) and start no new one
    /// once the threshold is reached.
    Now(Threshold),
}

/// What a halt policy says after a job finished.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum HaltAction {
    Continue,
    StopStarting,
    StopAll,
}

/// The counts a halt policy looks at.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Tally {
    /// Jobs finished for good (after retries), stopped ones excluded.
    pub(crate) finished: u64,
    /// Of those, the failed ones.
    pub(crate) failed: u64,
}

/// The halt rule.
pub(crate) fn halt_action(halt: &Halt, tally: Tally) -> HaltAction {
    let (threshold, action) = match halt {
        Halt::Never => return HaltAction::Continue,
        Halt::Soon(t) => (t, HaltAction::StopStarting),
        Halt::Now(t) => (t, HaltAction::StopAll),
    };
    let reached = match *threshold {
        Threshold::Failures(n) => tally.failed >= n.max(1),
        Threshold::Percent(p) => {
            tally.finished >= 3
                && tally.failed > 0
                && tally.failed as f64 * 100.0 >= p * tally.finished as f64
        }
    };
    if reached {
        action
    } else {
        HaltAction::Continue
    }
}

/// A `--halt` value that does not parse.
///
/// # Examples
///
/// ```
/// let err = "sometimes".parse::<procession::Halt>().unwrap_err();
/// assert!(err.to_string().contains("sometimes"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseHaltError(String);

impl fmt::Display for ParseHaltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid halt policy {:?}: expected never, now,fail=N, soon,fail=N or soon,fail=P%",
            self.0
        )
    }
}

impl std::error::Error for ParseHaltError {}

impl FromStr for Halt {
    type Err = ParseHaltError;

    fn from_str(s: &str) -> Result<Halt, ParseHaltError> {
        let bad = || ParseHaltError(s.to_string());
        if s == "never" {
            return Ok(Halt::Never);
        }
        let (when, rest) = s.split_once(',').ok_or_else(bad)?;
        let value = rest.strip_prefix("fail=").ok_or_else(bad)?;
        let threshold = match value.strip_suffix('%') {
            Some(p) => {
                let p: f64 = p.parse().map_err(|_| bad())?;
                if !(p > 0.0 && p <= 100.0) {
                    return Err(bad());
                }
                Threshold::Percent(p)
            }
            None => Threshold::Failures(value.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?),
        };
        match when {
            "now" => Ok(Halt::Now(threshold)),
            "soon" => Ok(Halt::Soon(threshold)),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_table() {
        let all = Retry::attempts(3);
        let exits_only = Retry::attempts(3).on_signal(false).on_timeout(false);
        let none = Retry::default();
        let delayed = Retry::attempts(2).delay(Duration::from_millis(7));
        let ms = Duration::from_millis;
        let table: &[(&Retry, u32, Failure, Option<Duration>)] = &[
            (&all, 1, Failure::Exit(1), Some(ms(0))),
            (&all, 2, Failure::Signal(9), Some(ms(0))),
            (&all, 3, Failure::Exit(1), None), // attempts used up
            (&all, 1, Failure::Timeout, Some(ms(0))),
            (&all, 1, Failure::Spawn, None), // never retried
            (&all, 1, Failure::Stopped(StopCause::Halt), None),
            (&all, 1, Failure::Cancelled, None),
            (&all, 1, Failure::Other, None),
            (&exits_only, 1, Failure::Exit(2), Some(ms(0))),
            (&exits_only, 1, Failure::Signal(11), None),
            (&exits_only, 1, Failure::Timeout, None),
            (&none, 1, Failure::Exit(1), None),
            (&delayed, 1, Failure::Exit(1), Some(ms(7))),
            (&delayed, 2, Failure::Exit(1), None),
        ];
        for (retry, done, failure, want) in table {
            assert_eq!(
                retry_after(retry, *done, *failure),
                *want,
                "{retry:?} {done} {failure:?}"
            );
        }
    }

    #[test]
    fn the_halt_table() {
        use HaltAction::{Continue as C, StopAll as A, StopStarting as S};
        let t = |finished, failed| Tally { finished, failed };
        let table: &[(Halt, Tally, HaltAction)] = &[
            (Halt::Never, t(100, 100), C),
            (Halt::Soon(Threshold::Failures(2)), t(5, 1), C),
            (Halt::Soon(Threshold::Failures(2)), t(5, 2), S),
            (Halt::Now(Threshold::Failures(1)), t(1, 1), A),
            (Halt::Now(Threshold::Failures(0)), t(1, 0), C), // 0 means 1
            (Halt::Now(Threshold::Failures(0)), t(1, 1), A),
            (Halt::Soon(Threshold::Percent(50.0)), t(2, 2), C), // fewer than 3 finished
            (Halt::Soon(Threshold::Percent(50.0)), t(3, 1), C),
            (Halt::Soon(Threshold::Percent(50.0)), t(4, 2), S),
            (Halt::Now(Threshold::Percent(10.0)), t(10, 1), A),
            (Halt::Now(Threshold::Percent(10.0)), t(11, 1), C),
            (Halt::Now(Threshold::Percent(100.0)), t(3, 0), C),
        ];
        for (halt, tally, want) in table {
            assert_eq!(halt_action(halt, *tally), *want, "{halt:?} {tally:?}");
        }
    }

    #[test]
    fn halt_parses() {
        let table: &[(&str, Option<Halt>)] = &[
            ("never", Some(Halt::Never)),
            ("now,fail=3", Some(Halt::Now(Threshold::Failures(3)))),
            ("soon,fail=1", Some(Halt::Soon(Threshold::Failures(1)))),
            (
                "soon,fail=12.5%",
                Some(Halt::Soon(Threshold::Percent(12.5))),
            ),
            ("now,fail=0", None),
            ("now,fail=0%", None),
            ("now,fail=101%", None),
            ("now", None),
            ("now,success=1", None),
            ("sometime,fail=1", None),
        ];
        for (text, want) in table {
            assert_eq!(text.parse::<Halt>().ok(), *want, "{text}");
        }
    }
}
