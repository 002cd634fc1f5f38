//! Why a program could not be started: [`SpawnFailure`] and [`SpawnError`].

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

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
    IdChangeDenied,
    /// A [`Command::before_spawn`](crate::Command::before_spawn) hook
    /// returned an error; the message shows it.
    Hook,
    /// Any other reason: see the source error.
    Other,
}

/// A program that could not be started. See [`Error::Spawn`](crate::Error::Spawn).
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
