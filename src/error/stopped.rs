//! A command stopped by its timeout, its deadline or a cancel: [`StoppedError`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::duration::Human;
use crate::output::Output;

/// A command stopped by its timeout or a cancel. See [`Error::Timeout`](crate::Error::Timeout) and
/// [`Error::Cancelled`](crate::Error::Cancelled).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use procession::cmd;
///
/// let err = cmd!("sleep", "10").timeout(Duration::from_millis(20)).run().unwrap_err();
/// let stopped = err.timeout().expect("a timeout");
/// assert_eq!(stopped.command(), "sleep 10");
/// assert_eq!(stopped.limit(), Some(Duration::from_millis(20)));
/// assert_eq!(stopped.output().status.signal(), Some(15));
/// ```
#[derive(Clone, Debug)]
pub struct StoppedError {
    pub(crate) command: String,
    pub(crate) limit: Option<Duration>,
    /// A cancel, not a timeout or a deadline.
    pub(crate) cancelled: bool,
    /// Who cancelled it, when not a token of the command's own: a pool's
    /// halt policy or its `terminate()`.
    pub(crate) stopped_by: Option<&'static str>,
    pub(crate) signal: i32,
    /// Shared, so that cloning the error (every `wait` on a handle does)
    /// does not copy the output.
    pub(crate) output: Arc<Output>,
}

impl StoppedError {
    /// The command line (secrets redacted).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, CancelToken, Error};
    ///
    /// let token = CancelToken::new();
    /// token.cancel();
    /// let err = cmd!("sleep", "10").cancel_on(&token).run().unwrap_err();
    /// let Error::Cancelled(stopped) = &err else { panic!("{err}") };
    /// assert_eq!(stopped.command(), "sleep 10");
    /// ```
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The stdout read before the stop (if stdout was captured).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::sh;
    ///
    /// let err = sh("echo started; sleep 10")
    ///     .stdout_capture()
    ///     .timeout(Duration::from_millis(50))
    ///     .run()
    ///     .unwrap_err();
    /// assert_eq!(err.timeout().expect("a timeout").partial_stdout(), b"started\n");
    /// ```
    pub fn partial_stdout(&self) -> &[u8] {
        &self.output.stdout
    }

    /// The stderr read before the stop (if stderr was captured).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::sh;
    ///
    /// let err = sh("echo working >&2; sleep 10")
    ///     .stderr_capture()
    ///     .timeout(Duration::from_millis(50))
    ///     .run()
    ///     .unwrap_err();
    /// assert_eq!(err.timeout().expect("a timeout").partial_stderr(), b"working\n");
    /// ```
    pub fn partial_stderr(&self) -> &[u8] {
        &self.output.stderr
    }

    /// Everything read before the stop, with the statuses the stop caused.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::cmd;
    ///
    /// let err = cmd!("sleep", "10").timeout(Duration::from_millis(20)).run().unwrap_err();
    /// let out = err.timeout().expect("a timeout").output();
    /// assert_eq!(out.status.signal(), Some(15)); // the stop sequence's SIGTERM
    /// assert_eq!(out.stages.len(), 1);
    /// ```
    pub fn output(&self) -> &Output {
        &self.output
    }

    /// How long the command ran, from spawn to the end of the stop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::cmd;
    ///
    /// let limit = Duration::from_millis(20);
    /// let err = cmd!("sleep", "10").timeout(limit).run().unwrap_err();
    /// assert!(err.timeout().expect("a timeout").elapsed() >= limit);
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.output.elapsed
    }

    /// The timeout that was exceeded, when a timeout (not a deadline or a
    /// cancel) stopped it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use procession::cmd;
    ///
    /// let soon = Instant::now() + Duration::from_millis(20);
    /// let err = cmd!("sleep", "10").deadline(soon).run().unwrap_err();
    /// assert_eq!(err.timeout().expect("past the deadline").limit(), None);
    /// ```
    pub fn limit(&self) -> Option<Duration> {
        self.limit
    }
}

impl fmt::Display for StoppedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "command \"{}\" ", self.command)?;
        match (self.cancelled, self.stopped_by, self.limit) {
            (true, Some(who), _) => write!(
                f,
                "was stopped by {who} after {}",
                Human(self.output.elapsed)
            )?,
            (true, None, _) => write!(f, "was cancelled after {}", Human(self.output.elapsed))?,
            (false, _, Some(limit)) => write!(f, "timed out after {}", Human(limit))?,
            (false, _, None) => write!(
                f,
                "ran past its deadline after {}",
                Human(self.output.elapsed)
            )?,
        }
        let with = match self.stopped_by {
            Some(_) => " with",
            None => " and was stopped with",
        };
        match crate::status::signal_name(self.signal) {
            Some(name) => write!(f, "{with} {name}")?,
            None => write!(f, "{with} signal {}", self.signal)?,
        }
        write_leftovers(f, &self.output)
    }
}

/// Says that output may be incomplete, and names the processes of the tree
/// that were still running when the run returned.
pub(crate) fn write_leftovers(f: &mut fmt::Formatter<'_>, output: &Output) -> fmt::Result {
    match (output.incomplete, output.escaped.as_slice()) {
        (false, []) => Ok(()),
        (true, []) => f.write_str(" (output may be incomplete)"),
        (incomplete, escaped) => {
            f.write_str(if incomplete {
                " (output may be incomplete; still running: "
            } else {
                " (still running: "
            })?;
            for (i, e) in escaped.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{e}")?;
            }
            f.write_str(")")
        }
    }
}

impl std::error::Error for StoppedError {}
