//! The one error type, and the details each kind carries.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::string::FromUtf8Error;
use std::sync::Arc;
use std::time::Duration;

use crate::duration::Human;
use crate::output::Output;
use crate::status::ExitStatus;

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

/// Why a program could not be started.
///
/// # Examples
///
/// ```
/// use procession::{cmd, Command, Error, SpawnFailure};
///
/// fn failure(command: Command) -> Option<SpawnFailure> {
///     match command.run() {
///         Err(Error::Spawn(e)) => Some(e.failure()),
///         _ => None,
///     }
/// }
/// assert_eq!(failure(cmd!("no-such-tool")), Some(SpawnFailure::NotFound));
/// assert_eq!(failure(cmd!("/dev/null")), Some(SpawnFailure::PermissionDenied));
/// assert_eq!(failure(cmd!("/")), Some(SpawnFailure::IsDirectory));
/// assert_eq!(failure(cmd!("true").dir("/no/such/dir")), Some(SpawnFailure::NoSuchDirectory));
/// let huge = "x".repeat(200_000); // one argument over Linux's 128 KiB limit
/// assert_eq!(failure(cmd!("true", huge)), Some(SpawnFailure::ArgumentListTooLong));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum SpawnFailure {
    /// No such program on `PATH`, or no file at the given path.
    NotFound,
    /// The file exists but may not be executed.
    PermissionDenied,
    /// The program names a directory.
    IsDirectory,
    /// The working directory does not exist or is not a directory.
    NoSuchDirectory,
    /// The program exists, but the interpreter its `#!` line names (or, for
    /// a binary, its dynamic loader) does not.
    InterpreterNotFound,
    /// Arguments and environment together exceed the system's limit
    /// (`E2BIG`).
    ArgumentListTooLong,
    /// The process may not change to the user or group that
    /// [`Command::uid`](crate::Command::uid) or
    /// [`Command::gid`](crate::Command::gid) asks for (that needs root, or
    /// `CAP_SETUID` / `CAP_SETGID`).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, SpawnFailure};
    ///
    /// # if rustix::process::geteuid().is_root() { return; }
    /// let err = cmd!("true").uid(0).run().unwrap_err();
    /// let Error::Spawn(spawn) = &err else { panic!("{err}") };
    /// assert_eq!(spawn.failure(), SpawnFailure::IdChangeDenied);
    /// assert!(err.to_string().contains("may not run it as uid 0"), "{err}");
    /// ```
    IdChangeDenied,
    /// A [`Command::before_spawn`](crate::Command::before_spawn) hook
    /// returned an error; the message shows it.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, SpawnFailure};
    ///
    /// let c = cmd!("true").before_spawn(|_| Err(std::io::Error::other("no ticket")));
    /// let err = c.run().unwrap_err();
    /// let Error::Spawn(spawn) = &err else { panic!("{err}") };
    /// assert_eq!(spawn.failure(), SpawnFailure::Hook);
    /// assert!(err.to_string().ends_with("the before_spawn hook failed: no ticket"), "{err}");
    /// ```
    Hook,
    /// Any other reason: see the source error.
    Other,
}

/// A program that could not be started. See [`Error::Spawn`].
///
/// # Examples
///
/// ```
/// use procession::{cmd, Error, SpawnFailure};
///
/// let err = cmd!("no-such-tool", "--flag").run().unwrap_err();
/// let Error::Spawn(spawn) = &err else { panic!("{err}") };
/// assert_eq!(spawn.failure(), SpawnFailure::NotFound);
/// assert_eq!(spawn.program(), "no-such-tool");
/// assert_eq!(spawn.command(), "no-such-tool --flag");
/// ```
#[derive(Clone, Debug)]
pub struct SpawnError {
    pub(crate) command: String,
    pub(crate) program: String,
    pub(crate) stage: Option<usize>,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) failure: SpawnFailure,
    pub(crate) detail: Option<String>,
    pub(crate) source: Option<Arc<io::Error>>,
}

impl SpawnError {
    /// Why it failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, SpawnFailure};
    ///
    /// let err = cmd!("/").run().unwrap_err();
    /// let Error::Spawn(spawn) = &err else { panic!("{err}") };
    /// assert_eq!(spawn.failure(), SpawnFailure::IsDirectory);
    /// ```
    pub fn failure(&self) -> SpawnFailure {
        self.failure
    }

    /// The command line (secrets redacted).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    ///
    /// let err = cmd!("no-such-login").arg_secret("hunter2").run().unwrap_err();
    /// let Error::Spawn(spawn) = &err else { panic!("{err}") };
    /// assert_eq!(spawn.command(), "no-such-login '***'");
    /// ```
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The program that failed to start.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    ///
    /// let err = (cmd!("echo", "hi") | cmd!("no-such-filter")).run().unwrap_err();
    /// let Error::Spawn(spawn) = &err else { panic!("{err}") };
    /// assert_eq!(spawn.program(), "no-such-filter");
    /// ```
    pub fn program(&self) -> &str {
        &self.program
    }

    /// For a pipeline, the position (from 0) of the stage that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    ///
    /// let err = (cmd!("echo", "hi") | cmd!("no-such-filter")).run().unwrap_err();
    /// let Error::Spawn(spawn) = &err else { panic!("{err}") };
    /// assert_eq!(spawn.stage(), Some(1));
    /// assert!(err.to_string().starts_with("cannot run stage 1 of"));
    /// ```
    pub fn stage(&self) -> Option<usize> {
        self.stage
    }

    /// The working directory it was to run in, if one was set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// use procession::{cmd, Error};
    ///
    /// let err = cmd!("true").dir("/no/such/dir").run().unwrap_err();
    /// let Error::Spawn(spawn) = &err else { panic!("{err}") };
    /// assert_eq!(spawn.dir(), Some(Path::new("/no/such/dir")));
    /// ```
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_deref()
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot run ")?;
        if let Some(stage) = self.stage {
            write!(f, "stage {stage} of ")?;
        }
        write!(f, "\"{}\": ", self.command)?;
        let program = &self.program;
        match self.failure {
            SpawnFailure::NotFound if !program.contains('/') => {
                write!(f, "program {program:?} was not found on PATH")?
            }
            SpawnFailure::NotFound => write!(f, "{program:?} does not exist")?,
            SpawnFailure::InterpreterNotFound => match &self.detail {
                Some(interpreter) => write!(
                    f,
                    "{program:?} cannot be run: its #! interpreter {interpreter:?} does not exist"
                )?,
                None => write!(
                    f,
                    "{program:?} cannot be run: its #! interpreter or its loader is missing"
                )?,
            },
            SpawnFailure::PermissionDenied => write!(
                f,
                "permission denied: {program:?} is not executable (check its mode and mount)"
            )?,
            SpawnFailure::IsDirectory => write!(f, "{program:?} is a directory")?,
            SpawnFailure::NoSuchDirectory => {
                // The detail says what is wrong with it, if not that it is missing.
                let problem = self.detail.as_deref().unwrap_or("does not exist");
                match &self.dir {
                    Some(dir) => write!(f, "working directory {dir:?} {problem}")?,
                    None => write!(f, "the working directory {problem}")?,
                }
                return Ok(());
            }
            SpawnFailure::ArgumentListTooLong => {
                f.write_str("the argument list is too long for the system (E2BIG)")?
            }
            SpawnFailure::IdChangeDenied => {
                f.write_str("this process may not run it as ")?;
                f.write_str(self.detail.as_deref().unwrap_or("that user or group"))?;
                f.write_str(" (that needs root, or CAP_SETUID / CAP_SETGID)")?;
                return Ok(());
            }
            SpawnFailure::Hook => match &self.source {
                Some(source) => write!(f, "the before_spawn hook failed: {source}")?,
                None => f.write_str("the before_spawn hook failed")?,
            },
            SpawnFailure::Other => match &self.source {
                Some(source) => write!(f, "{source}")?,
                None => f.write_str("unknown error")?,
            },
        }
        match (&self.detail, self.failure) {
            (_, SpawnFailure::InterpreterNotFound) | (None, _) => {}
            (Some(detail), _) => write!(f, " ({detail})")?,
        }
        Ok(())
    }
}

/// The operating system's error, unless the message already shows it (a
/// [`SpawnFailure::Other`] or [`SpawnFailure::Hook`]), so that a reporter
/// walking the chain does not print it twice.
impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.failure {
            SpawnFailure::Other | SpawnFailure::Hook => None,
            _ => self.source.as_deref().map(|e| e as _),
        }
    }
}

/// A command that ended with a failing status. See [`Error::Exit`].
///
/// # Examples
///
/// ```
/// use procession::{sh, Error};
///
/// let err = sh("echo 'disk full' >&2; exit 1").stderr_capture().run().unwrap_err();
/// let Error::Exit(exit) = &err else { panic!("{err}") };
/// assert_eq!(exit.status().code(), Some(1));
/// assert_eq!(exit.stderr_tail(), "disk full");
/// ```
#[derive(Clone, Debug)]
pub struct ExitError {
    pub(crate) command: String,
    pub(crate) stage: Option<(usize, String)>,
    /// Shared, so that cloning the error (every `wait` on a handle does)
    /// does not copy the output.
    pub(crate) output: Arc<Output>,
}

/// How much of stderr an error message shows.
const TAIL_BYTES: usize = 2048;

impl ExitError {
    /// The command line (secrets redacted).
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    ///
    /// let err = cmd!("false").arg_secret("hunter2").run().unwrap_err();
    /// let Error::Exit(exit) = &err else { panic!("{err}") };
    /// assert_eq!(exit.command(), "false '***'");
    /// ```
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The failing status.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::Error;
    ///
    /// let err = procession::sh("kill -9 $$").run().unwrap_err();
    /// let Error::Exit(exit) = &err else { panic!("{err}") };
    /// assert_eq!(exit.status().signal(), Some(9));
    /// ```
    pub fn status(&self) -> ExitStatus {
        self.output.status
    }

    /// For a pipeline: the position (from 0) and command line of the stage
    /// whose status decided.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    ///
    /// let err = (cmd!("false") | cmd!("cat")).run().unwrap_err();
    /// let Error::Exit(exit) = &err else { panic!("{err}") };
    /// assert_eq!(exit.stage(), Some((0, "false")));
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"command "false | cat" failed: stage 0 "false" exited with code 1"#
    /// );
    /// ```
    pub fn stage(&self) -> Option<(usize, &str)> {
        self.stage.as_ref().map(|(i, c)| (*i, c.as_str()))
    }

    /// Everything the command produced.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::Error;
    ///
    /// let err = procession::sh("echo result; exit 1").stdout_capture().run().unwrap_err();
    /// let Error::Exit(exit) = &err else { panic!("{err}") };
    /// assert_eq!(exit.output().stdout, b"result\n");
    /// ```
    pub fn output(&self) -> &Output {
        &self.output
    }

    /// The last lines of captured stderr (at most 2 KiB), the part that
    /// usually explains the failure. Empty if stderr was not captured.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::Error;
    ///
    /// let script = "seq 1000 >&2; echo 'the reason' >&2; exit 1";
    /// let err = procession::sh(script).stderr_capture().run().unwrap_err();
    /// let Error::Exit(exit) = &err else { panic!("{err}") };
    /// let tail = exit.stderr_tail();
    /// assert!(tail.len() <= 2048);
    /// assert!(tail.ends_with("999\n1000\nthe reason"));
    /// assert!(tail.lines().all(|line| line == "the reason" || line.parse::<u32>().is_ok()));
    /// ```
    pub fn stderr_tail(&self) -> String {
        let stage_stderr = self
            .stage
            .as_ref()
            .and_then(|(i, _)| self.output.stages.get(*i))
            .map(|s| &s.stderr[..])
            .filter(|s| !s.is_empty());
        tail(stage_stderr.unwrap_or(&self.output.stderr))
    }
}

/// The last [`TAIL_BYTES`] of `bytes`, starting at a line if one starts
/// there, as trimmed text.
fn tail(bytes: &[u8]) -> String {
    let mut start = bytes.len().saturating_sub(TAIL_BYTES);
    if start > 0 {
        if let Some(nl) = bytes[start..].iter().position(|b| *b == b'\n') {
            start += nl + 1;
        }
    }
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.stage {
            Some((i, stage)) => write!(
                f,
                "command \"{}\" failed: stage {i} \"{stage}\" {}",
                self.command, self.output.status
            )?,
            None => write!(f, "command \"{}\" {}", self.command, self.output.status)?,
        }
        let tail = self.stderr_tail();
        if !tail.is_empty() {
            write!(f, ": {tail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExitError {}

/// A command stopped by its timeout or a cancel. See [`Error::Timeout`] and
/// [`Error::Cancelled`].
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

/// What was wrong with a command that was not started.
///
/// # Examples
///
/// ```
/// use procession::{cmd, Command, Error, InvalidInput};
///
/// fn problem(command: Command) -> Option<InvalidInput> {
///     match command.run() {
///         Err(Error::InvalidInput(e)) => Some(e.problem().clone()),
///         _ => None,
///     }
/// }
/// assert_eq!(problem(cmd!("")), Some(InvalidInput::EmptyProgram));
/// assert_eq!(problem(cmd!("cat").stdin_pipe()), Some(InvalidInput::StdinPipeNeedsStart));
/// let key = "A=B".to_string();
/// assert_eq!(problem(cmd!("true").env(&key, "1")), Some(InvalidInput::EqualsInEnvKey { key }));
/// assert_eq!(problem(cmd!("true")), None);
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum InvalidInput {
    /// The program name is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = cmd!("").run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::EmptyProgram);
    /// ```
    EmptyProgram,
    /// A pipeline with no stages.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{Command, Error, InvalidInput};
    ///
    /// let err = Command::pipeline([]).run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::EmptyPipeline);
    /// ```
    EmptyPipeline,
    /// The program name contains a NUL byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = cmd!("a\0b").run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::NulInProgram);
    /// ```
    NulInProgram,
    /// Argument number `index` (from 0) contains a NUL byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = cmd!("echo", "fine", "bad\0").run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::NulInArgument { index: 1 });
    /// ```
    NulInArgument {
        /// Which argument.
        index: usize,
    },
    /// An environment variable's name is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = cmd!("true").env("", "value").run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::EmptyEnvKey);
    /// ```
    EmptyEnvKey,
    /// An environment variable's name contains `=`.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = cmd!("true").env("A=B", "value").run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::EqualsInEnvKey { key: "A=B".into() });
    /// ```
    EqualsInEnvKey {
        /// The name, lossily decoded.
        key: String,
    },
    /// An environment variable's name contains a NUL byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = cmd!("true").env("A\0B", "value").run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::NulInEnvKey { key: "A\0B".into() });
    /// ```
    NulInEnvKey {
        /// The name, lossily decoded.
        key: String,
    },
    /// An environment variable's value contains a NUL byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = cmd!("true").env("NAME", "a\0b").run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::NulInEnvValue { key: "NAME".into() });
    /// ```
    NulInEnvValue {
        /// The name, lossily decoded.
        key: String,
    },
    /// [`Command::stdin_pipe`](crate::Command::stdin_pipe) with a run method
    /// other than [`start`](crate::Command::start): nobody could write to it.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = cmd!("cat").stdin_pipe().run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::StdinPipeNeedsStart);
    /// ```
    StdinPipeNeedsStart,
    /// A file to redirect to or from could not be opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = cmd!("cat").stdin_path("/no/such/file").run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// let InvalidInput::Redirect { path, reason } = e.problem() else { panic!("{err}") };
    /// assert_eq!(path, Path::new("/no/such/file"));
    /// assert!(reason.starts_with("No such file or directory"));
    /// ```
    Redirect {
        /// The file's path.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// A stop sequence or [`Handle::signal`](crate::Handle::signal) names a
    /// number that is not a signal that can be sent: 0, a negative number, a
    /// number above `SIGRTMAX`, or one of the real-time signals the C library
    /// keeps for itself (32 and 33 with glibc).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::{cmd, Error, InvalidInput, StopSequence};
    ///
    /// let odd = StopSequence::new().then(99, Duration::from_millis(100));
    /// let err = cmd!("sleep", "10").stop_sequence(odd).run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::InvalidSignal { signal: 99 });
    /// ```
    InvalidSignal {
        /// The number given.
        signal: i32,
    },
    /// [`Handle::signal_stage`](crate::Handle::signal_stage) names a stage
    /// the command does not have.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    /// # fn main() -> Result<(), procession::Error> {
    /// let handle = cmd!("sleep", "10").start()?;
    /// let err = handle.signal_stage(1, 15).unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::NoSuchStage { index: 1, stages: 1 });
    /// # Ok(()) }
    /// ```
    NoSuchStage {
        /// The index given.
        index: usize,
        /// How many stages the command has.
        stages: usize,
    },
    /// [`Command::new_session`](crate::Command::new_session) on a pipeline
    /// or one of its stages: the stages share one process group, and a group
    /// cannot span sessions.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = (cmd!("echo", "hi") | cmd!("cat").new_session()).run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::SessionInPipeline);
    /// ```
    SessionInPipeline,
    /// [`Command::new_session`](crate::Command::new_session) without a
    /// [`before_spawn`](crate::Command::before_spawn) hook whose `pre_exec`
    /// calls `setsid`: the child did not lead a new session, so it was killed
    /// rather than left in this process's group.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = cmd!("sleep", "10").new_session().run().unwrap_err();
    /// let Error::InvalidInput(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.problem(), &InvalidInput::SessionNotCreated);
    /// ```
    SessionNotCreated,
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidInput::EmptyProgram => f.write_str("the program name is empty"),
            InvalidInput::EmptyPipeline => f.write_str("the pipeline has no stages"),
            InvalidInput::NulInProgram => f.write_str("the program name contains a NUL byte"),
            InvalidInput::NulInArgument { index } => {
                write!(f, "argument {index} contains a NUL byte")
            }
            InvalidInput::EmptyEnvKey => f.write_str("an environment variable name is empty"),
            InvalidInput::EqualsInEnvKey { key } => {
                write!(f, "environment variable name {key:?} contains '='")
            }
            InvalidInput::NulInEnvKey { key } => {
                write!(f, "environment variable name {key:?} contains a NUL byte")
            }
            InvalidInput::NulInEnvValue { key } => {
                write!(
                    f,
                    "the value of environment variable {key:?} contains a NUL byte"
                )
            }
            InvalidInput::StdinPipeNeedsStart => {
                f.write_str("stdin_pipe() needs start(), which hands out the pipe's writing end")
            }
            InvalidInput::Redirect { path, reason } => {
                write!(f, "cannot open {path:?}: {reason}")
            }
            InvalidInput::InvalidSignal { signal } => write!(
                f,
                "{signal} is not a signal that can be sent (the named signals 1 to 31 and the \
                 real-time signals SIGRTMIN to SIGRTMAX can)"
            ),
            InvalidInput::NoSuchStage { index, stages } => {
                write!(f, "there is no stage {index}: the command has {stages}")
            }
            InvalidInput::SessionInPipeline => f.write_str(
                "new_session() needs a single command: the stages of a pipeline share one \
                 process group, and a group cannot span sessions",
            ),
            InvalidInput::SessionNotCreated => f.write_str(
                "new_session() needs a before_spawn hook whose pre_exec calls setsid; the child \
                 did not lead a new session and was killed",
            ),
        }
    }
}

/// A command that was not valid. See [`Error::InvalidInput`].
///
/// # Examples
///
/// ```
/// use procession::{cmd, Error, InvalidInput};
///
/// let err = cmd!("true").env("A=B", "1").run().unwrap_err();
/// let Error::InvalidInput(invalid) = &err else { panic!("{err}") };
/// let key = "A=B".to_string();
/// assert_eq!(invalid.problem(), &InvalidInput::EqualsInEnvKey { key });
/// assert_eq!(
///     err.to_string(),
///     r#"invalid command "true": environment variable name "A=B" contains '='"#
/// );
/// ```
#[derive(Clone, Debug)]
pub struct InvalidInputError {
    pub(crate) command: String,
    pub(crate) problem: InvalidInput,
}

impl InvalidInputError {
    /// What was wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error, InvalidInput};
    ///
    /// let err = cmd!("cat").stdin_pipe().read().unwrap_err();
    /// let Error::InvalidInput(invalid) = &err else { panic!("{err}") };
    /// assert_eq!(invalid.problem(), &InvalidInput::StdinPipeNeedsStart);
    /// ```
    pub fn problem(&self) -> &InvalidInput {
        &self.problem
    }
}

impl fmt::Display for InvalidInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.command.is_empty() {
            write!(f, "invalid command: {}", self.problem)
        } else {
            write!(f, "invalid command \"{}\": {}", self.command, self.problem)
        }
    }
}

impl std::error::Error for InvalidInputError {}

/// Output that was not UTF-8. See [`Error::NotUtf8`].
///
/// # Examples
///
/// ```
/// use procession::{cmd, Error};
///
/// let err = cmd!("printf", "ok\\377").read().unwrap_err();
/// let Error::NotUtf8(e) = &err else { panic!("{err}") };
/// assert_eq!(e.bytes(), b"ok\xff");
/// assert_eq!(
///     err.to_string(),
///     "the output of \"printf 'ok\\377'\" is not UTF-8 (invalid at byte 2); \
///      read it as bytes or lossily"
/// );
/// ```
#[derive(Clone, Debug)]
pub struct NotUtf8Error {
    pub(crate) command: String,
    pub(crate) source: FromUtf8Error,
}

impl NotUtf8Error {
    /// The bytes that were read, none lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    ///
    /// let err = cmd!("printf", "caf\\351").read().unwrap_err(); // Latin-1, not UTF-8
    /// let Error::NotUtf8(e) = &err else { panic!("{err}") };
    /// assert_eq!(e.bytes(), b"caf\xe9");
    /// ```
    pub fn bytes(&self) -> &[u8] {
        self.source.as_bytes()
    }
}

impl fmt::Display for NotUtf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the output of \"{}\" is not UTF-8 (invalid at byte {}); read it as bytes or lossily",
            self.command,
            self.source.utf8_error().valid_up_to()
        )
    }
}

impl std::error::Error for NotUtf8Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A piece of a line longer than the maximum. See [`Error::LineTooLong`].
///
/// Pieces are cut between UTF-8 characters (unless the bytes are not
/// UTF-8), so each piece of a valid line is valid UTF-8, and the pieces of
/// one line, joined, are the line (without its newline).
///
/// # Examples
///
/// ```
/// use procession::{cmd, Error};
/// # fn main() -> Result<(), procession::Error> {
/// // 30 euro signs (3 bytes each) with a maximum of 40 bytes.
/// let line = "€".repeat(30);
/// let mut pieces = Vec::new();
/// for item in cmd!("echo", &line).lines()?.max_line(40) {
///     match item {
///         Err(Error::LineTooLong(piece)) => pieces.push(piece.text().unwrap().to_string()),
///         other => panic!("{other:?}"),
///     }
/// }
/// assert_eq!(pieces.iter().map(|p| p.len()).collect::<Vec<_>>(), [39, 39, 12]);
/// assert_eq!(pieces.concat(), line);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct LineTooLongError {
    pub(crate) command: String,
    pub(crate) stderr: bool,
    pub(crate) bytes: Vec<u8>,
    pub(crate) max: usize,
    pub(crate) ends_line: bool,
}

impl LineTooLongError {
    /// This piece's bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use procession::{cmd, Error};
    /// let first = cmd!("echo", "abcdef").lines().unwrap().max_line(4).next().unwrap();
    /// let Err(Error::LineTooLong(e)) = first else { panic!() };
    /// assert_eq!(e.bytes(), b"abcd");
    /// ```
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// This piece's bytes, by value.
    ///
    /// # Examples
    ///
    /// ```
    /// # use procession::{cmd, Error};
    /// let first = cmd!("echo", "abcdef").lines().unwrap().max_line(4).next().unwrap();
    /// let Err(Error::LineTooLong(e)) = first else { panic!() };
    /// assert_eq!(e.into_bytes(), b"abcd");
    /// ```
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// This piece as text, if it is UTF-8.
    ///
    /// # Examples
    ///
    /// ```
    /// # use procession::{cmd, Error};
    /// let first = cmd!("echo", "abcdef").lines().unwrap().max_line(4).next().unwrap();
    /// let Err(Error::LineTooLong(e)) = first else { panic!() };
    /// assert_eq!(e.text(), Some("abcd"));
    /// ```
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }

    /// `true` for the line's last piece (up to its newline, or the end of
    /// the output).
    ///
    /// # Examples
    ///
    /// ```
    /// # use procession::{cmd, Error};
    /// let first = cmd!("echo", "abcdef").lines().unwrap().max_line(4).next().unwrap();
    /// let Err(Error::LineTooLong(e)) = first else { panic!() };
    /// assert!(!e.ends_line());
    /// ```
    pub fn ends_line(&self) -> bool {
        self.ends_line
    }

    /// The maximum line length the line exceeded, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use procession::{cmd, Error};
    /// let first = cmd!("echo", "abcdef").lines().unwrap().max_line(4).next().unwrap();
    /// let Err(Error::LineTooLong(e)) = first else { panic!() };
    /// assert_eq!(e.max(), 4);
    /// ```
    pub fn max(&self) -> usize {
        self.max
    }

    /// `true` if the line came from stderr (with
    /// [`events`](crate::Command::events)), `false` for stdout.
    ///
    /// # Examples
    ///
    /// ```
    /// # use procession::{sh, Error};
    /// let first = sh("echo abcdef >&2").events().unwrap().max_line(4).next().unwrap();
    /// let Err(Error::LineTooLong(e)) = first else { panic!() };
    /// assert!(e.is_stderr());
    /// ```
    pub fn is_stderr(&self) -> bool {
        self.stderr
    }
}

impl fmt::Display for LineTooLongError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stream = if self.stderr { "stderr" } else { "stdout" };
        let which = if self.ends_line { "last" } else { "a" };
        write!(
            f,
            "a line of the {stream} of \"{}\" is longer than {} bytes; this is {which} piece \
             of it ({} bytes)",
            self.command,
            self.max,
            self.bytes.len()
        )
    }
}

impl std::error::Error for LineTooLongError {}

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

    #[test]
    fn tail_starts_at_a_line() {
        assert_eq!(tail(b"  one\ntwo\n"), "one\ntwo");
        let mut long = vec![b'x'; 3000];
        long.extend_from_slice(b"\nlast line\n");
        assert_eq!(tail(&long), "last line");
    }
}
