//! A started command: wait for it, or stop it, from any thread.

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::cancel::lock;
use crate::error::Error;
use crate::exec::{Control, Exec, Request};
use crate::output::Output;

/// A running command, from [`Command::start`](crate::Command::start).
///
/// The command runs in the background: its pipes are read and its stdin
/// written by the crate's one background thread, so it never blocks on a
/// full pipe, however long you take to wait. A `Handle` is `Send + Sync`:
/// one thread can [`wait`](Handle::wait) while another calls
/// [`terminate`](Handle::terminate).
///
/// **Drop policy.** Dropping a handle whose command is still running kills
/// its whole process tree with `SIGKILL` and reaps it, so nothing is left
/// behind, not even a zombie. Call [`detach`](Handle::detach) to let it run
/// on instead; it is still reaped when it ends.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use procession::cmd;
/// # fn main() -> Result<(), procession::Error> {
/// let handle = cmd!("sleep", "10").start()?;
/// assert!(handle.try_wait()?.is_none());
/// handle.terminate();
/// let err = handle.wait().unwrap_err();
/// assert_eq!(err.status().and_then(|s| s.signal()), Some(15));
/// # Ok(()) }
/// ```
pub struct Handle {
    shared: Arc<Shared>,
    control: Arc<Control>,
    pids: Vec<u32>,
    stdin: Mutex<Option<os_pipe::PipeWriter>>,
    result: OnceLock<Result<Output, Error>>,
    detached: bool,
}

#[derive(Default)]
struct Shared {
    slot: Mutex<Slot>,
    cv: Condvar,
}

#[derive(Default)]
struct Slot {
    outcome: Option<Result<Output, Error>>,
    finished: bool,
}

impl Handle {
    pub(crate) fn start(exec: Exec, stdin: Option<os_pipe::PipeWriter>) -> Handle {
        let shared = Arc::new(Shared::default());
        let handle = Handle {
            shared: shared.clone(),
            control: exec.control().clone(),
            pids: exec.pids(),
            stdin: Mutex::new(stdin),
            result: OnceLock::new(),
            detached: false,
        };
        crate::reactor::submit(
            exec,
            Box::new(move |outcome| {
                let mut slot = lock(&shared.slot);
                slot.outcome = Some(outcome);
                slot.finished = true;
                shared.cv.notify_all();
            }),
        );
        handle
    }

    /// The process id of the first process (for a pipeline, the first
    /// stage). It is also the id of the command's process group.
    pub fn pid(&self) -> u32 {
        self.pids[0]
    }

    /// The process ids of every stage, in order.
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// The writing end of stdin, for a command started with
    /// [`stdin_pipe`](crate::Command::stdin_pipe). `None` otherwise, or if it
    /// was already taken. Drop it to send end of file.
    pub fn take_stdin(&self) -> Option<os_pipe::PipeWriter> {
        lock(&self.stdin).take()
    }

    /// Waits until the command is over (its processes reaped and its pipes
    /// read) and returns its output.
    ///
    /// # Errors
    ///
    /// The run's error: a failing status, a timeout, a cancel. Every call
    /// returns the same result.
    pub fn wait(&self) -> Result<&Output, Error> {
        let mut slot = lock(&self.shared.slot);
        while !slot.finished {
            slot = self.shared.cv.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
        drop(slot);
        self.result()
    }

    /// The output if the command is over, `None` if it still runs.
    ///
    /// # Errors
    ///
    /// As [`wait`](Handle::wait), once the command is over.
    pub fn try_wait(&self) -> Result<Option<&Output>, Error> {
        self.wait_deadline(Instant::now())
    }

    /// Waits at most `timeout`. `None` if the command still runs; it is not
    /// stopped (see [`Command::timeout`](crate::Command::timeout) for that).
    ///
    /// # Errors
    ///
    /// As [`wait`](Handle::wait), once the command is over.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<&Output>, Error> {
        self.wait_deadline(Instant::now() + timeout)
    }

    /// Waits until `deadline` at most. `None` if the command still runs.
    ///
    /// # Errors
    ///
    /// As [`wait`](Handle::wait), once the command is over.
    pub fn wait_deadline(&self, deadline: Instant) -> Result<Option<&Output>, Error> {
        let mut slot = lock(&self.shared.slot);
        while !slot.finished {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            slot = self
                .shared
                .cv
                .wait_timeout(slot, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(slot);
        self.result().map(Some)
    }

    fn result(&self) -> Result<&Output, Error> {
        let result = self.result.get_or_init(|| {
            lock(&self.shared.slot)
                .outcome
                .take()
                .expect("a finished run has an outcome")
        });
        result.as_ref().map_err(Clone::clone)
    }

    /// Waits and returns the output by value.
    ///
    /// # Errors
    ///
    /// As [`wait`](Handle::wait).
    pub fn into_output(mut self) -> Result<Output, Error> {
        self.wait()?;
        self.result.take().expect("waited")
    }

    /// Stops the whole process tree with the command's stop sequence
    /// (`SIGTERM`, a grace period, `SIGKILL` by default). Returns at once;
    /// [`wait`](Handle::wait) for the end. Does nothing once it is over.
    pub fn terminate(&self) {
        self.control.post(Request::Terminate);
    }

    /// Kills the whole process tree with `SIGKILL`, without a grace period.
    /// Returns at once; [`wait`](Handle::wait) for the end.
    pub fn kill(&self) {
        self.control.post(Request::Kill);
    }

    /// Sends one signal (for example `libc::SIGHUP`'s number, 1) to every
    /// process of the command's group. This does not stop the run by itself.
    pub fn signal(&self, signal: i32) {
        self.control.post(Request::Signal(signal));
    }

    /// Lets the command run on after the handle is dropped. It is still
    /// reaped when it ends, and its captured output is discarded.
    pub fn detach(mut self) {
        self.detached = true;
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.detached || lock(&self.shared.slot).finished {
            return;
        }
        self.kill();
        let mut slot = lock(&self.shared.slot);
        while !slot.finished {
            slot = self.shared.cv.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("pids", &self.pids)
            .field("finished", &lock(&self.shared.slot).finished)
            .finish()
    }
}
