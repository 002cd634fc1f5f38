//! A started command: wait for it, or stop it, from any thread.

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::control::{Control, Request};
use crate::error::Error;
use crate::output::Output;
use crate::run::Exec;
use crate::sync::{lock, wait_until};

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
#[must_use = "dropping a Handle kills the command at once: wait for it, or detach() it"]
pub struct Handle {
    shared: Arc<Delivery>,
    control: Arc<Control>,
    /// The command line, for errors.
    command: String,
    pids: Vec<u32>,
    stdin: Mutex<Option<os_pipe::PipeWriter>>,
    result: OnceLock<Result<Output, Error>>,
    detached: bool,
}

/// The run's result, as the background loop hands it to the handle.
#[derive(Default)]
struct Delivery {
    slot: Mutex<Slot>,
    cv: Condvar,
}

impl Delivery {
    /// Waits until the run is over, or `deadline`; returns whether it is.
    fn wait_finished(&self, deadline: Option<Instant>) -> bool {
        wait_until(&self.slot, &self.cv, deadline, |slot| slot.finished)
    }
}

#[derive(Default)]
struct Slot {
    outcome: Option<Result<Output, Error>>,
    finished: bool,
    /// The tasks awaiting [`Handle::wait_async`], by future.
    wakers: Vec<(u64, std::task::Waker)>,
    /// The id of the next `wait_async` future.
    next_id: u64,
}

impl Handle {
    /// Hands `exec` to the background loop. If the loop cannot be started,
    /// the run is dropped (which kills and reaps it) and this is the error.
    pub(crate) fn start(exec: Exec, stdin: Option<os_pipe::PipeWriter>) -> Result<Handle, Error> {
        let shared = Arc::new(Delivery::default());
        let control = exec.control().clone();
        let command = exec.display().to_string();
        let pids = exec.pids();
        let on_done = {
            let shared = shared.clone();
            Box::new(move |outcome| {
                let wakers = {
                    let mut slot = lock(&shared.slot);
                    slot.outcome = Some(outcome);
                    slot.finished = true;
                    shared.cv.notify_all();
                    std::mem::take(&mut slot.wakers)
                };
                // Woken after unlocking: an executor may poll at once.
                for (_, waker) in wakers {
                    waker.wake();
                }
            })
        };
        crate::reactor::submit(exec, on_done).map_err(|rejected| rejected.error)?;
        Ok(Handle {
            shared,
            control,
            command,
            pids,
            stdin: Mutex::new(stdin),
            result: OnceLock::new(),
            detached: false,
        })
    }

    /// The process id of the first process (for a pipeline, the first
    /// stage). It is also the id of the command's process group.
    ///
    /// **Pid reuse.** The crate reaps each process as soon as it exits, and
    /// from then on its pid (and, once the group is empty, the group id) may
    /// be given to a new, unrelated process, even while this handle lives.
    /// Signalling the number yourself (`kill(1)`, `libc::kill`) may hit that
    /// process. Signal through the handle instead
    /// ([`signal`](Handle::signal), [`signal_stage`](Handle::signal_stage),
    /// [`terminate`](Handle::terminate), [`kill`](Handle::kill)): it uses
    /// pidfds, and does nothing once the process is reaped.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let handle = procession::sh("echo $$").stdout_capture().start()?;
    /// let pid = handle.pid();
    /// assert_eq!(handle.wait()?.stdout_str()?.trim(), pid.to_string());
    /// # Ok(()) }
    /// ```
    pub fn pid(&self) -> u32 {
        self.pids[0]
    }

    /// The process ids of every stage, in order. The same caution as for
    /// [`pid`](Handle::pid) applies: a pid names the stage only until it is
    /// reaped, which happens as soon as it exits.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::sh;
    /// # fn main() -> Result<(), procession::Error> {
    /// // Each stage prints its own pid; the second passes the first's on.
    /// let handle = (sh("echo $$") | sh("echo $$; cat")).stdout_capture().start()?;
    /// let pids = handle.pids().to_vec();
    /// assert_eq!(pids.len(), 2);
    /// assert_eq!(pids[0], handle.pid());
    /// let printed = handle.wait()?.stdout_str()?.to_string();
    /// assert_eq!(printed, format!("{}\n{}\n", pids[1], pids[0]));
    /// # Ok(()) }
    /// ```
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// The writing end of stdin, for a command started with
    /// [`stdin_pipe`](crate::Command::stdin_pipe). `None` otherwise, or if it
    /// was already taken. Drop it to send end of file.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let handle = procession::cmd!("cat").stdin_pipe().stdout_capture().start()?;
    /// let mut stdin = handle.take_stdin().expect("started with stdin_pipe");
    /// assert!(handle.take_stdin().is_none()); // taken already
    /// stdin.write_all(b"hello")?;
    /// drop(stdin); // end of file: cat ends
    /// assert_eq!(handle.wait()?.stdout, b"hello");
    /// # Ok(()) }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::cmd;
    /// # fn main() -> Result<(), procession::Error> {
    /// let handle = cmd!("echo", "hi").stdout_capture().start()?;
    /// assert_eq!(handle.wait()?.stdout, b"hi\n");
    /// assert_eq!(handle.wait()?.stdout, b"hi\n"); // the same output again
    ///
    /// let failing = cmd!("false").start()?;
    /// let err = failing.wait().unwrap_err();
    /// assert_eq!(err.status().and_then(|s| s.code()), Some(1));
    /// # Ok(()) }
    /// ```
    pub fn wait(&self) -> Result<&Output, Error> {
        self.shared.wait_finished(None);
        self.result()
    }

    /// The output if the command is over, `None` if it still runs.
    ///
    /// # Errors
    ///
    /// As [`wait`](Handle::wait), once the command is over.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let handle = procession::cmd!("sleep", "10").start()?;
    /// assert!(handle.try_wait()?.is_none()); // still running
    /// handle.kill();
    /// handle.wait().unwrap_err();
    /// // Over now: the same error as `wait`.
    /// let err = handle.try_wait().unwrap_err();
    /// assert_eq!(err.status().and_then(|s| s.signal()), Some(9));
    /// # Ok(()) }
    /// ```
    pub fn try_wait(&self) -> Result<Option<&Output>, Error> {
        self.wait_deadline(Instant::now())
    }

    /// Waits at most `timeout`. `None` if the command still runs; it is not
    /// stopped (see [`Command::timeout`](crate::Command::timeout) for that).
    /// A timeout too long to add to the current time (`Duration::MAX`) waits
    /// to the end.
    ///
    /// # Errors
    ///
    /// As [`wait`](Handle::wait), once the command is over.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use procession::cmd;
    /// # fn main() -> Result<(), procession::Error> {
    /// let slow = cmd!("sleep", "10").start()?;
    /// assert!(slow.wait_timeout(Duration::from_millis(10))?.is_none());
    /// drop(slow); // kills it
    ///
    /// let quick = cmd!("echo", "done").stdout_capture().start()?;
    /// let out = quick.wait_timeout(Duration::from_secs(10))?.expect("over");
    /// assert_eq!(out.stdout, b"done\n");
    /// # Ok(()) }
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<&Output>, Error> {
        match crate::sync::after(Instant::now(), timeout) {
            Some(deadline) => self.wait_deadline(deadline),
            // Too long to express: no limit.
            None => self.wait().map(Some),
        }
    }

    /// Waits until `deadline` at most. `None` if the command still runs.
    ///
    /// # Errors
    ///
    /// As [`wait`](Handle::wait), once the command is over.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use procession::cmd;
    /// # fn main() -> Result<(), procession::Error> {
    /// let soon = Instant::now() + Duration::from_millis(10);
    /// let slow = cmd!("sleep", "10").start()?;
    /// assert!(slow.wait_deadline(soon)?.is_none());
    /// assert!(Instant::now() >= soon);
    /// # Ok(()) }
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> Result<Option<&Output>, Error> {
        if !self.shared.wait_finished(Some(deadline)) {
            return Ok(None);
        }
        self.result().map(Some)
    }

    /// A new id for a `wait_async` future.
    pub(crate) fn waiter_id(&self) -> u64 {
        let mut slot = lock(&self.shared.slot);
        slot.next_id += 1;
        slot.next_id
    }

    /// The result if the run is over; else registers `waker` under `id`
    /// (replacing that future's earlier one).
    pub(crate) fn poll_result(
        &self,
        id: u64,
        waker: &std::task::Waker,
    ) -> Option<Result<&Output, Error>> {
        {
            let mut slot = lock(&self.shared.slot);
            if !slot.finished {
                match slot.wakers.iter_mut().find(|(i, _)| *i == id) {
                    Some((_, old)) if old.will_wake(waker) => {}
                    Some((_, old)) => old.clone_from(waker),
                    None => slot.wakers.push((id, waker.clone())),
                }
                return None;
            }
        }
        Some(self.result())
    }

    /// Forgets the waker of the `wait_async` future `id` (it is dropped).
    pub(crate) fn forget_waiter(&self, id: u64) {
        lock(&self.shared.slot).wakers.retain(|(i, _)| *i != id);
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
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let handle = procession::cmd!("echo", "mine").stdout_capture().start()?;
    /// let out: procession::Output = handle.into_output()?;
    /// assert_eq!(out.stdout, b"mine\n");
    /// # Ok(()) }
    /// ```
    pub fn into_output(mut self) -> Result<Output, Error> {
        self.wait()?;
        self.result.take().expect("waited")
    }

    /// Stops the whole process tree with the command's stop sequence
    /// (`SIGTERM`, a grace period, `SIGKILL` by default). Returns at once;
    /// [`wait`](Handle::wait) for the end. Does nothing once it is over.
    ///
    /// A program that handles `SIGTERM` gets the grace period to clean up;
    /// if it then exits with a success code, so does the run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::os::fd::OwnedFd;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // A script that cleans up on SIGTERM. It writes to a pipe of ours, so
    /// // we know when its trap is set.
    /// let (mut reader, writer) = os_pipe::pipe()?;
    /// let script = "trap 'echo cleaned; exit 0' TERM; echo ready; while :; do sleep 0.01; done";
    /// let handle = procession::sh(script)
    ///     .stdout_file(OwnedFd::from(writer).into())
    ///     .start()?;
    /// let mut line = [0; 6];
    /// reader.read_exact(&mut line)?;
    /// assert_eq!(&line, b"ready\n");
    /// handle.terminate();
    /// assert!(handle.wait()?.status.success());
    /// let mut line = [0; 8];
    /// reader.read_exact(&mut line)?;
    /// assert_eq!(&line, b"cleaned\n");
    /// # Ok(()) }
    /// ```
    pub fn terminate(&self) {
        self.control.post(Request::Terminate);
    }

    /// Kills the whole process tree with `SIGKILL`, without a grace period.
    /// Returns at once; [`wait`](Handle::wait) for the end.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let handle = procession::cmd!("sleep", "10").start()?;
    /// handle.kill();
    /// let err = handle.wait().unwrap_err();
    /// assert_eq!(err.status().and_then(|s| s.signal()), Some(9));
    /// # Ok(()) }
    /// ```
    pub fn kill(&self) {
        self.control.post(Request::Kill);
    }

    /// Sends one signal (for example `libc::SIGHUP`'s number, 1) to every
    /// process of the command's tree, each exactly once: to its process
    /// group, and by pidfd to the stages and descendants that left the group
    /// (`setsid`, `setpgid`). This does not stop the run by itself. Does
    /// nothing once the run is over.
    ///
    /// Real-time signals (`SIGRTMIN` to `SIGRTMAX`, 34 to 64 with glibc) are
    /// sent like the others.
    ///
    /// # Errors
    ///
    /// [`InvalidInput::InvalidSignal`](crate::InvalidInput::InvalidSignal)
    /// if `signal` is not a signal that can be sent (0, 99, ...); nothing is
    /// sent then.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), procession::Error> {
    /// let handle = procession::cmd!("sleep", "10").start()?;
    /// assert!(handle.signal(99).is_err()); // no such signal
    /// handle.signal(1)?; // SIGHUP: sleep does not handle it, so it ends
    /// let err = handle.wait().unwrap_err();
    /// assert_eq!(err.status().and_then(|s| s.signal()), Some(1));
    /// # Ok(()) }
    /// ```
    pub fn signal(&self, signal: i32) -> Result<(), Error> {
        self.check_signal(signal)?;
        self.control.post(Request::Signal(signal));
        Ok(())
    }

    /// Sends one signal to one stage only (by its index in
    /// [`pids`](Handle::pids)), through its pidfd: safe from pid reuse, and
    /// nothing is sent once the stage has exited. This does not stop the run
    /// by itself.
    ///
    /// # Errors
    ///
    /// [`InvalidInput::InvalidSignal`](crate::InvalidInput::InvalidSignal)
    /// if `signal` is not a signal that can be sent, and
    /// [`InvalidInput::NoSuchStage`](crate::InvalidInput::NoSuchStage) if
    /// there is no stage `index`.
    ///
    /// # Examples
    ///
    /// ```
    /// use procession::cmd;
    /// # fn main() -> Result<(), procession::Error> {
    /// let handle = (cmd!("sleep", "10") | cmd!("sleep", "10")).unchecked().start()?;
    /// handle.signal_stage(1, 9)?; // only the second stage
    /// assert!(handle.signal_stage(2, 9).is_err()); // there is no third
    /// handle.terminate();
    /// let out = handle.wait()?;
    /// assert_eq!(out.stages[0].status.signal(), Some(15));
    /// assert_eq!(out.stages[1].status.signal(), Some(9));
    /// # Ok(()) }
    /// ```
    pub fn signal_stage(&self, index: usize, signal: i32) -> Result<(), Error> {
        self.check_signal(signal)?;
        if index >= self.pids.len() {
            let stages = self.pids.len();
            return Err(Error::invalid(
                &self.command,
                crate::error::InvalidInput::NoSuchStage { index, stages },
            ));
        }
        self.control.post(Request::SignalStage(index, signal));
        Ok(())
    }

    fn check_signal(&self, signal: i32) -> Result<(), Error> {
        match crate::sys::signal_from_raw(signal) {
            Some(_) => Ok(()),
            None => Err(Error::invalid(
                &self.command,
                crate::error::InvalidInput::InvalidSignal { signal },
            )),
        }
    }

    /// Lets the command run on after the handle is dropped. It is still
    /// reaped when it ends, and its captured output is discarded.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// # fn main() -> Result<(), procession::Error> {
    /// let handle = procession::cmd!("sleep", "10").stdout_null().stderr_null().start()?;
    /// let pid = handle.pid();
    /// handle.detach();
    /// // The handle is gone, the process is not.
    /// assert!(Path::new(&format!("/proc/{pid}")).exists());
    /// # procession::cmd!("kill", pid.to_string()).run()?;
    /// # Ok(()) }
    /// ```
    pub fn detach(mut self) {
        self.detached = true;
    }
}

impl Handle {
    /// Kills the command and lets the background loop reap it, without
    /// waiting (a dropped async future must not block its executor).
    pub(crate) fn kill_without_waiting(mut self) {
        self.kill();
        self.detached = true;
    }

    /// Whether the run is over (its result can be had without waiting).
    pub(crate) fn is_finished(&self) -> bool {
        lock(&self.shared.slot).finished
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.detached || lock(&self.shared.slot).finished {
            return;
        }
        self.kill();
        self.shared.wait_finished(None);
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
