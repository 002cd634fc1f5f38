//! The one error type, and the details each kind carries.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::string::FromUtf8Error;
use std::sync::Arc;
use std::time::Duration;

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
/// The error is `Send + Sync + 'static` and `Clone`; `source()` leads to the
/// operating system's error where there is one. No output is lost: a failed
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
    #[error(transparent)]
    Spawn(Box<SpawnError>),
    /// The command ended with a status that counts as failure.
    #[error(transparent)]
    Exit(Box<ExitError>),
    /// The command ran past its timeout or deadline and was stopped.
    #[error(transparent)]
    Timeout(Box<StoppedError>),
    /// The command was stopped through a [`CancelToken`](crate::CancelToken).
    #[error(transparent)]
    Cancelled(Box<StoppedError>),
    /// The command was not valid, so nothing was started.
    #[error(transparent)]
    InvalidInput(Box<InvalidInputError>),
    /// Output that should be UTF-8 text was not.
    #[error(transparent)]
    NotUtf8(Box<NotUtf8Error>),
    /// Another I/O error, with what we were doing when it happened.
    #[error(transparent)]
    Io(Box<IoError>),
}

impl Error {
    /// The details of a timeout, if this is one.
    pub fn timeout(&self) -> Option<&StoppedError> {
        match self {
            Error::Timeout(e) => Some(e),
            _ => None,
        }
    }

    /// `true` if a [`CancelToken`](crate::CancelToken) stopped the command.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled(_))
    }

    /// The status the command ended with, for [`Error::Exit`], and for
    /// [`Error::Timeout`] and [`Error::Cancelled`] (usually the stop signal).
    pub fn status(&self) -> Option<ExitStatus> {
        self.output().map(|o| o.status)
    }

    /// What the command produced before it failed or was stopped.
    pub fn output(&self) -> Option<&Output> {
        match self {
            Error::Exit(e) => Some(&e.output),
            Error::Timeout(e) | Error::Cancelled(e) => Some(&e.output),
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io(Box::new(IoError {
            context: context.into(),
            source: Arc::new(source),
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
    /// Arguments and environment together exceed the system's limit
    /// (`E2BIG`).
    ArgumentListTooLong,
    /// Any other reason: see the source error.
    Other,
}

/// A program that could not be started. See [`Error::Spawn`].
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
    pub fn failure(&self) -> SpawnFailure {
        self.failure
    }

    /// The command line (secrets redacted).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The program that failed to start.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// For a pipeline, the position (from 0) of the stage that failed.
    pub fn stage(&self) -> Option<usize> {
        self.stage
    }

    /// The working directory it was to run in, if one was set.
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
            SpawnFailure::PermissionDenied => write!(
                f,
                "permission denied: {program:?} is not executable (check its mode and mount)"
            )?,
            SpawnFailure::IsDirectory => write!(f, "{program:?} is a directory")?,
            SpawnFailure::NoSuchDirectory => match &self.dir {
                Some(dir) => write!(f, "working directory {dir:?} does not exist")?,
                None => f.write_str("the working directory does not exist")?,
            },
            SpawnFailure::ArgumentListTooLong => {
                f.write_str("the argument list is too long for the system (E2BIG)")?
            }
            SpawnFailure::Other => match &self.source {
                Some(source) => write!(f, "{source}")?,
                None => f.write_str("unknown error")?,
            },
        }
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// A command that ended with a failing status. See [`Error::Exit`].
#[derive(Clone, Debug)]
pub struct ExitError {
    pub(crate) command: String,
    pub(crate) stage: Option<(usize, String)>,
    pub(crate) output: Output,
}

/// How much of stderr an error message shows.
const TAIL_BYTES: usize = 2048;

impl ExitError {
    /// The command line (secrets redacted).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The failing status.
    pub fn status(&self) -> ExitStatus {
        self.output.status
    }

    /// For a pipeline: the position (from 0) and command line of the stage
    /// whose status decided.
    pub fn stage(&self) -> Option<(usize, &str)> {
        self.stage.as_ref().map(|(i, c)| (*i, c.as_str()))
    }

    /// Everything the command produced.
    pub fn output(&self) -> &Output {
        &self.output
    }

    /// The last lines of captured stderr (at most 2 KiB), the part that
    /// usually explains the failure. Empty if stderr was not captured.
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
#[derive(Clone, Debug)]
pub struct StoppedError {
    pub(crate) command: String,
    pub(crate) limit: Option<Duration>,
    /// A cancel, not a timeout or a deadline.
    pub(crate) cancelled: bool,
    pub(crate) signal: i32,
    pub(crate) output: Output,
}

impl StoppedError {
    /// The command line (secrets redacted).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The stdout read before the stop (if stdout was captured).
    pub fn partial_stdout(&self) -> &[u8] {
        &self.output.stdout
    }

    /// The stderr read before the stop (if stderr was captured).
    pub fn partial_stderr(&self) -> &[u8] {
        &self.output.stderr
    }

    /// Everything read before the stop, with the statuses the stop caused.
    pub fn output(&self) -> &Output {
        &self.output
    }

    /// How long the command ran, from spawn to the end of the stop.
    pub fn elapsed(&self) -> Duration {
        self.output.elapsed
    }

    /// The timeout that was exceeded, when a timeout (not a deadline or a
    /// cancel) stopped it.
    pub fn limit(&self) -> Option<Duration> {
        self.limit
    }
}

impl fmt::Display for StoppedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "command \"{}\" ", self.command)?;
        match (self.cancelled, self.limit) {
            (true, _) => write!(f, "was cancelled after {:?}", self.output.elapsed)?,
            (false, Some(limit)) => write!(f, "timed out after {limit:?}")?,
            (false, None) => write!(f, "ran past its deadline after {:?}", self.output.elapsed)?,
        }
        match crate::status::signal_name(self.signal) {
            Some(name) => write!(f, " and was stopped with {name}")?,
            None => write!(f, " and was stopped with signal {}", self.signal)?,
        }
        if self.output.incomplete {
            f.write_str(" (output may be incomplete)")?;
        }
        Ok(())
    }
}

impl std::error::Error for StoppedError {}

/// What was wrong with a command that was not started.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum InvalidInput {
    /// The program name is empty.
    EmptyProgram,
    /// A pipeline with no stages.
    EmptyPipeline,
    /// The program name contains a NUL byte.
    NulInProgram,
    /// Argument number `index` (from 0) contains a NUL byte.
    NulInArgument {
        /// Which argument.
        index: usize,
    },
    /// An environment variable's name is empty.
    EmptyEnvKey,
    /// An environment variable's name contains `=`.
    EqualsInEnvKey {
        /// The name, lossily decoded.
        key: String,
    },
    /// An environment variable's name contains a NUL byte.
    NulInEnvKey {
        /// The name, lossily decoded.
        key: String,
    },
    /// An environment variable's value contains a NUL byte.
    NulInEnvValue {
        /// The name, lossily decoded.
        key: String,
    },
    /// [`Command::stdin_pipe`](crate::Command::stdin_pipe) with a run method
    /// other than [`start`](crate::Command::start): nobody could write to it.
    StdinPipeNeedsStart,
    /// A file to redirect to or from could not be opened.
    Redirect {
        /// The file's path.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
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
        }
    }
}

/// A command that was not valid. See [`Error::InvalidInput`].
#[derive(Clone, Debug)]
pub struct InvalidInputError {
    pub(crate) command: String,
    pub(crate) problem: InvalidInput,
}

impl InvalidInputError {
    /// What was wrong.
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
#[derive(Clone, Debug)]
pub struct NotUtf8Error {
    pub(crate) command: String,
    pub(crate) source: FromUtf8Error,
}

impl NotUtf8Error {
    /// The bytes that were read, none lost.
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

/// An I/O error while running a command. See [`Error::Io`].
#[derive(Clone, Debug)]
pub struct IoError {
    pub(crate) context: String,
    pub(crate) source: Arc<io::Error>,
}

impl IoError {
    /// The operating system's error kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_starts_at_a_line() {
        assert_eq!(tail(b"  one\ntwo\n"), "one\ntwo");
        let mut long = vec![b'x'; 3000];
        long.extend_from_slice(b"\nlast line\n");
        assert_eq!(tail(&long), "last line");
    }
}
