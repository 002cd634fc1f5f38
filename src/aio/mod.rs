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
//! | [`Handle::wait`] | [`Handle::wait_async`] | `Result<&Output, Error>` |
//! | [`JobHandle::wait`] | [`JobHandle::wait_async`] | `Result<&Output, Error>` |
//! | [`JobHandle::done`] | [`JobHandle::done_async`] | `&Done` |
//! | [`Pool::map`] | [`Pool::map_async`] | [`OrderedStream`]: a `Stream` of [`Done`], in input order |
//! | [`Pool::as_completed`] | [`Pool::as_completed_async`] | [`CompletedStream`]: a `Stream` of [`Done`], as jobs finish |
//! | [`Pool::join`] | [`Pool::join_async`] | [`Summary`] |
//! | [`Pool::terminate`] | [`Pool::terminate_async`] | `()` |
//!
//! **No runtime.** The futures work on any executor (tokio, smol,
//! `futures::executor`, ...): the command is spawned on one of the crate's
//! spawning threads, never on the executor's thread, and driven by the
//! crate's one background thread, which reads its pipes, enforces its
//! timeout and reaps it, then wakes the future with its
//! [`Waker`](std::task::Waker). No thread is blocked per run, and polling
//! never waits on a pipe, a condition variable or a lock held across I/O.
//! [`RunFuture`] is `Send` and `'static` (it holds a clone of the command),
//! so it can be spawned as a task; so are the pool's streams (they hold
//! the pool's shared state, not a borrow of the [`Pool`]).
//!
//! A pool stream drives its batch while it is polled, as the blocking
//! iterators do while they are iterated: the pool's threads and the
//! background thread wake it when a job starts or ends, and the background
//! thread's timers when a retry's delay or the pool's deadline comes.
//! As from the blocking iterators, a job comes once its output is out:
//! [`JobOutput::Grouped`](crate::JobOutput::Grouped) output is copied out
//! in order off the executor's thread, and the stream waits, without
//! blocking, for that copy or for a job's
//! [`JobOutput::Tagged`](crate::JobOutput::Tagged) lines to be written.
//!
//! **Cancel safety.**
//!
//! | Method | Dropping it before it completes | Cancel-safe in a `select!` loop |
//! |---|---|---|
//! | `run_async`, `read*_async` | kills and reaps the whole tree; the output is lost | no: dropping it is how you stop the command |
//! | `Handle::wait_async` | nothing: the [`Handle`] owns the run | yes |
//! | `JobHandle::wait_async`, `done_async` | nothing: the pool owns the job (as when a `JobHandle` is dropped) | yes |
//! | pool streams: `next()` | nothing: a job is handed out, or stays for the next call | yes |
//! | dropping a pool stream | kills the running jobs' trees (`SIGKILL`) and starts no more, at once; a short-lived thread of its own waits for the reaping | - |
//! | `Pool::join_async` | nothing | yes |
//! | `Pool::terminate_async` | the stop is posted at its first poll and stays; only the wait is dropped | yes |
//!
//! A [`RunFuture`] is lazy: nothing is spawned before its first poll, so
//! one dropped unpolled starts nothing.
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
mod grouped;
mod job;
mod pool;
mod run;
mod wait;

pub(crate) use grouped::GroupedCopier;
pub use job::{JobDone, JobWait};
pub use pool::{CompletedStream, Join, OrderedStream, Terminate};
pub use run::RunFuture;
pub use wait::Wait;

#[cfg(doc)]
use crate::{Command, Done, Handle, JobHandle, Pool, Summary};
