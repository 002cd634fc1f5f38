//! Run external programs: one command, a pipeline of them, or many at once,
//! without the hangs, orphans and lost output that make that hard.
//!
//! ```
//! use procession::cmd;
//! # fn main() -> Result<(), procession::Error> {
//! // stdout as a String, trailing newline trimmed, like `$(...)`:
//! let version = cmd!("rustc", "--version").read()?;
//! assert!(version.starts_with("rustc"));
//!
//! // Everything captured, and a non-zero exit is an error that explains itself:
//! let err = cmd!("sh", "-c", "echo oops >&2; exit 1").stderr_capture().run().unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"command "sh -c 'echo oops >&2; exit 1'" exited with code 1: oops"#
//! );
//! # Ok(()) }
//! ```
//!
//! # A tour
//!
//! **Commands are values.** [`cmd!`] (or [`Command::new`]) builds an
//! immutable, cloneable [`Command`]: program, arguments, environment
//! ([`env`](Command::env), [`env_remove`](Command::env_remove),
//! [`env_clear`](Command::env_clear)), working directory
//! ([`dir`](Command::dir)). There is no shell unless you ask for one by name
//! with [`sh`].
//!
//! **Redirections.** stdin from nothing, bytes, a file, a path, or a pipe you
//! write to while the child runs; stdout and stderr to the terminal, nowhere,
//! memory (optionally with a byte limit that keeps the head or the tail), a
//! file or a path (truncate or append); `2>&1`, `1>&2` and a swap.
//!
//! **Run modes.** [`run`](Command::run) returns an [`Output`];
//! [`read`](Command::read) a `String`; [`start`](Command::start) a
//! [`Handle`] to wait for or stop from any thread; [`lines`](Command::lines)
//! iterates over stdout; [`events`](Command::events) over stdout and stderr
//! lines in arrival order, then the exit status.
//!
//! **Checked by default.** A non-zero exit or a death by signal is an
//! [`Error::Exit`] carrying the command line, the status and the tail of
//! captured stderr, unless [`unchecked`](Command::unchecked) or
//! [`ok_codes`](Command::ok_codes) say otherwise.
//!
//! **Pipelines.** `a | b | c` (or [`Command::pipe`]) is a command too, with
//! the status of every stage and a documented `pipefail` rule (see
//! [`Output`]).
//!
//! **Timeouts that own the tree.** Every command runs in its own process
//! group. A [`timeout`](Command::timeout), a [`deadline`](Command::deadline),
//! a [`CancelToken`] or [`Handle::terminate`] stops the whole group with a
//! [`StopSequence`] (`SIGTERM`, a grace period, `SIGKILL`), and reading never
//! hangs on a pipe that a grandchild still holds (see
//! [`drain_timeout`](Command::drain_timeout)). Ctrl-C and Ctrl-Z reach the
//! trees only if you opt in with [`forward_signals`]. A command that reads
//! the terminal on its stdin gets the terminal while it runs, as a shell's
//! foreground job (see [`Command::stdin_inherit`]).
//!
//! **Pools.** [`Pool`] runs many commands N at a time: results in input
//! order ([`Pool::map`]) or as they finish ([`Pool::as_completed`]), single
//! jobs ([`Pool::submit`]), lazy input, per-job timeouts, halt and retry
//! policies, per-job output and a GNU parallel job log.
//!
//! ```
//! use procession::{cmd, Pool};
//!
//! let pool = Pool::new(2);
//! let sizes: Vec<String> = pool
//!     .map(["a", "bb", "ccc"].iter().map(|w| cmd!("printf", w).pipe(cmd!("wc", "-c")).stdout_capture()))
//!     .map(|done| done.output().unwrap().stdout_lossy().trim().to_string())
//!     .collect();
//! assert_eq!(sizes, ["1", "2", "3"]);
//! ```
//!
//! # How it works
//!
//! Children are spawned with `posix_spawn` (never a slow `fork` of a big
//! parent), each run's pipes and exit notifications (Linux pidfds) are driven
//! by one `poll` loop, and no process-wide signal handler is installed. A
//! blocking run drives its loop on your thread; started handles share one
//! background thread.
//!
//! # Platform
//!
//! Linux (pidfd needs 5.3 or later; older kernels fall back to polling for
//! exits every 5 ms).

#![warn(missing_docs)]

mod cancel;
mod capture;
mod command;
mod control;
mod error;
mod exec;
mod handle;
mod output;
mod pipestatus;
mod pool;
mod reactor;
mod redirect;
mod run;
mod signals;
mod spawn;
mod status;
mod stop;
mod stream;
mod sync;
mod sys;
mod terminal;

pub use cancel::CancelToken;
pub use capture::Keep;
pub use command::{Command, sh};
pub use error::{
    Error, ExitError, InvalidInput, InvalidInputError, IoError, NotUtf8Error, SpawnError,
    SpawnFailure, StoppedError,
};
pub use handle::Handle;
pub use output::{Output, Stage};
pub use pool::{
    Completed, Done, Failure, Halt, HaltReason, Job, JobEvent, JobHandle, JobOutput, Ordered,
    ParseHaltError, Pool, PoolBuilder, Retry, StopCause, Summary, Threshold,
};
pub use signals::forward_signals;
pub use status::{ExitStatus, signal_name};
pub use stop::StopSequence;
pub use stream::{Event, Events, Lines};
