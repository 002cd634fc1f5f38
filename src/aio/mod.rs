//! Async twins of the run modes: futures and streams on any executor.
//!
//! **Naming rule.** Every blocking method `x` that has an async twin calls
//! it `x_async`, with the same options, errors and semantics; the twin
//! returns a future, or a [`Stream`](futures_core::Stream) where the
//! blocking method returns an iterator. The blocking names do not change,
//! and there is one [`Command`] builder for both. The returned types live
//! here (`async` is a keyword). The one exception to the suffix is a
//! [`Handle`] awaited by value, `handle.await` (`IntoFuture`), which reads
//! as [`Handle::into_output`] does.
//!
//! | Blocking | Async twin | Returns |
//! |---|---|---|
//! | [`Command::run`] | [`Command::run_async`] | [`RunFuture`]: `Result<Output, Error>` |
//! | [`Command::read`] | [`Command::read_async`] | [`RunFuture`]: `Result<String, Error>` |
//! | [`Command::read_lossy`] | [`Command::read_lossy_async`] | [`RunFuture`]: `Result<String, Error>` |
//! | [`Command::read_bytes`] | [`Command::read_bytes_async`] | [`RunFuture`]: `Result<Vec<u8>, Error>` |
//! | [`Command::start`] | [`Command::start_async`] | [`StartFuture`]: `Result<Handle, Error>` |
//! | [`Handle::wait`] | [`Handle::wait_async`] | [`Wait`]: `Result<&Output, Error>` |
//! | [`Handle::into_output`] | `handle.await` | [`HandleFuture`]: `Result<Output, Error>` |
//! | [`Handle::take_stdin`] | [`Handle::take_stdin_async`] | `Option<`[`AsyncStdin`]`>`, a `futures_io::AsyncWrite` |
//! | [`Command::lines`] | [`Command::lines_async`] | [`LineStream`]: `Stream<Item = Result<String, Error>>` |
//! | [`Command::events`] | [`Command::events_async`] | [`EventStream`]: `Stream<Item = Result<Event, Error>>` |
//! | [`JobHandle::wait`] | [`JobHandle::wait_async`] | [`JobWait`]: `Result<&Output, Error>` |
//! | [`JobHandle::done`] | [`JobHandle::done_async`] | [`JobDone`]: `&Done` |
//! | [`Pool::map`] | [`Pool::map_async`] | [`OrderedStream`]: `Stream<Item = Done>`, in input order |
//! | [`Pool::as_completed`] | [`Pool::as_completed_async`] | [`CompletedStream`]: `Stream<Item = Done>`, as jobs finish |
//! | [`Pool::join`] | [`Pool::join_async`] | [`Join`]: [`Summary`] |
//! | [`Pool::terminate`] | [`Pool::terminate_async`] | [`Terminate`]: `()` |
//!
//! Every future and stream here is `Send` and `Unpin`, and implements
//! `FusedFuture` or `FusedStream` (for `futures::select!`). Those that own
//! a clone of the command ([`RunFuture`], [`StartFuture`], the streams) are
//! `'static`: spawn them as tasks. So are the pool's streams: they hold the
//! pool's shared state, not a borrow of the [`Pool`].
//!
//! **No runtime.** The futures work on any executor (tokio, smol,
//! async-executor, `futures::executor`, ...): a command is spawned on one
//! of the crate's spawning threads, never on the executor's thread, and
//! driven by the crate's one background thread, which reads its pipes,
//! writes its input, enforces its timeout and reaps it, then wakes the
//! task with its [`Waker`](std::task::Waker). No thread is blocked per run,
//! and a poll never waits on a pipe, a condition variable or a lock held
//! across I/O.
//!
//! **The pool's streams** drive their batch while they are polled, as the
//! blocking iterators do while they are iterated: the pool's threads and
//! the background thread wake them when a job starts or ends, and the
//! background thread's timers when a retry's delay or the pool's deadline
//! comes. As from the blocking iterators, a job comes once its output is
//! out: [`JobOutput::Grouped`](crate::JobOutput::Grouped) output is copied
//! out in order off the executor's thread, and the stream waits, without
//! blocking, for that copy or for a job's
//! [`JobOutput::Tagged`](crate::JobOutput::Tagged) lines to be written.
//!
//! **Lazy.** A [`RunFuture`], a [`StartFuture`] and the streams do nothing
//! before their first poll, so one dropped unpolled starts nothing. A spawn
//! error or invalid input is therefore the future's value, or a stream's
//! first and last item, where the blocking `lines` and `events` return it
//! at once.
//!
//! **Streams are bounded.** The background thread queues a stream's lines
//! up to 256 KiB (plus a read chunk per pipe and one line of at most
//! `max_line`);
//! past that it stops reading that command's pipes, so the command blocks
//! on its full pipe, as on a slow terminal, until the stream is polled
//! again. The thread itself never waits, and serves every other command
//! meanwhile.
//!
//! **Cancel safety.** Dropping a future that owns a run stops the run's
//! whole process tree and reaps it (no zombie), as dropping a [`Handle`]
//! does; the drop itself returns at once. Futures that borrow a handle
//! leave its run alone.
//!
//! | Method | Dropping it before it completes | Cancel-safe in a `select!` loop |
//! |---|---|---|
//! | `run_async`, `read*_async` | kills and reaps the whole tree; the output is lost | no: dropping it is how you stop the command |
//! | `start_async` | once spawned, kills and reaps the whole tree (the `Handle`'s drop policy) | no |
//! | `handle.await` | kills and reaps the whole tree (the `Handle` is consumed) | no: use `wait_async` |
//! | `Handle::wait_async` | nothing: the [`Handle`] owns the run | yes |
//! | `LineStream`, `EventStream`: `next()` | nothing: an item is handed out or stays queued | yes |
//! | dropping a `LineStream` or `EventStream` | kills and reaps the whole tree; queued lines are dropped | - |
//! | `AsyncStdin`: `write` / `write_all` | nothing (a pending write wrote nothing) / part of the buffer may be written | yes / no |
//! | dropping or closing an `AsyncStdin` | end of file for the command, which goes on | - |
//! | `JobHandle::wait_async`, `done_async` | nothing: the pool owns the job (as when a `JobHandle` is dropped) | yes |
//! | pool streams: `next()` | nothing: a job is handed out, or stays for the next call | yes |
//! | dropping a pool stream | kills the running jobs' trees (`SIGKILL`) and starts no more, at once; a short-lived thread of its own waits for the reaping | - |
//! | `Pool::join_async` | nothing | yes |
//! | `Pool::terminate_async` | the stop is posted at its first poll and stays; only the wait is dropped | yes |
//!
//! # Examples
//!
//! ```
//! use futures::StreamExt;
//! use procession::cmd;
//! # fn main() -> Result<(), procession::Error> {
//! futures::executor::block_on(async {
//!     // Two commands at once.
//!     let (a, b) = futures::join!(cmd!("echo", "a").read_async(), cmd!("echo", "b").read_async());
//!     assert_eq!((a?, b?), ("a".to_string(), "b".to_string()));
//!
//!     // A pipeline's lines as they come.
//!     let mut lines = (cmd!("printf", "1 ok\\n2 ERROR\\n3 ok\\n") | cmd!("grep", "ERROR")).lines_async();
//!     assert_eq!(lines.next().await.transpose()?.as_deref(), Some("2 ERROR"));
//!     assert!(lines.next().await.is_none());
//!
//!     // Start, then await by value.
//!     let handle = cmd!("echo", "hi").stdout_capture().start_async().await?;
//!     assert_eq!(handle.await?.stdout, b"hi\n");
//!     Ok(())
//! })
//! # }
//! ```

mod cell;
mod grouped;
mod job;
mod pool;
mod run;
mod start;
mod stdin;
mod stream;
mod wait;

pub(crate) use grouped::GroupedCopier;
pub use job::{JobDone, JobWait};
pub use pool::{CompletedStream, Join, OrderedStream, Terminate};
pub use run::RunFuture;
pub use start::{HandleFuture, StartFuture};
pub use stdin::AsyncStdin;
pub use stream::{EventStream, LineStream};
pub use wait::Wait;

#[cfg(doc)]
use crate::{Command, Done, Event, Handle, JobHandle, Pool, Summary};
