//! `run_async` and the `read*_async` twins: a run spawned on a spawning
//! thread, driven by the background loop, awaited through a [`Cell`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;

use super::cell::Cell;
use crate::command::Command;
use crate::error::Error;
use crate::output::Output;
use crate::plan::Mode;
use crate::run_modes::{kill_now, read_lossy_text, read_stdout, read_text};

/// How a finished run's output becomes the future's value.
type Convert<T> = fn(Output, &Command) -> Result<T, Error>;

/// The future of [`Command::run_async`] and the `read*_async` methods.
///
/// Lazy: nothing is planned or spawned before the first poll. The command
/// is spawned on one of the crate's spawning threads (never on the
/// executor's thread) and driven by the crate's background thread, which
/// wakes this future when the run is over. Dropping it before it completes
/// kills the command's whole process tree and reaps it (see the
/// [module docs](crate::aio) on cancel safety).
#[must_use = "futures do nothing unless polled; dropping this one stops the command"]
pub struct RunFuture<T> {
    command: Command,
    mode: Mode,
    convert: Convert<T>,
    state: RunState,
}

enum RunState {
    Lazy,
    Running(Arc<Cell<Result<Output, Error>>>),
    Done,
}

impl<T> RunFuture<T> {
    fn new(command: &Command, mode: Mode, convert: Convert<T>) -> RunFuture<T> {
        RunFuture {
            command: command.clone(),
            mode,
            convert,
            state: RunState::Lazy,
        }
    }
}

/// Plans and spawns `command` on this (spawning) thread and hands the run
/// to the background loop; errors and the outcome go into `cell`.
fn spawn_into(command: &Command, mode: Mode, cell: Arc<Cell<Result<Output, Error>>>) {
    let exec = match command.exec(mode) {
        Ok((exec, _)) => exec,
        Err(error) => return cell.set(Err(error)),
    };
    cell.set_control(exec.control());
    let done = cell.clone();
    if let Err(rejected) = crate::reactor::submit(exec, Box::new(move |outcome| done.set(outcome)))
    {
        let rejected = *rejected;
        kill_now(rejected.exec);
        cell.set(Err(rejected.error));
    }
}

impl<T> Future for RunFuture<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &this.state {
            RunState::Lazy => {
                let cell = Arc::new(Cell::new(cx.waker()));
                this.state = RunState::Running(cell.clone());
                let (command, mode) = (this.command.clone(), this.mode);
                crate::pool::spawner::run(Box::new(move || {
                    spawn_into(&command, mode, cell);
                    None
                }));
                Poll::Pending
            }
            RunState::Running(cell) => match cell.poll_take(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(outcome) => {
                    this.state = RunState::Done;
                    Poll::Ready(outcome.and_then(|out| (this.convert)(out, &this.command)))
                }
            },
            RunState::Done => panic!("a procession RunFuture was polled after it completed"),
        }
    }
}

impl<T> FusedFuture for RunFuture<T> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, RunState::Done)
    }
}

impl<T> Drop for RunFuture<T> {
    fn drop(&mut self) {
        if let RunState::Running(cell) = &self.state {
            cell.close();
        }
    }
}

impl<T> std::fmt::Debug for RunFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            RunState::Lazy => "lazy",
            RunState::Running(_) => "running",
            RunState::Done => "done",
        };
        f.debug_struct("RunFuture")
            .field("command", &self.command.to_string())
            .field("state", &state)
            .finish()
    }
}

impl Command {
    /// The async twin of [`run`](Command::run): a future of the command's
    /// [`Output`], with the same options, errors and semantics.
    ///
    /// The future is lazy, `Send` and `'static` (it holds a clone of the
    /// command). Dropping it before it completes kills and reaps the
    /// command's process tree. The timeout counts from the spawn, as for
    /// `run`. A [`stdin_pipe`](Command::stdin_pipe) needs
    /// [`start`](Command::start): here it is
    /// [`InvalidInput::StdinPipeNeedsStart`](crate::InvalidInput::StdinPipeNeedsStart).
    ///
    /// # Errors
    ///
    /// As [`run`](Command::run), as the future's value.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let out = futures::executor::block_on(
    ///     procession::cmd!("echo", "hi").stdout_capture().run_async(),
    /// )?;
    /// assert_eq!(out.stdout, b"hi\n");
    /// # Ok(()) }
    /// ```
    pub fn run_async(&self) -> RunFuture<Output> {
        RunFuture::new(self, Mode::Run, |out, _| Ok(out))
    }

    /// The async twin of [`read`](Command::read): stdout as a `String`,
    /// trailing newlines trimmed.
    ///
    /// # Errors
    ///
    /// As [`read`](Command::read), as the future's value.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let text = futures::executor::block_on(procession::cmd!("echo", "hi").read_async())?;
    /// assert_eq!(text, "hi");
    /// # Ok(()) }
    /// ```
    pub fn read_async(&self) -> RunFuture<String> {
        RunFuture::new(self, Mode::Read, read_text)
    }

    /// The async twin of [`read_lossy`](Command::read_lossy).
    ///
    /// # Errors
    ///
    /// As [`read_lossy`](Command::read_lossy), as the future's value.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let text = futures::executor::block_on(
    ///     procession::cmd!("printf", "a\\377b").read_lossy_async(),
    /// )?;
    /// assert_eq!(text, "a\u{FFFD}b");
    /// # Ok(()) }
    /// ```
    pub fn read_lossy_async(&self) -> RunFuture<String> {
        RunFuture::new(self, Mode::Read, read_lossy_text)
    }

    /// The async twin of [`read_bytes`](Command::read_bytes).
    ///
    /// # Errors
    ///
    /// As [`read_bytes`](Command::read_bytes), as the future's value.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let bytes = futures::executor::block_on(procession::cmd!("printf", "a\\n").read_bytes_async())?;
    /// assert_eq!(bytes, b"a\n");
    /// # Ok(()) }
    /// ```
    pub fn read_bytes_async(&self) -> RunFuture<Vec<u8>> {
        RunFuture::new(self, Mode::Read, read_stdout)
    }
}
