//! Output that is not the text asked for: [`NotUtf8Error`] and
//! [`LineTooLongError`].

use std::fmt;
use std::string::FromUtf8Error;

use super::Error;
use crate::output::Output;

/// The accessor of [`Output`] that can fail for want of UTF-8 lives here,
/// beside its error, so that `Output` needs nothing from the errors that
/// carry it.
impl Output {
    /// stdout as UTF-8.
    ///
    /// # Errors
    ///
    /// [`Error::NotUtf8`] if it is not valid UTF-8.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    /// # fn main() -> Result<(), Error> {
    /// let out = cmd!("echo", "text").stdout_capture().run()?;
    /// assert_eq!(out.stdout_str()?, "text\n");
    ///
    /// let out = cmd!("printf", "\\377").stdout_capture().run()?;
    /// assert!(matches!(out.stdout_str(), Err(Error::NotUtf8(_))));
    /// # Ok(()) }
    /// ```
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
}

/// Output that was not UTF-8. See [`Error::NotUtf8`](crate::Error::NotUtf8).
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

/// A piece of a line longer than the maximum. See [`Error::LineTooLong`](crate::Error::LineTooLong).
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
