//! What a finished run produced.

use std::time::Duration;

use crate::error::{Error, NotUtf8Error};
use crate::status::ExitStatus;

/// What a finished command produced: its status and captured output.
///
/// `stdout` and `stderr` are empty unless they were captured. For a pipeline,
/// `status` is the pipeline's status by the `pipefail` rule (the rightmost
/// failing stage decides, a checked failure beats an unchecked one, and a
/// stage killed by `SIGPIPE` after its reader exited counts as a success), and
/// [`stages`](Output::stages) holds every stage's own status in order, like
/// bash's `PIPESTATUS`.
///
/// # Examples
///
/// ```
/// use procession::cmd;
/// # fn main() -> Result<(), procession::Error> {
/// let out = (cmd!("sh", "-c", "echo hi; exit 3") | cmd!("cat")).unchecked().stdout_capture().run()?;
/// assert_eq!(out.stdout, b"hi\n");
/// assert_eq!(out.status.code(), Some(3));
/// let codes: Vec<_> = out.stages.iter().map(|s| s.status.code()).collect();
/// assert_eq!(codes, [Some(3), Some(0)]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Output {
    /// How the command ended (for a pipeline, by the `pipefail` rule).
    pub status: ExitStatus,
    /// Captured stdout (empty if stdout was not captured).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty if stderr was not captured).
    pub stderr: Vec<u8>,
    /// `true` if a capture limit dropped some of stdout.
    pub stdout_truncated: bool,
    /// `true` if a capture limit dropped some of stderr.
    pub stderr_truncated: bool,
    /// `true` if reading stopped before end of file: another process still
    /// held the pipe open when the drain time ran out (see
    /// [`Command::drain_timeout`](crate::Command::drain_timeout)).
    pub incomplete: bool,
    /// From spawn to the end of the run.
    pub elapsed: Duration,
    /// Every process of the command, in pipeline order (one for a command).
    pub stages: Vec<Stage>,
}

/// One process of a finished command or pipeline.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stage {
    /// The stage's command line (secrets redacted).
    pub command: String,
    /// The process id it had.
    pub pid: u32,
    /// How it ended.
    pub status: ExitStatus,
    /// Its stdout, if this stage captured it itself.
    pub stdout: Vec<u8>,
    /// Its stderr, if this stage captured it itself.
    pub stderr: Vec<u8>,
}

impl Output {
    /// stdout as UTF-8.
    ///
    /// # Errors
    ///
    /// [`Error::NotUtf8`] if it is not valid UTF-8.
    pub fn stdout_str(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.stdout).map_err(|_| {
            let source = String::from_utf8(self.stdout.clone()).unwrap_err();
            Error::NotUtf8(Box::new(NotUtf8Error {
                command: self
                    .stages
                    .iter()
                    .map(|s| s.command.as_str())
                    .collect::<Vec<_>>()
                    .join(" | "),
                source,
            }))
        })
    }

    /// stdout as text, with invalid UTF-8 replaced by `U+FFFD`.
    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text, with invalid UTF-8 replaced by `U+FFFD`.
    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}
