//! Every system call the crate makes, in one place: the rest of the crate is
//! written against these small functions and types, and names no platform
//! crate.
//!
//! They use `rustix`'s safe wrappers; the one `unsafe` block of the crate is
//! `process::realtime_signal`, which builds a real-time signal once its
//! number is checked to be in range (and, on macOS and the BSDs,
//! `process::kqueue_exit_watch`). Linux gives us pidfds (a file descriptor
//! per child that becomes readable when the child exits), macOS and the BSDs
//! a kqueue per child, so we never install a process-wide `SIGCHLD` handler
//! and never reap a process we did not start.
//!
//! The platform is chosen here, at compile time. `--cfg procession_portable`
//! (in `RUSTFLAGS`) makes a Linux build use the macOS/BSD code wherever that
//! can run on Linux: a pipe as the poll loop's waker, temporary files
//! created then unlinked, a process group watched with signal 0 (no
//! `/proc`, no cgroup), and exits found by polling `waitid` (the one piece
//! not shared is the kqueue itself). CI runs the test suite so.
//!
//! | File         | Holds                                                        |
//! |--------------|--------------------------------------------------------------|
//! | `io.rs`      | descriptors, pipes, temporary files, non-blocking I/O, `poll` |
//! | `process.rs` | pids, pidfds, reaping, signals, job-control stops, `exec` errors |
//! | `proc_fs.rs` | a run's process tree as `/proc` shows it                     |
//! | `cgroup.rs`  | a run's own cgroup                                           |
//! | `tty.rs`     | the controlling terminal's foreground group and modes        |

#[cfg(not(unix))]
compile_error!(
    "procession supports Linux, macOS and FreeBSD (and the other BSDs that have kqueue); \
     Windows and other non-Unix systems are not supported"
);

mod cgroup;
mod io;
mod proc_fs;
mod process;
mod tty;

pub(crate) use cgroup::Cgroup;
pub(crate) use io::*;
pub(crate) use proc_fs::*;
pub(crate) use process::*;
pub(crate) use tty::*;

/// A process id, as the platform names it.
pub(crate) use rustix::process::Pid;
/// A signal that may be sent, as the platform names it.
pub(crate) use rustix::process::Signal;
/// A terminal's modes (echo, line editing...), saved and restored whole.
pub(crate) use rustix::termios::Termios as TerminalModes;
