//! A command that ended with a failing status: [`ExitError`].

use std::fmt;
use std::sync::Arc;

use crate::output::Output;
use crate::status::ExitStatus;

/// A command that ended with a failing status. See [`Error::Exit`](crate::Error::Exit).
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
