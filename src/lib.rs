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
//! parent, unless a setting that needs one is asked for: see
//! [`Command::uid`]), each run's pipes and exit notifications (Linux pidfds) are driven
//! by one `poll` loop, and no process-wide signal handler is installed. A
//! blocking run drives its loop on your thread; started handles share one
//! background thread.
//!
//! # Platform
//!
//! Linux (pidfd needs 5.3 or later; older kernels fall back to polling for
//! exits every 5 ms).
//!
//! # Cargo features
//!
//! None is on by default.
//!
//! - `duct`: a `duct::Expression` can be a pool job (`Job::Duct`, with
//!   `From` conversions), run by duct's own spawning.
//! - `progress`: [`PoolBuilder`]'s `progress` option draws a progress bar
//!   with counts and an ETA while a batch runs, when stderr is a terminal,
//!   and a plain progress line every few seconds when it is not.
//! - `slurm`: `PoolBuilder::slurm` runs a pool's jobs on a Slurm cluster,
//!   each attempt through `srun` (a job of its own, or a step inside an
//!   allocation), stopped with `scancel`; see the README, "Running on a
//!   cluster".
//! - `tracing`: a `tracing` span per run and per pool job (command line
//!   with secrets redacted, pid, status, duration).

#![warn(missing_docs)]
// `deny`, not `forbid`: the one exception, building a real-time signal once
// its number is checked (`sys/process.rs`), allows it locally.
#![deny(unsafe_code)]
// docs.rs (see `[package.metadata.docs.rs]`) marks what a feature enables.
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's Rust examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// The module map: one concept per file; a folder's `mod.rs` maps its own
// files. From the user's call down to the system:
//
// | Module        | Holds                                                           |
// |---------------|-----------------------------------------------------------------|
// | `command/`    | the `Command` value and its builder methods                     |
// | `redirect`    | where stdin comes from and stdout and stderr go (`Stream`)      |
// | `run_modes`   | `run`, `read`, `start`, `lines`, `events`, and the spawn entry  |
// | `plan`        | a command tree flattened into stages, redirections resolved     |
// | `spawn`       | a plan started: pipes, one process group, why a spawn failed    |
// | `run/`        | one run in progress (`Exec`): its processes, pipes and timers   |
// | `reactor`     | the poll loops that drive runs                                  |
// | `watch`       | one-shot descriptor watches on the background loop              |
// | `control`     | what other threads may ask of a run, and how they wake it       |
// | `handle`      | a started command: wait for it or stop it                       |
// | `lines`       | the `Lines` and `Events` iterators                              |
// | `aio/`        | the async twins (`run_async`, ...): futures on any executor     |
// | `output`      | what a finished run produced                                    |
// | `error/`      | the one error type and the details of each kind                 |
// | `pool/`       | many commands, N at a time                                      |
// | `time_limit`  | the earliest timeout and deadline, and when a run is due        |
// | `stop`        | the stop sequence and its pure step rule                        |
// | `pipestatus`  | the pipeline status rule                                        |
// | `capture`     | a capture buffer with an optional byte limit                    |
// | `cancel`      | `CancelToken`                                                   |
// | `signals`     | opt-in forwarding of the terminal's signals                     |
// | `terminal`    | job control for a command that reads the terminal               |
// | `status`      | how a process ended                                             |
// | `duration`    | how durations read in messages                                  |
// | `sync`        | how the crate's threads wait for each other                     |
// | `trace`       | `tracing` spans (feature `tracing`)                             |
// | `sys/`        | every system call and platform type                             |
#[doc(alias = "async")]
pub mod aio;
mod cancel;
mod capture;
mod command;
mod control;
mod duration;
mod error;
mod handle;
mod lines;
mod output;
mod pipestatus;
mod plan;
mod pool;
mod reactor;
mod redirect;
mod run;
mod run_modes;
mod signals;
mod spawn;
mod status;
mod stop;
mod sync;
mod sys;
mod terminal;
mod time_limit;
mod trace;
mod watch;

/// The integration tests' support (the `pt` helper, `/proc` checks), for
/// unit tests that run programs.
#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod test_support;
/// Lets the shared test support name this crate as the tests do.
#[cfg(test)]
extern crate self as procession;

pub use cancel::CancelToken;
pub use capture::{Keep, Spilled, SpilledReader};
pub use command::{Command, sh};
pub use error::{
    Error, ExitError, InvalidInput, InvalidInputError, IoError, LineTooLongError, NotUtf8Error,
    PanicError, SkippedError, SpawnError, SpawnFailure, StoppedError,
};
pub use handle::Handle;
pub use lines::{Event, Events, Lines};
pub use output::{Escaped, Output, Stage};
#[cfg(feature = "slurm")]
pub use pool::Slurm;
pub use pool::{
    Completed, Done, Failure, Halt, HaltReason, Job, JobEvent, JobHandle, JobOutput, Ordered,
    ParseHaltError, Pool, PoolBuilder, Retry, StopCause, Summary, Threshold,
};
pub use signals::forward_signals;
pub use status::{ExitStatus, signal_name};
pub use stop::StopSequence;

/// Checks that dropping a value whose drop is a mistake is caught by the
/// compiler (`unused_must_use`, denied here): each `compile_fail` block
/// drops one, and the block after it, which must compile, keeps it.
///
/// Dropping a started command's `Handle`:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// procession::cmd!("true").start().unwrap();
/// ```
///
/// ```no_run
/// #![deny(unused_must_use)]
/// let _ = procession::cmd!("true").start().unwrap();
/// ```
///
/// Dropping `Lines`:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// procession::cmd!("true").lines().unwrap();
/// ```
///
/// ```no_run
/// #![deny(unused_must_use)]
/// let _ = procession::cmd!("true").lines().unwrap();
/// ```
///
/// Dropping `Events`:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// procession::cmd!("true").events().unwrap();
/// ```
///
/// ```no_run
/// #![deny(unused_must_use)]
/// let _ = procession::cmd!("true").events().unwrap();
/// ```
///
/// Dropping the result of `Pool::map`:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// procession::Pool::new(1).map([procession::cmd!("true")]);
/// ```
///
/// ```no_run
/// #![deny(unused_must_use)]
/// let _ = procession::Pool::new(1).map([procession::cmd!("true")]);
/// ```
///
/// Dropping the result of `Pool::as_completed`:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// procession::Pool::new(1).as_completed([procession::cmd!("true")]);
/// ```
///
/// ```no_run
/// #![deny(unused_must_use)]
/// let _ = procession::Pool::new(1).as_completed([procession::cmd!("true")]);
/// ```
///
/// Dropping a `Command` from a builder method:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let command = procession::cmd!("env");
/// command.env("A", "1");
/// ```
///
/// ```no_run
/// #![deny(unused_must_use)]
/// let command = procession::cmd!("env");
/// let _ = command.env("A", "1");
/// ```
///
/// Dropping a `PoolBuilder` from a builder method:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let builder = procession::Pool::builder();
/// builder.jobs(2);
/// ```
///
/// ```no_run
/// #![deny(unused_must_use)]
/// let builder = procession::Pool::builder();
/// let _ = builder.jobs(2);
/// ```
///
/// Dropping a `StopSequence` from a builder method:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let sequence = procession::StopSequence::default();
/// sequence.then(9, std::time::Duration::ZERO);
/// ```
///
/// ```no_run
/// #![deny(unused_must_use)]
/// let sequence = procession::StopSequence::default();
/// let _ = sequence.then(9, std::time::Duration::ZERO);
/// ```
///
/// Dropping a `Retry` from a builder method:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let retry = procession::Retry::attempts(2);
/// retry.delay(std::time::Duration::ZERO);
/// ```
///
/// ```no_run
/// #![deny(unused_must_use)]
/// let retry = procession::Retry::attempts(2);
/// let _ = retry.delay(std::time::Duration::ZERO);
/// ```
#[cfg(doctest)]
mod must_use {}
