//! Line-by-line iterators over a running command's output.

use std::sync::Arc;

use crate::error::{Error, NotUtf8Error};
use crate::exec::{Exec, Request};
use crate::reactor;
use crate::spawn::Stream;
use crate::status::ExitStatus;
use crate::sys::Waker;

/// One item of [`Command::events`](crate::Command::events).
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

/// Drives an exec on the iterating thread, one line at a time.
struct Driver {
    exec: Option<Exec>,
    waker: Arc<Waker>,
}

impl Driver {
    fn new(exec: Exec) -> Result<Driver, Error> {
        let waker = reactor::local_waker(&exec)?;
        Ok(Driver {
            exec: Some(exec),
            waker,
        })
    }

    /// The next line, or at the end the run's outcome (once).
    fn next(&mut self) -> Option<Result<crate::exec::Line, Result<ExitStatus, Error>>> {
        let exec = self.exec.as_mut()?;
        reactor::drive(exec, &self.waker, |e| !e.lines.is_empty());
        if let Some(line) = exec.lines.pop_front() {
            return Some(Ok(line));
        }
        let exec = self.exec.take()?;
        Some(Err(exec.outcome().map(|o| o.status)))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(mut exec) = self.exec.take() {
            exec.control().post(Request::Kill);
            // Nobody reads any more: kill, reap, and drop what is left.
            reactor::drive(&mut exec, &self.waker, |_| false);
        }
    }
}

/// The lines of a command's stdout. See [`Command::lines`](crate::Command::lines).
pub struct Lines {
    driver: Driver,
    command: String,
}

impl Lines {
    pub(crate) fn new(exec: Exec) -> Result<Lines, Error> {
        let command = exec.display().to_string();
        Ok(Lines {
            driver: Driver::new(exec)?,
            command,
        })
    }
}

impl Iterator for Lines {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.driver.next()? {
            Ok(line) => Some(String::from_utf8(line.bytes).map_err(|source| {
                Error::NotUtf8(Box::new(NotUtf8Error {
                    command: self.command.clone(),
                    source,
                }))
            })),
            Err(Ok(_status)) => None,
            Err(Err(error)) => Some(Err(error)),
        }
    }
}

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("command", &self.command)
            .finish()
    }
}

/// stdout and stderr lines in arrival order, then the status. See
/// [`Command::events`](crate::Command::events).
pub struct Events {
    driver: Driver,
    command: String,
}

impl Events {
    pub(crate) fn new(exec: Exec) -> Result<Events, Error> {
        let command = exec.display().to_string();
        Ok(Events {
            driver: Driver::new(exec)?,
            command,
        })
    }
}

impl Iterator for Events {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.driver.next()? {
            Ok(line) => {
                let text = String::from_utf8_lossy(&line.bytes).into_owned();
                Ok(match line.stream {
                    Stream::Stdout => Event::Stdout(text),
                    Stream::Stderr => Event::Stderr(text),
                })
            }
            Err(Ok(status)) => Ok(Event::Exit(status)),
            Err(Err(error)) => Err(error),
        })
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("command", &self.command)
            .finish()
    }
}
