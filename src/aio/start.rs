//! `start_async` (a spawn on a spawning thread, resolving to a [`Handle`])
//! and `impl IntoFuture for Handle` (the owned output).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;

use super::cell::Cell;
use crate::command::Command;
use crate::error::Error;
use crate::handle::Handle;
use crate::output::Output;
use crate::plan::Mode;

/// The future of [`Command::start_async`]: a started command's [`Handle`].
///
/// Lazy: nothing is planned or spawned before the first poll. The command
/// is spawned on one of the crate's spawning threads, never on the
/// executor's thread. Dropping the future once the command is spawned
/// kills its whole process tree, as dropping the `Handle` would; the
/// background thread reaps it, and the drop does not wait for that.
#[must_use = "futures do nothing unless polled; dropping this one stops the command"]
pub struct StartFuture {
    command: Command,
    state: StartState,
}

enum StartState {
    Lazy,
    Spawning(Arc<Cell<Result<Handle, Error>>>),
    Done,
}

impl Future for StartFuture {
    type Output = Result<Handle, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &this.state {
            StartState::Lazy => {
                let cell = Arc::new(Cell::new(cx.waker()));
                this.state = StartState::Spawning(cell.clone());
                let command = this.command.clone();
                crate::pool::spawner::run(Box::new(move || {
                    let started = command.exec(Mode::Start).and_then(|(exec, stdin)| {
                        cell.set_control(exec.control());
                        Handle::start(exec, stdin)
                    });
                    // The future is gone: stop the command without keeping
                    // this spawning thread waiting for the reaping.
                    if let Some(Ok(handle)) = cell.offer(started) {
                        handle.kill_without_waiting();
                    }
                    None
                }));
                Poll::Pending
            }
            StartState::Spawning(cell) => match cell.poll_take(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(started) => {
                    this.state = StartState::Done;
                    Poll::Ready(started)
                }
            },
            StartState::Done => panic!("a procession StartFuture was polled after it completed"),
        }
    }
}

impl FusedFuture for StartFuture {
    fn is_terminated(&self) -> bool {
        matches!(self.state, StartState::Done)
    }
}

impl Drop for StartFuture {
    fn drop(&mut self) {
        if let StartState::Spawning(cell) = &self.state {
            // Spawned meanwhile: stop it without waiting; a spawn still in
            // progress is killed as soon as its run exists.
            if let Some(Ok(handle)) = cell.close_taking() {
                handle.kill_without_waiting();
            }
        }
    }
}

impl std::fmt::Debug for StartFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            StartState::Lazy => "lazy",
            StartState::Spawning(_) => "spawning",
            StartState::Done => "done",
        };
        f.debug_struct("StartFuture")
            .field("command", &self.command.to_string())
            .field("state", &state)
            .finish()
    }
}

/// The future of a [`Handle`] awaited by value (`handle.await`): the
/// command's [`Output`], owned.
///
/// Dropping it before the command is over kills the command's whole
/// process tree, as dropping the `Handle` does; the background thread
/// reaps it, and the drop does not wait for that. To await a handle
/// without giving it up, use [`Handle::wait_async`].
#[must_use = "futures do nothing unless polled; dropping this one stops the command"]
#[derive(Debug)]
pub struct HandleFuture {
    handle: Option<Handle>,
    id: u64,
}

impl Future for HandleFuture {
    type Output = Result<Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let handle = this
            .handle
            .as_ref()
            .expect("a procession HandleFuture was polled after it completed");
        if handle.poll_result(this.id, cx.waker()).is_none() {
            return Poll::Pending;
        }
        let handle = this.handle.take().expect("checked above");
        // Over: `into_output` does not wait.
        Poll::Ready(handle.into_output())
    }
}

impl FusedFuture for HandleFuture {
    fn is_terminated(&self) -> bool {
        self.handle.is_none()
    }
}

impl Drop for HandleFuture {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.forget_waiter(self.id);
            if !handle.is_finished() {
                handle.kill_without_waiting();
            }
        }
    }
}

/// `handle.await` resolves to the command's owned [`Output`], as
/// [`into_output`](Handle::into_output) does without blocking. Dropping the
/// future before the command is over kills the command (see
/// [`HandleFuture`]).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), procession::Error> {
/// futures::executor::block_on(async {
///     let handle = procession::cmd!("echo", "mine").stdout_capture().start_async().await?;
///     let out: procession::Output = handle.await?;
///     assert_eq!(out.stdout, b"mine\n");
///     Ok(())
/// })
/// # }
/// ```
impl IntoFuture for Handle {
    type Output = Result<Output, Error>;
    type IntoFuture = HandleFuture;

    fn into_future(self) -> HandleFuture {
        let id = self.waiter_id();
        HandleFuture {
            handle: Some(self),
            id,
        }
    }
}

impl Command {
    /// The async twin of [`start`](Command::start): a future of the started
    /// command's [`Handle`].
    ///
    /// The command is spawned on one of the crate's spawning threads at the
    /// first poll, never on the executor's thread; the future is lazy,
    /// `Send` and `'static`. Dropping it once the command is spawned kills
    /// the command's whole process tree (the `Handle`'s drop policy). Await
    /// the handle with [`Handle::wait_async`], or by value (`handle.await`,
    /// see [`HandleFuture`]).
    ///
    /// # Errors
    ///
    /// As [`start`](Command::start), as the future's value.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// futures::executor::block_on(async {
    ///     let handle = procession::cmd!("echo", "hi").stdout_capture().start_async().await?;
    ///     assert_eq!(handle.wait_async().await?.stdout, b"hi\n");
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn start_async(&self) -> StartFuture {
        StartFuture {
            command: self.clone(),
            state: StartState::Lazy,
        }
    }
}
