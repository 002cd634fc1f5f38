//! A command that was not valid, so nothing started: [`InvalidInput`] and
//! [`InvalidInputError`].

use std::fmt;
use std::path::PathBuf;

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
    /// A stop sequence or [`Handle::signal`](crate::Handle::signal) names a
    /// number that is not a signal that can be sent: 0, a negative number, a
    /// number above `SIGRTMAX`, or one of the real-time signals the C library
    /// keeps for itself (32 and 33 with glibc).
    InvalidSignal {
        /// The number given.
        signal: i32,
    },
    /// [`Handle::signal_stage`](crate::Handle::signal_stage) names a stage
    /// the command does not have.
    NoSuchStage {
        /// The index given.
        index: usize,
        /// How many stages the command has.
        stages: usize,
    },
    /// [`Command::new_session`](crate::Command::new_session) on a pipeline
    /// or one of its stages: the stages share one process group, and a group
    /// cannot span sessions.
    SessionInPipeline,
    /// [`Command::new_session`](crate::Command::new_session) without a
    /// [`before_spawn`](crate::Command::before_spawn) hook whose `pre_exec`
    /// calls `setsid`: the child did not lead a new session, so it was killed
    /// rather than left in this process's group.
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

/// A command that was not valid. See [`Error::InvalidInput`](crate::Error::InvalidInput).
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
