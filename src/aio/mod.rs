//! Async twins of the run modes: futures on any executor.
//!
//! **Naming rule.** A blocking method `x` has an async twin `x_async` that
//! returns a future, with the same options, errors and semantics:
//!
//! | Blocking | Async twin | Future's value |
//! |---|---|---|
//! | [`Command::run`] | [`Command::run_async`] | `Result<Output, Error>` |
//! | [`Command::read`] | [`Command::read_async`] | `Result<String, Error>` |
//! | [`Command::read_lossy`] | [`Command::read_lossy_async`] | `Result<String, Error>` |
//! | [`Command::read_bytes`] | [`Command::read_bytes_async`] | `Result<Vec<u8>, Error>` |
//! | [`Command::start`] | [`Command::start_async`] | `Result<Handle, Error>` |
//! | [`Handle::into_output`] | `handle.await` ([`HandleFuture`]) | `Result<Output, Error>` |
//! | [`Handle::take_stdin`] | [`Handle::take_stdin_async`] | an [`AsyncStdin`] (`futures_io::AsyncWrite`), not a future |
//! | [`Command::lines`] | [`Command::lines_async`] | a [`LineStream`] of `Result<String, Error>` |
//! | [`Command::events`] | [`Command::events_async`] | an [`EventStream`] of `Result<Event, Error>` |
//! | [`Handle::wait`] | [`Handle::wait_async`] | `Result<&Output, Error>` |
//! | [`JobHandle::wait`] | [`JobHandle::wait_async`] | `Result<&Output, Error>` |
//! | [`JobHandle::done`] | [`JobHandle::done_async`] | `&Done` |
//!
//! **No runtime.** The futures work on any executor (tokio, smol,
//! `futures::executor`, ...): the command is spawned on one of the crate's
//! spawning threads, never on the executor's thread, and driven by the
//! crate's one background thread, which reads its pipes, enforces its
//! timeout and reaps it, then wakes the future with its
//! [`Waker`](std::task::Waker). No thread is blocked per run, and polling
//! never waits on a pipe, a condition variable or a lock held across I/O.
//! [`RunFuture`] is `Send` and `'static` (it holds a clone of the command),
//! so it can be spawned as a task.
//!
//! **Cancel safety.**
//!
//! | Method | Dropping it before it completes | Cancel-safe in a `select!` loop |
//! |---|---|---|
//! | `run_async`, `read*_async` | kills and reaps the whole tree; the output is lost | no: dropping it is how you stop the command |
//! | `start_async` | once spawned, kills the tree (as dropping the [`Handle`]); the background thread reaps it | no |
//! | `handle.await` | kills the tree (as dropping the `Handle`); the background thread reaps it | no: use `wait_async` in a loop |
//! | `LineStream`, `EventStream`: `next()` | nothing: the item is handed out or stays queued | yes |
//! | dropping a `LineStream` or `EventStream` | kills and reaps the whole tree; queued lines are dropped | - |
//! | `AsyncStdin`: `write` / `write_all` | nothing (a pending write wrote nothing) / part of the buffer may be written | yes / no |
//! | `Handle::wait_async` | nothing: the [`Handle`] owns the run | yes |
//! | `JobHandle::wait_async`, `done_async` | nothing: the pool owns the job (as when a `JobHandle` is dropped) | yes |
//!
//! A [`RunFuture`], a [`StartFuture`] and the streams are lazy: nothing is spawned before
//! their first poll, so one dropped unpolled starts nothing. A spawn error
//! or invalid input is therefore the future's value, or the stream's first
//! and last item (the blocking `lines` and `events` return it at once).
//!
//! **Streams are bounded.** The background thread queues a stream's lines
//! up to 256 KiB; past that it stops reading that command's pipes (the
//! command blocks on its full pipe, as on a slow terminal) until the
//! stream is polled again. The thread itself never waits, and serves every
//! other command meanwhile.
//!
//! ```
//! use procession::cmd;
//! # fn main() -> Result<(), procession::Error> {
//! futures::executor::block_on(async {
//!     let (a, b) = futures::join!(cmd!("echo", "a").read_async(), cmd!("echo", "b").read_async());
//!     assert_eq!((a?, b?), ("a".to_string(), "b".to_string()));
//!     Ok(())
//! })
//! # }
//! ```

mod cell;
mod job;
mod run;
mod start;
mod stdin;
mod stream;
mod wait;

pub use job::{JobDone, JobWait};
pub use run::RunFuture;
pub use start::{HandleFuture, StartFuture};
pub use stdin::AsyncStdin;
pub use stream::{EventStream, LineStream};
pub use wait::Wait;

#[cfg(doc)]
use crate::{Command, Done, Event, Handle, JobHandle};
