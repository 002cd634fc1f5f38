//! The one error type, and the details each kind carries.
//!
//! | File         | Holds                                             |
//! |--------------|---------------------------------------------------|
//! | `mod.rs`     | [`Error`], and the small details [`IoError`], [`SkippedError`], [`PanicError`] |
//! | `spawn.rs`   | [`SpawnFailure`], [`SpawnError`]                  |
//! | `exit.rs`    | [`ExitError`]                                     |
//! | `stopped.rs` | [`StoppedError`]                                  |
//! | `invalid.rs` | [`InvalidInput`], [`InvalidInputError`]           |
//! | `text.rs`    | [`NotUtf8Error`], [`LineTooLongError`], and [`Output::stdout_str`](crate::Output::stdout_str), which returns the first |

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::output::Output;
use crate::status::ExitStatus;

mod exit;
mod invalid;
mod spawn;
mod stopped;
mod text;

pub use exit::ExitError;
pub use invalid::{InvalidInput, InvalidInputError};
pub use spawn::{SpawnError, SpawnFailure};
pub use stopped::StoppedError;
pub use text::{LineTooLongError, NotUtf8Error};

/// Why a child's exit status is lost, for the errors that say so.
pub(crate) const STATUS_TAKEN: &str = "its exit status was taken by another waiter (is SIGCHLD \
     set to SIG_IGN, or does the program reap with waitpid(-1)?)";

/// Everything that can go wrong running a command.
///
/// Each kind carries what explains it, and `Display` reads like a shell
/// transcript:
///
/// ```text
/// command "git rev-parse HEAD" exited with code 128: fatal: not a git repository
/// cannot run "cargo-nextest run": program "cargo-nextest" was not found on PATH
/// command "slow-tool" timed out after 5s and was stopped with SIGTERM
/// ```
///
/// The error is `Send + Sync + 'static` and `Clone`. Each cause is shown
/// once down the chain: `source()` leads to the operating system's error
/// where there is one and the message does not already show it. No output is lost: a failed
/// or stopped run keeps its [`Output`] (see [`Error::output`]).
///
/// # Examples
///
/// ```
/// use procession::{cmd, Error};
///
/// let err = procession::sh("echo 'fatal: no such thing' >&2; exit 128")
///     .stderr_capture()
///     .run()
///     .unwrap_err();
/// assert!(matches!(err, Error::Exit(_)));
/// assert_eq!(err.status().and_then(|s| s.code()), Some(128));
/// assert!(err.to_string().ends_with("exited with code 128: fatal: no such thing"));
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program could not be started.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    ///
    /// let err = cmd!("no-such-tool").run().unwrap_err();
    /// assert!(matches!(err, Error::Spawn(_)));
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"cannot run "no-such-tool": program "no-such-tool" was not found on PATH"#
    /// );
    /// ```
    #[error(transparent)]
    Spawn(Box<SpawnError>),
    /// The command ended with a status that counts as failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::Error;
    ///
    /// let err = procession::sh("exit 2").run().unwrap_err();
    /// assert!(matches!(err, Error::Exit(_)));
    /// assert_eq!(err.to_string(), r#"command "/bin/sh -c 'exit 2'" exited with code 2"#);
    /// ```
    #[error(transparent)]
    Exit(Box<ExitError>),
    /// The command ran past its timeout or deadline and was stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::{cmd, Error};
    ///
    /// let err = cmd!("sleep", "10").timeout(Duration::from_millis(20)).run().unwrap_err();
    /// assert!(matches!(err, Error::Timeout(_)));
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"command "sleep 10" timed out after 20ms and was stopped with SIGTERM"#
    /// );
    /// ```
    #[error(transparent)]
    Timeout(Box<StoppedError>),
    /// The command was stopped through a [`CancelToken`](crate::CancelToken).
    /// A [`Pool`](crate::Pool) job that the pool stopped (a "now" halt
    /// policy, [`Pool::terminate`](crate::Pool::terminate)) is one too, and
    /// its message names who stopped it: `command "sleep 10" was stopped by
    /// the pool's halt policy after 2ms with SIGTERM`.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, CancelToken, Error};
    ///
    /// let token = CancelToken::new();
    /// token.cancel();
    /// // A command given a cancelled token is stopped at once.
    /// let err = cmd!("sleep", "10").cancel_on(&token).run().unwrap_err();
    /// assert!(matches!(err, Error::Cancelled(_)));
    /// ```
    #[error(transparent)]
    Cancelled(Box<StoppedError>),
    /// The command was not valid, so nothing was started.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    ///
    /// let err = cmd!("").run().unwrap_err();
    /// assert!(matches!(err, Error::InvalidInput(_)));
    /// assert_eq!(err.to_string(), r#"invalid command "''": the program name is empty"#);
    /// ```
    #[error(transparent)]
    InvalidInput(Box<InvalidInputError>),
    /// Output that should be UTF-8 text was not.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    ///
    /// let err = cmd!("printf", "\\377").read().unwrap_err();
    /// assert!(matches!(err, Error::NotUtf8(_)));
    /// assert!(err.to_string().starts_with(r#"the output of "printf '\377'" is not UTF-8"#));
    /// ```
    #[error(transparent)]
    NotUtf8(Box<NotUtf8Error>),
    /// A line from [`lines`](crate::Command::lines) or
    /// [`events`](crate::Command::events) was longer than the iterator's
    /// maximum (8 MiB unless set with
    /// [`Lines::max_line`](crate::Lines::max_line)): it comes as several of
    /// these items in a row, each holding a piece of it, none lost. The
    /// iteration goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    /// # fn main() -> Result<(), procession::Error> {
    /// let items: Vec<_> = cmd!("echo", "abcdef").lines()?.max_line(4).collect();
    /// let Err(Error::LineTooLong(first)) = &items[0] else { panic!("{items:?}") };
    /// assert_eq!((first.bytes(), first.ends_line()), (&b"abcd"[..], false));
    /// let Err(Error::LineTooLong(last)) = &items[1] else { panic!("{items:?}") };
    /// assert_eq!((last.bytes(), last.ends_line()), (&b"ef"[..], true));
    /// assert_eq!(items.len(), 2);
    /// # Ok(()) }
    /// ```
    #[error(transparent)]
    LineTooLong(Box<LineTooLongError>),
    /// Another I/O error, with what we were doing when it happened.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, JobOutput, Pool};
    ///
    /// // A pool told to write each job's output under a path that cannot be a directory.
    /// let pool = Pool::builder().output(JobOutput::Files("/dev/null/out".into())).build();
    /// let done: Vec<_> = pool.map([cmd!("true")]).collect();
    /// let err = done[0].error().expect("an error");
    /// assert!(matches!(err, Error::Io(_)));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "cannot set up the output files of job #1: Not a directory (os error 20)"
    /// );
    /// ```
    #[error(transparent)]
    Io(Box<IoError>),
    /// A pool job that was never started: it was submitted to a pool that
    /// was closed, terminated or halted (its [`Failure`](crate::Failure) is
    /// [`Skipped`](crate::Failure::Skipped)).
    #[error(transparent)]
    Skipped(Box<SkippedError>),
    /// A callback of yours (a pool's event callback) panicked; the panic was
    /// caught and failed only the job it was called for. Also a panic while
    /// the crate drove a run (a bug): that run was killed and reaped, and
    /// only it failed.
    #[error(transparent)]
    Panicked(Box<PanicError>),
}

impl Error {
    /// The details of a timeout, if this is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::cmd;
    ///
    /// let limit = Duration::from_millis(20);
    /// let err = cmd!("sleep", "10").timeout(limit).run().unwrap_err();
    /// assert_eq!(err.timeout().and_then(|t| t.limit()), Some(limit));
    /// assert!(cmd!("false").run().unwrap_err().timeout().is_none());
    /// ```
    pub fn timeout(&self) -> Option<&StoppedError> {
        match self {
            Error::Timeout(e) => Some(e),
            _ => None,
        }
    }

    /// `true` if a [`CancelToken`](crate::CancelToken) stopped the command.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, CancelToken};
    ///
    /// let token = CancelToken::new();
    /// token.cancel();
    /// let err = cmd!("sleep", "10").cancel_on(&token).run().unwrap_err();
    /// assert!(err.is_cancelled());
    /// assert!(!cmd!("false").run().unwrap_err().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled(_))
    }

    /// The status the command ended with, for [`Error::Exit`], and for
    /// [`Error::Timeout`] and [`Error::Cancelled`] (usually the stop signal).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = procession::sh("exit 3").run().unwrap_err();
    /// assert_eq!(err.status().and_then(|s| s.code()), Some(3));
    /// // Nothing ran, so there is no status.
    /// let err = procession::cmd!("no-such-tool").run().unwrap_err();
    /// assert_eq!(err.status(), None);
    /// ```
    pub fn status(&self) -> Option<ExitStatus> {
        self.output().map(|o| o.status)
    }

    /// What the command produced before it failed or was stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = procession::sh("echo partial; exit 1").stdout_capture().run().unwrap_err();
    /// let out = err.output().expect("it ran");
    /// assert_eq!(out.stdout, b"partial\n");
    /// ```
    pub fn output(&self) -> Option<&Output> {
        match self {
            Error::Exit(e) => Some(&e.output),
            Error::Timeout(e) | Error::Cancelled(e) => Some(&e.output),
            _ => None,
        }
    }

    /// The output inside, to change (a copy if it is shared).
    pub(crate) fn output_mut(&mut self) -> Option<&mut Output> {
        match self {
            Error::Exit(e) => Some(Arc::make_mut(&mut e.output)),
            Error::Timeout(e) | Error::Cancelled(e) => Some(Arc::make_mut(&mut e.output)),
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io(Box::new(IoError {
            context: context.into(),
            source: Arc::new(source),
        }))
    }

    /// Whether this is the system running out of descriptors or processes
    /// (`EMFILE`, `ENFILE`, `EAGAIN`): a state that passes, not a fault of
    /// the command.
    pub(crate) fn is_exhaustion(&self) -> bool {
        let source = match self {
            Error::Io(e) => Some(&*e.source),
            Error::Spawn(e) => e.source.as_deref(),
            _ => None,
        };
        source.is_some_and(crate::sys::is_exhaustion)
    }

    pub(crate) fn skipped(seq: u64, reason: impl Into<String>) -> Error {
        Error::Skipped(Box::new(SkippedError {
            seq,
            reason: reason.into(),
        }))
    }

    pub(crate) fn panicked(context: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Panicked(Box::new(PanicError {
            context: context.into(),
            message: message.into(),
        }))
    }

    pub(crate) fn invalid(command: &str, problem: InvalidInput) -> Error {
        Error::InvalidInput(Box::new(InvalidInputError {
            command: command.to_string(),
            problem,
        }))
    }
}

/// An I/O error while running a command. See [`Error::Io`].
///
/// # Examples
///
/// ```
/// use procession::{cmd, Error, JobOutput, Pool};
///
/// let pool = Pool::builder().output(JobOutput::Files("/dev/null/out".into())).build();
/// let done: Vec<_> = pool.map([cmd!("true")]).collect();
/// let err = done[0].error().expect("an error");
/// let Error::Io(io) = err else { panic!("{err}") };
/// assert!(io.to_string().starts_with("cannot set up the output files of job #1"));
/// assert_eq!(io.io_error().to_string(), "Not a directory (os error 20)");
/// ```
#[derive(Clone, Debug)]
pub struct IoError {
    pub(crate) context: String,
    pub(crate) source: Arc<io::Error>,
}

impl IoError {
    /// The operating system's error kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use procession::{cmd, Error, JobOutput, Pool};
    ///
    /// let pool = Pool::builder().output(JobOutput::Files("/dev/null/out".into())).build();
    /// let done: Vec<_> = pool.map([cmd!("true")]).collect();
    /// let err = done[0].error().expect("an error");
    /// let Error::Io(io) = err else { panic!("{err}") };
    /// assert_eq!(io.kind(), ErrorKind::NotADirectory);
    /// ```
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }

    /// The operating system's error, which the message shows after what we
    /// were doing.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

/// No `source()`: the message already shows the operating system's error
/// (see [`IoError::io_error`]), and a reporter walking the chain would print
/// it twice.
impl std::error::Error for IoError {}

/// A pool job that was never started. See [`Error::Skipped`].
#[derive(Clone, Debug)]
pub struct SkippedError {
    pub(crate) seq: u64,
    pub(crate) reason: String,
}

impl SkippedError {
    /// The job's sequence number in its pool.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Why it was not started ("the pool was closed", ...).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for SkippedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job #{} was not started: {}", self.seq, self.reason)
    }
}

impl std::error::Error for SkippedError {}

/// A callback that panicked. See [`Error::Panicked`].
#[derive(Clone, Debug)]
pub struct PanicError {
    pub(crate) context: String,
    pub(crate) message: String,
}

impl PanicError {
    /// The panic's message (its payload, if that was a string).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PanicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.message)
    }
}

impl std::error::Error for PanicError {}

/// Runs `f`, turning a panic into the message of a [`PanicError`]: the
/// panic's payload if it is a string.
pub(crate) fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_gives_its_message() {
        let table: &[(fn(), &str)] = &[
            (|| panic!("a static message"), "a static message"),
            (
                || panic!("a formatted {}", "message"),
                "a formatted message",
            ),
            (|| std::panic::panic_any(42), "a panic without a message"),
        ];
        for (f, want) in table {
            assert_eq!(catch_panic(f).unwrap_err(), *want);
        }
        assert_eq!(catch_panic(|| 7), Ok(7));
    }
}
