//! The [`Lines`] and [`Events`] iterators over a running command's output.

use std::sync::{Arc, Mutex, TryLockError, Weak};

use crate::control::Request;
use crate::error::{Error, LineTooLongError, NotUtf8Error};
use crate::reactor;
use crate::redirect::Stream;
use crate::run::{Exec, Line};
use crate::signals::Settle;
use crate::status::ExitStatus;
use crate::sync::lock;
use crate::sys::Waker;

/// One item of [`Command::events`](crate::Command::events).
///
/// # Examples
///
/// ```
/// use procession::{sh, Event};
/// # fn main() -> Result<(), procession::Error> {
/// let mut events = sh("echo hi; exit 3").unchecked().events()?;
/// assert_eq!(events.next().transpose()?, Some(Event::Stdout("hi".into())));
/// let Some(Event::Exit(status)) = events.next().transpose()? else { panic!("no exit") };
/// assert_eq!(status.code(), Some(3));
/// assert!(events.next().is_none());
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A line of stdout, without its newline.
    Stdout(String),
    /// A line of stderr, without its newline.
    Stderr(String),
    /// The command ended with this status (the last event).
    Exit(ExitStatus),
}

/// The error item for a piece of an overlong line of `command`, whose
/// longest whole line is `max`.
fn too_long(line: Line, command: &str, max: usize) -> Error {
    Error::LineTooLong(Box::new(LineTooLongError {
        command: command.to_string(),
        stderr: line.stream == Stream::Stderr,
        bytes: line.bytes,
        max,
        ends_line: line.ends_line,
    }))
}

/// A line as an item of [`Lines`] (and `aio::LineStream`): UTF-8 text, or
/// the error that keeps the bytes.
pub(crate) fn line_item(line: Line, command: &str, max: usize) -> Result<String, Error> {
    if line.overlong {
        return Err(too_long(line, command, max));
    }
    String::from_utf8(line.bytes).map_err(|source| {
        Error::NotUtf8(Box::new(NotUtf8Error {
            command: command.to_string(),
            source,
        }))
    })
}

/// The last item of [`Lines`] (and `aio::LineStream`): the run's error,
/// if it failed.
pub(crate) fn line_end(outcome: Result<ExitStatus, Error>) -> Option<Result<String, Error>> {
    outcome.err().map(Err)
}

/// A line as an item of [`Events`] (and `aio::EventStream`): decoded
/// lossily, tagged with its stream.
pub(crate) fn event_item(line: Line, command: &str, max: usize) -> Result<Event, Error> {
    if line.overlong {
        return Err(too_long(line, command, max));
    }
    let text = String::from_utf8_lossy(&line.bytes).into_owned();
    Ok(match line.stream {
        Stream::Stdout => Event::Stdout(text),
        Stream::Stderr => Event::Stderr(text),
    })
}

/// The last item of [`Events`] (and `aio::EventStream`): the exit status,
/// or the run's error.
pub(crate) fn event_end(outcome: Result<ExitStatus, Error>) -> Result<Event, Error> {
    outcome.map(Event::Exit)
}

/// Drives an exec on the iterating thread, one line at a time.
///
/// Between two calls of `next`, nobody drives the run. With
/// [`forward_signals`](crate::forward_signals) on, the signal thread may
/// then drive it itself, to stop it at once: the run sits behind a mutex
/// that the iterating thread holds only inside `next`.
struct Driver {
    slot: Arc<Mutex<Parked>>,
    /// The command line, for errors.
    command: String,
    /// The longest line handed out whole.
    max: usize,
}

struct Parked {
    exec: Option<Exec>,
    waker: Arc<Waker>,
}

impl Driver {
    fn new(exec: Exec) -> Result<Driver, Error> {
        let waker = reactor::local_waker(&exec)?;
        let command = exec.display().to_string();
        let max = exec.max_line();
        let slot = Arc::new(Mutex::new(Parked {
            exec: Some(exec),
            waker,
        }));
        let settle: Weak<Mutex<Parked>> = Arc::downgrade(&slot);
        crate::signals::register_settle(settle as Weak<dyn Settle>);
        Ok(Driver { slot, command, max })
    }

    fn set_max_line(&mut self, max: usize) {
        if let Some(exec) = &mut lock(&self.slot).exec {
            exec.set_max_line(max);
        }
        self.max = max.max(crate::run::MIN_MAX_LINE);
    }

    /// The next line, or at the end the run's outcome (once).
    fn next(&mut self) -> Option<Result<Line, Result<ExitStatus, Error>>> {
        let mut parked = lock(&self.slot);
        let Parked { exec, waker } = &mut *parked;
        let running = exec.as_mut()?;
        reactor::drive(running, waker, |e| !e.lines.is_empty());
        if let Some(line) = running.lines.pop_front() {
            return Some(Ok(line));
        }
        let exec = exec.take()?;
        Some(Err(exec.outcome().map(|o| o.status)))
    }
}

impl Settle for Mutex<Parked> {
    /// Drives the run to its end if the iterating thread is not inside
    /// `next` (which acts on the stop request itself).
    fn settled(&self) -> bool {
        let mut parked = match self.try_lock() {
            Ok(parked) => parked,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        let Parked { exec, waker } = &mut *parked;
        if let Some(exec) = exec {
            reactor::drive(exec, waker, |_| false);
            // Over, though its outcome waits for the iterator.
            exec.control().mark_done();
        }
        true
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let mut parked = lock(&self.slot);
        let Parked { exec, waker } = &mut *parked;
        if let Some(mut exec) = exec.take() {
            exec.control().post(Request::Kill);
            // Nobody reads any more: kill, reap, and drop what is left.
            reactor::drive(&mut exec, waker, |_| false);
        }
    }
}

/// The lines of a command's stdout. See [`Command::lines`](crate::Command::lines).
///
/// # Examples
///
/// ```
/// use procession::sh;
/// # fn main() -> Result<(), procession::Error> {
/// let mut lines = sh("echo one; echo two; exit 2").lines()?;
/// assert_eq!(lines.next().transpose()?.as_deref(), Some("one"));
/// assert_eq!(lines.next().transpose()?.as_deref(), Some("two"));
/// // A failing command's error is the last item.
/// let err = lines.next().expect("an item").unwrap_err();
/// assert_eq!(err.status().and_then(|s| s.code()), Some(2));
/// assert!(lines.next().is_none());
///
/// // Dropping the iterator early kills the command's process tree: no
/// // waiting for the `sleep`.
/// let lines = sh("echo a; echo b; sleep 10").lines()?;
/// let first: Vec<String> = lines.take(2).collect::<Result<_, _>>()?;
/// assert_eq!(first, ["a", "b"]);
/// # Ok(()) }
/// ```
#[must_use = "dropping Lines kills the command at once: iterate over it"]
pub struct Lines {
    driver: Driver,
}

impl Lines {
    pub(crate) fn new(exec: Exec) -> Result<Lines, Error> {
        Ok(Lines {
            driver: Driver::new(exec)?,
        })
    }

    /// The longest line handed out whole, in bytes (default 8 MiB; at
    /// least 4). A longer line comes as several [`Error::LineTooLong`]
    /// items in a row, each holding a piece of at most `max` bytes cut
    /// between UTF-8 characters, so no byte is lost and memory stays
    /// bounded by about `max` plus a read buffer. Set it before the first
    /// call to `next`.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{cmd, Error};
    /// # fn main() -> Result<(), procession::Error> {
    /// let mut lines = cmd!("printf", "short\\nlonger than eight\\n").lines()?.max_line(8);
    /// assert_eq!(lines.next().transpose()?.as_deref(), Some("short"));
    /// let Some(Err(Error::LineTooLong(piece))) = lines.next() else { panic!() };
    /// assert_eq!(piece.text(), Some("longer t"));
    /// # Ok(()) }
    /// ```
    pub fn max_line(mut self, max: usize) -> Lines {
        self.driver.set_max_line(max);
        self
    }
}

impl Iterator for Lines {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.driver.next()? {
            Ok(line) => Some(line_item(line, &self.driver.command, self.driver.max)),
            Err(outcome) => line_end(outcome),
        }
    }
}

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("command", &self.driver.command)
            .finish()
    }
}

/// stdout and stderr lines in arrival order, then the status. See
/// [`Command::events`](crate::Command::events).
///
/// # Examples
///
/// ```
/// use procession::{sh, Event};
/// # fn main() -> Result<(), procession::Error> {
/// let events: Vec<_> = sh("echo warning >&2; exit 1").events()?.collect();
/// assert_eq!(events.len(), 2);
/// assert_eq!(events[0].as_ref().ok(), Some(&Event::Stderr("warning".into())));
/// // A failing command ends with its error instead of `Event::Exit`.
/// let err = events[1].as_ref().unwrap_err();
/// assert_eq!(err.status().and_then(|s| s.code()), Some(1));
/// # Ok(()) }
/// ```
#[must_use = "dropping Events kills the command at once: iterate over it"]
pub struct Events {
    driver: Driver,
}

impl Events {
    pub(crate) fn new(exec: Exec) -> Result<Events, Error> {
        Ok(Events {
            driver: Driver::new(exec)?,
        })
    }

    /// The longest line handed out whole, in bytes (default 8 MiB; at
    /// least 4): as [`Lines::max_line`], for both streams.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::{sh, Error, Event};
    /// # fn main() -> Result<(), procession::Error> {
    /// let mut events = sh("echo 0123456789 >&2").events()?.max_line(6);
    /// let Some(Err(Error::LineTooLong(piece))) = events.next() else { panic!() };
    /// assert_eq!((piece.text(), piece.is_stderr()), (Some("012345"), true));
    /// let Some(Err(Error::LineTooLong(piece))) = events.next() else { panic!() };
    /// assert_eq!((piece.text(), piece.ends_line()), (Some("6789"), true));
    /// assert!(matches!(events.next(), Some(Ok(Event::Exit(_)))));
    /// # Ok(()) }
    /// ```
    pub fn max_line(mut self, max: usize) -> Events {
        self.driver.set_max_line(max);
        self
    }
}

impl Iterator for Events {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.driver.next()? {
            Ok(line) => event_item(line, &self.driver.command, self.driver.max),
            Err(outcome) => event_end(outcome),
        })
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("command", &self.driver.command)
            .finish()
    }
}
